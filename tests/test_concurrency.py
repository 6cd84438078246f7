"""B2/B3 under load: at least 100 visitors arrive at once for 3 agents with
maximum 2. No agent ever holds more than 2, no session is assigned twice,
the rest wait in the queue, and as sessions close the queue drains with no
poll, until every session has been handled exactly once.

Run twice: as is, and with the local DynamoDB injecting what real DynamoDB
does and moto never does: writes refused for a transaction in flight on
their item, and transactions whose commit's response is lost and which the
SDK resends (local/dynamodb.py, `Faults`).

Then a burst through throttling, 500s and dropped connections, and a burst
during which every function instance is killed and new ones start."""

import asyncio
import contextlib
import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections import Counter

import pytest

from kefu import LOCAL_ENV, ROOT, Tenant, Ws, eventually, run

VISITORS = 100
AGENTS = ("a1", "a2", "a3")
MAX = 2


FAULTS = LOCAL_ENV["AWS_ENDPOINT_URL_DYNAMODB"] + "/_kefu/faults"


@contextlib.contextmanager
def injected(rates):
    """The local DynamoDB injects `rates` inside the block; yields its report."""
    def call(data=None):
        req = urllib.request.Request(FAULTS, data=json.dumps(data).encode() if data is not None else None)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.load(r)
    try:
        call({})
    except OSError:
        pytest.skip("DynamoDB here is not the local stack's own; it injects no faults")
    report = {}
    call(rates)
    try:
        yield report
    finally:
        report.update(settled(call))
        call({})


