"""The workbench around the conversation (issue 10): canned responses (F1),
knowledge (F2), settings (F4), status-change approval (A2), skill groups,
live stats (A5)."""

import asyncio
from urllib.parse import quote

from kefu import Tenant, Ws, eventually, run
from test_session_ops import assigned


async def refused(who, method, path, body, expect):
    status, out = await who.call(method, path, body)
    assert (status, out["error"]["code"]) == expect, (method, path, body, status, out)


def suggest_path(draft, limit=5):
    return f"/canned-responses/suggest?q={quote(draft)}&limit={limit}"


def test_canned_responses_personal_and_tenant_wide_with_their_access_rules():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        bob = await tenant.agent("bob")
        admin = tenant.admin
        mine = await ann.ok("POST", "/canned-responses",
                            {"scope": "personal", "group": "greetings", "text": "Hi, Ann here — how can I help?",
                             "keywords": ["Hello", "hi"]})
        assert mine["scope"] == "personal" and mine["owner"] == "ann" and mine["keywords"] == ["hello", "hi"]
        shared = await admin.ok("POST", "/canned-responses",
                                {"scope": "tenant", "group": "refunds", "text": "Refunds arrive within 3 days.",
                                 "keywords": ["refund"]})
        assert shared["scope"] == "tenant" and "owner" not in shared and shared["group"] == "refunds"
        # Created without a group: the default one.
        plain = await admin.ok("POST", "/canned-responses", {"scope": "tenant", "text": "One moment, please."})
        assert plain["group"] == "default" and plain["keywords"] == []

        # Lists: the caller's own shelf, or the tenant's, by group.
        assert [r["id"] for r in (await ann.ok("GET", "/canned-responses?scope=personal"))["items"]] == [mine["id"]]
        assert (await bob.ok("GET", "/canned-responses?scope=personal"))["items"] == []
        tenant_list = (await bob.ok("GET", "/canned-responses?scope=tenant"))["items"]
        assert [r["group"] for r in tenant_list] == ["default", "refunds"]
        one_group = (await bob.ok("GET", "/canned-responses?group=refunds"))["items"]
        assert [r["id"] for r in one_group] == [shared["id"]]
        page = await bob.ok("GET", "/canned-responses?scope=tenant&limit=1")
        rest = await bob.ok("GET", f"/canned-responses?scope=tenant&limit=1&cursor={page['nextCursor']}")
        assert [r["id"] for r in page["items"] + rest["items"]] == [r["id"] for r in tenant_list]

        # Another agent's own responses are not found, to read, edit or delete.
        for method, body_ in [("GET", None), ("PATCH", {"text": "mine now"}), ("DELETE", None)]:
            await refused(bob, method, f"/canned-responses/{mine['id']}", body_, (404, "canned_response_not_found"))
        # Plain agents read the tenant's but do not change them.
        assert (await bob.ok("GET", f"/canned-responses/{shared['id']}"))["text"] == shared["text"]
        await refused(bob, "POST", "/canned-responses", {"scope": "tenant", "text": "x"}, (403, "forbidden"))
        await refused(bob, "PATCH", f"/canned-responses/{shared['id']}", {"text": "x"}, (403, "forbidden"))
        await refused(bob, "DELETE", f"/canned-responses/{shared['id']}", None, (403, "forbidden"))
        # Bad input: clear codes, nothing stored.
        for bad in [{"scope": "personal", "text": "  "}, {"scope": "everyone", "text": "x"},
                    {"scope": "personal", "text": "x", "keywords": ["k" * 33]},
                    {"scope": "personal", "text": "x", "keywords": [f"k{i}" for i in range(11)]},
                    {"scope": "personal", "text": "x" * 2001}, {"scope": "personal", "text": "x", "extra": 1},
                    {"text": "x"}]:
            await refused(ann, "POST", "/canned-responses", bad, (400, "invalid_field"))
        await refused(ann, "PATCH", f"/canned-responses/{mine['id']}", {}, (400, "invalid_field"))
        await refused(ann, "GET", "/canned-responses?scope=all", None, (400, "invalid_field"))
        assert len((await ann.ok("GET", "/canned-responses?scope=personal"))["items"]) == 1

        # Edits: the keywords' lookups follow (old ones no longer match).
        edited = await admin.ok("PATCH", f"/canned-responses/{shared['id']}",
                                {"text": "Your refund arrives within 3 days.", "keywords": ["money back"]})
        assert edited["version"] == shared["version"] + 1 and edited["group"] == "refunds"
        hits = await bob.ok("GET", suggest_path("money"))
        assert [h["response"]["id"] for h in hits] == [shared["id"]]
        assert await bob.ok("GET", suggest_path("refund")) == []
        # Deleted: gone from lists and lookups.
        await admin.ok("DELETE", f"/canned-responses/{shared['id']}")
        await refused(bob, "GET", f"/canned-responses/{shared['id']}", None, (404, "canned_response_not_found"))
        assert await bob.ok("GET", suggest_path("money")) == []
        assert [r["id"] for r in (await bob.ok("GET", "/canned-responses"))["items"]] == [plain["id"]]
        # Visitors have none.
        visitor, _ = await tenant.visitor()
        await refused(visitor, "GET", "/canned-responses", None, (403, "forbidden"))
        await refused(visitor, "GET", suggest_path("hi"), None, (403, "forbidden"))

    run(body)


