"""A DynamoDB-compatible server for the local stack: moto, one request at a time.

The stock threaded `moto_server` is not atomic: concurrent conditional
updates can all pass their condition, and concurrent TransactWriteItems fail
with HTTP 500. Serialising requests behind a lock restores DynamoDB's
guarantees (conditional writes and transactions are atomic), which Kefu's
capacity rules depend on. Any other DynamoDB-compatible endpoint (DynamoDB
Local, AWS) works with Kefu unchanged; this is just the default.

It also plays IAM for the functions (local/iam.py): a function's request is
refused unless that function's role in template.yaml
grants it; `GET /_kefu/iam` reports the grants the functions used.
`GET /_kefu/requests` counts the requests each function made, per action,
and `GET /_kefu/read` the items its Queries returned, per table or index
(what a read costs grows with those, not with the requests).

And it plays what moto does not: transactions idempotent by their
ClientRequestToken, as in DynamoDB; on demand, the conflicts and lost
responses real DynamoDB has (`Faults` below); and TTL (`POST /_kefu/ttl`:
`play_ttl` below), which the local gateway asks for every few seconds.

    python local/dynamodb.py [--port 8000]
"""

import argparse
import collections
import copy
import functools
import hashlib
import inspect
import io
import json
import logging
import os
import random
import socket
import sys
import threading
import time

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
import moto.core.responses
from moto.core.common_models import BaseModel
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodbstreams.models import ShardIterator
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


# moto answers every Query by listing and sorting the whole table (every
# item of every partition), then keeping the partition asked for: a Query's
# time grows with the table, so a long-running local stack (or a benchmark
# of a thousand sessions) slows down with everything it ever stored. Here a
# base-table Query lists its own partition only, and an index Query lists
# the items with the index key asked for, from buckets kept up to date by
# every write (built on an index's first Query; the sweeper's 64 timer-shard
# Queries each read one bucket). moto still checks, sorts and pages what it
# is given, so the answers are the same; requests are serialised, so a
# per-table marker is safe.


class Buckets:
    """One index's items by their value of its hash key: `of[key]` is the
    bucket a table key is in, `items[value][key]` the item."""

    def __init__(self, table, attr):
        self.attr = attr
        self.items = collections.defaultdict(dict)
        self.of = {}
        for item in every_item(table):
            self.place(table_key(table, item), item)

    def place(self, key, item):
        old = self.of.pop(key, None)
        if old is not None:
            self.items[old].pop(key, None)
        value = item.attrs.get(self.attr) if item is not None else None
        if value is not None:
            self.items[value][key] = item
            self.of[key] = value


def table_key(table, item):
    return (item.hash_key, item.range_key if table.range_key_attr else None)


def resync(table, hash_key, range_key):
    """After a write of one item: its place in each index's buckets."""
    try:
        item = table.get_item(hash_key, range_key)
    except KeyError:
        item = None
    for buckets in table.__dict__.get("_kefu_buckets", {}).values():
        buckets.place((hash_key, range_key), item)


def keys_of(table, attrs):
    hash_key = DynamoType(attrs[table.hash_key_attr])
    return hash_key, DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None


def keeping_buckets(write):
    """Wraps a DynamoDBBackend write so each index's buckets follow it."""
    def wrapped(self, table_name, attrs, *args, **kwargs):
        try:
            return write(self, table_name, attrs, *args, **kwargs)
        finally:  # written or refused: the buckets follow the item as it is now
            table = self.tables.get(table_name)
            keyed = table is not None and table.hash_key_attr in attrs and (
                not table.range_key_attr or table.range_key_attr in attrs)
            if keyed and table.__dict__.get("_kefu_buckets"):
                resync(table, *keys_of(table, attrs))
    return wrapped


DynamoDBBackend.put_item = keeping_buckets(DynamoDBBackend.put_item)
DynamoDBBackend.update_item = keeping_buckets(DynamoDBBackend.update_item)
DynamoDBBackend.delete_item = keeping_buckets(DynamoDBBackend.delete_item)

_moto_query = Table.query
_moto_all_items = Table.all_items
_query_signature = inspect.signature(_moto_query)


def query(self, *args, **kwargs):
    asked = _query_signature.bind(self, *args, **kwargs).arguments
    name = asked.get("index_name")
    if name is None:
        self._kefu_query = ("partition", asked["hash_key"]) if self.range_key_attr else None
    else:
        index = next((i for i in self.indexes + self.global_indexes if i.name == name), None)
        hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"] if index else []
        asked_for = dict(asked.get("hash_key_conditions") or [])
        if len(hashes) == 1 and (hashes[0] in asked_for or asked.get("hash_key") is not None):
            self._kefu_query = ("index", (name, hashes[0], asked_for.get(hashes[0], asked.get("hash_key"))))
        else:
            self._kefu_query = ("index", None)
    try:
        return _moto_query(self, *args, **kwargs)
    finally:
        self._kefu_query = None


