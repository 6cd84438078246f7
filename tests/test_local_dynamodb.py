"""The local DynamoDB answers Queries from a partition or an index's bucket
instead of walking the whole table (local/dynamodb.py): the answers must be
DynamoDB's whatever was written since the index was first read — items
put, moved to another index key, stripped of it, deleted, or left alone by
a cancelled transaction."""

import uuid

import pytest
from botocore.exceptions import ClientError

from kefu import TABLE, dynamodb


def test_index_and_partition_queries_follow_every_write():
    db = dynamodb()
    run = uuid.uuid4().hex[:8]
    a, b = f"LOCALTEST#{run}#a", f"LOCALTEST#{run}#b"

    def put(i, key):
        db.put_item(TableName=TABLE, Item={"pk": {"S": f"LOCALTEST#{run}#{i % 3}"}, "sk": {"S": f"i{i:03}"},
                                           "gsi2pk": {"S": key}, "gsi2sk": {"S": f"{i:03}"}})

    def index(key, **kw):
        out, start = [], None
        while True:
            page = db.query(TableName=TABLE, IndexName="gsi2", KeyConditionExpression="gsi2pk = :k",
                            ExpressionAttributeValues={":k": {"S": key}}, Limit=4,
                            **({"ExclusiveStartKey": start} if start else {}), **kw)
            out += [item["gsi2sk"]["S"] for item in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return out

    for i in range(10):
        put(i, a)
    assert index(a) == [f"{i:03}" for i in range(10)]  # the index is read: its buckets exist from here on

    put(10, a)                                                    # put after the first read
    db.update_item(TableName=TABLE, Key={"pk": {"S": f"LOCALTEST#{run}#1"}, "sk": {"S": "i001"}},
                   UpdateExpression="SET gsi2pk = :b", ExpressionAttributeValues={":b": {"S": b}})  # moved
    db.update_item(TableName=TABLE, Key={"pk": {"S": f"LOCALTEST#{run}#2"}, "sk": {"S": "i002"}},
                   UpdateExpression="REMOVE gsi2pk")                # out of the index
    db.delete_item(TableName=TABLE, Key={"pk": {"S": f"LOCALTEST#{run}#0"}, "sk": {"S": "i003"}})  # gone
    db.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"LOCALTEST#{run}#0"}, "sk": {"S": "i011"},
                                                "gsi2pk": {"S": b}, "gsi2sk": {"S": "011"}}}},
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": f"LOCALTEST#{run}#1"}, "sk": {"S": "i004"}}}},
    ])
    with pytest.raises(ClientError) as refused:  # cancelled: writes nothing
        db.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"LOCALTEST#{run}#0"}, "sk": {"S": "i012"},
                                                    "gsi2pk": {"S": a}, "gsi2sk": {"S": "012"}}}},
            {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": f"LOCALTEST#{run}#x"}, "sk": {"S": "none"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"

    assert index(a) == ["000", "005", "006", "007", "008", "009", "010"]
    assert index(b) == ["001", "011"]
    assert index(a, ScanIndexForward=False) == ["010", "009", "008", "007", "006", "005", "000"]
    part = db.query(TableName=TABLE, KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                    ExpressionAttributeValues={":p": {"S": f"LOCALTEST#{run}#0"}, ":s": {"S": "i0"}})
    assert [item["sk"]["S"] for item in part["Items"]] == ["i000", "i006", "i009", "i011"]
