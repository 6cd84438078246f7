"""The core loop, end to end through the gateway: a visitor opens a session,
an agent is assigned automatically, they chat over WebSockets with
increasing sequence numbers, a resend is not duplicated, a reconnecting
client gets exactly what it missed, and the closed session is in history."""

import asyncio

from kefu import Tenant, Ws, eventually, run


def text(t):
    return {"type": "text", "text": t}


def test_visitor_and_agent_chat_from_assignment_to_history():
    async def body(session):
        tenant = Tenant(session)
        alice = await tenant.agent("alice", max_concurrent=2)
        alice_ws = await Ws.connect(session, alice.token)

        visitor, visitor_id = await tenant.visitor(name="Wang Fang")
        visitor_ws = await Ws.connect(session, visitor.token)
        started = await visitor.ok("POST", "/sessions", {}, expect=201)
        assert started["created"] is True
        s = started["session"]
        # B2: dispatched at once, synchronously with the start.
        assert s["state"] == "active", s
        assert s["agent"] == {"nickname": "Alice"}, "a visitor sees its agent by nickname, never by id"
        sid = s["id"]

        # C7: the agent is told it is a new session.
        assigned = await alice_ws.wait_event("session.assigned")
        assert assigned["session"]["id"] == sid
        assert assigned["session"]["marker"] == "new"
        assert assigned["notify"] == {"kind": "new_session", "unread": 0}
        v_assigned = await visitor_ws.wait_event("session.assigned")
        assert v_assigned["session"]["agent"]["nickname"] == "Alice"
        assert "handlers" not in v_assigned["session"], "visitors do not see internals"

        # Starting again returns the same open session.
        again = await visitor.ok("POST", "/sessions", {}, expect=200)
        assert again["created"] is False and again["session"]["id"] == sid

        # Messages both ways, sequence numbers strictly increasing.
        r1 = await visitor_ws.send_message(sid, text("你好"), "v-1")
        assert r1["type"] == "message.sent" and r1["duplicate"] is False
        assert r1["message"]["seq"] == 1
        got = await alice_ws.wait_event("message.new", lambda e: e["message"]["seq"] == 1)
        assert got["message"]["content"] == text("你好")
        assert got["message"]["sender"] == {"kind": "visitor", "id": visitor_id}
        assert got["notify"] == {"kind": "new_message", "unread": 1}

        r2 = await alice_ws.send_message(sid, text("您好，请问有什么可以帮您？"), "a-1")
        assert r2["message"]["seq"] == 2
        # The sender's own connections get the echo too (other tabs); the
        # other party's get it with a notification.
        echo = await visitor_ws.wait_event("message.new", lambda e: e["message"]["seq"] == 1)
        assert echo["notify"]["kind"] is None
        got = await visitor_ws.wait_event("message.new", lambda e: e["message"]["seq"] == 2)
        assert got["notify"]["kind"] == "new_message"

        # C3: resending the same client message id never duplicates.
        again = await visitor_ws.send_message(sid, text("你好"), "v-1")
        assert again["duplicate"] is True and again["message"]["seq"] == 1
        page = await visitor.ok("GET", f"/sessions/{sid}/messages")
        assert [m["seq"] for m in page["messages"]] == [1, 2]

        # C1: in the agent's list with its unread count; reading clears it.
        # (Lists are read from an index, which trails the table: `eventually`.)
        async def listed_unread():
            listed = await alice.ok("GET", "/sessions")
            assert [x["id"] for x in listed["items"]] == [sid]
            assert listed["items"][0]["unread"] == 1
        await eventually(listed_unread)
        read = await alice.ok("POST", f"/sessions/{sid}/read")
        assert read["unread"] == 0 and read.get("marker") is None

        # C3: the agent drops off; the visitor writes on; on reconnect the
        # agent asks for everything after its last seq and gets exactly that.
        await alice_ws.close()
        for i in range(3):
            r = await visitor_ws.send_message(sid, text(f"still there? {i}"))
            assert r["message"]["seq"] == 3 + i
        alice_ws = await Ws.connect(session, alice.token)
        synced = await alice_ws.request("sync", sessionId=sid, afterSeq=2)
        assert synced["type"] == "sync"
        assert [m["seq"] for m in synced["messages"]] == [3, 4, 5]
        assert [m["content"]["text"] for m in synced["messages"]] == [f"still there? {i}" for i in range(3)]
        assert synced["hasMore"] is False and synced["lastSeq"] == 5
        paged = await alice_ws.request("sync", sessionId=sid, afterSeq=0, limit=2)
        assert [m["seq"] for m in paged["messages"]] == [1, 2] and paged["hasMore"] is True

        # D7: close; both sides hear it; it leaves the list and is in history.
        closed = await alice.ok("POST", f"/sessions/{sid}/close")
        assert closed["closed"] is True and closed["session"]["state"] == "closed"
        assert closed["session"]["closeReason"] == "agent"
        ev = await visitor_ws.wait_event("session.closed")
        assert ev["sessionId"] == sid and ev["reason"] == "agent"
        await alice_ws.wait_event("session.closed")
        async def in_history():
            assert (await alice.ok("GET", "/sessions"))["items"] == []
            history = await alice.ok("GET", "/sessions?state=closed")
            assert [x["id"] for x in history["items"]] == [sid]
            found = await alice.ok("GET", "/sessions?state=closed&q=wang")
            assert [x["id"] for x in found["items"]] == [sid]
            assert (await alice.ok("GET", "/sessions?state=closed&q=nobody"))["items"] == []
            assert (await tenant.admin.ok("GET", "/sessions?state=closed&scope=all"))["items"][0]["id"] == sid
        await eventually(in_history)

        # Close is idempotent; a closed session takes no more messages.
        assert (await alice.ok("POST", f"/sessions/{sid}/close"))["closed"] is False
        late = await visitor_ws.send_message(sid, text("hello?"))
        assert late["type"] == "error" and late["error"]["code"] == "session_closed"
        me = await alice.ok("GET", "/agents/me")
        assert me["active"] == 0, "capacity was freed exactly once"

        # The visitor may start a new session after the close.
        fresh = await visitor.ok("POST", "/sessions", {}, expect=201)
        assert fresh["session"]["id"] != sid

        await alice_ws.close()
        await visitor_ws.close()

    run(body)


