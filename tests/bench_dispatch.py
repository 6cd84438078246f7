"""Dispatch under a burst (issue 12, measure 3), through the local stack:

1. 1,000 visitors start a session at once for 50 agents of maximum 20: the
   time until every session is assigned;
2. 2,000 visitors at once for the same capacity (a fresh tenant): exactly
   1,000 assigned and 1,000 queued; then agents close what they hold, wave
   after wave, and every close hands the next waiting session out at once,
   until the queue is empty and every session was handled exactly once.

Invariants are checked, not assumed: no agent ever over its maximum (nor the
hard cap of 200), no session assigned twice or lost, each assignment pushed
to its agent exactly once. Beside it, the raw conditional-write throughput
of the same DynamoDB endpoint (no Lambda, no gateway), and the ratio.

    local/stack.sh run .venv/bin/python tests/bench_dispatch.py [visitors]

(`visitors` scales both phases, and the agents with them, for a quick try:
100 → 5 agents, 100 visitors, then 200.)
"""

import asyncio
import concurrent.futures
import sys
import time
import uuid
from collections import Counter

import aiohttp

from bench_requests import busy, counts, run_without_timers
from kefu import TABLE, Tenant, Ws, dynamodb, eventually

MAX = 20
HARD_CAP = 200


def log(*what):
    print(f"[{time.strftime('%H:%M:%S')}]", *what, file=sys.stderr, flush=True)


