"""Timeouts (issue 9, D8): the visitor is reminded T1 after the agent's last
message, the session closes T2 later if it is still silent, and a session
with no message for T3 closes as `inactive`; locked sessions are exempt.

Every timer has two paths, both played by the local stack from
template.yaml: DynamoDB TTL deletes the timer and the stream's event-source
mapping hands the REMOVE to timer-stream, and the scheduled timer-sweeper
finds it by due time. Here each path is proved alone, and both together
close a session exactly once. (Locally the sweeper runs every 5 s and TTL
every 2 s: local/env.)"""

import asyncio
import json
import time
import urllib.request

import pytest

from kefu import LOCAL_ENV, TABLE, Tenant, Ws, dynamodb, run

TIMERS = f"http://127.0.0.1:{LOCAL_ENV['KEFU_WS_PORT']}/_kefu/timers"


def timers(**change):
    """The local stack's timer paths: switch them (`schedules`, `ttl`,
    `stream`) and read what they did."""
    data = json.dumps(change).encode() if change else None
    with urllib.request.urlopen(urllib.request.Request(TIMERS, data=data), timeout=5) as r:
        return json.load(r)


class paths:
    """Only the named timer paths run inside the block."""

    def __init__(self, schedules=True, ttl=True):
        self.change = {"schedules": schedules, "ttl": ttl, "stream": True}

    def __enter__(self):
        timers(**self.change)

    def __exit__(self, *exc):
        timers(schedules=True, ttl=True, stream=True)


async def in_session(session, settings, lock=False):
    """A tenant with `settings`, an agent and a visitor in a session, both
    connected: (tenant, agent http, agent ws, visitor http, visitor ws, session id)."""
    tenant = Tenant(session)
    await tenant.admin.ok("PATCH", "/settings", settings)
    ann = await tenant.agent("ann")
    ann_ws = await Ws.connect(session, ann.token)
    visitor, _ = await tenant.visitor(name="Li Lei")
    visitor_ws = await Ws.connect(session, visitor.token)
    sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
    await ann_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == sid)
    if lock:
        await ann.ok("PUT", f"/sessions/{sid}/lock", {"locked": True})
    return tenant, ann, ann_ws, visitor, visitor_ws, sid


def text(t):
    return {"type": "text", "text": t}


def test_a_silent_visitor_is_reminded_after_t1_and_the_session_closes_t2_later():
    async def body(session):
        # T2 is longer than a sweep's period (5 s locally), so a reminder
        # that a cold stack delivers a few seconds late is still seen before
        # the close is due.
        settings = {"visitorReminderSecs": 2, "visitorTimeoutSecs": 6, "inactiveTimeoutSecs": 600}
        tenant, ann, ann_ws, visitor, visitor_ws, sid = await in_session(session, settings)
        sent = (await ann_ws.send_message(sid, text("Anything else I can help with?")))["message"]
        reminder = await visitor_ws.wait_event("session.reminder", lambda e: e["sessionId"] == sid, timeout=15)
        assert reminder["closesAt"] >= sent["createdAt"] + 8000
        await ann_ws.wait_event("session.reminder", lambda e: e["sessionId"] == sid, timeout=5)
        assert (await ann.ok("GET", f"/sessions/{sid}"))["state"] == "active", "reminded, not closed yet"
        for ws in (visitor_ws, ann_ws):
            closed = await ws.wait_event("session.closed", lambda e: e["sessionId"] == sid, timeout=15)
            assert closed["reason"] == "visitor_timeout"
        s = await ann.ok("GET", f"/sessions/{sid}")
        assert s["state"] == "closed" and s["closeReason"] == "visitor_timeout"
        assert s["closedAt"] >= reminder["closesAt"]
        assert s["remindedAt"] is not None
        # A timeout frees the agent like any close.
        assert (await ann.ok("GET", "/agents/me"))["active"] == 0
        await ann_ws.close()
        await visitor_ws.close()

    run(body)


def test_a_visitor_reply_cancels_the_reminder_and_an_agent_message_starts_t1_again():
    async def body(session):
        settings = {"visitorReminderSecs": 4, "visitorTimeoutSecs": 2, "inactiveTimeoutSecs": 600}
        tenant, ann, ann_ws, visitor, visitor_ws, sid = await in_session(session, settings)
        await ann_ws.send_message(sid, text("Which order is it?"))
        await asyncio.sleep(2)
        await visitor_ws.send_message(sid, text("Order 42"))
        # T1 after the agent's message has passed (and a sweep or two since):
        # the reply cancelled the reminder.
        await asyncio.sleep(6)
        assert visitor_ws.seen("session.reminder") == []
        # The agent asks again: a reminder T1 after this message, not before.
        asked = time.time()
        await ann_ws.send_message(sid, text("Is it the blue one?"))
        await visitor_ws.wait_event("session.reminder", lambda e: e["sessionId"] == sid, timeout=15)
        assert time.time() - asked >= 3.5
        s = await ann.ok("GET", f"/sessions/{sid}")
        assert s["state"] == "active"
        # The visitor answers the reminder: nothing closes.
        await visitor_ws.send_message(sid, text("Yes, blue"))
        await asyncio.sleep(5)
        assert (await ann.ok("GET", f"/sessions/{sid}"))["state"] == "active"
        assert visitor_ws.seen("session.closed") == []
        await ann_ws.close()
        await visitor_ws.close()

    run(body)


