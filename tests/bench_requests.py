"""DynamoDB requests per operation: what each hot path costs, counted by the
local DynamoDB per function and action (`/_kefu/requests`). Cost on DynamoDB
is requests (and their size), so this is the figure to watch; latency on a
shared machine is not.

    local/stack.sh run .venv/bin/python tests/bench_requests.py

Prints one line per step: the function(s) that served it and their requests.
"""

import asyncio
import json
import urllib.request
import uuid

import aiohttp

from kefu import LOCAL_ENV, TABLE, Tenant, Ws, dynamodb, eventually

REQUESTS = LOCAL_ENV["AWS_ENDPOINT_URL_DYNAMODB"] + "/_kefu/requests"
BUSY = LOCAL_ENV["AWS_ENDPOINT_URL_DYNAMODB"] + "/_kefu/busy"
# The timer paths run on their own clock; their requests are not a step's.
TIMERS = f"http://127.0.0.1:{LOCAL_ENV['KEFU_WS_PORT']}/_kefu/timers"
QUEUE = 50


def local_report(url, reset=False):
    """One of the local DynamoDB's reports (`GET`; `POST` resets it after)."""
    req = urllib.request.Request(url, data=b"" if reset else None, method="POST" if reset else "GET")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def counts(reset=False):
    return local_report(REQUESTS, reset)


def busy(reset=False):
    """Seconds the one-at-a-time local DynamoDB spent serving functions, per action."""
    return {a: ms / 1000 for a, ms in local_report(BUSY, reset).items()}


async def step(name, action):
    counts(reset=True)
    await action()
    await asyncio.sleep(0.3)  # pushes and drains that finish after the answer
    got = {who: c for who, c in counts().items() if who != "operator"}
    total = sum(n for c in got.values() for n in c.values())
    detail = "; ".join(f"{who}: " + ", ".join(f"{a} {n}" for a, n in sorted(c.items())) for who, c in sorted(got.items()))
    print(f"{name:58} {total:4}   {detail}")


