"""What translation adds to a message (G1/G2), through the local stack and
its TranslateText emulator: visitor-to-agent and agent-to-visitor delivery
(send until the other party's `message.new`), each side by side with the
same messages in a tenant with translation off, alternating so both see the
same machine load; and the emulator's own round trip (one TranslateText
call from the SDK, no Lambda), the floor the added latency is made of.

    local/stack.sh run .venv/bin/python tests/bench_translate.py

Each figure is the median (and p90) of ROUNDS messages; the ratio of the
medians is the figure to quote (the machine is shared and noisy).
"""

import json
import statistics
import time
import urllib.request

import aiohttp
import boto3

from bench_requests import run_without_timers
from kefu import LOCAL_ENV, Tenant, Ws
from test_session_ops import assigned

ROUNDS = 40
EMULATOR = LOCAL_ENV["AWS_ENDPOINT_URL_TRANSLATE"]


async def pair(session, translation):
    tenant = Tenant(session)
    if translation:
        await tenant.admin.ok("PATCH", "/settings", {"translation": True})
    ann = await tenant.agent("ann")
    await ann.ok("PATCH", "/agents/me", {"language": "en"})
    ws = await Ws.connect(session, ann.token)
    visitor, s = await assigned(tenant, ws)
    vws = await Ws.connect(session, visitor.token)
    return ws, vws, s["id"]


async def deliver(sender, receiver, sid, text):
    """Milliseconds from sending to the other side's `message.new`."""
    start = time.perf_counter()
    sent = await sender.send_message(sid, {"type": "text", "text": text})
    assert sent["type"] == "message.sent", sent
    got = await receiver.wait_event("message.new", lambda e: e["message"]["seq"] == sent["message"]["seq"])
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed, got["message"], sent["message"]


def p90(xs):
    return sorted(xs)[int(len(xs) * 0.9) - 1]


def emulator_round_trips(n):
    client = boto3.client("translate", region_name=LOCAL_ENV["AWS_REGION"], endpoint_url=EMULATOR,
                          aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
                          config=boto3.session.Config(user_agent_appid="ws-send-message"))
    out = []
    for i in range(n):
        start = time.perf_counter()
        client.translate_text(Text=f"bonjour, où est mon colis {i} ?", SourceLanguageCode="auto", TargetLanguageCode="en")
        out.append((time.perf_counter() - start) * 1000)
    return out


def served():
    with urllib.request.urlopen(EMULATOR + "/_kefu/translate", timeout=5) as r:
        return json.load(r)["served"]


async def main():
    async with aiohttp.ClientSession() as session:
        on = await pair(session, True)
        off = await pair(session, False)
        # Warm both paths (the first translated message builds the client).
        for ws, vws, sid in (on, off):
            await deliver(vws, ws, sid, "bonjour")
            await deliver(ws, vws, sid, "Hello")
        figures = {k: [] for k in ("in_on", "in_off", "out_on", "out_off")}
        before = served()
        for i in range(ROUNDS):
            for key, (ws, vws, sid) in (("on", on), ("off", off)):
                ms, got, _ = await deliver(vws, ws, sid, f"bonjour, où est mon colis numéro {i} ?")
                assert (got["translation"] is not None) == (key == "on"), got
                figures[f"in_{key}"].append(ms)
                ms, got, _ = await deliver(ws, vws, sid, f"It left this morning, parcel {i}.")
                assert (got.get("translation") is not None) == (key == "on"), got
                figures[f"out_{key}"].append(ms)
        calls = served() - before
        for ws, vws, _ in (on, off):
            await ws.close()
            await vws.close()
    floor = emulator_round_trips(ROUNDS)
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(f"{ROUNDS} messages each way per tenant; TranslateText calls: {calls} "
          f"(expected {2 * ROUNDS}: one per translated message)")
    print("| path | translation off | translation on | added | ratio |")
    print("|---|---:|---:|---:|---:|")
    for side, name in (("in", "visitor → agent"), ("out", "agent → visitor")):
        a, b = figures[f"{side}_off"], figures[f"{side}_on"]
        print(f"| {name} | {med[f'{side}_off']:.0f} ms (p90 {p90(a):.0f}) | {med[f'{side}_on']:.0f} ms "
              f"(p90 {p90(b):.0f}) | {med[f'{side}_on'] - med[f'{side}_off']:+.0f} ms | "
              f"{med[f'{side}_on'] / med[f'{side}_off']:.2f} |")
    print(f"| emulator round trip (SDK → emulator, no Lambda) | | {statistics.median(floor):.1f} ms "
          f"(p90 {p90(floor):.1f}) | | |")


if __name__ == "__main__":
    run_without_timers(main())
