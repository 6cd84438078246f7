"""Operations inside a session: lock (D3), tags and notes (D1, D2), settings
(F4), recall (C5)."""

import asyncio
from collections import Counter

from kefu import TABLE, Tenant, Ws, assert_connection_removed, dynamodb, plant_stale_connection, run


async def assigned(tenant, agent_ws, name="Wang Fang"):
    """A visitor whose session was just given to the connected agent:
    (visitor http, with its id as `.id`, session)."""
    visitor, vid = await tenant.visitor(name=name)
    visitor.id = vid
    s = (await visitor.ok("POST", "/sessions", {}))["session"]
    await agent_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s["id"])
    return visitor, s


def test_the_agent_or_an_admin_locks_and_unlocks_an_open_session():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        visitor, s = await assigned(tenant, ws)
        bob = await tenant.agent("bob", status="busy")
        lock = f"/sessions/{s['id']}/lock"
        assert (await ann.ok("GET", f"/sessions/{s['id']}"))["locked"] is False
        assert (await ann.ok("PUT", lock, {"locked": True}))["locked"] is True
        assert (await ann.ok("GET", f"/sessions/{s['id']}"))["locked"] is True
        assert (await tenant.admin.ok("PUT", lock, {"locked": False}))["locked"] is False
        for who, body_, expect in [
            (visitor, {"locked": True}, (403, "forbidden")),
            (bob, {"locked": True}, (404, "session_not_found")),
            (ann, {"locked": "yes"}, (400, "invalid_field")),
            (ann, {}, (400, "invalid_field")),
        ]:
            status, out = await who.call("PUT", lock, body_)
            assert (status, out["error"]["code"]) == expect, (body_, status, out)
        assert (await ann.ok("GET", f"/sessions/{s['id']}"))["locked"] is False
        await ann.ok("POST", f"/sessions/{s['id']}/close")
        status, out = await ann.call("PUT", lock, {"locked": True})
        assert (status, out["error"]["code"]) == (409, "session_closed")
        await ws.close()

    run(body)


def test_settings_are_read_by_agents_and_changed_by_admins_with_an_audit_entry():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        before = await ann.ok("GET", "/settings")
        assert before["tagRequiredToClose"] is False and before["typingPreview"] is False
        after = await tenant.admin.ok("PATCH", "/settings", {"typingPreview": True, "visitorReminderSecs": 30})
        assert after["typingPreview"] is True and after["visitorReminderSecs"] == 30
        assert after["visitorTimeoutSecs"] == before["visitorTimeoutSecs"]
        assert (await ann.ok("GET", "/settings")) == after
        for who, body_, expect in [
            (ann, {"typingPreview": False}, (403, "forbidden")),
            (tenant.admin, {"visitorReminderSecs": 0}, (400, "invalid_field")),
            (tenant.admin, {"customMessageUrl": "javascript:alert(1)"}, (400, "invalid_field")),
            (tenant.admin, {"nope": True}, (400, "invalid_field")),
            (tenant.admin, {}, (400, "invalid_field")),
        ]:
            status, out = await who.call("PATCH", "/settings", body_)
            assert (status, out["error"]["code"]) == expect, (body_, status, out)
        assert (await ann.ok("GET", "/settings")) == after, "refused changes change nothing"
        trail = (await tenant.admin.ok("GET", "/audit"))["items"]
        changed = [e for e in trail if e["action"] == "settings_changed"]
        assert len(changed) == 1 and changed[0]["target"] == tenant.id
        assert set(changed[0]["detail"].split(", ")) == {"typingPreview", "visitorReminderSecs"}
        visitor, _ = await tenant.visitor()
        status, _ = await visitor.call("GET", "/settings")
        assert status == 403

    run(body)


