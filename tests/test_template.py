"""template.yaml as CloudFormation receives it, after SAM's own transform
(aws-sam-translator, as `sam deploy` runs it): every route of every update
is deployed, every stage and the public route are throttled, and the token
key is readable only where tokens are signed or verified."""

import json
import os
import re
import sys

import pytest
from samtranslator.translator.transform import transform

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "local"))
import template  # noqa: E402

# The functions that sign or verify tokens, and nothing else.
TOKEN_FUNCTIONS = {"authorizer-ws", "authorizer-http", "http-visitor-token", "http-agents"}


class NoManagedPolicies:
    """Kefu's policies are inline statements: no managed policy to look up."""

    def load(self):
        return {}


@pytest.fixture(scope="module")
def sam():
    return template.load()


@pytest.fixture(scope="module")
def cfn(sam, monkeypatch_module):
    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    t = template.load()
    for res in t["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://bucket/code.zip"  # what `sam package` puts there
    return transform(t, {}, NoManagedPolicies())["Resources"]


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def of_type(resources, kind):
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def ref(value):
    return value["Ref"] if isinstance(value, dict) and "Ref" in value else value


def number(sam, value):
    """A number, or a parameter's default."""
    name = ref(value)
    return int(sam["Parameters"][name]["Default"]) if isinstance(name, str) else int(value)


def stages_of(cfn, api):
    return [s for s in of_type(cfn, "AWS::ApiGatewayV2::Stage").values() if ref(s["Properties"]["ApiId"]) == api]


def test_every_route_is_deployed_by_every_update(sam, cfn):
    apis = of_type(cfn, "AWS::ApiGatewayV2::Api")
    assert len(apis) == 2
    for api in apis:
        stages = stages_of(cfn, api)
        assert stages, f"{api} has no stage"
        for stage in stages:
            p = stage["Properties"]
            # A fixed AWS::ApiGatewayV2::Deployment is created once and never
            # again: routes added by a later update would not be served.
            assert p.get("AutoDeploy") is True, f"stage of {api} does not deploy updates"
            assert "DeploymentId" not in p, f"stage of {api} is pinned to one deployment"
    assert not of_type(cfn, "AWS::ApiGatewayV2::Deployment")

    # Every WebSocket route is on an API whose stages auto-deploy, and its
    # function may be invoked for exactly that route.
    routes = of_type(cfn, "AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["RouteKey"] for r in routes.values()} == set(template.websocket(sam)["routes"])
    permissions = [p["Properties"] for p in of_type(cfn, "AWS::Lambda::Permission").values()]
    integrations = of_type(cfn, "AWS::ApiGatewayV2::Integration")
    for r in routes.values():
        p = r["Properties"]
        assert ref(p["ApiId"]) in apis
        integration = re.search(r"\$\{(\w+)\}", p["Target"]["Fn::Sub"]).group(1)
        fn = re.search(r"\$\{(\w+)\.Arn\}", integrations[integration]["Properties"]["IntegrationUri"]["Fn::Sub"]).group(1)
        assert any(
            ref(perm["FunctionName"]) == fn and perm["SourceArn"]["Fn::Sub"].endswith("/*/" + p["RouteKey"])
            for perm in permissions
        ), f"{fn} may not be invoked for {p['RouteKey']}"

    # Every HTTP route of the functions' events is in the HTTP API's definition.
    (http_api,) = [a for a in apis.values() if "Body" in a["Properties"]]
    paths = http_api["Properties"]["Body"]["paths"]
    for method, path, _binary, _public in template.http(sam)["routes"]:
        assert method.lower() in paths.get(path, {}), f"{method} {path} is not in the HTTP API"


def test_every_stage_and_the_public_route_are_throttled(sam, cfn):
    stages = of_type(cfn, "AWS::ApiGatewayV2::Stage")
    assert len(stages) == 2
    for name, stage in stages.items():
        d = stage["Properties"].get("DefaultRouteSettings", {})
        for limit in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
            assert number(sam, d.get(limit, 0)) > 0, f"{name} has no {limit}"

    (http_stage,) = [s for s in stages.values() if "RouteSettings" in s["Properties"] and
                     ref(s["Properties"]["ApiId"]) == "HttpApi"]
    default_rate = number(sam, http_stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"])
    public = [f"{m} {p}" for m, p, _b, is_public in template.http(sam)["routes"] if is_public]
    assert public == ["POST /visitor/token"]
    for route in public:
        s = http_stage["Properties"]["RouteSettings"].get(route)
        assert s, f"public route {route} has no throttle of its own"
        assert 0 < number(sam, s["ThrottlingRateLimit"]) < default_rate
        assert number(sam, s["ThrottlingBurstLimit"]) > 0

    (ws_stage,) = stages_of(cfn, "WebSocketApi")
    connect = ws_stage["Properties"]["RouteSettings"]["$connect"]
    assert number(sam, connect["ThrottlingRateLimit"]) > 0 and number(sam, connect["ThrottlingBurstLimit"]) > 0


def test_the_http_authorizer_reuses_an_answer_for_five_seconds_at_most(cfn):
    # API Gateway's default is 300 s: a revoked token would work for minutes.
    (api,) = [a for a in of_type(cfn, "AWS::ApiGatewayV2::Api").values() if "Body" in a["Properties"]]
    schemes = api["Properties"]["Body"]["components"]["securitySchemes"]
    assert schemes
    for name, scheme in schemes.items():
        ttl = scheme["x-amazon-apigateway-authorizer"].get("authorizerResultTtlInSeconds")
        assert ttl is not None and 0 <= ttl <= 5, (name, ttl)


def test_only_the_functions_that_sign_or_verify_can_read_the_token_key(sam, cfn):
    functions = of_type(cfn, "AWS::Lambda::Function")
    roles = of_type(cfn, "AWS::IAM::Role")
    binary = {k: v["Metadata"]["BuildProperties"]["Binary"]
              for k, v in of_type(sam["Resources"], "AWS::Serverless::Function").items()}
    with_arn, with_permission = set(), set()
    for name, fn in functions.items():
        env = fn["Properties"].get("Environment", {}).get("Variables", {})
        assert "JWT_SECRET" not in env, f"{name} gets the key in plain text"
        assert "resolve:secretsmanager" not in repr(env), f"{name} gets a secret resolved into its environment"
        if "JWT_SECRET_ARN" in env:
            assert ref(env["JWT_SECRET_ARN"]) == "JwtSecret"
            with_arn.add(binary[name])
        role = roles[fn["Properties"]["Role"]["Fn::GetAtt"][0]]
        for policy in role["Properties"].get("Policies", []):
            for st in policy["PolicyDocument"]["Statement"]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                if any(a.startswith("secretsmanager:") for a in actions):
                    assert actions == ["secretsmanager:GetSecretValue"], actions
                    assert ref(st["Resource"]) == "JwtSecret", f"{name} may read more than the token key"
                    with_permission.add(binary[name])
    assert with_arn == TOKEN_FUNCTIONS
    assert with_permission == TOKEN_FUNCTIONS


def test_logs_are_kept_for_a_set_time_and_never_at_trace(sam, cfn):
    level = sam["Parameters"]["LogLevel"]
    assert "trace" not in level["AllowedValues"] and level["Default"] in level["AllowedValues"]
    groups = of_type(cfn, "AWS::Logs::LogGroup")
    for name, fn in of_type(cfn, "AWS::Lambda::Function").items():
        group = ref(fn["Properties"].get("LoggingConfig", {}).get("LogGroup"))
        assert group in groups, f"{name} logs to a group without a retention"
        assert number(sam, groups[group]["Properties"]["RetentionInDays"]) > 0
        assert ref(fn["Properties"]["Environment"]["Variables"]["RUST_LOG"]) == "LogLevel"


def test_websocket_action_functions_may_count_the_action(sam, cfn):
    # Every action route goes through the per-connection rate limit, an
    # UpdateItem on the connection item (IAM is not enforced locally, so a
    # missing action would only show in the cloud).
    routes = template.websocket(sam)["routes"]
    binaries = {r["binary"] for key, r in routes.items() if not key.startswith("$")}
    assert binaries
    roles = of_type(cfn, "AWS::IAM::Role")
    for name, fn in of_type(cfn, "AWS::Lambda::Function").items():
        if sam["Resources"][name]["Metadata"]["BuildProperties"]["Binary"] not in binaries:
            continue
        role = roles[fn["Properties"]["Role"]["Fn::GetAtt"][0]]
        actions = {a for p in role["Properties"].get("Policies", []) for st in p["PolicyDocument"]["Statement"]
                   for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
        assert "dynamodb:UpdateItem" in actions, name


def test_both_stages_log_access_without_tokens(sam, cfn):
    stages = of_type(cfn, "AWS::ApiGatewayV2::Stage")
    groups = of_type(cfn, "AWS::Logs::LogGroup")
    assert len(stages) == 2
    for name, stage in stages.items():
        settings = stage["Properties"].get("AccessLogSettings")
        assert settings, f"{name} keeps no access log"
        group = settings["DestinationArn"]["Fn::GetAtt"][0]
        assert number(sam, groups[group]["Properties"]["RetentionInDays"]) > 0
        fields = re.findall(r"\$\w+(?:\.\w+)*", settings["Format"])
        assert "$context.routeKey" in fields and "$context.status" in fields, fields
        # Nothing that can carry a token: no header, no query string, no raw path.
        for field in fields:
            assert not re.search(r"header|querystring|query|path|authorization|token|request\.", field, re.I), field
    # WebSocket access logs need API Gateway's account-level CloudWatch role:
    # made by the stack unless the operator says the account has one.
    assert sam["Parameters"]["ApiGatewayLogRole"]["Default"] == "create"
    account = sam["Resources"]["ApiGatewayAccount"]
    assert account["Condition"] == "CreateApiGatewayLogRole"


def test_timers_have_both_paths_a_filtered_ttl_stream_and_a_minute_sweeper(cfn):
    """D8: the stream invokes timer-stream only for TTL's deletions of timers
    and connections, reports partial batch failures, retries a bounded
    number of times and then sends to a queue; the sweeper runs every minute."""
    (mapping,) = of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
    p = mapping["Properties"]
    assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 < p["MaximumRetryAttempts"] <= 10
    assert "OnFailure" in p["DestinationConfig"]
    (only,) = [json.loads(f["Pattern"]) for f in p["FilterCriteria"]["Filters"]]
    assert only["eventName"] == ["REMOVE"]
    assert only["userIdentity"] == {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}
    assert set(only["dynamodb"]["Keys"]["sk"]["S"]) == {"TIMER", "CONN"}
    rules = of_type(cfn, "AWS::Events::Rule")
    assert [r["Properties"]["ScheduleExpression"] for r in rules.values()] == ["rate(1 minute)"]
    table = next(iter(of_type(cfn, "AWS::DynamoDB::Table").values()))["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert "gsi5" in {i["IndexName"] for i in table["GlobalSecondaryIndexes"]}