async def main():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        # First, while no other tenant's timers are pending (its last step
        # lets TTL run).
        await every_other_action(session)
        print()
        tenant = Tenant(session)
        ann = await tenant.agent("ann", max_concurrent=1)
        bob = await tenant.agent("bob", max_concurrent=1, status="busy")
        ann_tabs = [await Ws.connect(session, ann.token) for _ in range(3)]
        bob_ws = await Ws.connect(session, bob.token)

        visitor, _ = await tenant.visitor(name="Wang")
        sid = None

        async def start():
            nonlocal sid
            sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
        await step("POST /sessions (assigned at once; agent has 3 tabs)", start)
        vws = await Ws.connect(session, visitor.token)

        async def visitor_says():
            await vws.send_message(sid, {"type": "text", "text": "hello"})
        await step("sendMessage by the visitor", visitor_says)

        async def agent_says():
            await ann_tabs[0].send_message(sid, {"type": "text", "text": "hi"})
        await step("sendMessage by the agent", agent_says)

        async def sync():
            await vws.request("sync", sessionId=sid, afterSeq=0)
        await step("sync (visitor, 2 messages)", sync)

        async def read():
            await ann.ok("POST", f"/sessions/{sid}/read")
        await step("POST /sessions/{id}/read", read)

        async def ping():
            await vws.request("ping")
        await step("ping", ping)

        # A queue of QUEUE waiting sessions, nobody free (ann holds 1 of 1).
        waiting = []
        for i in range(QUEUE):
            waiting.append(await tenant.visitor(name=f"q{i}"))
        for v, _ in waiting:
            await v.ok("POST", "/sessions", {})

        async def busy_visitor_list():
            await visitor.ok("GET", "/sessions?state=closed")
        await step("GET /sessions?state=closed (visitor, 0 closed)", busy_visitor_list)

        async def close():
            await ann.ok("POST", f"/sessions/{sid}/close")
        await step(f"close (queue of {QUEUE}; frees 1 slot: one assigned)", close)

        async def status_noop():
            await bob.ok("PUT", "/agents/me/status", {"status": "busy"})
        await step(f"PUT /agents/me/status busy→busy (queue of {QUEUE - 1})", status_noop)

        async def bob_idle():
            await bob.ok("PUT", "/agents/me/status", {"status": "idle"})
        await step(f"PUT /agents/me/status idle (queue of {QUEUE - 1}, takes 1)", bob_idle)

        async def connect_full():
            ws = await Ws.connect(session, bob.token)
            await ws.close()
        await step(f"WebSocket connect, agent at its maximum (queue of {QUEUE - 2})", connect_full)

        async def queue_page():
            await ann.ok("GET", "/queue")
        await step(f"GET /queue (queue of {QUEUE - 2})", queue_page)

        # A returning visitor with 10 closed sessions lists its history.
        regular, _ = await tenant.visitor(name="Regular")
        for _ in range(10):
            s = (await regular.ok("POST", "/sessions", {}))["session"]["id"]
            await regular.ok("POST", f"/sessions/{s}/close")

        async def history():
            async def ten():
                assert len((await regular.ok("GET", "/sessions?state=closed"))["items"]) == 10
            await eventually(ten)
        await step("GET /sessions?state=closed (visitor, 10 closed)", history)

        # The timer paths, each for one run (they are off for every step above).
        async def one_sweep():
            before = timers()["scheduleRuns"]
            set_timers(schedules=True)
            while timers()["scheduleRuns"] == before:
                await asyncio.sleep(0.05)
            set_timers(schedules=False)
            # The run finishes: it has begun, and its requests stop growing
            # for 3 s (an instance the watcher starts first takes a while).
            seen, quiet = None, 0
            while seen is None or quiet < 30:
                now = counts().get("timer-sweeper")
                quiet = quiet + 1 if now == seen else 0
                seen = now
                await asyncio.sleep(0.1)
        await step(f"a sweep: nothing due (1 tenant with a queue of {QUEUE - 2}, nobody free)", one_sweep)

        # T3 of 2 s (T1 must be shorter); the visitor speaks last, so no
        # reminder is due: the one timer due is the inactive close.
        await tenant.admin.ok("PATCH", "/settings", {"visitorReminderSecs": 1, "inactiveTimeoutSecs": 2})
        held = (await bob.ok("GET", "/sessions"))["items"][0]
        held_visitor = next(v for v, vid in waiting if vid == held["visitorId"])
        held_ws = await Ws.connect(session, held_visitor.token)
        await held_ws.send_message(held["id"], {"type": "text", "text": "anything else?"})
        await held_ws.close()
        await asyncio.sleep(2.5)
        await step(f"a sweep: one session closes as inactive, its slot takes 1 of {QUEUE - 2}", one_sweep)

        for ws in ann_tabs + [bob_ws, vws]:
            await ws.close()


