"""A DynamoDB-compatible server for the local stack: moto, one request at a time.

The stock threaded `moto_server` is not atomic: concurrent conditional
updates can all pass their condition, and concurrent TransactWriteItems fail
with HTTP 500. Serialising requests behind a lock restores DynamoDB's
guarantees (conditional writes and transactions are atomic), which Kefu's
capacity rules depend on. Any other DynamoDB-compatible endpoint (DynamoDB
Local, AWS) works with Kefu unchanged; this is just the default.

It also plays IAM for the functions (local/iam.py): a request signed with a
function's key id is refused unless that function's role in template.yaml
grants it; `GET /_kefu/iam` reports the grants the functions used.

    python local/dynamodb.py [--port 8000]
"""

import argparse
import copy
import io
import json
import logging
import os
import sys
import threading

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iam  # noqa: E402


def transact_write_items(self, transact_items):
    """TransactWriteItems in two phases: every condition is checked before
    anything is written, so a cancelled transaction writes nothing.

    moto's own version applies each write and, to roll back, deep-copies the
    whole table once per item of every transaction: O(table) per call, which
    makes a long-running local stack slower with every message stored and
    finally exhausts memory. The outcome (commit, or TransactionCanceled with
    per-item reasons) is the same; requests are serialised (below), so
    nothing can change between the two phases.
    """
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen, errors, writes = set(), [], []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise MockValidationException("Unsupported transaction operation")
        table_name = op["TableName"]
        table = self.get_table(table_name)
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        marker = (table_name, str(sorted(key.items())))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            expr = get_filter_expression(condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues"))
            if not expr.expr(current):
                old = current.to_json()["Attributes"] if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
        errors.append((None, None, None))
        if op_type != "ConditionCheck":
            writes.append((op_type, op, table_name, key, copy.deepcopy(current)))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    applied = []
    try:
        for op_type, op, table_name, key, current in writes:
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(table_name, op["Item"], expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, expression_attribute_names=names, expression_attribute_values=values)
            else:
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 expression_attribute_names=names, expression_attribute_values=values)
            applied.append((table_name, key, current))
    except Exception:
        # A write refused after the checks (a malformed expression): undo
        # the ones already made, item by item.
        for table_name, key, old in reversed(applied):
            if old is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, old.to_json()["Attributes"])
        raise


DynamoDBBackend.transact_write_items = transact_write_items


class Serialized:
    """WSGI middleware: one request inside the app at a time, and each
    function's request refused unless its role grants it (local/iam.py)."""

    def __init__(self, app, grants):
        self.app = app
        self.grants = grants
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_kefu/iam":
            return respond(start_response, "200 OK", self.grants.report())
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        who = iam.identity(environ.get("HTTP_AUTHORIZATION"))
        if target.startswith("DynamoDB_") and self.grants.is_function(who):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(raw)
            action = target.split(".", 1)[1]
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            lacking = self.grants.check(who, "dynamodb", iam.dynamodb_needs(action, body), environ.get("HTTP_USER_AGENT"))
            if lacking is not None:
                name, scope = lacking
                resource = f"arn:aws:dynamodb:{iam.REGION}:{iam.ACCOUNT}:table/{body.get('TableName', '?')}"
                if scope == "index":
                    resource += f"/index/{body.get('IndexName')}"
                return respond(start_response, "400 Bad Request", {
                    "__type": "com.amazon.coral.service#AccessDeniedException",
                    "Message": f"User: {iam.role_arn(who)} is not authorized to perform: dynamodb:{name} "
                               f"on resource: {resource} because no identity-based policy allows the dynamodb:{name} action",
                })
        with self.lock:
            # Consume the whole response inside the lock: the work happens
            # while the body is produced.
            return list(self.app(environ, start_response))


def respond(start_response, status, body):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))])
    return [data]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--template", default=iam.template.TEMPLATE, help="whose function roles to enforce")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = Serialized(DomainDispatcherApplication(create_backend_app), iam.Grants(args.template))
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