def test_suggestions_rank_an_exact_prefix_above_a_keyword_hit_and_the_agents_own_first():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        bob = await tenant.agent("bob")
        admin = tenant.admin
        async def add(who, scope, text, keywords=()):
            return (await who.ok("POST", "/canned-responses",
                                 {"scope": scope, "text": text, "keywords": list(keywords)}))["id"]
        keyword = await add(admin, "tenant", "We ship worldwide.", ["order"])
        keyword_prefix = await add(admin, "tenant", "Tracking is in your email.", ["orders"])
        prefix = await add(admin, "tenant", "Order numbers start with KF, for example KF-1234.")
        own_prefix = await add(ann, "personal", "Order status: let me look it up for you.")
        await add(bob, "personal", "Order here, bob's own.")
        await add(admin, "tenant", "Nothing to do with it.", ["shipping"])

        hits = await ann.ok("GET", suggest_path("ORDER"))
        got = [(h["match"], h["response"]["id"]) for h in hits]
        assert got == [("prefix", own_prefix), ("prefix", prefix), ("keyword", keyword),
                       ("keyword_prefix", keyword_prefix)], got
        # The draft's last words are looked up as keywords, in any script.
        assert [h["response"]["id"] for h in await ann.ok("GET", suggest_path("where is my order"))][:1] == [keyword]
        refund = await add(admin, "tenant", "退款将在三天内到账。", ["退款"])
        hits = await ann.ok("GET", suggest_path("我想 退款"))
        assert [(h["match"], h["response"]["id"]) for h in hits] == [("keyword", refund)]
        assert [h["match"] for h in await ann.ok("GET", suggest_path("退款将"))] == ["prefix"]
        # limit, and nothing for a blank draft.
        assert len(await ann.ok("GET", suggest_path("order", limit=2))) == 2
        assert await ann.ok("GET", suggest_path("   ")) == []
        await refused(ann, "GET", suggest_path("order", limit=0), None, (400, "invalid_field"))
        await refused(ann, "GET", suggest_path("order", limit=21), None, (400, "invalid_field"))

    run(body)