def every_item(table):
    if table.range_key_attr:
        return [item for hash_set in table.items.values() for item in hash_set.values()]
    return list(table.items.values())


def all_items(self):
    kind, asked = getattr(self, "_kefu_query", None) or (None, None)
    if kind == "partition":
        return list(self.items[asked].values()) if asked in self.items else []
    if kind == "index":
        if asked is None:
            return every_item(self)
        name, attr, value = asked
        cache = self.__dict__.setdefault("_kefu_buckets", {})
        if name not in cache:
            cache[name] = Buckets(self, attr)
        return list(cache[name].items.get(value, {}).values())
    return _moto_all_items(self)


Table.query = query
Table.all_items = all_items


# moto works out, for every request, which of its services it is for: it
# lists its own package directory (a stat of each of some 200 entries) and
# tries every service's URL patterns against the Host header; then it lists
# the handler class's methods. A third of each request's time here, always
# with the same answer for the same host and class: worked out once.
DomainDispatcherApplication.get_backend_for_host = functools.lru_cache(maxsize=64)(
    DomainDispatcherApplication.get_backend_for_host)
_moto_method_names = moto.core.responses.method_names_from_class
moto.core.responses.method_names_from_class = functools.lru_cache(maxsize=64)(
    lambda cls: frozenset(_moto_method_names(cls)))


# A running local stack grew by about 5 KB with every write it served
# (measured: 3,000 updates of one item, +15 MB), for two reasons.
#
# moto remembers every model object it ever made (each version of each item,
# each stream record, each shard iterator) in a per-class list, for its
# dashboard; nothing ever reads it here, and it keeps every overwritten item
# alive. Ours makes them without that list.
def untracked_new(cls, *args, **kwargs):
    return object.__new__(cls)


BaseModel.__new__ = untracked_new

# DynamoDB Streams keeps a record for 24 hours, and an iterator for 15
# minutes; moto keeps every record for good (each with the item's old and
# new images) and every iterator it ever handed out. Ours keeps records for
# STREAM_RETENTION_SECS (our stream reader polls twice a second; a reader
# paused for longer goes on from the oldest record kept) and the latest
# iterators only.
STREAM_RETENTION_SECS = 120
KEPT_ITERATORS = 1000
_moto_stream_add = StreamShard.add
_moto_stream_get = StreamShard.get
_moto_iterator_get = ShardIterator.get


def stream_add(self, old, new):
    _moto_stream_add(self, old, new)
    added = self.__dict__.setdefault("kefu_added", collections.deque())
    now = time.monotonic()
    added.append(now)
    expired = 0
    while added and now - added[0] > STREAM_RETENTION_SECS:
        added.popleft()
        expired += 1
    if expired:
        # Sequence numbers stay: the shard's range starts later.
        del self.items[:expired]
        self.starting_sequence_number += expired


def stream_get(self, start, quantity):
    """From `start`, or from the oldest record kept when `start` is older
    (a reader paused for longer than the retention, as DynamoDB's event
    source mapping goes on past records that expired)."""
    return _moto_stream_get(self, max(start, self.starting_sequence_number), quantity)


def iterator_get(self, limit=1000):
    out = _moto_iterator_get(self, limit)
    kept = self.streams_backend.shard_iterators
    while len(kept) > KEPT_ITERATORS:
        del kept[next(iter(kept))]
    return out


StreamShard.add = stream_add
StreamShard.get = stream_get
ShardIterator.get = iterator_get


# How DynamoDB Streams marks a deletion by TTL (the Streams API's shape).
TTL_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


def play_ttl(now):
    """DynamoDB's TTL process, which moto does not run: every item of a
    TTL-enabled table whose TTL attribute (epoch seconds) is at or before
    `now` is deleted, and its stream record carries TTL's userIdentity.
    In-process (a Scan through the API costs moto far more). Returns how
    many it deleted."""
    deleted = 0
    region = os.environ.get("AWS_REGION", "us-east-1")
    for table in list(dynamodb_backends[DEFAULT_ACCOUNT_ID][region].tables.values()):
        if table.ttl.get("TimeToLiveStatus") != "ENABLED":
            continue
        attr = table.ttl["AttributeName"]
        for hash_key, value in list(table.items.items()):
            rows = list(value.items()) if table.range_key_attr else [(None, value)]
            for range_key, item in rows:
                ttl = item.attrs.get(attr)
                if ttl is None or ttl.type != "N" or float(ttl.value) > now:
                    continue
                table.delete_item(hash_key, range_key)
                resync(table, hash_key, range_key)
                if table.stream_shard is not None and table.stream_shard.items:
                    table.stream_shard.items[-1].record["userIdentity"] = dict(TTL_IDENTITY)
                deleted += 1
    return deleted


