"""C4: a visitor's earlier conversation, paged across sessions; D7: callback."""

from kefu import (TABLE, Tenant, Ws, assert_connection_removed, dynamodb, eventually, plant_stale_connection, run)


async def conversation(visitor, vws, ann_ws, texts):
    """One session of `visitor`, taken by the agent on `ann_ws`, where the
    visitor sends `texts` in order; closed by the visitor. Returns it."""
    s = (await visitor.ok("POST", "/sessions", {}))["session"]
    await ann_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s["id"])
    for text in texts:
        assert (await vws.send_message(s["id"], {"type": "text", "text": text}))["type"] == "message.sent"
    await visitor.ok("POST", f"/sessions/{s['id']}/close")
    return s


def test_a_new_session_shows_the_earlier_conversation_ten_messages_a_page_across_sessions():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ann_ws = await Ws.connect(session, ann.token)
        visitor, vid = await tenant.visitor(name="Regular")
        vws = await Ws.connect(session, visitor.token)
        texts = [f"m{i}" for i in range(1, 12)]  # 11 earlier messages, oldest first
        await conversation(visitor, vws, ann_ws, texts[:4])
        await conversation(visitor, vws, ann_ws, texts[4:8])
        await conversation(visitor, vws, ann_ws, texts[8:])
        now = (await visitor.ok("POST", "/sessions", {}))["session"]
        await ann_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == now["id"])
        await vws.send_message(now["id"], {"type": "text", "text": "today"})
        path = f"/sessions/{now['id']}/history"

        async def first_page():
            page = await ann.ok("GET", path)
            assert [m["content"]["text"] for m in page["messages"]] == texts[1:], page
            return page
        page = await eventually(first_page)
        assert page["nextCursor"] is not None
        second = await ann.ok("GET", f"{path}?cursor={page['nextCursor']}")
        # The 11th message back from now, the oldest, is on the second page.
        assert [m["content"]["text"] for m in second["messages"]] == ["m1"] and second["nextCursor"] is None
        # The visitor reads its own history; smaller pages work too.
        mine = await visitor.ok("GET", f"{path}?limit=3")
        assert [m["content"]["text"] for m in mine["messages"]] == ["m9", "m10", "m11"]
        assert all(m["sender"]["kind"] == "visitor" for m in mine["messages"])
        bob = await tenant.agent("bob", status="busy")
        for who, url, expect in [
            (bob, path, (404, "session_not_found")),
            (ann, f"{path}?limit=0", (400, "invalid_field")),
            (ann, f"{path}?cursor=garbage", (400, "invalid_cursor")),
        ]:
            status, out = await who.call("GET", url)
            assert (status, out["error"]["code"]) == expect, (url, status, out)
        # Another visitor's history is not this one's.
        other, _ = await tenant.visitor()
        s_other = (await other.ok("POST", "/sessions", {}))["session"]
        assert (await other.ok("GET", f"/sessions/{s_other['id']}/history"))["messages"] == []
        for w in (vws, ann_ws):
            await w.close()

    run(body)


def test_callback_opens_a_session_with_a_visitor_from_history_assigned_to_the_caller():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann", max_concurrent=0)  # auto-dispatch gives her nothing
        ann_ws = await Ws.connect(session, ann.token)
        visitor, vid = await tenant.visitor(name="Call Me")
        vws = await Ws.connect(session, visitor.token)
        plant_stale_connection(tenant.id, "visitor", vid, "gone-visitor-tab")

        opened = await ann.ok("POST", "/sessions/callback", {"visitorId": vid}, expect=201)
        assert (opened["state"], opened["agentId"], opened["marker"]) == ("active", "ann", "new")
        got = await ann_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == opened["id"])
        assert got["notify"]["kind"] == "new_session"
        seen = await vws.wait_event("session.assigned")
        assert seen["session"]["id"] == opened["id"] and seen["session"]["agent"] == {"nickname": "Ann"}
        assert_connection_removed(tenant.id, "visitor", vid, "gone-visitor-tab")
        assert (await ann.ok("GET", "/agents/me"))["active"] == 1
        assert (await ann_ws.send_message(opened["id"], {"type": "text", "text": "calling you back"}))["type"] == "message.sent"

        status, out = await ann.call("POST", "/sessions/callback", {"visitorId": vid})
        assert (status, out["error"]["code"]) == (409, "visitor_busy")
        await ann.ok("POST", f"/sessions/{opened['id']}/close")
        # A4: at the hard cap, refused and nothing written.
        db = dynamodb()
        key = {"pk": {"S": f"T#{tenant.id}"}, "sk": {"S": "AGENT#ann"}}
        db.update_item(TableName=TABLE, Key=key, UpdateExpression="SET active = :n",
                       ExpressionAttributeValues={":n": {"N": "200"}})
        status, out = await ann.call("POST", "/sessions/callback", {"visitorId": vid})
        assert (status, out["error"]["code"]) == (409, "agent_at_capacity")
        db.update_item(TableName=TABLE, Key=key, UpdateExpression="SET active = :n",
                       ExpressionAttributeValues={":n": {"N": "0"}})
        assert (await visitor.ok("GET", "/sessions"))["items"] == [], "no session was opened"
        other = Tenant(session)
        for who, body_, expect in [
            (ann, {"visitorId": "v_nobody"}, (404, "visitor_not_found")),
            (other.admin, {"visitorId": vid}, (404, "visitor_not_found")),
            (visitor, {"visitorId": vid}, (403, "forbidden")),
            (ann, {}, (400, "invalid_field")),
        ]:
            status, out = await who.call("POST", "/sessions/callback", body_)
            assert (status, out["error"]["code"]) == expect, (body_, status, out)
        await ann.ok("POST", "/blacklist", {"visitorId": vid, "reason": "abuse"})
        status, out = await ann.call("POST", "/sessions/callback", {"visitorId": vid})
        assert (status, out["error"]["code"]) == (403, "blacklisted")
        for w in (vws, ann_ws):
            await w.close()

    run(body)