def test_a_canned_response_is_sent_through_the_normal_send_path():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        bob = await tenant.agent("bob", status="busy")
        ws = await Ws.connect(session, ann.token)
        visitor, s = await assigned(tenant, ws)
        vws = await Ws.connect(session, visitor.token)
        sid = s["id"]
        reply = await ann.ok("POST", "/canned-responses", {"scope": "personal", "text": "Thanks for waiting!"})
        frame = {"type": "canned", "cannedResponseId": reply["id"]}

        sent = await ws.send_message(sid, frame, client_msg_id="canned-1")
        assert sent["type"] == "message.sent", sent
        assert sent["message"]["content"] == {"type": "text", "text": "Thanks for waiting!"}
        got = await vws.wait_event("message.new", lambda e: e["message"]["seq"] == sent["message"]["seq"])
        assert got["message"]["content"]["text"] == "Thanks for waiting!"
        # A resend with the same client id is the same message.
        again = await ws.send_message(sid, frame, client_msg_id="canned-1")
        assert again["duplicate"] is True and again["message"]["seq"] == sent["message"]["seq"]
        # The history holds the text that was sent, even after an edit.
        await ann.ok("PATCH", f"/canned-responses/{reply['id']}", {"text": "Edited later."})
        history = (await ann.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        assert [m["content"]["text"] for m in history] == ["Thanks for waiting!"]

        # Someone else's, a missing one, a malformed reference, a visitor: refused.
        bobs = await bob.ok("POST", "/canned-responses", {"scope": "personal", "text": "bob's"})
        for who_ws, message, code in [
            (ws, {"type": "canned", "cannedResponseId": bobs["id"]}, "canned_response_not_found"),
            (ws, {"type": "canned", "cannedResponseId": "cr_missing"}, "canned_response_not_found"),
            (ws, {"type": "canned"}, "invalid_message"),
            (ws, {"type": "canned", "cannedResponseId": reply["id"], "text": "x"}, "invalid_message"),
            (vws, frame, "forbidden"),
        ]:
            out = await who_ws.send_message(sid, message)
            assert out["type"] == "error" and out["error"]["code"] == code, (message, out)
        history = (await ann.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        assert len(history) == 1
        for w in (ws, vws):
            await w.close()

    run(body)


def test_settings_are_checked_as_they_will_be_and_pushed_to_every_connected_agent():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        bob = await tenant.agent("bob")
        ann_tabs = [await Ws.connect(session, ann.token) for _ in range(2)]
        bob_ws = await Ws.connect(session, bob.token)
        admin = tenant.admin
        before = await ann.ok("GET", "/settings")
        assert before["utcOffsetMinutes"] == 0 and before["customMessageUrl"] is None

        after = await admin.ok("PATCH", "/settings", {"customMessageUrl": "https://shop.example/order", "utcOffsetMinutes": 480})
        assert after["customMessageUrl"] == "https://shop.example/order" and after["utcOffsetMinutes"] == 480
        for ws in ann_tabs + [bob_ws]:
            pushed = await ws.wait_event("settings.changed")
            assert pushed["settings"] == after, pushed

        # Ordered as they will be: the reminder must come before the
        # inactive close, whichever of the two is changed.
        for bad in [{"visitorReminderSecs": before["inactiveTimeoutSecs"]}, {"inactiveTimeoutSecs": before["visitorReminderSecs"]},
                    {"visitorReminderSecs": 60, "inactiveTimeoutSecs": 30}, {"utcOffsetMinutes": 841},
                    {"utcOffsetMinutes": -721}, {"customMessageUrl": "http://plain.example"}]:
            await refused(admin, "PATCH", "/settings", bad, (400, "invalid_field"))
        await refused(ann, "PATCH", "/settings", {"simpleMode": True}, (403, "forbidden"))
        assert await ann.ok("GET", "/settings") == after
        # Both orders of a valid pair work, each checked against the other.
        both = await admin.ok("PATCH", "/settings", {"visitorReminderSecs": 30, "inactiveTimeoutSecs": 40})
        assert (both["visitorReminderSecs"], both["inactiveTimeoutSecs"]) == (30, 40)

        # Two admins changing different settings at once both keep theirs.
        changes = [{"simpleMode": True}, {"typingPreview": True}, {"translation": True}, {"maxWaiting": 42}]
        await asyncio.gather(*(admin.ok("PATCH", "/settings", c) for c in changes))
        final = await ann.ok("GET", "/settings")
        assert (final["simpleMode"], final["typingPreview"], final["translation"], final["maxWaiting"]) == (True, True, True, 42)
        for ws in ann_tabs + [bob_ws]:
            await ws.close()

    run(body)


def test_with_approval_on_a_status_change_waits_for_an_admin_and_off_it_applies_at_once():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        bob = await tenant.agent("bob")
        admin = tenant.admin
        # Off (the default): at once.
        assert (await bob.ok("PUT", "/agents/me/status", {"status": "busy"}, expect=200))["status"] == "busy"
        await bob.ok("PUT", "/agents/me/status", {"status": "idle"})

        await admin.ok("PATCH", "/settings", {"statusChangeApproval": True})
        admin_ws = await Ws.connect(session, admin.token)
        ann_ws = await Ws.connect(session, ann.token)
        me = lambda: ann.ok("GET", "/agents/me")
        first = await ann.ok("PUT", "/agents/me/status", {"status": "busy"}, expect=202)
        assert first["pending"] is True and (first["request"]["from"], first["request"]["status"]) == ("idle", "busy")
        pushed = await admin_ws.wait_event("status_request.created")
        assert pushed["request"] == first["request"]
        assert (await me())["status"] == "idle"
        # A second request replaces the first.
        second = (await ann.ok("PUT", "/agents/me/status", {"status": "away"}, expect=202))["request"]
        listed = (await admin.ok("GET", "/status-requests"))["items"]
        assert [(r["agentId"], r["status"], r["id"]) for r in listed] == [("ann", "away", second["id"])]
        await refused(admin, "POST", "/status-requests/ann/approve", {"requestId": first["request"]["id"]},
                      (409, "status_request_replaced"))
        assert (await me())["status"] == "idle"
        # Plain agents neither list nor decide.
        await refused(bob, "GET", "/status-requests", None, (403, "forbidden"))
        await refused(bob, "POST", "/status-requests/ann/approve", None, (403, "forbidden"))
        await refused(admin, "POST", "/status-requests/bob/approve", None, (404, "status_request_not_found"))
        await refused(admin, "POST", "/status-requests/ann/approve", {"requestId": "x", "extra": 1}, (400, "invalid_field"))

        decision = await admin.ok("POST", "/status-requests/ann/approve", {"requestId": second["id"]})
        assert decision["approved"] is True and decision["agent"]["status"] == "away"
        outcome = await ann_ws.wait_event("status_request.decided")
        assert outcome["approved"] is True and outcome["request"]["id"] == second["id"]
        assert (await ann_ws.wait_event("agent.updated", lambda e: e["agent"]["status"] == "away"))
        assert (await me())["status"] == "away"
        assert (await admin.ok("GET", "/status-requests"))["items"] == []

        # Coming back to idle needs nobody; a rejected request changes nothing.
        assert (await ann.ok("PUT", "/agents/me/status", {"status": "idle"}, expect=200))["status"] == "idle"
        await ann.ok("PUT", "/agents/me/status", {"status": "invisible"}, expect=202)
        rejected = await admin.ok("POST", "/status-requests/ann/reject")
        assert rejected["approved"] is False and rejected["agent"]["status"] == "idle"
        assert (await ann_ws.wait_event("status_request.decided"))["approved"] is False
        assert (await me())["status"] == "idle"
        await refused(admin, "POST", "/status-requests/ann/approve", None, (404, "status_request_not_found"))

        # A status set directly (going offline) withdraws a pending request.
        await ann.ok("PUT", "/agents/me/status", {"status": "busy"}, expect=202)
        assert (await ann.ok("PUT", "/agents/me/status", {"status": "offline"}, expect=200))["status"] == "offline"
        await refused(admin, "POST", "/status-requests/ann/approve", None, (404, "status_request_not_found"))
        assert (await me())["status"] == "offline"
        # Admins are exempt.
        assert (await admin.ok("PUT", "/agents/me/status", {"status": "busy"}, expect=200))["status"] == "busy"
        await refused(ann, "PUT", "/agents/me/status", {"status": "asleep"}, (400, "invalid_field"))
        for ws in (admin_ws, ann_ws):
            await ws.close()

    run(body)


def test_skill_groups_concurrent_membership_edits_all_survive_and_groups_rename_and_delete():
    async def body(session):
        tenant = Tenant(session)
        admin = tenant.admin
        groups = [f"g{i}" for i in range(5)]
        for g in groups:
            await admin.ok("POST", "/skill-groups", {"groupId": g, "name": g.upper()}, expect=201)
        ann = await tenant.agent("ann", status="busy")
        # Five admins' edits of one agent at once: none is lost.
        await asyncio.gather(*(admin.ok("PUT", f"/skill-groups/{g}/members/ann") for g in groups))
        assert sorted((await ann.ok("GET", "/agents/me"))["groups"]) == groups
        await asyncio.gather(admin.ok("DELETE", "/skill-groups/g0/members/ann"),
                             admin.ok("DELETE", "/skill-groups/g1/members/ann"),
                             admin.ok("PUT", "/skill-groups/g0/members/ann"))
        left = sorted((await ann.ok("GET", "/agents/me"))["groups"])
        assert left in (["g2", "g3", "g4"], ["g0", "g2", "g3", "g4"]), left
        assert "g1" not in left

        # Rename.
        renamed = await admin.ok("PATCH", "/skill-groups/g2", {"name": "  Refunds  "})
        assert (renamed["id"], renamed["name"]) == ("g2", "Refunds")
        assert {g["id"]: g["name"] for g in await ann.ok("GET", "/skill-groups")}["g2"] == "Refunds"
        await refused(ann, "PATCH", "/skill-groups/g2", {"name": "mine"}, (403, "forbidden"))
        await refused(admin, "PATCH", "/skill-groups/nope", {"name": "x"}, (404, "skill_group_not_found"))
        await refused(admin, "PATCH", "/skill-groups/g2", {"name": ""}, (400, "invalid_field"))

        # Delete: members leave it, and a session waiting for it waits for
        # anyone — here bob, idle and in no group, takes it at once.
        visitor, _ = await tenant.visitor(name="Waits for g3")
        waiting = (await visitor.ok("POST", "/sessions", {"groupId": "g3"}))["session"]
        assert waiting["state"] == "waiting"
        bob = await tenant.agent("bob")
        bob_ws = await Ws.connect(session, bob.token)
        await refused(ann, "DELETE", "/skill-groups/g3", None, (403, "forbidden"))
        deleted = await admin.ok("DELETE", "/skill-groups/g3")
        assert deleted == {"id": "g3", "deleted": True, "membersRemoved": 1, "sessionsUngrouped": 1}
        got = await bob_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == waiting["id"])
        assert got["session"]["group"] is None
        assert "g3" not in (await ann.ok("GET", "/agents/me"))["groups"]
        assert "g3" not in [g["id"] for g in await ann.ok("GET", "/skill-groups")]
        await refused(admin, "DELETE", "/skill-groups/g3", None, (404, "skill_group_not_found"))
        other, _ = await tenant.visitor()
        await refused(other, "POST", "/sessions", {"groupId": "g3"}, (404, "skill_group_not_found"))
        await bob_ws.close()

    run(body)


def test_knowledge_admins_keep_it_agents_search_it_and_send_an_entry_or_one_attachment():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        bob = await tenant.agent("bob", status="busy")
        admin = tenant.admin
        manual = {"name": "Returns manual.pdf", "url": "https://files.example/returns.pdf", "size": 52000,
                  "mimeType": "application/pdf"}
        entry = await admin.ok("POST", "/knowledge", {
            "title": "Return policy", "content": "Items can be returned within 30 days with the receipt.",
            "keywords": ["refund"], "attachments": [manual, {**manual, "name": "Label.png", "mimeType": "image/png",
                                                             "url": "https://files.example/label.png"}]})
        assert entry["title"] == "Return policy" and [a["name"] for a in entry["attachments"]] == ["Returns manual.pdf", "Label.png"]
        assert all(a["id"].startswith("at_") for a in entry["attachments"])
        other = await admin.ok("POST", "/knowledge", {"title": "How refunds are paid", "content": "To the original card."})
        await admin.ok("POST", "/knowledge", {"title": "Shipping times", "keywords": ["delivery"]})

        # Agents list (by title) and search: title prefix first, then keywords and title words.
        assert [e["title"] for e in (await ann.ok("GET", "/knowledge"))["items"]] == [
            "How refunds are paid", "Return policy", "Shipping times"]
        found = await ann.ok("GET", f"/knowledge/search?q={quote('refund')}")
        assert [(f["match"], f["entry"]["id"]) for f in found] == [("keyword", entry["id"]), ("keyword_prefix", other["id"])]
        found = await ann.ok("GET", f"/knowledge/search?q={quote('ret')}")
        assert [(f["match"], f["entry"]["id"]) for f in found] == [("prefix", entry["id"])]
        assert await ann.ok("GET", "/knowledge/search?q=%20") == []
        assert (await ann.ok("GET", f"/knowledge/{entry['id']}"))["content"] == entry["content"]

        # Only admins change it; bad input changes nothing.
        await refused(ann, "POST", "/knowledge", {"title": "mine"}, (403, "forbidden"))
        await refused(ann, "PATCH", f"/knowledge/{entry['id']}", {"title": "mine"}, (403, "forbidden"))
        await refused(ann, "DELETE", f"/knowledge/{entry['id']}", None, (403, "forbidden"))
        for bad in [{"title": " "}, {"title": "x" * 201}, {"title": "x", "content": "y" * 2001},
                    {"title": "x", "attachments": [{**manual, "url": "http://plain"}]},
                    {"title": "x", "attachments": [{**manual, "mimeType": "pdf"}]},
                    {"title": "x", "attachments": [manual] * 11}, {"title": "x", "extra": True}]:
            await refused(admin, "POST", "/knowledge", bad, (400, "invalid_field"))
        await refused(admin, "PATCH", f"/knowledge/{entry['id']}", {}, (400, "invalid_field"))
        await refused(ann, "GET", "/knowledge/kb_nope", None, (404, "knowledge_not_found"))
        assert len((await ann.ok("GET", "/knowledge"))["items"]) == 3
        # An edit re-indexes: the old title word no longer finds it.
        edited = await admin.ok("PATCH", f"/knowledge/{other['id']}", {"title": "Card payouts"})
        assert edited["version"] == 1 and edited["content"] == other["content"]
        assert [f["entry"]["id"] for f in await ann.ok("GET", "/knowledge/search?q=refunds")] == []
        assert [f["entry"]["id"] for f in await ann.ok("GET", "/knowledge/search?q=payouts")] == [other["id"]]

        # Sending: an entry is a rich message of its title and content only;
        # an attachment goes alone, as a file.
        ws = await Ws.connect(session, ann.token)
        visitor, s = await assigned(tenant, ws)
        vws = await Ws.connect(session, visitor.token)
        sid = s["id"]
        rich = await ws.send_message(sid, {"type": "knowledge", "knowledgeId": entry["id"]})
        assert rich["message"]["content"] == {"type": "rich", "title": "Return policy", "description": entry["content"]}, rich
        first = entry["attachments"][0]
        file_ = await ws.send_message(sid, {"type": "knowledge", "knowledgeId": entry["id"], "attachmentId": first["id"]})
        assert file_["message"]["content"] == {"type": "file", "url": first["url"], "name": first["name"],
                                               "size": 52000, "mimeType": "application/pdf"}, file_
        got = await vws.wait_event("message.new", lambda e: e["message"]["seq"] == file_["message"]["seq"])
        assert got["message"]["content"]["name"] == "Returns manual.pdf"
        for message, code in [({"type": "knowledge", "knowledgeId": "kb_nope"}, "knowledge_not_found"),
                              ({"type": "knowledge", "knowledgeId": entry["id"], "attachmentId": "at_nope"}, "attachment_not_found"),
                              ({"type": "knowledge", "knowledgeId": entry["id"], "title": "x"}, "invalid_message")]:
            out = await ws.send_message(sid, message)
            assert out["type"] == "error" and out["error"]["code"] == code, (message, out)
        out = await vws.send_message(sid, {"type": "knowledge", "knowledgeId": entry["id"]})
        assert out["error"]["code"] == "forbidden"
        assert len((await ann.ok("GET", f"/sessions/{sid}/messages"))["messages"]) == 2
        # Deleted: gone from lists and search.
        await admin.ok("DELETE", f"/knowledge/{entry['id']}")
        assert [f["entry"]["id"] for f in await ann.ok("GET", "/knowledge/search?q=return")] == []
        await refused(ann, "GET", f"/knowledge/{entry['id']}", None, (404, "knowledge_not_found"))
        for w in (ws, vws):
            await w.close()

    run(body)


def tenant_day(offset_minutes):
    from datetime import datetime, timedelta, timezone
    return datetime.now(timezone(timedelta(minutes=offset_minutes))).strftime("%Y-%m-%d")


def test_live_stats_count_a_session_once_in_totals_and_once_for_each_agent_who_handled_it():
    async def body(session):
        tenant = Tenant(session)
        admin = tenant.admin
        await admin.ok("PATCH", "/settings", {"utcOffsetMinutes": 480})
        day_before = tenant_day(480)
        ann = await tenant.agent("ann")
        bob = await tenant.agent("bob", status="busy")
        carol = await tenant.agent("carol", status="busy")
        ann_ws = await Ws.connect(session, ann.token)
        carol_ws = await Ws.connect(session, carol.token)
        visitor, s = await assigned(tenant, ann_ws)
        sid = s["id"]
        pushed = await ann_ws.wait_event("stats.updated")
        assert (pushed["stats"]["accepted"], pushed["stats"]["handled"]) == (1, 1), pushed
        # ann → bob → carol, who ends it.
        await ann.ok("POST", f"/sessions/{sid}/transfer", {"agentId": "bob"})
        pushed = await ann_ws.wait_event("stats.updated")
        assert pushed["stats"]["transferredOut"] == 1
        await bob.ok("POST", f"/sessions/{sid}/transfer", {"agentId": "carol"})
        await carol.ok("POST", f"/sessions/{sid}/close")
        # The first push carol got (the transfer in), then the end.
        ins = await carol_ws.wait_event("stats.updated")
        ended = await carol_ws.wait_event("stats.updated")
        assert (ins["stats"]["transferredIn"], ended["stats"]["ended"]) == (1, 1)

        day = (await admin.ok("GET", "/stats"))["day"]
        assert day in (day_before, tenant_day(480)), day
        view = await admin.ok("GET", f"/stats?day={day}")
        rows = {r["agentId"]: (r["accepted"], r["transferredIn"], r["transferredOut"], r["ended"], r["handled"])
                for r in view["agents"]}
        assert rows == {"admin": (0, 0, 0, 0, 0), "ann": (1, 0, 1, 0, 1), "bob": (0, 1, 1, 0, 1),
                        "carol": (0, 1, 0, 1, 1)}, rows
        assert view["totals"] == {"sessions": 1, "ended": 1, "transfers": 2}
        mine = await carol.ok("GET", "/stats/me")
        assert (mine["agentId"], mine["day"], mine["ended"], mine["handled"]) == ("carol", day, 1, 1)
        # Another day has nothing; bad days and plain agents are refused.
        other = await admin.ok("GET", "/stats?day=2020-01-01")
        assert other["totals"] == {"sessions": 0, "ended": 0, "transfers": 0}
        assert all(r["handled"] == 0 for r in other["agents"])
        await refused(admin, "GET", "/stats?day=2026-13-40", None, (400, "invalid_field"))
        await refused(ann, "GET", "/stats", None, (403, "forbidden"))
        await refused(visitor, "GET", "/stats/me", None, (403, "forbidden"))
        for ws in (ann_ws, carol_ws):
            await ws.close()

    run(body)


def test_online_time_counts_while_connected_in_any_status_but_offline():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        online = lambda: ann.ok("GET", "/stats/me")
        assert (await online())["onlineMs"] == 0, "not connected yet"

        async def stopped():
            """Online time no longer grows; returns it."""
            first = (await online())["onlineMs"]
            await asyncio.sleep(1.2)
            assert (await online())["onlineMs"] == first
            return first

        ws = await Ws.connect(session, ann.token)
        await asyncio.sleep(2)
        assert (await online())["onlineMs"] >= 1_800, "the open span counts as it runs"
        await ws.close()
        await eventually(stopped, timeout=10)
        after_first = await stopped()
        assert 1_800 <= after_first < 30_000

        # Connected but offline: not counted; back to idle: counted again.
        ws = await Ws.connect(session, ann.token)
        await ann.ok("PUT", "/agents/me/status", {"status": "offline"})
        held = await stopped()
        assert held - after_first < 2_000, (after_first, held)
        await ann.ok("PUT", "/agents/me/status", {"status": "busy"})
        await asyncio.sleep(1.5)
        assert (await online())["onlineMs"] >= held + 1_300
        row = next(r for r in (await tenant.admin.ok("GET", "/stats"))["agents"] if r["agentId"] == "ann")
        assert row["onlineMs"] >= held + 1_300
        await ws.close()
        await eventually(stopped, timeout=10)

    run(body)


def test_nobody_reads_or_changes_another_tenants_workbench():
    async def body(session):
        acme, other = Tenant(session), Tenant(session)
        eve = await other.agent("eve")
        canned = await acme.admin.ok("POST", "/canned-responses", {"scope": "tenant", "text": "Acme only", "keywords": ["acme"]})
        entry = await acme.admin.ok("POST", "/knowledge", {"title": "Acme secret", "keywords": ["acme"]})
        await acme.admin.ok("POST", "/skill-groups", {"groupId": "vip", "name": "VIP"}, expect=201)
        await acme.admin.ok("PATCH", "/settings", {"statusChangeApproval": True})
        ann2 = await acme.agent("ann2")
        await ann2.ok("PUT", "/agents/me/status", {"status": "busy"}, expect=202)

        for who, method, path, body_, expect in [
            (eve, "GET", f"/canned-responses/{canned['id']}", None, (404, "canned_response_not_found")),
            (other.admin, "PATCH", f"/canned-responses/{canned['id']}", {"text": "x"}, (404, "canned_response_not_found")),
            (other.admin, "DELETE", f"/canned-responses/{canned['id']}", None, (404, "canned_response_not_found")),
            (eve, "GET", f"/knowledge/{entry['id']}", None, (404, "knowledge_not_found")),
            (other.admin, "DELETE", f"/knowledge/{entry['id']}", None, (404, "knowledge_not_found")),
            (other.admin, "POST", "/status-requests/ann2/approve", None, (404, "status_request_not_found")),
            (other.admin, "PATCH", "/skill-groups/vip", {"name": "mine"}, (404, "skill_group_not_found")),
            (other.admin, "DELETE", "/skill-groups/vip", None, (404, "skill_group_not_found")),
        ]:
            await refused(who, method, path, body_, expect)
        assert await eve.ok("GET", suggest_path("acme")) == []
        assert await eve.ok("GET", "/knowledge/search?q=acme") == []
        assert (await eve.ok("GET", "/canned-responses"))["items"] == []
        assert (await other.admin.ok("GET", "/status-requests"))["items"] == []
        assert {r["agentId"] for r in (await other.admin.ok("GET", "/stats"))["agents"]} == {"admin", "eve"}
        assert (await eve.ok("GET", "/settings"))["statusChangeApproval"] is False
        # All still there for acme.
        assert (await acme.admin.ok("GET", f"/knowledge/{entry['id']}"))["title"] == "Acme secret"
        assert [r["agentId"] for r in (await acme.admin.ok("GET", "/status-requests"))["items"]] == ["ann2"]

    run(body)
