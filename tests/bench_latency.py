"""Message latency (issue 12, measure 2): visitor-to-agent and
agent-to-visitor delivery through the local stack — from the send to the
other party's `message.new` — with 1, 50 and 200 conversations sending at
once; and beside each, the floor: the very DynamoDB requests a
`sendMessage` makes (docs in BENCHMARKS.md), issued straight to the same
local DynamoDB with the same concurrency, no Lambda and no gateway. The
ratio says how much of a message's time is Kefu's (functions, gateway,
pushes) and how much the local DynamoDB's.

    local/stack.sh run .venv/bin/python tests/bench_latency.py

Each agent holds at most 20 conversations; every round, every visitor
sends at once, then every agent answers each of its conversations at once
(a first round warms the function instances up and is not counted).
"""

import asyncio
import concurrent.futures
import math
import statistics
import time
import uuid

import aiohttp

from bench_requests import run_without_timers
from kefu import TABLE, Tenant, Ws, dynamodb

LEVELS = [(1, 20), (50, 6), (200, 3)]  # (conversations, rounds)
PER_AGENT = 20


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1)]


async def conversations(session, n):
    tenant = Tenant(session)
    agents = [await tenant.agent(f"a{i}", max_concurrent=PER_AGENT) for i in range(math.ceil(n / PER_AGENT))]
    sockets = {f"a{i}": await Ws.connect(session, h.token) for i, h in enumerate(agents)}
    sem = asyncio.Semaphore(20)

    async def one(i):
        async with sem:
            visitor, _ = await tenant.visitor(name=f"v{i}")
            s = (await visitor.ok("POST", "/sessions", {}))["session"]
            assert s["state"] == "active", s
            holder = s["agent"]["nickname"].lower()  # agents are named by their id, titled (kefu.Tenant.agent)
            return await Ws.connect(session, visitor.token), s["id"], sockets[holder]
    convs = await asyncio.gather(*(one(i) for i in range(n)))
    return tenant, sockets, convs


async def deliver(sender, receiver, sid, text):
    start = time.perf_counter()
    sent = await sender.send_message(sid, {"type": "text", "text": text})
    assert sent["type"] == "message.sent", sent
    seq = sent["message"]["seq"]
    await receiver.wait_event("message.new", lambda e: e["sessionId"] == sid and e["message"]["seq"] == seq)
    return (time.perf_counter() - start) * 1000


def floor_message(db, tenant_id, sid, agent_id, i):
    """The requests of one `sendMessage`, straight to DynamoDB (its writes
    on items of their own, so nothing of the tenant changes)."""
    start = time.perf_counter()
    bench = f"BENCH#{uuid.uuid4().hex}"
    db.update_item(TableName=TABLE, Key={"pk": {"S": bench}, "sk": {"S": "CONN"}},
                   UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}})
    db.get_item(TableName=TABLE, Key={"pk": {"S": f"T#{tenant_id}#S#{sid}"}, "sk": {"S": "SESSION"}}, ConsistentRead=True)
    db.get_item(TableName=TABLE, Key={"pk": {"S": f"T#{tenant_id}"}, "sk": {"S": "TENANT"}}, ConsistentRead=True)
    db.get_item(TableName=TABLE, Key={"pk": {"S": f"T#{tenant_id}"}, "sk": {"S": f"AGENT#{agent_id}"}}, ConsistentRead=True)
    new = "attribute_not_exists(pk)"
    db.transact_write_items(TransactItems=[
        {"Update": {"TableName": TABLE, "Key": {"pk": {"S": bench}, "sk": {"S": "SESSION"}},
                    "UpdateExpression": "SET lastSeq = :s", "ExpressionAttributeValues": {":s": {"N": str(i)}}}},
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": bench}, "sk": {"S": "MSG#1"}, "text": {"S": "floor"}},
                 "ConditionExpression": new}},
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": bench}, "sk": {"S": "CLIENT#1"}, "seq": {"N": "1"}},
                 "ConditionExpression": new}},
    ], ClientRequestToken=uuid.uuid4().hex)
    db.get_item(TableName=TABLE, Key={"pk": {"S": f"T#{tenant_id}#V#x"}, "sk": {"S": "VISITOR"}})
    return (time.perf_counter() - start) * 1000


def floor(tenant_id, sids, agent_id, rounds):
    """The floor at the same concurrency: one thread (and client) per conversation."""
    clients = [dynamodb() for _ in sids]
    out = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(sids)) as pool:
        for r in range(rounds):
            out += list(pool.map(lambda a: floor_message(a[0], tenant_id, a[1], agent_id, r), zip(clients, sids)))
    return out


async def main():
    rows = []
    # No connection limit: each WebSocket holds one of the connector's
    # connections for as long as it is open (aiohttp's default of 100 would
    # make the 101st connect wait forever); every request still times out.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        for n, rounds in LEVELS:
            tenant, sockets, convs = await conversations(session, n)
            inbound, outbound = [], []
            for r in range(rounds + 1):  # round 0 warms every function instance up, and is not counted
                into = await asyncio.gather(*(deliver(v, a, sid, f"q{r}") for v, sid, a in convs))
                await asyncio.sleep(1.1)  # each connection sends at most WS_ACTIONS_PER_SECOND frames a second
                back = await asyncio.gather(*(deliver(a, v, sid, f"a{r}") for v, sid, a in convs))
                await asyncio.sleep(1.1)
                if r:
                    inbound += into
                    outbound += back
            base = floor(tenant.id, [sid for _, sid, _ in convs], "a0", rounds)
            rows.append((n, inbound, outbound, base))
            for ws in list(sockets.values()) + [v for v, _, _ in convs]:
                await ws.close()
    print("| conversations at once | visitor → agent p50 / p99 | agent → visitor p50 / p99 | floor p50 / p99 (DynamoDB alone) | p50 ÷ floor p50 |")
    print("|---:|---:|---:|---:|---:|")
    for n, inbound, outbound, base in rows:
        both = statistics.median(inbound + outbound)
        print(f"| {n} | {pct(inbound, 50):.0f} / {pct(inbound, 99):.0f} ms | {pct(outbound, 50):.0f} / "
              f"{pct(outbound, 99):.0f} ms | {pct(base, 50):.0f} / {pct(base, 99):.0f} ms | "
              f"{both / statistics.median(base):.1f} |")


if __name__ == "__main__":
    run_without_timers(main())
