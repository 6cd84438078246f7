"""D9/B5: the visitor blacklist, through the real APIs."""

from kefu import Tenant, Ws, run


def test_a_blacklisted_visitor_is_closed_out_kept_but_unserved_until_removed():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann", max_concurrent=1)
        ws = await Ws.connect(session, ann.token)
        visitor, vid = await tenant.visitor(name="Spammer", nickname="spam")
        vws = await Ws.connect(session, visitor.token)
        s1 = (await visitor.ok("POST", "/sessions", {}))["session"]
        await ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s1["id"])
        other, _ = await tenant.visitor()
        s2 = (await other.ok("POST", "/sessions", {}))["session"]
        assert s2["state"] == "waiting"

        entry = await ann.ok("POST", "/blacklist", {"visitorId": vid, "reason": "  abusive language "})
        assert (entry["visitorId"], entry["reason"], entry["by"]) == (vid, "abusive language", "ann")
        assert entry["visitorName"] == "Spammer"
        # The open session closes at once, both parties told; Ann's freed capacity takes the next.
        for w in (ws, vws):
            closed = await w.wait_event("session.closed", lambda e: e["sessionId"] == s1["id"])
            assert closed["reason"] == "blacklisted"
        await ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s2["id"])

        # B5: no session is created and nothing reaches the queue...
        status, out = await visitor.call("POST", "/sessions", {})
        assert (status, out["error"]["code"]) == (403, "blacklisted")
        assert (await tenant.admin.ok("GET", "/queue"))["items"] == []
        # ...but what it still sends is kept, and reaches nobody.
        kept = await vws.send_message(s1["id"], {"type": "text", "text": "let me in"})
        assert kept["type"] == "message.sent" and kept["message"]["content"]["text"] == "let me in"
        history = (await ann.ok("GET", f"/sessions/{s1['id']}/messages"))["messages"]
        assert [m["content"]["text"] for m in history] == ["let me in"]
        after = await ann.ok("GET", f"/sessions/{s1['id']}")
        assert after["state"] == "closed" and after["closeReason"] == "blacklisted" and after["unread"] == 0
        assert not ws.seen("message.new"), "nothing reaches the agent"
        mine = (await visitor.ok("GET", "/sessions?state=closed"))["items"]
        assert [x["id"] for x in mine] == [s1["id"]]

        # Taken off: normal service again, in a new session.
        assert (await tenant.admin.ok("DELETE", f"/blacklist/{vid}")) == {"visitorId": vid, "blacklisted": False}
        refused = await vws.send_message(s1["id"], {"type": "text", "text": "again"})
        assert refused["error"]["code"] == "session_closed"
        s3 = (await visitor.ok("POST", "/sessions", {}))["session"]
        assert s3["id"] != s1["id"] and s3["state"] in ("waiting", "active")
        status, out = await tenant.admin.call("DELETE", f"/blacklist/{vid}")
        assert (status, out["error"]["code"]) == (404, "not_blacklisted")
        await vws.close()
        await ws.close()

    run(body)


def test_the_blacklist_is_listed_searched_and_guarded():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ids = {}
        for name, reason in [("Alice", "spam links"), ("Bob", "threats"), ("Carol", "spam again")]:
            v, vid = await tenant.visitor(name=name)
            ids[name] = vid
            await ann.ok("POST", "/blacklist", {"visitorId": vid, "reason": reason})
        everyone = (await ann.ok("GET", "/blacklist"))["items"]
        assert sorted(e["visitorName"] for e in everyone) == ["Alice", "Bob", "Carol"]
        spam = (await ann.ok("GET", "/blacklist?q=SPAM"))["items"]
        assert sorted(e["visitorName"] for e in spam) == ["Alice", "Carol"]
        assert [e["visitorName"] for e in (await ann.ok("GET", "/blacklist?q=bob"))["items"]] == ["Bob"]
        # Paged: two pages of 2 and 1.
        first = await ann.ok("GET", "/blacklist?limit=2")
        second = await ann.ok("GET", f"/blacklist?limit=2&cursor={first['nextCursor']}")
        assert len(first["items"]) == 2 and len(second["items"]) == 1

        visitor, vid = await tenant.visitor()
        other = Tenant(session)
        for who, body_, expect in [
            (ann, {"visitorId": ids["Bob"], "reason": "twice"}, (409, "already_blacklisted")),
            (ann, {"visitorId": "v_nobody", "reason": "x"}, (404, "visitor_not_found")),
            (other.admin, {"visitorId": vid, "reason": "x"}, (404, "visitor_not_found")),
            (ann, {"visitorId": vid, "reason": "   "}, (400, "invalid_field")),
            (ann, {"visitorId": vid}, (400, "invalid_field")),
            (ann, {"visitorId": vid, "reason": "x" * 201}, (400, "invalid_field")),
            (visitor, {"visitorId": ids["Bob"], "reason": "x"}, (403, "forbidden")),
        ]:
            status, out = await who.call("POST", "/blacklist", body_)
            assert (status, out["error"]["code"]) == expect, (body_, status, out)
        assert (await other.admin.ok("GET", "/blacklist"))["items"] == [], "tenants never see each other's"
        status, _ = await visitor.call("GET", "/blacklist")
        assert status == 403
        status, out = await other.admin.call("DELETE", f"/blacklist/{ids['Bob']}")
        assert (status, out["error"]["code"]) == (404, "not_blacklisted")
        # Refusals changed nothing: the visitor starts a session as usual.
        assert (await visitor.ok("POST", "/sessions", {}))["created"] is True

    run(body)


def test_a_visitor_blacklisted_from_history_is_kept_in_its_closed_session():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        visitor, vid = await tenant.visitor(name="Former")
        vws = await Ws.connect(session, visitor.token)
        s = (await visitor.ok("POST", "/sessions", {}))["session"]
        await ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s["id"])
        await ann.ok("POST", f"/sessions/{s['id']}/close")
        refused = await vws.send_message(s["id"], {"type": "text", "text": "hello?"})
        assert refused["error"]["code"] == "session_closed", "a closed session takes nothing from others"
        # Blacklisted later, from history: what it sends now is kept there.
        await ann.ok("POST", "/blacklist", {"visitorId": vid, "reason": "fraud"})
        kept = await vws.send_message(s["id"], {"type": "text", "text": "let me back"})
        assert kept["type"] == "message.sent"
        history = (await ann.ok("GET", f"/sessions/{s['id']}/messages"))["messages"]
        assert [m["content"]["text"] for m in history] == ["let me back"]
        after = await ann.ok("GET", f"/sessions/{s['id']}")
        assert (after["state"], after["closeReason"], after["unread"]) == ("closed", "agent", 0)
        status, out = await visitor.call("POST", "/sessions", {})
        assert (status, out["error"]["code"]) == (403, "blacklisted")
        assert not ws.seen("message.new")
        await vws.close()
        await ws.close()

    run(body)
