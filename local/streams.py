"""What DynamoDB and Lambda do behind the table that moto and DynamoDB Local
do not: TTL deletion, and the stream's event-source mapping, both played
from template.yaml for the local gateway (local/gateway.py).

- TTL: every `ttl_secs`, items whose TTL attribute (epoch seconds) has
  passed are deleted, as DynamoDB's TTL process does: by our local
  DynamoDB itself (`POST /_kefu/ttl`, which marks the stream records as
  TTL's), or, on another endpoint, by a Scan and deletes conditioned on the
  deadline still being past (an item given a later one meanwhile stays).
- The stream: the table's stream is read (DynamoDB Streams API, on the same
  endpoint) every `poll_secs` from the latest record on; each record gets
  Lambda's event shape, and a deletion the TTL player made carries TTL's
  `userIdentity` (`Service`, `dynamodb.amazonaws.com`), as on AWS. Records
  that the mapping's filter patterns pass are delivered in batches of its
  BatchSize; `batchItemFailures` are delivered again from the first one
  failed, up to MaximumRetryAttempts, then counted as sent to the on-failure
  destination.

Either can be switched off and on at run time (the gateway's
`/_kefu/timers`), so tests can prove each timer path alone.
"""

import asyncio
import json
import logging
import os
import time
import urllib.request
import uuid

import boto3

log = logging.getLogger("gateway.streams")
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def matches(pattern, event):
    """EventBridge-style pattern matching, the subset Lambda filters use here:
    a list of allowed values for a field, objects nesting into the event."""
    for key, want in pattern.items():
        if key not in event:
            return False
        have = event[key]
        if isinstance(want, dict):
            if not isinstance(have, dict) or not matches(want, have):
                return False
        elif isinstance(want, list):
            if isinstance(have, (dict, list)) or have not in want:
                return False
        else:
            raise ValueError(f"unsupported filter pattern {pattern!r}")
    return True