class Faults:
    """What real DynamoDB does under concurrency and a flaky network, on
    demand (moto, serialised, never does either):

    - `conflict`: this share of writes meets a transaction in flight on its
      item: a plain write is refused with TransactionConflictException, a
      transaction is cancelled with reason TransactionConflict; nothing is
      written either way.
    - `lost`: this share of transactions commits, but the response is lost
      (HTTP 500), so the SDK resends it. The resend carries the same
      ClientRequestToken, and DynamoDB answers it as the original: done.
      (Only the first sending of a token is lost, as a network would rarely
      lose a retry too.)

    And what a busy or flaky DynamoDB does to any request of a function
    (never to the tests' or the operator's own), before it is served:

    - `throttle`: refused with ProvisionedThroughputExceededException or
      ThrottlingException (400), half each;
    - `error`: refused with InternalServerError (500);
    - `drop`: the connection is cut with no answer at all.

    Nothing is written by any of these; the SDK retries them (and gives up
    after its attempts, which the function must turn into a clear error).

    Set with `POST /_kefu/faults {"conflict": 0.1, "lost": 0.2, "throttle":
    0.04}` (counters reset); `GET /_kefu/faults` reports what was injected
    and seen.
    """

    def __init__(self):
        self.set({})

    def set(self, rates):
        self.conflict = float(rates.get("conflict", 0))
        self.lost = float(rates.get("lost", 0))
        self.throttle = float(rates.get("throttle", 0))
        self.error = float(rates.get("error", 0))
        self.drop = float(rates.get("drop", 0))
        self.random = random.Random(rates.get("seed"))
        self.counts = {"conflicts": 0, "lost": 0, "replayed": 0, "transactions": 0, "without_token": 0,
                       "throttled": 0, "errors": 0, "dropped": 0}

    def report(self):
        rates = {"conflict": self.conflict, "lost": self.lost, "throttle": self.throttle, "error": self.error,
                 "drop": self.drop}
        return {"rates": rates, **self.counts}

    def before(self, environ, start_response):
        """A fault for a function's request before it is served, or None."""
        roll = self.random.random()
        if roll < self.throttle:
            self.counts["throttled"] += 1
            kind = ("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
                    if self.random.random() < 0.5 else "com.amazon.coral.availability#ThrottlingException")
            return respond(start_response, "400 Bad Request", {
                "__type": kind, "message": "Rate exceeded (the local DynamoDB throttles this request on purpose)"})
        roll -= self.throttle
        if roll < self.error:
            self.counts["errors"] += 1
            return respond(start_response, "500 Internal Server Error", {
                "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "message": "Internal server error (the local DynamoDB fails this request on purpose)"})
        roll -= self.error
        if roll < self.drop:
            self.counts["dropped"] += 1
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return []
        return None

    def hit(self, rate):
        return rate > 0 and self.random.random() < rate


# How long DynamoDB remembers a ClientRequestToken.
TOKEN_WINDOW_SECS = 600


class Serialized:
    """WSGI middleware: one request inside the app at a time; each function's
    request refused unless its role grants it (local/iam.py); transactions
    idempotent by ClientRequestToken, as in DynamoDB; faults on demand."""

    def __init__(self, app, grants):
        self.app = app
        self.grants = grants
        self.faults = Faults()
        self.tokens = {}  # ClientRequestToken -> (payload digest, committed at)
        self.requests = collections.Counter()
        # Items returned by Queries, per function and table or index.
        self.read = collections.Counter()
        # Seconds spent serving, per action: how busy the one-at-a-time
        # DynamoDB was (the benchmarks' floor: GET /_kefu/busy).
        self.busy = collections.Counter()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path == "/_kefu/iam":
            return respond(start_response, "200 OK", self.grants.report())
        # Requests served, per function and action; items Queries returned,
        # per function and table or index (POST resets either).
        counters = {"/_kefu/requests": self.requests, "/_kefu/read": self.read}
        if path in counters:
            with self.lock:
                return respond(start_response, "200 OK", by_function(counters[path], environ))
        if path == "/_kefu/busy":
            # Milliseconds spent serving functions' requests, per action (POST resets).
            with self.lock:
                if environ.get("REQUEST_METHOD") == "POST":
                    self.busy.clear()
                return respond(start_response, "200 OK", {a: round(s * 1000, 1) for a, s in sorted(self.busy.items())})
        if path == "/_kefu/ttl":
            with self.lock:
                deleted = play_ttl(time.time()) if environ.get("REQUEST_METHOD") == "POST" else 0
                return respond(start_response, "200 OK", {"deleted": deleted})
        if path == "/_kefu/faults":
            with self.lock:
                if environ.get("REQUEST_METHOD") == "POST":
                    self.faults.set(json.loads(read_body(environ) or b"{}"))
                return respond(start_response, "200 OK", self.faults.report())
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            with self.lock:
                return list(self.app(environ, start_response))
        action = target.split(".", 1)[1]
        raw = read_body(environ)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        who = iam.identity(environ.get("HTTP_USER_AGENT"))
        lacking = self.grants.check(who, "dynamodb", iam.dynamodb_needs(action, body), environ.get("HTTP_USER_AGENT"))
        if lacking is not None:
            name, scope = lacking
            resource = f"arn:aws:dynamodb:{iam.REGION}:{iam.ACCOUNT}:table/{body.get('TableName', '?')}"
            if scope.startswith("index/"):
                resource += "/" + scope
            return respond(start_response, "400 Bad Request", {
                "__type": "com.amazon.coral.service#AccessDeniedException",
                "Message": f"User: {iam.role_arn(who)} is not authorized to perform: dynamodb:{name} "
                           f"on resource: {resource} because no identity-based policy allows the dynamodb:{name} action",
            })
        with self.lock:
            start = time.perf_counter()
            try:
                return self.serve(environ, start_response, who, action, body, raw)
            finally:
                if who:
                    self.busy[action] += time.perf_counter() - start

    def serve(self, environ, start_response, who, action, body, raw):
        """One request, inside the lock."""
        self.requests[(who or "operator", action)] += 1
        fault = self.faults.before(environ, start_response) if who else None
        if fault is not None:
            return fault
        if action == "TransactWriteItems":
            return self.transact(environ, start_response, body, raw)
        if action in ("PutItem", "UpdateItem", "DeleteItem") and self.faults.hit(self.faults.conflict):
            self.faults.counts["conflicts"] += 1
            return respond(start_response, "400 Bad Request", {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                "message": "Transaction is ongoing for the item",
            })
        # Consume the whole response inside the lock: the work happens
        # while the body is produced.
        out = list(self.app(environ, start_response))
        if action == "Query":
            try:
                returned = json.loads(b"".join(out)).get("Count", 0)
            except ValueError:
                returned = 0
            self.read[(who or "operator", body.get("IndexName") or "table")] += returned
        return out

    def transact(self, environ, start_response, body, raw):
        f = self.faults
        f.counts["transactions"] += 1
        token = body.get("ClientRequestToken")
        now = time.time()
        # Oldest first (a dict keeps insertion order): drop the expired.
        while self.tokens:
            oldest = next(iter(self.tokens))
            if now - self.tokens[oldest][1] < TOKEN_WINDOW_SECS:
                break
            del self.tokens[oldest]
        payload = hashlib.sha256(json.dumps(body.get("TransactItems"), sort_keys=True).encode()).hexdigest()
        if token is None:
            f.counts["without_token"] += 1
        elif token in self.tokens:
            if self.tokens[token][0] != payload:
                return respond(start_response, "400 Bad Request", {
                    "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                    "message": "The request uses the same client token as a previous, but non-identical request.",
                })
            f.counts["replayed"] += 1
            return respond(start_response, "200 OK", {})
        if f.hit(f.conflict):
            f.counts["conflicts"] += 1
            n = len(body.get("TransactItems", []))
            reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
            reasons += [{"Code": "None"}] * (n - 1)
            return respond(start_response, "400 Bad Request", {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
                           f"[{', '.join(r['Code'] for r in reasons)}]",
                "CancellationReasons": reasons,
            })
        status = []
        out = list(self.app(environ, lambda s, h, exc=None: status.append((s, h))))
        if not status[0][0].startswith("200"):
            start_response(*status[0])
            return out
        if token is not None:
            self.tokens[token] = (payload, now)
            if f.hit(f.lost):
                f.counts["lost"] += 1
                return respond(start_response, "500 Internal Server Error", {
                    "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                    "message": "Internal server error (the local DynamoDB lost this response on purpose)",
                })
        start_response(*status[0])
        return out


def read_body(environ):
    """The request body, left readable for the app."""
    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw


def by_function(counter, environ):
    """A counter keyed by (function, what) as {function: {what: n}}; a POST clears it after."""
    out = {}
    for (who, what), n in sorted(counter.items()):
        out.setdefault(who, {})[what] = n
    if environ.get("REQUEST_METHOD") == "POST":
        counter.clear()
    return out


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