def test_the_tag_tree_is_built_moved_and_deleted_by_admins():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        admin = tenant.admin
        await admin.ok("POST", "/tags", {"tagId": "billing", "name": "Billing"})
        await admin.ok("POST", "/tags", {"tagId": "refund", "name": "Refund", "parentId": "billing"})
        await admin.ok("POST", "/tags", {"tagId": "tech", "name": "Tech"})
        made = await admin.ok("POST", "/tags", {"name": "Login", "parentId": "tech"})
        assert made["id"].startswith("tag_") and made["parent"] == "tech"
        moved = await admin.ok("PATCH", "/tags/refund", {"parentId": "tech", "name": "Refunds"})
        assert (moved["parent"], moved["name"]) == ("tech", "Refunds")
        assert (await admin.ok("PATCH", "/tags/refund", {"parentId": None}))["parent"] is None
        for who, method, path, body_, expect in [
            (ann, "POST", "/tags", {"name": "X"}, (403, "forbidden")),
            (admin, "PATCH", "/tags/tech", {"parentId": made["id"]}, (400, "invalid_tag_parent")),
            (admin, "POST", "/tags", {"name": "X", "parentId": "nope"}, (404, "tag_not_found")),
            (admin, "POST", "/tags", {"tagId": "tech", "name": "Again"}, (409, "tag_exists")),
            (admin, "DELETE", "/tags/tech", None, (409, "tag_has_children")),
            (admin, "PATCH", "/tags/nope", {"name": "X"}, (404, "tag_not_found")),
        ]:
            status, out = await who.call(method, path, body_)
            assert (status, out["error"]["code"]) == expect, (path, body_, status, out)
        gone = await admin.ok("DELETE", "/tags/billing")
        assert gone["deleted"] is True
        tree = {t["id"]: t for t in await ann.ok("GET", "/tags")}
        assert set(tree) == {"billing", "refund", "tech", made["id"]} and tree["billing"]["deleted"] is True
        status, out = await admin.call("POST", "/tags", {"name": "Y", "parentId": "billing"})
        assert (status, out["error"]["code"]) == (404, "tag_not_found"), "nothing grows under a deleted tag"
        other = Tenant(session)
        assert await other.admin.ok("GET", "/tags") == [], "tenants never see each other's tags"

    run(body)


def test_tags_and_notes_follow_the_session_and_recommendations_follow_usage():
    async def body(session):
        tenant = Tenant(session)
        admin = tenant.admin
        for t in ("a", "b", "c", "d", "e", "f", "old"):
            await admin.ok("POST", "/tags", {"tagId": t, "name": t.upper()})
        ann = await tenant.agent("ann", max_concurrent=10)
        ws = await Ws.connect(session, ann.token)
        # Ann applies f five times, e four, ..., a once; "old" six times, then it is deleted.
        uses = {"f": 5, "e": 4, "d": 3, "c": 2, "b": 1, "a": 1, "old": 6}
        sessions = [(await assigned(tenant, ws, name=f"V{i}"))[1] for i in range(6)]
        for i, s in enumerate(sessions):
            tags = [t for t, n in uses.items() if n > i]
            out = await ann.ok("PUT", f"/sessions/{s['id']}/tags", {"tags": tags, "note": f"note {i}"})
            assert out["tags"] == tags and out["note"] == f"note {i}"
        await admin.ok("DELETE", "/tags/old")
        best = [t["id"] for t in await ann.ok("GET", "/tags/recommended")]
        assert best == ["f", "e", "d", "c", best[4]] and best[4] in ("a", "b"), best
        assert await tenant.admin.ok("GET", "/tags/recommended") == [], "the admin applied none"

        s = sessions[0]
        path = f"/sessions/{s['id']}/tags"
        # Re-saving the same tags counts nothing again; the note may be changed alone.
        again = await ann.ok("PUT", path, {"tags": ["f", "e", "d", "c", "b", "a", "old"]})
        assert again["note"] == "note 0", "absent note: unchanged"
        assert "old" in again["tags"], "a deleted tag a session had stays"
        cleared = await ann.ok("PUT", path, {"tags": ["a"], "note": None})
        assert cleared["tags"] == ["a"] and cleared.get("note") is None
        visitor, _ = await tenant.visitor()
        other_agent = await tenant.agent("bob", status="busy")
        for who, body_, expect in [
            (ann, {"tags": ["old"]}, (404, "tag_not_found")),   # deleted: not applied anew
            (ann, {"tags": ["nope"]}, (404, "tag_not_found")),
            (ann, {"tags": ["a", "a"]}, (400, "invalid_field")),
            (ann, {"tags": [str(i) for i in range(21)]}, (400, "invalid_field")),
            (ann, {"note": "x"}, (400, "invalid_field")),
            (other_agent, {"tags": ["a"]}, (404, "session_not_found")),
            (visitor, {"tags": ["a"]}, (403, "forbidden")),
        ]:
            status, out = await who.call("PUT", path, body_)
            assert (status, out["error"]["code"]) == expect, (body_, status, out)
        # Another tenant's tag is not a tag here.
        other = Tenant(session)
        await other.admin.ok("POST", "/tags", {"tagId": "theirs", "name": "Theirs"})
        status, out = await ann.call("PUT", path, {"tags": ["theirs"]})
        assert (status, out["error"]["code"]) == (404, "tag_not_found")
        assert (await ann.ok("GET", f"/sessions/{s['id']}"))["tags"] == ["a"], "refusals change nothing"
        # After close, tags and note still change.
        await ann.ok("POST", f"/sessions/{s['id']}/close")
        closed = await ann.ok("PUT", path, {"tags": ["b"], "note": "followed up"})
        assert closed["state"] == "closed" and closed["tags"] == ["b"] and closed["note"] == "followed up"
        await ws.close()

    run(body)


