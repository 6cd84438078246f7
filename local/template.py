"""Reads template.yaml (SAM) into what the local stack plays: the table, the
WebSocket API's routes and authorizer, the HTTP API's routes and authorizer,
and schedules. The template is the only description; nothing is copied."""

import json
import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "template.yaml")


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


_Loader.add_multi_constructor("!", _tag)


def load(path=TEMPLATE):
    with open(path) as f:
        return yaml.load(f, Loader=_Loader)


def _resources(t, kind):
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


def _binary(t, logical_id):
    return t["Resources"][logical_id]["Metadata"]["BuildProperties"]["Binary"]


def _function_in(value):
    """The function logical id named in an ARN expression (`${XFunction.Arn}` or !GetAtt)."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
        value = value.get("Fn::Sub", "")
    m = re.search(r"\$\{(\w+)\.Arn\}", value)
    if not m:
        raise ValueError(f"no function in {value!r}")
    return m.group(1)


def _ref(value):
    return value["Ref"] if isinstance(value, dict) else value


def tables(t):
    """CreateTable arguments for every AWS::DynamoDB::Table, named by TABLE_NAME."""
    out = []
    for logical_id, res in _resources(t, "AWS::DynamoDB::Table").items():
        p = res["Properties"]
        out.append({
            "logical_id": logical_id,
            "create": {
                "AttributeDefinitions": p["AttributeDefinitions"],
                "KeySchema": p["KeySchema"],
                "GlobalSecondaryIndexes": p.get("GlobalSecondaryIndexes", []),
                "BillingMode": p.get("BillingMode", "PAY_PER_REQUEST"),
                "StreamSpecification": {"StreamEnabled": True, **p["StreamSpecification"]} if "StreamSpecification" in p else None,
            },
            "ttl": p.get("TimeToLiveSpecification"),
        })
    return out


def websocket(t):
    """{route_key: {"binary", "authorizer" (binary or None), "route_response"}}, plus the identity source."""
    apis = _resources(t, "AWS::ApiGatewayV2::Api")
    (api_id, api), = [(k, v) for k, v in apis.items() if v["Properties"]["ProtocolType"] == "WEBSOCKET"]
    selection = api["Properties"]["RouteSelectionExpression"]
    if selection != "$request.body.action":
        raise ValueError(f"unsupported RouteSelectionExpression {selection}")
    integrations = _resources(t, "AWS::ApiGatewayV2::Integration")
    authorizers = _resources(t, "AWS::ApiGatewayV2::Authorizer")
    responses = {_ref(r["Properties"]["RouteId"]) for r in _resources(t, "AWS::ApiGatewayV2::RouteResponse").values()}
    routes, identity = {}, None
    for logical_id, r in _resources(t, "AWS::ApiGatewayV2::Route").items():
        p = r["Properties"]
        target = p["Target"]["Fn::Sub"] if isinstance(p["Target"], dict) else p["Target"]
        integration = re.search(r"\$\{(\w+)\}", target).group(1)
        fn = _function_in(integrations[integration]["Properties"]["IntegrationUri"])
        authorizer = None
        if p.get("AuthorizationType") == "CUSTOM":
            a = authorizers[_ref(p["AuthorizerId"])]["Properties"]
            authorizer = _binary(t, _function_in(a["AuthorizerUri"]))
            identity = a.get("IdentitySource", [])
        routes[p["RouteKey"]] = {
            "binary": _binary(t, fn),
            "authorizer": authorizer,
            "route_response": logical_id in responses,
        }
    return {"routes": routes, "identity_source": identity or []}


def http(t):
    """[(method, path, binary, public)] and the HTTP authorizer's binary and identity headers."""
    (api_id, api), = _resources(t, "AWS::Serverless::HttpApi").items()
    auth = api["Properties"].get("Auth", {})
    default = auth.get("DefaultAuthorizer")
    authorizer, headers = None, []
    if default:
        a = auth["Authorizers"][default]
        authorizer = _binary(t, _function_in(a["FunctionArn"]))
        headers = a.get("Identity", {}).get("Headers", [])
    routes = []
    for logical_id, fn in _resources(t, "AWS::Serverless::Function").items():
        for event in (fn["Properties"].get("Events") or {}).values():
            if event["Type"] != "HttpApi":
                continue
            p = event["Properties"]
            public = p.get("Auth", {}).get("Authorizer") == "NONE"
            routes.append((p["Method"].upper(), p["Path"], _binary(t, logical_id), public))
    return {"routes": routes, "authorizer": authorizer, "identity_headers": headers}