def test_a_locked_session_outlives_its_timers_and_unlocking_starts_them_again():
    async def body(session):
        settings = {"visitorReminderSecs": 1, "visitorTimeoutSecs": 1, "inactiveTimeoutSecs": 2}
        tenant, ann, ann_ws, visitor, visitor_ws, sid = await in_session(session, settings, lock=True)
        await ann_ws.send_message(sid, text("I will check with the warehouse."))
        await asyncio.sleep(8)
        s = await ann.ok("GET", f"/sessions/{sid}")
        assert s["state"] == "active" and s["locked"] is True
        assert visitor_ws.seen("session.reminder") == [] and visitor_ws.seen("session.closed") == []
        await ann.ok("PUT", f"/sessions/{sid}/lock", {"locked": False})
        closed = await visitor_ws.wait_event("session.closed", lambda e: e["sessionId"] == sid, timeout=15)
        assert closed["reason"] in ("inactive", "visitor_timeout")
        await ann_ws.close()
        await visitor_ws.close()

    run(body)


async def inactive_close(session, settle=0):
    """A session with no message closes as `inactive` after T3; returns
    (tenant id, session id, further closes (visitor, agent) seen after
    `settle` seconds, the agent's closed sessions)."""
    tenant, ann, ann_ws, visitor, visitor_ws, sid = await in_session(session, {"visitorReminderSecs": 1, "inactiveTimeoutSecs": 2})
    for ws in (visitor_ws, ann_ws):
        closed = await ws.wait_event("session.closed", lambda e: e["sessionId"] == sid, timeout=20)
        assert closed["reason"] == "inactive"
    s = await ann.ok("GET", f"/sessions/{sid}")
    assert s["state"] == "closed" and s["closeReason"] == "inactive"
    await asyncio.sleep(settle)
    seen = (len(visitor_ws.seen("session.closed")), len(ann_ws.seen("session.closed")))
    history = [x["id"] for x in (await ann.ok("GET", "/sessions?state=closed"))["items"]]
    await ann_ws.close()
    await visitor_ws.close()
    return tenant.id, sid, seen, history


def test_the_ttl_path_alone_closes_an_inactive_session():
    async def body(session):
        before = timers()
        with paths(schedules=False, ttl=True):
            await inactive_close(session)
        after = timers()
        assert after["ttlDeleted"] > before["ttlDeleted"] and after["delivered"] > before["delivered"]

    run(body)


def test_the_sweeper_alone_closes_an_inactive_session():
    async def body(session):
        before = timers()
        with paths(schedules=True, ttl=False):
            await inactive_close(session)
        after = timers()
        assert after["scheduleRuns"] > before["scheduleRuns"]

    run(body)


def test_both_paths_together_close_a_session_exactly_once():
    async def body(session):
        with paths(schedules=True, ttl=True):
            # Long enough after the close for the slower path to have come too.
            tenant_id, sid, seen, history = await inactive_close(session, settle=6)
        assert seen == (0, 0), "one session.closed per party, no second close"
        assert history.count(sid) == 1
        # Its timer is gone: nothing is left to fire.
        key = {"pk": {"S": f"T#{tenant_id}#S#{sid}"}, "sk": {"S": "TIMER"}}
        item = dynamodb().get_item(TableName=TABLE, Key=key, ConsistentRead=True)
        assert "Item" not in item

    run(body)


def test_the_sweeper_assigns_a_session_whose_drain_never_ran():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann", status="busy")
        ann_ws = await Ws.connect(session, ann.token)
        visitor, _ = await tenant.visitor()
        sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
        await asyncio.sleep(1)
        assert (await visitor.ok("GET", f"/sessions/{sid}"))["state"] == "waiting"
        # The agent turns idle, but the drain that should follow is lost
        # (written behind the API's back: no trigger runs).
        dynamodb().update_item(TableName=TABLE, Key={"pk": {"S": f"T#{tenant.id}"}, "sk": {"S": "AGENT#ann"}},
                               UpdateExpression="SET #s = :idle", ExpressionAttributeNames={"#s": "status"},
                               ExpressionAttributeValues={":idle": {"S": "idle"}})
        await ann_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == sid, timeout=25)
        assert (await visitor.ok("GET", f"/sessions/{sid}"))["state"] == "active"
        await ann_ws.close()

    run(body)


