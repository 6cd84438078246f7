"""Canned-response suggestions (F1) against shelves of 10 and of 1,000
responses: DynamoDB requests per suggestion (counted by the local DynamoDB),
items read per suggestion (the `ScannedCount` of the very Queries the
function makes, replayed here from `shared/src/store/keys.rs`'s key
layout), and the latency of `GET /canned-responses/suggest` through the
local stack (median of many calls; warm functions).

    local/stack.sh run .venv/bin/python tests/bench_canned.py

A suggestion's cost must not grow with the shelf: the figures for 1,000
should match those for 10.
"""

import asyncio
import re
import statistics
import time
from urllib.parse import quote

import aiohttp

from bench_requests import counts, run_without_timers
from kefu import TABLE, Tenant, dynamodb

CALLS = 40
DRAFTS = ["order", "where is my order", "ref", "thanks for"]
WORDS = ["order", "refund", "shipping", "invoice", "account", "password", "delivery", "coupon", "warranty", "return"]


async def shelf(session, size):
    tenant = Tenant(session)
    ann = await tenant.agent("ann")
    sem = asyncio.Semaphore(4)

    async def add(i):
        word = WORDS[i % len(WORDS)]
        text = f"{word.capitalize()} answer {i}: thanks for asking about your {word}."
        async with sem:
            await tenant.admin.ok("POST", "/canned-responses",
                                  {"scope": "tenant", "group": word, "text": text, "keywords": [word, f"{word}{i}"]})
    await asyncio.gather(*(add(i) for i in range(size)))
    for i in range(5):
        await ann.ok("POST", "/canned-responses", {"scope": "personal", "text": f"Order note {i}"})
    ann.tenant_id = tenant.id
    return ann


def draft_words(draft):
    words = []
    for w in reversed(re.split(r"[\W_]+", draft.lower())):
        if w and w not in words:
            words.append(w[:32])
    return words[:3]


def items_read(tenant_id, agent_id, draft, limit=5):
    """What the suggestion's Queries read: (pk, sk prefix) per shelf and term."""
    db, total = dynamodb(), 0
    prefix = " ".join(draft.lower().split())[:100]
    for shelf in (f"T#{tenant_id}#CANNED#A#{agent_id}", f"T#{tenant_id}#CANNED"):
        for under in [f"P#{prefix}"] + [f"K#{w}" for w in draft_words(draft)]:
            out = db.query(TableName=TABLE, ConsistentRead=True, Limit=limit,
                           KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                           ExpressionAttributeValues={":p": {"S": shelf}, ":s": {"S": under}})
            total += out["ScannedCount"]
    return total


async def measure(ann, size):
    for d in DRAFTS:  # warm every instance's path
        await ann.ok("GET", f"/canned-responses/suggest?q={quote(d)}&limit=5")
    rows = []
    for draft in DRAFTS:
        counts(reset=True)
        hits = await ann.ok("GET", f"/canned-responses/suggest?q={quote(draft)}&limit=5")
        await asyncio.sleep(0.2)
        got = counts().get("http-canned-responses", {})
        times = []
        for _ in range(CALLS):
            t0 = time.perf_counter()
            await ann.ok("GET", f"/canned-responses/suggest?q={quote(draft)}&limit=5")
            times.append((time.perf_counter() - t0) * 1000)
        read = items_read(ann.tenant_id, "ann", draft)
        rows.append((size, draft, len(hits), sum(got.values()), read, statistics.median(times)))
    return rows


async def main():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        results = {}
        for size in (10, 1000):
            ann = await shelf(session, size)
            results[size] = await measure(ann, size)
        print(f"{'shelf':>6}  {'draft':22} {'hits':>4} {'requests':>8} {'items read':>10} {'median ms':>9}")
        for size in (10, 1000):
            for s, draft, hits, requests, read, median in results[size]:
                print(f"{s:6}  {draft!r:22} {hits:4} {requests:8} {read:10} {median:9.1f}")
        small = statistics.median(r[5] for r in results[10])
        large = statistics.median(r[5] for r in results[1000])
        print(f"median of medians: 10 → {small:.1f} ms, 1,000 → {large:.1f} ms (ratio {large / small:.2f})")


if __name__ == "__main__":
    run_without_timers(main())
