"""Creates the template's table(s) on the local DynamoDB endpoint, from
template.yaml's own definitions. Idempotent.

    python local/tables.py   # uses TABLE_NAME (and STORE_TEST_TABLE) and AWS_ENDPOINT_URL_DYNAMODB
"""

import os
import sys

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import template  # noqa: E402


def main():
    name = os.environ.get("TABLE_NAME", "kefu")
    db = boto3.client("dynamodb")
    (table,) = template.tables(template.load())  # Kefu has one table
    existing = db.list_tables()["TableNames"]
    # The store tests (shared/tests/store.rs) get a table of their own, the
    # same but without TTL: no timer path serves it, so nothing but the
    # tests writes there (their clocks start at 0, so every timer they set
    # would be long due).
    for each, ttl in ((name, table["ttl"]), (store_test_table(name), None)):
        if each in existing:
            print(f"table {each} exists")
            continue
        args = {k: v for k, v in table["create"].items() if v}
        db.create_table(TableName=each, **args)
        db.get_waiter("table_exists").wait(TableName=each)
        if ttl:
            db.update_time_to_live(TableName=each, TimeToLiveSpecification=ttl)
        print(f"table {each} created")


def store_test_table(name):
    return os.environ.get("STORE_TEST_TABLE", f"{name}-store-tests")


if __name__ == "__main__":
    main()