@pytest.mark.parametrize("path", ["sweeper", "ttl"])
def test_an_offline_agent_s_sessions_return_to_the_queue_after_the_tenant_s_time(path):
    async def body(session):
        # Past A1's grace (3 s locally) and this tenant's 2 s.
        tenant, ann, ann_ws, visitor, visitor_ws, sid = await in_session(session, {"offlineRequeueSecs": 2})
        await visitor_ws.send_message(sid, text("Where is my parcel?"))
        await ann_ws.close()
        requeued = await visitor_ws.wait_event("session.requeued", lambda e: e["session"]["id"] == sid, timeout=20)
        assert requeued["session"]["state"] == "waiting"
        entry = next(e for e in (await tenant.admin.ok("GET", "/queue"))["items"] if e["sessionId"] == sid)
        assert entry["requeued"] is True
        assert (await ann.ok("GET", "/agents/me"))["active"] == 0
        # Another agent takes it, with its history.
        bob = await tenant.agent("bob", status=None)
        bob_ws = await Ws.connect(session, bob.token)
        await bob.ok("PUT", "/agents/me/status", {"status": "idle"})
        await bob_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == sid)
        messages = (await bob.ok("GET", f"/sessions/{sid}/messages?after=0"))["messages"]
        assert [m["content"]["text"] for m in messages] == ["Where is my parcel?"]
        await bob_ws.close()
        await visitor_ws.close()

    # Each path alone applies the agent's timer (and needs its grants).
    with paths(schedules=path == "sweeper", ttl=path == "ttl"):
        run(body)


def test_a_reconnecting_agent_keeps_its_sessions():
    async def body(session):
        tenant, ann, ws, visitor, visitor_ws, sid = await in_session(session, {"offlineRequeueSecs": 4})
        await ws.close()
        ws = await Ws.connect(session, ann.token)  # a page reload
        await asyncio.sleep(9)
        s = await ann.ok("GET", f"/sessions/{sid}")
        assert s["state"] == "active" and s["agentId"] == "ann"
        assert visitor_ws.seen("session.requeued") == []
        await ws.close()
        await visitor_ws.close()

    run(body)


def test_a_waiting_session_whose_visitor_left_closes_as_abandoned():
    async def body(session):
        tenant = Tenant(session)
        await tenant.admin.ok("PATCH", "/settings", {"abandonAfterSecs": 2})
        await tenant.agent("ann", status="busy")  # nobody takes them
        gone, _ = await tenant.visitor(name="Gone")
        gone_ws = await Ws.connect(session, gone.token)
        left = (await gone.ok("POST", "/sessions", {}))["session"]["id"]
        await gone_ws.close()
        never, _ = await tenant.visitor(name="Never connected")
        silent = (await never.ok("POST", "/sessions", {}))["session"]["id"]
        staying, _ = await tenant.visitor(name="Staying")
        staying_ws = await Ws.connect(session, staying.token)
        stays = (await staying.ok("POST", "/sessions", {}))["session"]["id"]

        async def abandoned():
            for who, sid in ((gone, left), (never, silent)):
                s = await who.ok("GET", f"/sessions/{sid}")
                assert (s["state"], s["closeReason"]) == ("closed", "abandoned"), s

        from kefu import eventually

        await eventually(abandoned, timeout=20)
        assert (await staying.ok("GET", f"/sessions/{stays}"))["state"] == "waiting"
        queue = [e["sessionId"] for e in (await tenant.admin.ok("GET", "/queue"))["items"]]
        assert queue == [stays]
        # The visitor who left starts anew.
        again = await gone.ok("POST", "/sessions", {})
        assert again["created"] is True
        await staying_ws.close()

    run(body)


def test_ttl_removes_a_connection_whose_disconnect_never_came():
    async def body(session):
        tenant = Tenant(session)
        await tenant.agent("ann")
        # A connection that ended (its token expired) without a $disconnect.
        db, ended_ms, cid = dynamodb(), int(time.time() * 1000) - 1_000, "stale-" + tenant.id
        agent_key = {"pk": {"S": f"T#{tenant.id}"}, "sk": {"S": "AGENT#ann"}}
        db.update_item(TableName=TABLE, Key=agent_key, UpdateExpression="SET conns.#c = :e",
                       ExpressionAttributeNames={"#c": cid}, ExpressionAttributeValues={":e": {"N": str(ended_ms)}})
        db.put_item(TableName=TABLE, Item={
            "pk": {"S": f"CONN#{cid}"}, "sk": {"S": "CONN"}, "id": {"S": cid}, "tenant": {"S": tenant.id},
            "role": {"S": "agent"}, "userId": {"S": "ann"}, "connectedAt": {"N": str(ended_ms - 60_000)},
            "expiresAtMs": {"N": str(ended_ms)}, "expires_at": {"N": str(ended_ms // 1000)}})

        async def gone():
            item = db.get_item(TableName=TABLE, Key=agent_key, ConsistentRead=True)["Item"]
            assert cid not in item["conns"]["M"], item["conns"]
            # It ended without a disconnect: no presence grace starts from its removal.
            assert "lastDisconnectAt" not in item or item["lastDisconnectAt"].get("NULL"), item

        from kefu import eventually

        await eventually(gone, timeout=15)

    run(body)
