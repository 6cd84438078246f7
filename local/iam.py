"""IAM for the local stack: each function may do exactly what its role in
template.yaml allows, as in the cloud.

In Lambda every function runs with its own role. Locally each function names
itself in its SDK's user agent (`app/<binary>`: `AWS_SDK_UA_APP_ID` in the
function's `[package.metadata.lambda.env]`; its credentials stay whatever the
endpoint needs), and the local DynamoDB and the local `@connections` API
refuse what that function's `Policies` do not grant, with the error AWS
gives. Any other caller (the admin CLI, the tests, the table setup) is the
operator and may do anything.

Both servers also record which grants were used; `tests/test_privileges.py`
reads them at `/_kefu/iam` after the suite and fails on a grant nothing used.
"""

import os
import re
import threading

import template

ACCOUNT = "000000000000"
REGION = "us-east-1"

# TransactWriteItems and TransactGetItems need the permission of each part.
_TRANSACT_PARTS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def identity(user_agent):
    """The function a request's user agent names (`app/<binary>`), if any."""
    m = re.search(r"(?:^|\s)app/([\w.-]+)", user_agent or "")
    return m.group(1) if m else None


def dynamodb_needs(action, body):
    """[(action, "table" | "index/<name>")] that one DynamoDB API call needs."""
    if action in ("TransactWriteItems", "TransactGetItems"):
        return [(_TRANSACT_PARTS[next(iter(part))], "table") for part in body.get("TransactItems", [])]
    if action in ("Query", "Scan") and body.get("IndexName"):
        return [(action, "index/" + body["IndexName"])]
    return [(action, "table")]


def _grant_for(granted, need):
    """The grant that allows `need`: itself, or for one index, all indexes."""
    if need in granted:
        return need
    action, scope = need if isinstance(need, tuple) else (None, None)
    if scope and scope.startswith("index/") and (action, "index/*") in granted:
        return (action, "index/*")
    return None


class Grants:
    """The template's grants, and the record of which ones were used."""

    def __init__(self, path=template.TEMPLATE):
        self.path = path
        self.mtime = os.path.getmtime(path)
        self.grants = template.grants(template.load(path))
        self.lock = threading.Lock()
        self.used = {}
        self.denied = []

    def _fresh(self):
        """Reads the template again when it changed, so a function added to a
        running stack is held to its role at once (not left unrestricted
        until a restart)."""
        mtime = os.path.getmtime(self.path)
        if mtime != self.mtime:
            grants = template.grants(template.load(self.path))
            with self.lock:
                self.grants, self.mtime = grants, mtime

    def is_function(self, who):
        self._fresh()
        return who in self.grants

    def check(self, who, service, needs, user_agent=""):
        """The first need `who` lacks (None if all are granted). What the
        functions themselves asked (the Rust SDK's user agent, not a test
        probing in their name) is recorded."""
        if not self.is_function(who):
            return None
        granted = self.grants[who][service]
        grants = [_grant_for(granted, need) for need in needs]
        lacking = next((need for need, grant in zip(needs, grants) if grant is None), None)
        if "aws-sdk-rust" in (user_agent or ""):
            with self.lock:
                if lacking is None:
                    self.used.setdefault(who, {}).setdefault(service, set()).update(grants)
                else:
                    self.denied.append({"function": who, "service": service,
                                        "need": list(lacking) if isinstance(lacking, tuple) else lacking})
        return lacking

    def report(self):
        """{"granted", "used", "denied"} per function, as JSON-ready lists."""
        self._fresh()

        def listed(g):
            return {service: sorted(list(x) if isinstance(x, tuple) else x for x in items) for service, items in g.items()}
        with self.lock:
            return {
                "granted": {who: listed(g) for who, g in self.grants.items()},
                "used": {who: listed(g) for who, g in self.used.items()},
                "denied": list(self.denied),
            }


def role_arn(who):
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{who}-role/{who}"