def test_every_connection_of_an_agent_receives_every_event():
    async def body(session):
        tenant = Tenant(session)
        agent = await tenant.agent("amy")
        tab1, tab2 = await Ws.connect(session, agent.token), await Ws.connect(session, agent.token)
        visitor, _ = await tenant.visitor()
        visitor_ws = await Ws.connect(session, visitor.token)
        sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
        for tab in (tab1, tab2):
            assert (await tab.wait_event("session.assigned"))["session"]["id"] == sid
        await visitor_ws.send_message(sid, text("hi"))
        for tab in (tab1, tab2):
            assert (await tab.wait_event("message.new"))["message"]["seq"] == 1
        # One tab sends: the other tab sees it too.
        await tab1.send_message(sid, text("hello from tab 1"))
        assert (await tab2.wait_event("message.new"))["message"]["content"]["text"] == "hello from tab 1"
        # Status changes reach every tab.
        await agent.ok("PUT", "/agents/me/status", {"status": "busy"})
        for tab in (tab1, tab2):
            assert (await tab.wait_event("agent.updated"))["agent"]["status"] == "busy"
        for ws in (tab1, tab2, visitor_ws):
            await ws.close()

    run(body)


def test_all_message_types_are_delivered_as_sent():
    async def body(session):
        tenant = Tenant(session)
        agent = await tenant.agent("ann")
        agent_ws = await Ws.connect(session, agent.token)
        visitor, _ = await tenant.visitor(channel="app")
        visitor_ws = await Ws.connect(session, visitor.token)
        sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
        incoming = [
            text("hi"),
            {"type": "image", "url": "https://cdn.example.com/a.png", "width": 640, "height": 480},
            {"type": "voice", "url": "https://cdn.example.com/a.amr", "duration": 75},
            {"type": "video", "url": "https://cdn.example.com/a.mp4", "duration": 12.5},
            {"type": "file", "url": "https://cdn.example.com/a.pdf", "name": "invoice.pdf", "size": 2048},
            {"type": "location", "latitude": 31.23, "longitude": 121.47, "address": "上海市"},
            {"type": "rich", "title": "Order 42", "description": "Shipped", "url": "https://shop.example.com/42",
             "thumbnail": "https://cdn.example.com/t.png"},
            {"type": "custom", "payload": {"orderId": 42, "items": [1, 2, None]}},
        ]
        for i, m in enumerate(incoming, 1):
            r = await visitor_ws.send_message(sid, m)
            assert r["type"] == "message.sent", (m, r)
            got = await agent_ws.wait_event("message.new", lambda e: e["message"]["seq"] == i)
            assert got["message"]["content"] == m
        outgoing = [
            {"type": "voice", "url": "https://cdn.example.com/b.amr", "duration": 60},  # app channel: allowed
            {"type": "rich", "title": "FAQ", "description": "How to return", "url": "https://help.example.com/r"},
            {"type": "file", "url": "https://cdn.example.com/manual.pdf", "name": "manual.pdf"},
        ]
        for m in outgoing:
            r = await agent_ws.send_message(sid, m)
            assert r["type"] == "message.sent", (m, r)
            got = await visitor_ws.wait_event("message.new", lambda e: e["message"]["seq"] == r["message"]["seq"])
            assert got["message"]["content"] == m
        history = await agent.ok("GET", f"/sessions/{sid}/messages?limit=200")
        assert [m["content"] for m in history["messages"]] == incoming + outgoing
        for ws in (agent_ws, visitor_ws):
            await ws.close()

    run(body)