async def staffed(session, n, max_waiting):
    """A fresh tenant with n places: n ÷ 20 agents of maximum 20, each connected."""
    tenant = Tenant(session)
    await tenant.admin.ok("PATCH", "/settings", {"maxWaiting": max_waiting})
    gate = asyncio.Semaphore(10)

    async def one(i):
        async with gate:
            http = await tenant.agent(f"a{i:02}", max_concurrent=MAX)
            return f"a{i:02}", http, await Ws.connect(session, http.token)
    agents = await asyncio.gather(*(one(i) for i in range(n // MAX)))
    log(f"{n // MAX} agents connected")
    return tenant, {a: (http, ws) for a, http, ws in agents}


async def visitors(tenant, n):
    gate = asyncio.Semaphore(25)

    async def one(i):
        async with gate:
            return (await tenant.visitor(name=f"v{i}"))[0]
    out = await asyncio.gather(*(one(i) for i in range(n)))
    log(f"{n} visitors have tokens")
    return out


async def start_all(vs):
    """Every visitor at once; the time until the last answer, and the answers.
    A session is assigned in its own start's answer or by a drain racing it:
    both are checked below from the store, not from these answers."""
    t0 = time.perf_counter()
    started = await asyncio.gather(*(v.ok("POST", "/sessions", {}, expect=201) for v in vs))
    return time.perf_counter() - t0, [s["session"] for s in started]


async def agent_counts(tenant, agents):
    listed = await tenant.admin.ok("GET", "/agents")
    active = {a["id"]: a["active"] for a in listed if a["id"] in agents}
    assert len(active) == len(agents)
    assert all(n <= min(MAX, HARD_CAP) for n in active.values()), active
    return active


async def every_page(http, path):
    """All items of a paged list (`path` has its query already)."""
    items, cursor = [], None
    while True:
        page = await http.ok("GET", path + (f"&cursor={cursor}" if cursor else ""))
        items += page["items"]
        cursor = page.get("nextCursor")
        if not cursor:
            return items


async def open_sessions(tenant):
    return await every_page(tenant.admin, "/sessions?scope=all&limit=100")


async def queue(tenant):
    return [q["sessionId"] for q in await every_page(tenant.admin, "/queue?limit=100")]


async def invariants(tenant, agents, ids):
    """Capacity, single assignment, nothing lost: the agents' counts, the
    open-session index and the queue agree (the index trails the table on
    real DynamoDB, so it is read until it agrees)."""
    async def agreeing():
        active = await agent_counts(tenant, agents)
        open_ = await open_sessions(tenant)
        holders = Counter(s["agentId"] for s in open_ if s["state"] == "active")
        assert holders == Counter({a: n for a, n in active.items() if n}), (holders, active)
        queued = await queue(tenant)
        assert len(queued) == len(set(queued)), "a session queued twice"
        assigned = {s["id"] for s in open_ if s["state"] == "active"}
        assert not assigned & set(queued), "a session both assigned and queued"
        assert assigned | set(queued) <= set(ids)
        return active, assigned, queued
    return await eventually(agreeing, timeout=60)


async def pushed_once(agents, active, already=Counter()):
    """Each agent was told of exactly the sessions assigned to it, once each."""
    for a, (_, ws) in agents.items():
        want = active[a] + already[a]

        async def all_told():
            assert len(ws.seen("session.assigned")) >= want
        await eventually(all_told, timeout=60)
        told = [e["session"]["id"] for e in ws.seen("session.assigned")]
        assert len(told) == len(set(told)) == want, (a, len(told), want)


def requests_per(n):
    got = {who: c for who, c in counts().items() if who != "operator"}
    return sum(v for c in got.values() for v in c.values()) / n


async def burst(session, n):
    tenant, agents = await staffed(session, n, max_waiting=max(500, n))
    vs = await visitors(tenant, n)
    counts(reset=True)
    busy(reset=True)
    elapsed, started = await start_all(vs)
    served = busy()
    log(f"{n} started in {elapsed:.1f} s; DynamoDB busy {sum(served.values()):.1f} s: "
        + ", ".join(f"{a} {t:.1f}" for a, t in sorted(served.items(), key=lambda x: -x[1])))
    ids = [s["id"] for s in started]
    assert len(set(ids)) == n
    active, assigned, queued = await invariants(tenant, agents, ids)
    assert len(assigned) == n and not queued, (len(assigned), len(queued))
    per = requests_per(n)
    log("requests:", {who: c for who, c in counts().items() if who != "operator"})
    await pushed_once(agents, active)
    for _, ws in agents.values():
        await ws.close()
    return elapsed, per, sum(served.values())


async def overflow(session, n):
    """2n visitors for n places: n assigned, n queued, then drained by closes."""
    # Room for the n that wait and more: a tenant past READY_SPLIT_AT holds
    # maxWaiting per queue shard (docs/protocol.md), so a limit of exactly
    # n would refuse a start whose shard filled first.
    tenant, agents = await staffed(session, n, max_waiting=2 * n)
    vs = await visitors(tenant, 2 * n)
    elapsed, started = await start_all(vs)
    ids = [s["id"] for s in started]
    assert len(set(ids)) == 2 * n
    active, assigned, queued = await invariants(tenant, agents, ids)
    assert len(assigned) == n and len(queued) == n, (len(assigned), len(queued))
    await pushed_once(agents, active)

    handled, closed, waves = Counter(), set(), 0
    told = Counter()
    t0 = time.perf_counter()
    counts(reset=True)
    while len(closed) < 2 * n:
        mine = await eventually(lambda: _held(agents, active), timeout=60)
        batch = [(a, sid) for a, sids in mine.items() for sid in sids]
        assert batch, f"stuck: {2 * n - len(closed)} sessions neither closed nor assigned"
        gate = asyncio.Semaphore(100)

        async def close(a, sid):
            async with gate:
                return await agents[a][0].ok("POST", f"/sessions/{sid}/close")
        results = await asyncio.gather(*(close(a, sid) for a, sid in batch))
        for (a, sid), r in zip(batch, results):
            assert r["closed"] is True, (sid, r)
            assert sid not in closed, "a session was handed out twice"
            closed.add(sid)
            handled[a] += 1
        told += active
        active, assigned, queued = await invariants(tenant, agents, ids)
        # Everything that could be assigned was assigned by the closes themselves.
        assert len(queued) == max(0, 2 * n - len(closed) - n), (len(queued), len(closed))
        await pushed_once(agents, active, told)
        waves += 1
        log(f"wave {waves}: {len(closed)} closed, {len(queued)} waiting")
    drained = time.perf_counter() - t0
    per_close = requests_per(2 * n)
    assert closed == set(ids)
    assert sum(handled.values()) == 2 * n
    for _, ws in agents.values():
        await ws.close()
    return elapsed, drained, waves, per_close


async def _held(agents, active):
    mine = {a: [s["id"] for s in (await http.ok("GET", "/sessions"))["items"]] for a, (http, _) in agents.items()}
    assert {a: len(v) for a, v in mine.items()} == active, "lists trail the counts"
    return mine


def raw_conditional_writes(n, threads=50):
    """The endpoint's own rate for the write at the heart of an assignment:
    a counter raised only while below its maximum, from `threads` clients."""
    key = f"BENCH#{uuid.uuid4().hex}"
    clients = [dynamodb() for _ in range(threads)]

    def write(i):
        clients[i % threads].update_item(
            TableName=TABLE, Key={"pk": {"S": key}, "sk": {"S": f"A#{i % 50}"}},
            UpdateExpression="ADD active :one", ConditionExpression="attribute_not_exists(active) OR active < :max",
            ExpressionAttributeValues={":one": {"N": "1"}, ":max": {"N": str(HARD_CAP * 10)}})
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, range(n)))
    return n / (time.perf_counter() - t0)


async def main(n):
    connector = aiohttp.TCPConnector(limit=0)  # each WebSocket holds a connection while open
    # Locally a burst queues in front of the functions (a few instances each,
    # and one DynamoDB request at a time): the last of 2,000 starts is
    # answered many minutes after it was sent, which Lambda's own scaling
    # would not make it wait.
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=3600)) as session:
        first, per_start, db_busy = await burst(session, n)
        second, drained, waves, per_close = await overflow(session, n)
    raw = raw_conditional_writes(2 * n)
    print("| phase | visitors at once | time | sessions a second | DynamoDB requests per session |")
    print("|---|---:|---:|---:|---:|")
    print(f"| all assigned ({n // MAX} agents × {MAX}) | {n} | {first:.1f} s | {n / first:.0f} | {per_start:.1f} |")
    print(f"| {n} assigned, {n} queued | {2 * n} | {second:.1f} s | {2 * n / second:.0f} | |")
    print(f"| queue drained by closes ({waves} waves) | {2 * n} closed | {drained:.1f} s | {2 * n / drained:.0f} | {per_close:.1f} per close |")
    print()
    print(f"the local DynamoDB (one request at a time) was busy {db_busy:.1f} s of the first phase's {first:.1f} s")
    print(f"raw conditional writes, same endpoint, 50 clients: {raw:.0f} a second; "
          f"dispatch ÷ raw: {n / first / raw:.2f}")


if __name__ == "__main__":
    run_without_timers(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