def schedules(t):
    """[(binary, seconds)] for every Schedule / ScheduleV2 event with a rate()."""
    out = []
    for logical_id, fn in _resources(t, "AWS::Serverless::Function").items():
        for event in (fn["Properties"].get("Events") or {}).values():
            if event["Type"] not in ("Schedule", "ScheduleV2"):
                continue
            expr = event["Properties"]["Schedule" if event["Type"] == "Schedule" else "ScheduleExpression"]
            m = re.fullmatch(r"rate\((\d+) (second|minute|hour|day)s?\)", expr)
            if not m:
                raise ValueError(f"the local gateway plays rate() schedules only, not {expr!r}")
            unit = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[m.group(2)]
            out.append((_binary(t, logical_id), int(m.group(1)) * unit))
    return out


def stream_mappings(t):
    """Every DynamoDB stream event source: [{"binary", "batch_size",
    "filters" (parsed patterns), "max_retries", "report_failures"}]."""
    out = []
    for logical_id, fn in _resources(t, "AWS::Serverless::Function").items():
        for event in (fn["Properties"].get("Events") or {}).values():
            if event["Type"] != "DynamoDB":
                continue
            p = event["Properties"]
            if p.get("Stream") != {"Fn::GetAtt": ["Table", "StreamArn"]}:
                raise ValueError(f"{logical_id}: the local stack plays only the table's own stream")
            filters = [json.loads(f["Pattern"]) for f in (p.get("FilterCriteria") or {}).get("Filters", [])]
            out.append({
                "binary": _binary(t, logical_id),
                "batch_size": int(p.get("BatchSize", 100)),
                "filters": filters,
                "max_retries": int(p.get("MaximumRetryAttempts", -1)),
                "report_failures": "ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
                "starting_position": p.get("StartingPosition", "LATEST"),
            })
    return out


def ttl_attribute(t):
    """The table's TTL attribute, if TTL is on."""
    (table,) = tables(t)
    ttl = table["ttl"] or {}
    return ttl.get("AttributeName") if ttl.get("Enabled") else None


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _table_scope(resource):
    """"table" for the table's ARN, "index/<name>" (or "index/*") for its indexes' ARNs."""
    if resource == {"Fn::GetAtt": ["Table", "Arn"]}:
        return "table"
    m = isinstance(resource, dict) and re.fullmatch(r"\$\{Table\.Arn\}/(index/(?:\*|[\w.-]+))", str(resource.get("Fn::Sub", "")))
    if m:
        return m.group(1)
    raise ValueError(f"unsupported DynamoDB resource {resource!r}")


def grants(t):
    """What each function's role may do, read from its `Policies` statements:
    {binary: {"dynamodb": {(action, "table" | "index/<name>" | "index/*")}, "connections": {"POST" | "DELETE"},
    "translate": {action}, "comprehend": {action}}}.
    Only the statement forms the template uses are understood; any other is an
    error rather than a silent grant."""
    out = {}
    for logical_id, fn in _resources(t, "AWS::Serverless::Function").items():
        g = {"dynamodb": set(), "connections": set(), "translate": set(), "comprehend": set()}
        for policy in fn["Properties"].get("Policies") or []:
            if not isinstance(policy, dict) or set(policy) != {"Statement"}:
                raise ValueError(f"{logical_id}: only inline Statement policies are understood, not {policy!r}")
            for st in policy["Statement"]:
                if st.get("Effect") != "Allow":
                    raise ValueError(f"{logical_id}: only Allow statements are understood")
                actions = _as_list(st["Action"])
                resources = _as_list(st["Resource"])
                for action in actions:
                    service, name = action.split(":", 1)
                    if service == "dynamodb":
                        g["dynamodb"].update((name, _table_scope(r)) for r in resources)
                    elif action == "execute-api:ManageConnections":
                        for r in resources:
                            m = re.search(r"/(POST|DELETE|GET)/@connections/\*$", r["Fn::Sub"])
                            if not m:
                                raise ValueError(f"{logical_id}: unsupported @connections resource {r!r}")
                            g["connections"].add(m.group(1))
                    elif service in ("translate", "comprehend"):
                        g[service].add(name)
                    elif service != "secretsmanager":
                        raise ValueError(f"{logical_id}: unsupported action {action}")
        out[_binary(t, logical_id)] = g
    return out