def test_the_in_progress_list_puts_the_newest_activity_on_top():
    async def body(session):
        tenant = Tenant(session)
        agent = await tenant.agent("amy")
        agent_ws = await Ws.connect(session, agent.token)
        (v1, _), (v2, _) = await tenant.visitor(name="First"), await tenant.visitor(nickname="Second")
        s1 = (await v1.ok("POST", "/sessions", {}))["session"]["id"]
        s2 = (await v2.ok("POST", "/sessions", {}))["session"]["id"]
        async def newest_on_top():
            listed = (await agent.ok("GET", "/sessions"))["items"]
            assert [x["id"] for x in listed] == [s2, s1], "the newest session comes in at the top"
            assert [x["marker"] for x in listed] == ["new", "new"]
        await eventually(newest_on_top)
        v1_ws = await Ws.connect(session, v1.token)
        await v1_ws.send_message(s1, text("me again"))
        async def moved_to_top():
            listed = (await agent.ok("GET", "/sessions"))["items"]
            assert [x["id"] for x in listed] == [s1, s2], "a new message moves its session to the top"
            assert [x["unread"] for x in listed] == [1, 0]
            assert [x["id"] for x in (await agent.ok("GET", "/sessions?q=SEC"))["items"]] == [s2], "search by nickname"
        await eventually(moved_to_top)
        for ws in (agent_ws, v1_ws):
            await ws.close()

    run(body)


def test_an_admin_pages_through_every_open_session_newest_activity_first():
    """C1's admin view (`scope=all`): waiting and in-progress sessions of the
    whole tenant, newest activity first, a page at a time; a message moves
    its session to the top; search by name; a closed one leaves it."""
    async def body(session):
        tenant = Tenant(session)
        visitors, sids = [], []
        for i in range(5):
            v, _ = await tenant.visitor(name=f"Guest {i}" if i != 3 else "Zoe")
            visitors.append(v)
            sids.append((await v.ok("POST", "/sessions", {}))["session"]["id"])  # nobody online: waiting
        ws = await Ws.connect(session, visitors[1].token)
        await ws.send_message(sids[1], text("still there?"))

        async def paged():
            return [x["id"] for page in await tenant.admin.pages("/sessions?scope=all", 2) for x in page]
        async def newest_first():
            assert await paged() == [sids[1], sids[4], sids[3], sids[2], sids[0]]
        await eventually(newest_first)
        assert [x["id"] for x in (await tenant.admin.ok("GET", "/sessions?scope=all&q=zo"))["items"]] == [sids[3]]

        await tenant.admin.ok("POST", f"/sessions/{sids[4]}/close")
        async def gone():
            assert await paged() == [sids[1], sids[3], sids[2], sids[0]]
        await eventually(gone)
        await ws.close()

    run(body)
