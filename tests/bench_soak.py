"""A bounded soak (issue 12, "Load"): 200 conversations held for 10
minutes through the local stack, with the timers on as in production. Each
conversation slot runs one conversation after another: a new visitor
connects and starts a session, visitor and agent exchange messages (1 to
7 exchanges, about `interval` seconds apart), the agent closes it, the
visitor leaves, and the next visitor arrives. Every minute it reports
messages delivered, delivery latency (p50, p99: from the send to the other
party's `message.new`), errors of every kind, sessions started and closed,
the share of the time the one-at-a-time local DynamoDB was serving, and
the memory (RSS) of the function instances, the gateway and the local
DynamoDB; at the end, whether each kept growing.

    local/stack.sh run .venv/bin/python tests/bench_soak.py [minutes] [conversations] [interval]

Defaults: 10 minutes, 200 conversations, 40 s between exchanges: about 10
messages a second in all, and a start and a close a second.
"""

import asyncio
import json
import math
import os
import random
import sys
import time
import uuid
from collections import Counter, defaultdict

import aiohttp

from bench_requests import busy
from kefu import ROOT, WS, Http, Tenant

MINUTES = float(sys.argv[1]) if len(sys.argv) > 1 else 10
CONVERSATIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 200
INTERVAL = float(sys.argv[3]) if len(sys.argv) > 3 else 40
PER_AGENT = 20
EXCHANGES = 4  # on average; then the agent closes: a conversation lasts about EXCHANGES × INTERVAL
WAIT = 30  # seconds for an answer or a delivery before it counts as an error


def share(part, whole):
    return f"{100 * part / whole:.0f} %" if whole else "–"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1)] if xs else float("nan")


