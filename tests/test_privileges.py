"""Least privilege (issue 6.4): each function's role in template.yaml grants
exactly the DynamoDB actions and `@connections` methods it uses.

The local stack enforces the roles: each function names itself in its user
agent, and the local DynamoDB and `@connections` API refuse what its role does not
grant, with AWS's error (local/iam.py). So every other test proves the
grants suffice; the last test here proves none is spare, from the record of
which grants the run used."""

import json
import os
import sys
import tomllib
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import pytest

from kefu import LOCAL_ENV

HERE = os.path.dirname(os.path.abspath(__file__))
ENDPOINTS = {"dynamodb": LOCAL_ENV["AWS_ENDPOINT_URL_DYNAMODB"], "connections": LOCAL_ENV["WS_ENDPOINT"],
             "translate": LOCAL_ENV["AWS_ENDPOINT_URL_TRANSLATE"], "comprehend": LOCAL_ENV["AWS_ENDPOINT_URL_TRANSLATE"]}


def record(service):
    try:
        with urllib.request.urlopen(ENDPOINTS[service] + "/_kefu/iam", timeout=5) as r:
            return json.load(r)
    except (OSError, ValueError):
        pytest.skip(f"the {service} endpoint is not the local stack's own; it enforces no roles")


def client(service, who, **kw):
    """A client that says it is function `who` (as the functions do, `app/<binary>` in its user agent)."""
    return boto3.client(service, region_name=LOCAL_ENV["AWS_REGION"], aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
                        config=botocore.config.Config(user_agent_appid=who), **kw)


def test_every_function_signs_with_its_own_identity_locally():
    """A function that does not name itself would run locally as the
    operator, unrestricted: every function of the template must."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "local"))
    import template

    for binary in template.grants(template.load()):
        with open(os.path.join(os.path.dirname(HERE), "functions", binary, "Cargo.toml"), "rb") as f:
            env = tomllib.load(f)["package"]["metadata"]["lambda"]["env"]
        assert env.get("AWS_SDK_UA_APP_ID") == binary, f"functions/{binary}/Cargo.toml: AWS_SDK_UA_APP_ID = {binary!r}"


def test_a_function_may_do_only_what_its_role_grants():
    record("dynamodb")
    table = LOCAL_ENV["TABLE_NAME"]
    audit = client("dynamodb", "http-audit", endpoint_url=ENDPOINTS["dynamodb"])
    # http-audit may query the table ...
    audit.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "nobody"}})
    # ... and nothing else: not write, not read one item, not query an index.
    refused = [
        lambda: audit.put_item(TableName=table, Item={"pk": {"S": "x"}, "sk": {"S": "y"}}),
        lambda: audit.get_item(TableName=table, Key={"pk": {"S": "x"}, "sk": {"S": "y"}}),
        lambda: audit.query(TableName=table, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p",
                            ExpressionAttributeValues={":p": {"S": "nobody"}}),
        # A transaction needs the permission of each of its parts.
        lambda: client("dynamodb", "http-session-read", endpoint_url=ENDPOINTS["dynamodb"]).transact_write_items(
            TransactItems=[{"Delete": {"TableName": table, "Key": {"pk": {"S": "x"}, "sk": {"S": "y"}}}}]),
    ]
    for call in refused:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "Item" not in client("dynamodb", "local", endpoint_url=ENDPOINTS["dynamodb"]).get_item(
        TableName=table, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})


def test_only_functions_granted_it_may_push_or_close_connections():
    record("connections")
    api = lambda who: client("apigatewaymanagementapi", who, endpoint_url=ENDPOINTS["connections"] + "/prod")

    def status(call):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        return e.value.response["ResponseMetadata"]["HTTPStatusCode"]

    # http-queue may do neither; ws-sync may close (DELETE), never push (POST).
    assert status(lambda: api("http-queue").post_to_connection(ConnectionId="any", Data=b"{}")) == 403
    assert status(lambda: api("ws-sync").post_to_connection(ConnectionId="any", Data=b"{}")) == 403
    assert status(lambda: api("http-session-start").delete_connection(ConnectionId="any")) == 403
    # A granted function gets as far as the connection, which is gone.
    assert status(lambda: api("http-session-start").post_to_connection(ConnectionId="any", Data=b"{}")) == 410
    assert status(lambda: api("ws-sync").delete_connection(ConnectionId="any")) == 410


@pytest.mark.after_all
def test_every_grant_was_used_and_none_was_missing(request):
    modules = {os.path.basename(str(item.fspath)) for item in request.session.items}
    every = {f for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py")}
    if modules != every:
        pytest.skip("only a run of the whole suite shows which grants are used")
    problems = []
    for service in ("dynamodb", "connections", "translate", "comprehend"):
        r = record(service)
        problems += [f"{d['function']} was refused {service} {d['need']}" for d in r["denied"] if d["service"] == service]
        for who, granted in r["granted"].items():
            used = {json.dumps(x) for x in r["used"].get(who, {}).get(service, [])}
            spare = [x for x in granted[service] if json.dumps(x) not in used]
            problems += [f"{who} is granted {service} {x} and never used it" for x in spare]
    assert not problems, "\n".join(problems)
