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


def test_history_search_returns_exactly_the_sessions_of_a_tag_a_visitor_tag_an_agent_or_a_time():
    async def body(session):
        tenant = Tenant(session)
        admin = tenant.admin
        for tag in ("refund", "complaint"):
            await admin.ok("POST", "/tags", {"tagId": tag, "name": tag.title()})
        ann = await tenant.agent("ann", max_concurrent=0)  # sessions come by pickup only
        bob = await tenant.agent("bob", max_concurrent=0)
        vip1, v1 = await tenant.visitor(name="V One")
        plain, v2 = await tenant.visitor(name="V Two")
        vip3, v3 = await tenant.visitor(name="V Three")
        for vid in (v1, v3):
            await admin.ok("PATCH", f"/visitors/{vid}", {"tags": ["VIP"]})

        async def handled(visitor, agent, tags):
            s = (await visitor.ok("POST", "/sessions", {}))["session"]
            await agent.ok("POST", f"/sessions/{s['id']}/pickup")
            if tags:
                await agent.ok("PUT", f"/sessions/{s['id']}/tags", {"tags": tags})
            closed = await agent.ok("POST", f"/sessions/{s['id']}/close")
            return closed["session"]

        s1 = await handled(vip1, ann, ["refund"])
        s2 = await handled(plain, bob, ["complaint"])
        s3 = await handled(vip3, ann, ["refund", "complaint"])
        s4 = await handled(plain, ann, [])
        still_open = (await vip1.ok("POST", "/sessions", {}))["session"]
        await ann.ok("POST", f"/sessions/{still_open['id']}/pickup")
        await ann.ok("PUT", f"/sessions/{still_open['id']}/tags", {"tags": ["refund"]})

        async def ids(who, query):
            out = await who.ok("GET", f"/history?{query}")
            return [s["id"] for s in out["items"]]

        async def check():
            assert await ids(admin, "tag=refund") == [s3["id"], s1["id"]], "newest closed first"
            assert await ids(admin, "tag=complaint") == [s3["id"], s2["id"]]
            assert await ids(admin, "visitorTag=VIP") == [s3["id"], s1["id"]]
            assert await ids(admin, "agentId=bob") == [s2["id"]]
            assert await ids(admin, "") == [s4["id"], s3["id"], s2["id"], s1["id"]]
            assert await ids(admin, f"from={s3['closedAt']}") == [s4["id"], s3["id"]]
            assert await ids(admin, f"from={s2['closedAt']}&to={s3['closedAt']}") == [s3["id"], s2["id"]]
        await eventually(check)

        # Tags changed after close move the session in the tag's history.
        await ann.ok("PUT", f"/sessions/{s4['id']}/tags", {"tags": ["refund"]})
        await ann.ok("PUT", f"/sessions/{s1['id']}/tags", {"tags": []})
        assert await ids(admin, "tag=refund") == [s4["id"], s3["id"]]

        # An agent searches only what it handled.
        async def own():
            assert await ids(ann, "") == [s4["id"], s3["id"], s1["id"]]
        await eventually(own)
        assert await ids(ann, "tag=complaint") == [s3["id"]]
        assert await ids(admin, "tag=complaint&agentId=bob") == [s2["id"]], "filters combine"
        assert await ids(admin, f"visitorTag=VIP&agentId=ann&from={s3['closedAt']}") == [s3["id"]]
        assert await ids(bob, "visitorTag=VIP") == []
        # Paged.
        first = await admin.ok("GET", "/history?tag=complaint&limit=1")
        second = await admin.ok("GET", f"/history?tag=complaint&limit=1&cursor={first['nextCursor']}")
        assert [s["id"] for s in first["items"] + second["items"]] == [s3["id"], s2["id"]]
        visitor, _ = await tenant.visitor()
        for who, query, expect in [
            (ann, "agentId=bob", (403, "forbidden")),
            (admin, "tag=refund&visitorTag=VIP", (400, "invalid_field")),
            (admin, "from=10&to=5", (400, "invalid_field")),
            (admin, "limit=0", (400, "invalid_field")),
            (admin, "tag=refund&cursor=garbage", (400, "invalid_cursor")),
            (visitor, "", (403, "forbidden")),
        ]:
            status, out = await who.call("GET", f"/history?{query}")
            assert (status, out["error"]["code"]) == expect, (query, status, out)
        other = Tenant(session)
        assert await ids(other.admin, "tag=refund") == [], "tenants never see each other's history"

    run(body)
