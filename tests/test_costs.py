"""DynamoDB done right, checked over the whole run (issue 12): the local
DynamoDB counts every request it serves per function and action, and after
every other test has driven the functions, none of them — request paths,
the stream handler and the sweeper alike — ever made a `Scan`. (The
privilege audit would also refuse one, as no role grants `dynamodb:Scan`;
this says it in the cost's own terms, whatever the template grants.)"""

import json
import urllib.request

import pytest

from kefu import LOCAL_ENV

REQUESTS = LOCAL_ENV["AWS_ENDPOINT_URL_DYNAMODB"] + "/_kefu/requests"


@pytest.mark.after_all
def test_no_function_ever_scanned_the_table():
    with urllib.request.urlopen(REQUESTS, timeout=5) as r:
        served = json.load(r)
    # Requests without a function's identity are the tests' and the operator CLI's.
    functions = {who: actions for who, actions in served.items() if who != "operator"}
    assert {"ws-send-message", "http-session-start", "timer-sweeper"} <= set(functions), sorted(functions)
    assert sum(functions["ws-send-message"].values()) > 0
    scans = {who: actions["Scan"] for who, actions in functions.items() if "Scan" in actions}
    assert scans == {}, f"Scan on a function's path: {scans}"