def settled(call, quiet=2.5, bound=15.0):
    """The fault report once no transaction has arrived for `quiet` seconds
    (at most `bound`): after a test's last client call, `$disconnect`s still
    write, and a lost response is resent only after the SDK's backoff."""
    report, since, start = call(), time.monotonic(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() - start < bound:
        time.sleep(0.25)
        now = call()
        if now["transactions"] != report["transactions"] or now["replayed"] != report["replayed"]:
            since = time.monotonic()
        report = now
    return report


@pytest.mark.parametrize("faults", [None, {"conflict": 0.03, "lost": 0.1, "seed": 7}], ids=["calm", "conflicts-and-lost-responses"])
def test_a_hundred_visitors_at_once_never_overload_three_agents(faults):
    if faults is None:
        run(burst)
        return
    with injected(faults) as report:
        run(burst)
    assert report["conflicts"] > 0 and report["lost"] > 0, report
    assert report["without_token"] == 0, "every transaction carries a ClientRequestToken"
    # Each lost response was resent by the SDK and recognised as done (the
    # SDK may also resend a committed request for other reasons).
    assert report["replayed"] >= report["lost"], report


def test_the_store_keeps_its_invariants_through_conflicts_and_lost_responses():
    """The store tests (shared/tests/store.rs: capacity under concurrent
    assignment, single assignment, message order, idempotent close and
    requeue) again, with 3% of writes conflicting and 30% of
    commits' responses lost."""
    with injected({"conflict": 0.03, "lost": 0.3}) as report:
        run_ = subprocess.run(["cargo", "test", "-q", "-p", "kefu-shared", "--test", "store", "--", "--include-ignored"],
                              cwd=ROOT, env={**os.environ, **LOCAL_ENV}, capture_output=True, text=True)
    assert run_.returncode == 0, run_.stdout[-4000:] + run_.stderr[-4000:]
    assert report["conflicts"] > 0 and report["lost"] > 0 and report["replayed"] >= report["lost"], report
    assert report["without_token"] == 0, report


async def burst(session):
    tenant = Tenant(session)
    agents = {a: await tenant.agent(a, max_concurrent=MAX) for a in AGENTS}
    sockets = {a: await Ws.connect(session, h.token) for a, h in agents.items()}
    visitors = await asyncio.gather(*(tenant.visitor(name=f"v{i}") for i in range(VISITORS)))

    # All at once.
    started = await asyncio.gather(*(v.ok("POST", "/sessions", {}, expect=201) for v, _ in visitors))
    ids = [s["session"]["id"] for s in started]
    assert len(set(ids)) == VISITORS

    async def active_counts():
        """Each agent's in-progress count: the agent records, read consistently."""
        listed = await tenant.admin.ok("GET", "/agents")
        active = {a["id"]: a["active"] for a in listed if a["id"] in AGENTS}
        assert all(n <= MAX for n in active.values()), active
        return active

    async def check_invariants():
        """Capacity, single assignment, nothing lost. The session list is an
        index, which trails the table on real DynamoDB: it is read until it
        agrees with the agents' counts (never longer than a few seconds)."""
        async def agreeing():
            active = await active_counts()
            open_ = await tenant.admin.ok("GET", "/sessions?scope=all&limit=100")
            holders = Counter(s["agentId"] for s in open_["items"] if s["state"] == "active")
            assert holders == Counter({a: n for a, n in active.items() if n}), (holders, active)
            queue = (await tenant.admin.ok("GET", "/queue?limit=100"))["items"]
            queued = [q["sessionId"] for q in queue]
            assert len(queued) == len(set(queued))
            assigned = {s["id"] for s in open_["items"] if s["state"] == "active"}
            assert not assigned & set(queued), "a session is both assigned and queued"
            return active, assigned, queued
        return await eventually(agreeing)

    active, assigned, queued = await check_invariants()
    assert sum(active.values()) == len(AGENTS) * MAX, active
    assert len(assigned) + len(queued) == VISITORS, "every session is assigned or queued"
    # Oldest first: the queue is in arrival order.
    queue = (await tenant.admin.ok("GET", "/queue?limit=100"))["items"]
    assert [q["queuedAt"] for q in queue] == sorted(q["queuedAt"] for q in queue)

    # Each agent was told of exactly the sessions it holds.
    for a, ws in sockets.items():
        for _ in range(active[a]):
            await ws.wait_event("session.assigned")

    # Agents close what they hold; each close assigns the next waiting
    # session at once (B3), and the agent is told by a push, not a poll.
    handled = Counter()
    closed = set()
    while len(closed) < VISITORS:
        async def lists_agree():
            active = await active_counts()
            mine = {a: [s["id"] for s in (await h.ok("GET", "/sessions"))["items"]] for a, h in agents.items()}
            assert {a: len(v) for a, v in mine.items()} == active, (mine, active)
            return mine
        mine = await eventually(lists_agree)
        batch = [(a, sid) for a, sids in mine.items() for sid in sids]
        assert batch, f"stuck: {VISITORS - len(closed)} sessions neither closed nor assigned"
        results = await asyncio.gather(*(agents[a].ok("POST", f"/sessions/{sid}/close") for a, sid in batch))
        for (a, sid), r in zip(batch, results):
            assert r["closed"] is True, (sid, r)
            assert sid not in closed, "a session was handed out twice"
            closed.add(sid)
            handled[a] += 1
        await check_invariants()
        waiting = len((await tenant.admin.ok("GET", "/queue?limit=100"))["items"])
        # Everything that could be assigned was assigned by the closes themselves.
        assert waiting == max(0, VISITORS - len(closed) - len(AGENTS) * MAX), (waiting, len(closed))

    assert closed == set(ids)
    history = []
    cursor = None
    while True:
        page = await tenant.admin.ok("GET", "/sessions?state=closed&scope=all&limit=100" + (f"&cursor={cursor}" if cursor else ""))
        history += page["items"]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert sorted(s["id"] for s in history) == sorted(ids)
    assert all(len(s["handlers"]) == 1 for s in history), "each session was assigned exactly once"
    assert Counter(s["agentId"] for s in history) == handled
    for ws in sockets.values():
        await ws.close()


# One in ten of every function's DynamoDB requests fails before it is
# served: throttled (both of DynamoDB's throttling errors), a 500, or the
# connection cut with no answer. The SDK's own retries absorb most of that;
# at three in ten, many failures outlast them and reach the clients.
FLAKY = {"throttle": 0.04, "error": 0.03, "drop": 0.03, "seed": 5}
FLAKIER = {"throttle": 0.12, "error": 0.09, "drop": 0.09, "seed": 6}
FLAKY_VISITORS = 30
RETRY = ("storage_unavailable", "try_again", "internal")
# How many answers told a client to try again, per run.
told_to_retry = Counter()


async def retrying(call):
    """What a client does: resend while the answer says try again (ours,
    or API Gateway's own 500 when a function or its authorizer failed);
    anything else is the answer."""
    for _ in range(40):
        status, out = await call()
        code = (out or {}).get("error", {}).get("code")
        if status >= 500 or code == "try_again":
            assert code in RETRY or out == {"message": "Internal Server Error"}, (status, out)
            told_to_retry[code or "gateway"] += 1
            await asyncio.sleep(0.2)
            continue
        return status, out
    raise AssertionError("a request never got through")


async def send_until_stored(ws, sid, cid, text):
    """A message resent with the same client id until it is acknowledged."""
    for _ in range(40):
        rid = uuid.uuid4().hex
        frame = {"action": "sendMessage", "requestId": rid, "sessionId": sid, "clientMsgId": cid,
                 "message": {"type": "text", "text": text}}
        await ws.send_raw(json.dumps(frame))
        deadline = time.monotonic() + 10
        while rid not in ws.replies and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        out = ws.replies.pop(rid, None)
        if out is None:
            # No answer (the function failed: API Gateway's own error frame
            # carries no requestId of ours): resend.
            told_to_retry["no answer"] += 1
            continue
        if out["type"] == "message.sent":
            return out["message"]
        assert out["type"] == "error" and out["error"]["code"] in RETRY + ("rate_limited",), out
        told_to_retry[out["error"]["code"]] += 1
        await asyncio.sleep(0.2)
    raise AssertionError("a message was never stored")


@pytest.mark.parametrize("rates", [FLAKY, FLAKIER], ids=["10%", "30%"])
def test_a_burst_through_throttling_errors_and_dropped_connections_keeps_every_promise(rates):
    """Sessions started and messages sent while 10 % (then 30 %) of the
    functions' DynamoDB requests fail: every client gets success or a clear
    error to retry; resends never duplicate; every acknowledged message is
    stored once, in order; no agent is over its maximum, no session assigned
    twice or lost, and what a failed drain left waiting is assigned by the
    sweeper."""
    report = {}
    told_to_retry.clear()

    async def body(session):
        report.update(await burst_keeps_every_promise(session, faults=rates))

    run(body)
    assert report["throttled"] > 0 and report["errors"] > 0 and report["dropped"] > 0, report
    if rates is FLAKIER:
        assert sum(told_to_retry.values()) > 0, "some failures outlasted the SDK's retries and reached a client"


def test_functions_killed_and_restarted_in_the_middle_of_a_burst_lose_nothing_acknowledged():
    """Every function instance is killed once a third of the burst's
    messages are acknowledged, in flight or not (`local/stack.sh
    restart-functions`), and new ones start: the clients see API Gateway's
    errors or no answer, and resend. Nothing acknowledged is lost, nothing
    is stored twice, and the sweeper assigns what a killed drain left
    waiting."""
    told_to_retry.clear()

    async def restart(third):
        await third.wait()
        proc = await asyncio.create_subprocess_exec(os.path.join(ROOT, "local", "stack.sh"), "restart-functions",
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()

    run(lambda session: burst_keeps_every_promise(session, beside=restart))
    # The kill landed on work in flight: some clients were told to retry, or
    # got no answer and resent.
    assert told_to_retry["gateway"] + told_to_retry["no answer"] > 0, told_to_retry


async def burst_keeps_every_promise(session, beside=None, faults=None):
    """FLAKY_VISITORS start sessions at once and send 3 messages each, every
    client resending until it is answered; `beside(third)` runs alongside,
    `third` set once a third of the messages are acknowledged; `faults`
    (rates) are injected during the burst only, not the setup or the checks,
    and their report returned. Then checks that every promise was kept."""
    tenant = Tenant(session)
    agents = {a: await tenant.agent(a, max_concurrent=MAX) for a in AGENTS}
    sockets = [await Ws.connect(session, h.token) for h in agents.values()]
    visitors = [await tenant.visitor(name=f"v{i}") for i in range(FLAKY_VISITORS)]
    vsockets = [await Ws.connect(session, v.token) for v, _ in visitors]
    acked_so_far = Counter()
    third = asyncio.Event()

    async def visit(i):
        v, vid = visitors[i]
        status, out = await retrying(lambda: v.call("POST", "/sessions", {}))
        # 200 `created: false`: a start whose answer failed after it
        # committed, resent: the session it made.
        assert (status, out["created"]) in ((201, True), (200, False)), (status, out)
        sid = out["session"]["id"]
        acked = []
        for k in range(3):
            acked.append(await send_until_stored(vsockets[i], sid, f"m{k}", f"message {k} of {vid}"))
            acked_so_far["messages"] += 1
            if acked_so_far["messages"] >= FLAKY_VISITORS:
                third.set()
        return vid, sid, acked

    with injected(faults) if faults else contextlib.nullcontext({}) as report:
        visits = asyncio.gather(*(visit(i) for i in range(FLAKY_VISITORS)))
        if beside is None:
            visited = await visits
        else:
            visited, _ = await asyncio.gather(visits, beside(third))

    # Nothing lost, nothing twice: each visitor has one session, holding
    # exactly its acknowledged messages, each once, numbered 1, 2, 3.
    sids = [sid for _, sid, _ in visited]
    assert len(set(sids)) == FLAKY_VISITORS
    for vid, sid, acked in visited:
        stored = (await tenant.admin.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        assert [(m["seq"], m["clientMsgId"]) for m in stored] == [(1, "m0"), (2, "m1"), (3, "m2")], (sid, stored)
        assert [m["seq"] for m in acked] == [1, 2, 3], acked

    async def dispatched():
        listed = await tenant.admin.ok("GET", "/agents")
        active = {a["id"]: a["active"] for a in listed if a["id"] in AGENTS}
        assert all(n <= MAX for n in active.values()), active
        open_ = (await tenant.admin.ok("GET", "/sessions?scope=all&limit=100"))["items"]
        holders = Counter(s["agentId"] for s in open_ if s["state"] == "active")
        assert holders == Counter({a: n for a, n in active.items() if n}), (holders, active)
        queued = [q["sessionId"] for q in (await tenant.admin.ok("GET", "/queue?limit=100"))["items"]]
        assigned = {s["id"] for s in open_ if s["state"] == "active"}
        assert len(queued) == len(set(queued)) and not assigned & set(queued)
        assert assigned | set(queued) == set(sids), "every session is assigned or queued"
        # A drain that failed (or was killed) left capacity idle: the sweeper fills it.
        assert sum(active.values()) == len(AGENTS) * MAX, active
        assert all(len(s["handlers"]) == 1 for s in open_ if s["state"] == "active")
    await eventually(dispatched, timeout=40)
    for ws in sockets + vsockets:
        await ws.close()
    return report