async def every_other_action(session):
    """The rest of the API, one step each, in a tenant of its own: two
    agents of maximum 5 (bob in skill group `vip`), one visitor."""
    tenant = Tenant(session)
    admin = tenant.admin
    await admin.ok("PATCH", "/settings", {"typingPreview": True})
    await admin.ok("POST", "/tags", {"tagId": "refund", "name": "Refund"})
    await admin.ok("POST", "/skill-groups", {"groupId": "vip", "name": "VIP"})
    ann = await tenant.agent("ann")
    bob = await tenant.agent("bob", groups=("vip",))
    ann_ws = await Ws.connect(session, ann.token)
    bob_ws = await Ws.connect(session, bob.token)
    state = {}

    async def visitor_token():
        state["visitor"], state["vid"] = await tenant.visitor(name="Zhang")
    await step("POST /visitor/token", visitor_token)
    visitor, vid = state["visitor"], state["vid"]

    async def visitor_connects():
        state["vws"] = await Ws.connect(session, visitor.token)
    await step("WebSocket $connect, a visitor's first", visitor_connects)
    vws = state["vws"]

    async def start():
        state["sid"] = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
    await step("POST /sessions (2 agents free)", start)
    sid = state["sid"]
    # Equally loaded, neither ever assigned: the first by id takes it.
    assert len((await ann.ok("GET", "/sessions"))["items"]) == 1
    for k in range(3):
        await vws.send_message(sid, {"type": "text", "text": f"question {k}"})
    sent = (await ann_ws.send_message(sid, {"type": "text", "text": "an answer"}))["message"]

    steps = [
        ("typing (a visitor's draft to the agent)", lambda: vws.request("typing", sessionId=sid, draft="I need a ref")),
        ("GET /sessions (the agent's in-progress list, 1)", lambda: ann.ok("GET", "/sessions")),
        ("GET /sessions?scope=all (an admin's, 1 open)", lambda: admin.ok("GET", "/sessions?scope=all")),
        ("GET /sessions/{id}", lambda: ann.ok("GET", f"/sessions/{sid}")),
        ("GET /sessions/{id}/messages (a page of 4)", lambda: ann.ok("GET", f"/sessions/{sid}/messages")),
        ("GET /sessions/{id}/history (the visitor's earlier, 0)", lambda: ann.ok("GET", f"/sessions/{sid}/history")),
        ("POST …/messages/{seq}/recall", lambda: ann.ok("POST", f"/sessions/{sid}/messages/{sent['seq']}/recall")),
        ("PUT /sessions/{id}/lock", lambda: ann.ok("PUT", f"/sessions/{sid}/lock", {"locked": True})),
        ("PUT /sessions/{id}/lock (unlock)", lambda: ann.ok("PUT", f"/sessions/{sid}/lock", {"locked": False})),
        ("PUT /sessions/{id}/tags", lambda: ann.ok("PUT", f"/sessions/{sid}/tags", {"tags": ["refund"]})),
        ("POST …/evaluation/invite", lambda: ann.ok("POST", f"/sessions/{sid}/evaluation/invite")),
        ("POST …/evaluation (the visitor rates)", lambda: visitor.ok("POST", f"/sessions/{sid}/evaluation", {"rating": 5})),
        ("POST …/transfer to a skill group (bob, its member, takes it)", lambda: ann.ok("POST", f"/sessions/{sid}/transfer", {"groupId": "vip"})),
        ("POST …/transfer to an agent (back to ann)", lambda: bob.ok("POST", f"/sessions/{sid}/transfer", {"agentId": "ann"})),
        ("close by its agent (nobody waiting)", lambda: ann.ok("POST", f"/sessions/{sid}/close")),
        ("GET /history (a search page, 1 closed)", lambda: eventually_one(ann, "/history")),
        ("GET /history?agentId=ann", lambda: eventually_one(ann, "/history?agentId=ann")),
        ("GET /history?tag=refund", lambda: eventually_one(ann, "/history?tag=refund")),
        ("GET /sessions?state=closed&scope=all (an admin's history)", lambda: admin.ok("GET", "/sessions?state=closed&scope=all")),
        ("POST /sessions/callback", lambda: ann.ok("POST", "/sessions/callback", {"visitorId": vid})),
    ]
    for name, action in steps:
        await step(name, action)

    # A session waiting (both agents busy), picked up by hand.
    for a in (ann, bob):
        await a.ok("PUT", "/agents/me/status", {"status": "busy"})
    waiter, _ = await tenant.visitor(name="Waits")
    wsid = (await waiter.ok("POST", "/sessions", {}))["session"]["id"]
    await step("POST /sessions/{id}/pickup", lambda: bob.ok("POST", f"/sessions/{wsid}/pickup"))
    await step("close by the visitor", lambda: waiter.ok("POST", f"/sessions/{wsid}/close"))

    async def visitor_leaves():
        await vws.close()
        for _ in range(50):  # the gateway runs $disconnect after the close
            if "ws-disconnect" in counts():
                break
            await asyncio.sleep(0.1)
    await step("WebSocket $disconnect, a visitor's last", visitor_leaves)

    crud = [
        ("GET /agents (2)", lambda: ann.ok("GET", "/agents")),
        ("GET /agents/me", lambda: ann.ok("GET", "/agents/me")),
        ("PATCH /agents/me", lambda: ann.ok("PATCH", "/agents/me", {"nickname": "Annie"})),
        ("GET /stats/me", lambda: ann.ok("GET", "/stats/me")),
        ("GET /stats (2 agents)", lambda: admin.ok("GET", "/stats")),
        ("GET /settings", lambda: ann.ok("GET", "/settings")),
        ("PATCH /settings", lambda: admin.ok("PATCH", "/settings", {"maxWaiting": 400})),
        ("GET /visitors?q=zh", lambda: ann.ok("GET", "/visitors?q=zh")),
        ("GET /visitors/{id}", lambda: ann.ok("GET", f"/visitors/{vid}")),
        ("PATCH /visitors/{id}", lambda: ann.ok("PATCH", f"/visitors/{vid}", {"phone": "123"})),
        ("POST /visitors/{id}/tickets", lambda: ann.ok("POST", f"/visitors/{vid}/tickets", {"title": "Refund"})),
        ("GET /visitors/{id}/tickets", lambda: ann.ok("GET", f"/visitors/{vid}/tickets")),
        ("POST /blacklist", lambda: ann.ok("POST", "/blacklist", {"visitorId": vid, "reason": "spam"})),
        ("GET /blacklist", lambda: ann.ok("GET", "/blacklist")),
        ("DELETE /blacklist/{id}", lambda: ann.ok("DELETE", f"/blacklist/{vid}")),
        ("POST /canned-responses", lambda: ann.ok("POST", "/canned-responses", {"scope": "personal", "text": "Thanks!"})),
        ("GET /canned-responses?scope=personal", lambda: ann.ok("GET", "/canned-responses?scope=personal")),
        ("POST /knowledge", lambda: admin.ok("POST", "/knowledge", {"title": "Refunds", "keywords": ["refund"]})),
        ("GET /knowledge/search?q=refund", lambda: ann.ok("GET", "/knowledge/search?q=refund")),
        ("GET /tags", lambda: ann.ok("GET", "/tags")),
        ("GET /tags/recommended", lambda: ann.ok("GET", "/tags/recommended")),
        ("GET /skill-groups", lambda: ann.ok("GET", "/skill-groups")),
        ("GET /queue (empty)", lambda: ann.ok("GET", "/queue")),
        ("GET /audit", lambda: admin.ok("GET", "/audit")),
        ("GET /languages", lambda: ann.ok("GET", "/languages")),
        ("PUT /agents/me/status away (nobody waiting)", lambda: ann.ok("PUT", "/agents/me/status", {"status": "away"})),
    ]
    for name, action in crud:
        await step(name, action)

    # The stream: an inactive close (T3 of 2 s) fired by the timer's TTL
    # deletion, which the stream hands to `timer-stream`; the sweeper stays off.
    await admin.ok("PATCH", "/settings", {"visitorReminderSecs": 1, "inactiveTimeoutSecs": 2})
    await bob.ok("PUT", "/agents/me/status", {"status": "idle"})
    late, _ = await tenant.visitor(name="Late")
    lsid = (await late.ok("POST", "/sessions", {}))["session"]["id"]

    async def ttl_close():
        set_timers(ttl=True, stream=True)
        db = dynamodb()  # watched straight from the table: the bench's own reads are no function's
        key = {"pk": {"S": f"T#{tenant.id}#S#{lsid}"}, "sk": {"S": "SESSION"}}
        try:
            async def closed():
                item = db.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
                assert item["state"]["S"] == "closed", item["state"]
            await eventually(closed, timeout=20)
        finally:
            set_timers(ttl=False, stream=False)
        await asyncio.sleep(1)
    await step("a timer's TTL deletion on the stream: the inactive close", ttl_close)
    # Nothing of this tenant left open for the sweeps of the steps after it.
    for s in (await ann.ok("GET", "/sessions"))["items"]:
        await ann.ok("POST", f"/sessions/{s['id']}/close")
    for ws in (ann_ws, bob_ws):
        await ws.close()


async def eventually_one(http, path):
    """A history page once the index holds the closed session."""
    async def one():
        assert len((await http.ok("GET", path))["items"]) == 1
    await eventually(one)


def timers():
    with urllib.request.urlopen(TIMERS, timeout=5) as r:
        return json.load(r)


def set_timers(**change):
    urllib.request.urlopen(urllib.request.Request(TIMERS, data=json.dumps(change).encode()), timeout=5).close()


def timer_paths(on):
    set_timers(schedules=on, ttl=on, stream=on)


def run_without_timers(coro):
    """Runs a benchmark with the timer paths off (their requests are no
    step's), and switches them back on however it ends."""
    timer_paths(False)
    try:
        asyncio.run(coro)
    finally:
        timer_paths(True)


if __name__ == "__main__":
    run_without_timers(main())