def test_closing_needs_a_tag_only_when_the_tenant_says_so():
    async def body(session):
        tenant = Tenant(session)
        await tenant.admin.ok("POST", "/tags", {"tagId": "done", "name": "Done"})
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        _, s1 = await assigned(tenant, ws)
        await ann.ok("POST", f"/sessions/{s1['id']}/close")  # switch off: closes untagged
        await tenant.admin.ok("PATCH", "/settings", {"tagRequiredToClose": True})
        visitor, s2 = await assigned(tenant, ws)
        status, out = await ann.call("POST", f"/sessions/{s2['id']}/close")
        assert (status, out["error"]["code"]) == (409, "tag_required")
        status, out = await tenant.admin.call("POST", f"/sessions/{s2['id']}/close")
        assert (status, out["error"]["code"]) == (409, "tag_required")
        assert (await ann.ok("GET", f"/sessions/{s2['id']}"))["state"] == "active"
        await ann.ok("PUT", f"/sessions/{s2['id']}/tags", {"tags": ["done"]})
        assert (await ann.ok("POST", f"/sessions/{s2['id']}/close"))["closed"] is True
        # A visitor leaving is never held back by the switch.
        visitor, s3 = await assigned(tenant, ws)
        assert (await visitor.ok("POST", f"/sessions/{s3['id']}/close"))["closed"] is True
        await ws.close()

    run(body)


