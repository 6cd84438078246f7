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

from kefu import LOCAL_ENV, Tenant, Ws, eventually

REQUESTS = LOCAL_ENV["AWS_ENDPOINT_URL_DYNAMODB"] + "/_kefu/requests"
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
            await asyncio.sleep(1)  # the run finishes
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