class TableEvents:
    def __init__(self, table, ttl_attribute, mappings, invoker, ttl_secs, poll_secs):
        self.table = table
        self.ttl_attribute = ttl_attribute
        self.mappings = mappings
        self.invoker = invoker
        self.ttl_secs = ttl_secs
        self.poll_secs = poll_secs
        self.enabled = {"ttl": True, "stream": True}
        # Keys the TTL player deleted, until their REMOVE is read.
        self.ttl_deleted = {}
        self.counts = {"ttlDeleted": 0, "records": 0, "delivered": 0, "failed": 0, "sentToDestination": 0}
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        self.db = boto3.client("dynamodb", endpoint_url=endpoint)
        self.own_ttl = endpoint + "/_kefu/ttl" if endpoint else None
        self.streams = boto3.client(
            "dynamodbstreams", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", endpoint))

    def report(self):
        return {**self.enabled, **self.counts, "ttlSecs": self.ttl_secs, "pollSecs": self.poll_secs}

    async def start(self):
        if self.ttl_attribute:
            asyncio.create_task(self._forever(self.ttl_secs, "ttl", self._expire))
        if self.mappings:
            arn = (await asyncio.to_thread(self.db.describe_table, TableName=self.table))["Table"].get("LatestStreamArn")
            if not arn:
                log.warning("table %s has no stream: stream mappings are not played", self.table)
                return
            self.stream_arn = arn
            self.iterators = await asyncio.to_thread(self._iterators, arn)
            asyncio.create_task(self._forever(self.poll_secs, "stream", self._poll))

    async def _forever(self, every, name, step):
        while True:
            await asyncio.sleep(every)
            if not self.enabled[name]:
                continue
            try:
                await step()
            except Exception:  # keep playing: one bad round must not end TTL or the stream
                log.exception("%s round failed", name)

    # ------------------------------------------------------------------ TTL
    def _expired_keys(self, now):
        keys, start = [], None
        while True:
            args = {
                "TableName": self.table,
                "FilterExpression": "#e <= :now",
                "ProjectionExpression": "pk, sk, #e",
                "ExpressionAttributeNames": {"#e": self.ttl_attribute},
                "ExpressionAttributeValues": {":now": {"N": str(now)}},
            }
            if start:
                args["ExclusiveStartKey"] = start
            page = self.db.scan(**args)
            keys += [{"pk": i["pk"], "sk": i["sk"]} for i in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return keys

    def _delete(self, key, now):
        marker = (key["pk"]["S"], key["sk"]["S"])
        self.ttl_deleted[marker] = time.time()
        try:
            self.db.delete_item(TableName=self.table, Key=key, ConditionExpression="#e <= :now",
                                ExpressionAttributeNames={"#e": self.ttl_attribute},
                                ExpressionAttributeValues={":now": {"N": str(now)}})
            self.counts["ttlDeleted"] += 1
        except self.db.exceptions.ConditionalCheckFailedException:
            self.ttl_deleted.pop(marker, None)

    def _own_ttl(self):
        """Our local DynamoDB plays TTL itself: the number deleted, or None
        on another endpoint."""
        if not self.own_ttl:
            return None
        try:
            req = urllib.request.Request(self.own_ttl, data=b"{}", method="POST")
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.load(r)["deleted"]
        except (OSError, ValueError, KeyError):
            self.own_ttl = None
            return None

    async def _expire(self):
        deleted = await asyncio.to_thread(self._own_ttl)
        if deleted is not None:
            self.counts["ttlDeleted"] += deleted
            return
        now = int(time.time())
        for key in await asyncio.to_thread(self._expired_keys, now):
            await asyncio.to_thread(self._delete, key, now)
        # Forget deletions whose record never came (another reader's table).
        stale = time.time() - 600
        self.ttl_deleted = {k: t for k, t in self.ttl_deleted.items() if t > stale}

    # --------------------------------------------------------------- stream
    def _iterators(self, arn):
        shards = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        kind = self.mappings[0]["starting_position"]
        return {s["ShardId"]: self.streams.get_shard_iterator(
            StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType=kind)["ShardIterator"] for s in shards}

    def _read(self):
        records = []
        for shard, iterator in list(self.iterators.items()):
            if iterator is None:
                continue
            out = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            self.iterators[shard] = out.get("NextShardIterator")
            records += out.get("Records", [])
        return records

    def _lambda_record(self, raw):
        """A stream record as Lambda's event source mapping delivers it."""
        data = dict(raw["dynamodb"])
        created = data.get("ApproximateCreationDateTime")
        if hasattr(created, "timestamp"):
            data["ApproximateCreationDateTime"] = int(created.timestamp())
        record = {
            "eventID": raw.get("eventID") or uuid.uuid4().hex,
            "eventName": raw["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": raw.get("awsRegion", os.environ.get("AWS_REGION", "us-east-1")),
            "dynamodb": data,
            "eventSourceARN": self.stream_arn,
        }
        keys = data.get("Keys", {})
        marker = (keys.get("pk", {}).get("S"), keys.get("sk", {}).get("S"))
        identity = raw.get("userIdentity")  # the Streams API's shape
        if identity:
            record["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
        elif raw["eventName"] == "REMOVE" and self.ttl_deleted.pop(marker, None) is not None:
            record["userIdentity"] = dict(TTL_IDENTITY)
        return record

    async def _poll(self):
        records = [self._lambda_record(r) for r in await asyncio.to_thread(self._read)]
        self.counts["records"] += len(records)
        for m in self.mappings:
            passed = [r for r in records if not m["filters"] or any(matches(f, r) for f in m["filters"])]
            for i in range(0, len(passed), m["batch_size"]):
                await self._deliver(m, passed[i:i + m["batch_size"]])

    async def _deliver(self, m, batch):
        attempts = 0
        while batch:
            ok, out = await self.invoker.invoke(m["binary"], {"Records": batch})
            if ok and m["report_failures"] and isinstance(out, dict) and out.get("batchItemFailures"):
                failed = {f.get("itemIdentifier") for f in out["batchItemFailures"]}
                first = next((i for i, r in enumerate(batch) if r["dynamodb"].get("SequenceNumber") in failed), 0)
                self.counts["delivered"] += first
                batch = batch[first:]
            elif ok:
                self.counts["delivered"] += len(batch)
                return
            attempts += 1
            self.counts["failed"] += 1
            if 0 <= m["max_retries"] < attempts:
                log.error("%d stream records to %s failed %d times: sent to the on-failure destination",
                          len(batch), m["binary"], attempts)
                self.counts["sentToDestination"] += len(batch)
                return
            await asyncio.sleep(min(0.2 * attempts, 2))