class Minutes:
    """What happened, by minute of the soak."""

    def __init__(self, start):
        self.start = start
        self.latency = defaultdict(list)
        self.counts = defaultdict(Counter)
        self.errors = defaultdict(Counter)
        self.memory = defaultdict(dict)
        self.busy = defaultdict(float)  # seconds the local DynamoDB served (in its lock),
        self.cpu = defaultdict(float)  # its process's CPU seconds (Python: one core at most),
        self.span = defaultdict(float)  # of the seconds sampled

    def minute(self):
        return int((time.monotonic() - self.start) // 60)

    def count(self, what, n=1):
        self.counts[self.minute()][what] += n

    def error(self, what):
        self.errors[self.minute()][what] += 1


class Side:
    """One WebSocket with bounded state: answers by requestId and deliveries
    by (session, clientMsgId) go to whoever waits for them; other events are
    only counted."""

    def __init__(self, ws, stats):
        self.ws = ws
        self.stats = stats
        self.replies = {}
        self.deliveries = {}
        self.assigned = {}
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, session, token, stats):
        ws = await session.ws_connect(f"{WS}/?token={token}", autoping=True, max_msg_size=0)
        return cls(ws, stats)

    async def _read(self):
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            kind = frame.get("type")
            if frame.get("requestId") in self.replies:
                self.replies.pop(frame["requestId"]).set_result(frame)
            elif kind == "message.new":
                key = (frame["sessionId"], frame["message"].get("clientMsgId"))
                waiter = self.deliveries.pop(key, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(time.monotonic())
            elif kind == "session.assigned":
                waiter = self.assigned.pop(frame["session"]["id"], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(frame)
            elif frame.get("message") == "Internal server error":
                self.stats.error("gateway: integration failed")

    def expect(self, table, key):
        fut = asyncio.get_running_loop().create_future()
        table[key] = fut
        return fut

    async def request(self, frame):
        rid = uuid.uuid4().hex
        answer = self.expect(self.replies, rid)
        await self.ws.send_str(json.dumps({**frame, "requestId": rid}))
        try:
            return await asyncio.wait_for(answer, WAIT)
        finally:
            self.replies.pop(rid, None)

    async def close(self):
        await self.ws.close()
        await self.reader


async def deliver(stats, sender, receiver, sid, text):
    """One message from `sender` to `receiver`; its latency, or None (an error, counted)."""
    cid = uuid.uuid4().hex
    delivered = receiver.expect(receiver.deliveries, (sid, cid))
    start = time.monotonic()
    try:
        answer = await sender.request({"action": "sendMessage", "sessionId": sid, "clientMsgId": cid,
                                       "message": {"type": "text", "text": text}})
    except asyncio.TimeoutError:
        stats.error("sendMessage: no answer")
        return None
    if answer.get("type") != "message.sent":
        stats.error(f"sendMessage: {answer.get('error', {}).get('code', answer)}")
        receiver.deliveries.pop((sid, cid), None)
        return None
    try:
        at = await asyncio.wait_for(delivered, WAIT)
    except asyncio.TimeoutError:
        stats.error("message.new: never delivered")
        return None
    finally:
        receiver.deliveries.pop((sid, cid), None)
    ms = (at - start) * 1000
    stats.latency[stats.minute()].append(ms)
    stats.count("messages")
    return ms


async def slot(i, session, tenant, agents, stats, end):
    """One conversation after another until the soak ends."""
    # Arrivals spread over the first conversations' length, and each
    # conversation 1 to 2 × EXCHANGES - 1 exchanges long, so that starts and
    # closes stay spread out instead of coming back in waves.
    await asyncio.sleep(random.uniform(0, EXCHANGES * INTERVAL))
    n = 0
    while time.monotonic() < end:
        n += 1
        status, out = await Http(session).call("POST", "/visitor/token", {"tenantId": tenant.id, "name": f"v{i}.{n}"})
        if status != 200:
            stats.error(f"POST /visitor/token: {status}")
            await asyncio.sleep(5)
            continue
        visitor = Http(session, out["token"])
        vside = await Side.connect(session, visitor.token, stats)
        try:
            status, out = await visitor.call("POST", "/sessions", {})
            if status not in (200, 201):
                stats.error(f"POST /sessions: {status} {(out or {}).get('error', {}).get('code')}")
                await asyncio.sleep(5)
                continue
            stats.count("started")
            s = out["session"]
            sid = s["id"]
            if s["state"] != "active":
                stats.count("queued")
                assigned = vside.expect(vside.assigned, sid)
                status, now = await visitor.call("GET", f"/sessions/{sid}")
                s = now if status == 200 and now.get("state") == "active" else (await asyncio.wait_for(assigned, 120))["session"]
            holder = agents[s["agent"]["nickname"].lower()]  # agents are named by their id, titled
            agent_http, aside = holder
            for k in range(random.randint(1, 2 * EXCHANGES - 1)):
                if time.monotonic() >= end:
                    break
                await deliver(stats, vside, aside, sid, f"question {k} of {i}.{n}")
                await asyncio.sleep(random.uniform(1, 5))
                await deliver(stats, aside, vside, sid, f"answer {k} to {i}.{n}")
                await asyncio.sleep(random.uniform(0.5, 1.5) * INTERVAL)
            status, out = await agent_http.call("POST", f"/sessions/{sid}/close", {})
            if status == 200:
                stats.count("closed")
            else:
                stats.error(f"close: {status} {(out or {}).get('error', {}).get('code')}")
        except asyncio.TimeoutError:
            stats.error("session.assigned: never came")
        finally:
            await vside.close()


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def own_pid(name):
    try:
        with open(os.path.join(ROOT, ".local", f"{name}.pid")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def memory():
    """RSS in MB: every function instance (their sum, the largest, how many),
    the gateway and the local DynamoDB."""
    functions = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                exe = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if os.path.dirname(exe).endswith(os.path.join("target", "debug")) and not exe.endswith("kefu-admin"):
            mb = rss_mb(pid)
            if mb is not None:
                functions.append(mb)
    return {
        "instances": len(functions),
        "functions": sum(functions),
        "largest": max(functions, default=0),
        "gateway": rss_mb(own_pid("gateway")) or float("nan"),
        "dynamodb": rss_mb(own_pid("dynamodb")) or float("nan"),
    }


def cpu_secs(pid):
    """User and system CPU seconds a process has used."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, TypeError):
        return 0.0


async def sample(stats, end):
    db = own_pid("dynamodb")
    served, cpu, at = sum(busy().values()), cpu_secs(db), time.monotonic()
    while time.monotonic() < end + 5:
        await asyncio.sleep(10)
        m = memory()
        minute = stats.minute()
        for k, v in m.items():
            stats.memory[minute][k] = max(stats.memory[minute].get(k, 0), v)
        now_served, now_cpu, now = sum(busy().values()), cpu_secs(db), time.monotonic()
        stats.busy[minute] += now_served - served
        stats.cpu[minute] += now_cpu - cpu
        stats.span[minute] += now - at
        served, cpu, at = now_served, now_cpu, now


async def main():
    connector = aiohttp.TCPConnector(limit=0)  # each open WebSocket holds a connection
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        tenant = Tenant(session)
        agents = {}
        for a in range(math.ceil(CONVERSATIONS / PER_AGENT)):
            http = await tenant.agent(f"a{a}", max_concurrent=PER_AGENT)
            agents[f"a{a}"] = (http, None)
        stats = Minutes(time.monotonic())
        for name, (http, _) in list(agents.items()):
            agents[name] = (http, await Side.connect(session, http.token, stats))
        end = time.monotonic() + MINUTES * 60
        sampler = asyncio.create_task(sample(stats, end))
        await asyncio.gather(*(slot(i, session, tenant, agents, stats, end) for i in range(CONVERSATIONS)))
        await sampler
        listed = await tenant.admin.ok("GET", "/agents")
        over = [a for a in listed if a["active"] > a["maxConcurrent"]]
        for _, side in agents.values():
            await side.close()

    print(f"Soak: {MINUTES:g} minutes, {CONVERSATIONS} conversation slots, an exchange every ~{INTERVAL:g} s, "
          f"{len(agents)} agents of maximum {PER_AGENT}")
    print()
    print("| minute | messages | p50 | p99 | errors | started / closed | DynamoDB serving; CPU | instances | functions RSS (largest) | gateway | DynamoDB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    minutes = sorted(set(stats.counts) | set(stats.memory))
    for m in minutes:
        c, mem, lat = stats.counts[m], stats.memory.get(m, {}), stats.latency[m]
        print(f"| {m + 1} | {c['messages']} | {pct(lat, 50):.0f} ms | {pct(lat, 99):.0f} ms | "
              f"{sum(stats.errors[m].values())} | {c['started']} / {c['closed']} | "
              f"{share(stats.busy[m], stats.span[m])}; {share(stats.cpu[m], stats.span[m])} | {mem.get('instances', 0)} | "
              f"{mem.get('functions', 0):.0f} MB ({mem.get('largest', 0):.1f}) | {mem.get('gateway', 0):.0f} MB | "
              f"{mem.get('dynamodb', 0):.0f} MB |")
    everything = [x for m in minutes for x in stats.latency[m]]
    errors = sum((stats.errors[m] for m in minutes), Counter())
    print()
    print(f"all: {len(everything)} messages delivered, p50 {pct(everything, 50):.0f} ms, p99 {pct(everything, 99):.0f} ms; "
          f"errors {dict(errors) or 0}; agents over their maximum: {len(over)}")
    # Growth that levels off: the second half's change against the first's.
    full = [m for m in minutes if m in stats.memory and m + 1 <= MINUTES]
    if len(full) >= 4:
        half = len(full) // 2
        for k in ("functions", "largest", "gateway", "dynamodb"):
            first = stats.memory[full[half]][k] - stats.memory[full[0]][k]
            second = stats.memory[full[-1]][k] - stats.memory[full[half]][k]
            print(f"{k}: {stats.memory[full[0]][k]:.1f} → {stats.memory[full[half]][k]:.1f} → "
                  f"{stats.memory[full[-1]][k]:.1f} MB (first half {first:+.1f}, second half {second:+.1f})")


if __name__ == "__main__":
    asyncio.run(main())