def test_recall_hides_an_agents_message_from_the_visitor_within_two_minutes():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        visitor, s = await assigned(tenant, ws)
        vws = await Ws.connect(session, visitor.token)
        sid = s["id"]
        sent = (await ws.send_message(sid, {"type": "text", "text": "wrong price: 10"}))["message"]
        later = (await ws.send_message(sid, {"type": "text", "text": "right price: 12"}))["message"]
        theirs = (await vws.send_message(sid, {"type": "text", "text": "ok"}))["message"]
        await vws.wait_event("message.new", lambda e: e["message"]["seq"] == sent["seq"])
        # A visitor's connection whose $disconnect was lost: the recall's push removes it.
        plant_stale_connection(tenant.id, "visitor", visitor.id, "gone-visitor-conn")

        out = await ann.ok("POST", f"/sessions/{sid}/messages/{sent['seq']}/recall")
        assert out["content"] == {"type": "recalled"} and out["recalledAt"] >= sent["createdAt"]
        told = await vws.wait_event("message.recalled")
        assert (told["sessionId"], told["seq"]) == (sid, sent["seq"])
        await ws.wait_event("message.recalled", lambda e: e["seq"] == sent["seq"])
        assert_connection_removed(tenant.id, "visitor", visitor.id, "gone-visitor-conn")
        again = await ann.ok("POST", f"/sessions/{sid}/messages/{sent['seq']}/recall")
        assert again["recalledAt"] == out["recalledAt"], "recalling twice changes nothing"

        # The visitor no longer receives its content, by any way of reading.
        history = (await visitor.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        synced = (await vws.request("sync", sessionId=sid, afterSeq=0))["messages"]
        for listing in (history, synced):
            first = next(m for m in listing if m["seq"] == sent["seq"])
            assert first["content"] == {"type": "recalled"} and first["recalledAt"] == out["recalledAt"]
            assert "wrong price" not in str(listing)
            assert any(m["content"].get("text") == "right price: 12" for m in listing)
        mine = (await ann.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        assert mine[0]["content"] == {"type": "recalled"} and mine[0]["recalledAt"] == out["recalledAt"]
        audit = (await tenant.admin.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        assert audit[0]["content"]["text"] == "wrong price: 10", "admins read the original"

        # Past 2 minutes (the message's clock moved back 121 s): refused.
        db = dynamodb()
        db.update_item(TableName=TABLE, Key={"pk": {"S": f"T#{tenant.id}#S#{sid}"}, "sk": {"S": f"MSG#{later['seq']:012d}"}},
                       UpdateExpression="SET createdAt = createdAt - :d", ExpressionAttributeValues={":d": {"N": "121000"}})
        bob = await tenant.agent("bob", status="busy")
        recall = f"/sessions/{sid}/messages/%s/recall"
        for who, seq, expect in [
            (ann, later["seq"], (409, "recall_window_passed")),
            (ann, theirs["seq"], (409, "not_your_message")),
            (ann, 999, (404, "message_not_found")),
            (ann, "x1", (400, "invalid_field")),
            (visitor, sent["seq"], (403, "forbidden")),
            (bob, later["seq"], (404, "session_not_found")),
        ]:
            status, err = await who.call("POST", recall % seq)
            assert (status, err["error"]["code"]) == expect, (seq, status, err)
        history = (await visitor.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        assert [m["content"].get("text") for m in history[1:]] == ["right price: 12", "ok"], "refusals hide nothing"
        await vws.close()
        await ws.close()

    run(body)


def test_an_invited_visitor_rates_the_session_once_and_the_agent_hears_of_it():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        visitor, s = await assigned(tenant, ws)
        vws = await Ws.connect(session, visitor.token)
        sid = s["id"]
        rate = f"/sessions/{sid}/evaluation"
        status, out = await visitor.call("POST", rate, {"rating": 5})
        assert (status, out["error"]["code"]) == (409, "not_invited")

        plant_stale_connection(tenant.id, "agent", "ann", "gone-agent-conn")
        invited = await ann.ok("POST", f"{rate}/invite")
        assert invited["evaluationInvitation"]["by"] == "ann" and invited["evaluation"] is None
        prompt = await vws.wait_event("evaluation.invited")
        assert prompt["sessionId"] == sid
        assert [(g["rating"], g["label"]) for g in prompt["scale"]] == [
            (1, "非常不满意"), (2, "不满意"), (3, "一般"), (4, "满意"), (5, "非常满意")]
        mine = await visitor.ok("GET", f"/sessions/{sid}")
        assert mine["evaluationPending"] is True and "evaluationInvitation" not in mine, "no agent id for visitors"

        other, _ = await tenant.visitor()
        for who, body_, expect in [
            (visitor, {"rating": 0}, (400, "invalid_rating")),
            (visitor, {"rating": 6}, (400, "invalid_rating")),
            (visitor, {"rating": "5"}, (400, "invalid_field")),
            (visitor, {"rating": 5, "comment": "x" * 501}, (400, "invalid_field")),
            (other, {"rating": 1}, (404, "session_not_found")),
            (ann, {"rating": 5}, (403, "forbidden")),
        ]:
            status, out = await who.call("POST", rate, body_)
            assert (status, out["error"]["code"]) == expect, (body_, status, out)
        status, out = await visitor.call("POST", f"{rate}/invite")
        assert (status, out["error"]["code"]) == (403, "forbidden")

        done = await visitor.ok("POST", rate, {"rating": 4, "comment": "  quick and kind \u0007 "})
        assert done["evaluationPending"] is False
        assert (done["evaluation"]["rating"], done["evaluation"]["comment"]) == (4, "quick and kind")
        heard = await ws.wait_event("evaluation.received")
        assert heard["sessionId"] == sid and heard["evaluation"]["rating"] == 4
        assert heard["evaluation"]["invitedBy"] == "ann"
        assert_connection_removed(tenant.id, "agent", "ann", "gone-agent-conn")
        status, out = await visitor.call("POST", rate, {"rating": 1})
        assert (status, out["error"]["code"]) == (409, "already_rated")
        stored = await ann.ok("GET", f"/sessions/{sid}")
        assert stored["evaluation"]["rating"] == 4 and stored["evaluationInvitation"] is None

        # After close, a new invitation may be answered once more.
        await ann.ok("POST", f"/sessions/{sid}/close")
        await ann.ok("POST", f"{rate}/invite")
        assert (await visitor.ok("POST", rate, {"rating": 5}))["evaluation"]["rating"] == 5
        await vws.close()
        await ws.close()

    run(body)


def test_typing_previews_reach_only_the_assigned_agent_throttled_and_never_stored():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        bob = await tenant.agent("bob", status="busy")
        bob_ws = await Ws.connect(session, bob.token)
        visitor, s = await assigned(tenant, ws)
        vws = await Ws.connect(session, visitor.token)
        sid = s["id"]
        off = await vws.request("typing", sessionId=sid, draft="hello")
        assert off["error"]["code"] == "typing_preview_off"
        await tenant.admin.ok("PATCH", "/settings", {"typingPreview": True})

        plant_stale_connection(tenant.id, "agent", "ann", "gone-ann-tab")
        first = await vws.request("typing", sessionId=sid, draft="I need a ref")
        assert first["type"] == "typing.sent" and first["delivered"] is True
        got = await ws.wait_event("typing")
        assert (got["sessionId"], got["draft"]) == (sid, "I need a ref")
        assert_connection_removed(tenant.id, "agent", "ann", "gone-ann-tab")
        # A burst: at most 3 a second reach the agent, the rest are dropped.
        replies = await asyncio.gather(*(vws.request("typing", sessionId=sid, draft=f"I need a refund{i}") for i in range(10)))
        delivered = [r for r in replies if r.get("delivered") is True]
        assert len(delivered) < 10 and all(r["type"] == "typing.sent" for r in replies), replies
        events = [await ws.wait_event("typing") for _ in delivered]
        per_second = Counter(e["at"] // 1000 for e in events + [got])
        assert max(per_second.values()) <= 3, per_second
        await asyncio.sleep(0.5)
        assert not ws.seen("typing"), "no more previews than deliveries"
        assert not bob_ws.seen("typing"), "only the assigned agent sees drafts"
        # Never stored.
        history = (await ann.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        assert history == [] and (await ann.ok("GET", f"/sessions/{sid}"))["lastMessage"] is None

        for who_ws, frame, code in [
            (ws, {"sessionId": sid, "draft": "agents do not"}, "forbidden"),
            (vws, {"sessionId": sid, "draft": "x" * 5001}, "text_too_long"),
            (vws, {"sessionId": "s_nope", "draft": "x"}, "session_not_found"),
            (vws, {"draft": "x"}, "invalid_field"),
        ]:
            out = await who_ws.request("typing", **frame)
            assert out["error"]["code"] == code, (frame, out)
        # App visitors send no previews.
        app_visitor, _ = await tenant.visitor(channel="app")
        s2 = (await app_visitor.ok("POST", "/sessions", {}))["session"]
        aws_ = await Ws.connect(session, app_visitor.token)
        out = await aws_.request("typing", sessionId=s2["id"], draft="hi")
        assert out["error"]["code"] == "typing_not_supported"
        for w in (aws_, vws, bob_ws, ws):
            await w.close()

    run(body)
