"""Creates the template's table(s) on the local DynamoDB endpoint, from
template.yaml's own definitions. Idempotent.

    python local/tables.py   # uses TABLE_NAME and AWS_ENDPOINT_URL_DYNAMODB
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
    if name in existing:
        print(f"table {name} exists")
        return
    args = {k: v for k, v in table["create"].items() if v}
    db.create_table(TableName=name, **args)
    db.get_waiter("table_exists").wait(TableName=name)
    if table["ttl"]:
        db.update_time_to_live(TableName=name, TimeToLiveSpecification=table["ttl"])
    print(f"table {name} created")


if __name__ == "__main__":
    main()
