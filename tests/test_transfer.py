"""D4/D5: transfer to an agent or a skill group, through the real APIs."""

import asyncio

from kefu import TABLE, Tenant, Ws, dynamodb, eventually, run


async def active_session(tenant, agent_http, agent_ws):
    """A visitor (connected) whose session `agent` holds: (visitor http, visitor ws, session)."""
    visitor, _ = await tenant.visitor(name="Wang Fang")
    vws = await Ws.connect(tenant.session, visitor.token)
    s = (await visitor.ok("POST", "/sessions", {}))["session"]
    await agent_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s["id"])
    await vws.wait_event("session.assigned")
    return visitor, vws, s


async def agent_record(tenant, agent_id):
    return await tenant.admin.ok("GET", f"/agents/{agent_id}")


def test_a_session_transferred_twice_keeps_its_history_and_its_transfer_record():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann", max_concurrent=1)
        ann_ws = await Ws.connect(session, ann.token)
        visitor, vws, s = await active_session(tenant, ann, ann_ws)
        bob = await tenant.agent("bob", status="busy")  # busy: auto-dispatch skips him, a transfer does not
        bob_ws = await Ws.connect(session, bob.token)
        carl = await tenant.agent("carl", status="away")
        carl_ws = await Ws.connect(session, carl.token)
        assert (await vws.send_message(s["id"], {"type": "text", "text": "hello"}))["type"] == "message.sent"
        assert (await ann_ws.send_message(s["id"], {"type": "text", "text": "hi, Ann here"}))["type"] == "message.sent"

        moved = await ann.ok("POST", f"/sessions/{s['id']}/transfer", {"agentId": "bob"})
        assert moved["agentId"] == "bob" and moved["marker"] == "transferred"
        got = await bob_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s["id"])
        assert got["session"]["marker"] == "transferred" and got["notify"]["kind"] == "transfer"
        assert got["notify"]["unread"] == got["session"]["unread"]
        away = await ann_ws.wait_event("session.transferred")
        assert away["sessionId"] == s["id"] and away["toAgentId"] == "bob" and away["toGroupId"] is None
        seen = await vws.wait_event("session.assigned")
        assert seen["session"]["agent"] == {"nickname": "Bob"}
        # Ann handed it off: she may read it, no longer write in it or hand it on.
        refused = await ann_ws.send_message(s["id"], {"type": "text", "text": "still here?"})
        assert refused["error"]["code"] == "not_assigned"
        status, out = await ann.call("POST", f"/sessions/{s['id']}/transfer", {"agentId": "carl"})
        assert (status, out["error"]["code"]) == (409, "not_assigned")

        async def lists_moved():
            mine = (await ann.ok("GET", "/sessions"))["items"]
            assert s["id"] not in [x["id"] for x in mine]
            bobs = (await bob.ok("GET", "/sessions"))["items"]
            assert bobs[0]["id"] == s["id"] and bobs[0]["marker"] == "transferred"
        await eventually(lists_moved)
        assert (await agent_record(tenant, "ann"))["active"] == 0
        assert (await agent_record(tenant, "bob"))["active"] == 1

        # Bob sees the whole history and answers; then hands it to Carl.
        history = await bob.ok("GET", f"/sessions/{s['id']}/messages")
        assert [m["content"]["text"] for m in history["messages"]] == ["hello", "hi, Ann here"]
        assert (await bob_ws.send_message(s["id"], {"type": "text", "text": "Bob now"}))["type"] == "message.sent"
        await bob.ok("POST", f"/sessions/{s['id']}/transfer", {"agentId": "carl"})
        await carl_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s["id"])
        final = await carl.ok("GET", f"/sessions/{s['id']}")
        assert [(t["from"], t["toAgent"], t["by"]) for t in final["transfers"]] == [
            ("ann", "bob", "ann"), ("bob", "carl", "bob")]
        assert all(isinstance(t["at"], int) for t in final["transfers"])
        assert final["handlers"] == ["ann", "bob", "carl"]
        history = await carl.ok("GET", f"/sessions/{s['id']}/messages")
        assert [m["content"]["text"] for m in history["messages"]] == ["hello", "hi, Ann here", "Bob now"]
        assert (await carl_ws.send_message(s["id"], {"type": "text", "text": "Carl here"}))["type"] == "message.sent"
        msg = await vws.wait_event("message.new", lambda e: e["message"]["content"]["text"] == "Carl here")
        assert msg["message"]["sender"] == {"kind": "agent", "nickname": "Carl"}
        for ws in (ann_ws, bob_ws, carl_ws, vws):
            await ws.close()

    run(body)


def test_transfer_to_a_group_is_assigned_by_dispatch_and_frees_the_sender():
    async def body(session):
        tenant = Tenant(session)
        await tenant.admin.ok("POST", "/skill-groups", {"groupId": "vip", "name": "VIP"})
        ann = await tenant.agent("ann", max_concurrent=1)
        ann_ws = await Ws.connect(session, ann.token)
        visitor, vws, s = await active_session(tenant, ann, ann_ws)
        # Someone else waits for Ann's capacity.
        other, _ = await tenant.visitor()
        s2 = (await other.ok("POST", "/sessions", {}))["session"]
        assert s2["state"] == "waiting"
        dan = await tenant.agent("dan", groups=("vip",), status=None)  # not online yet

        await ann.ok("POST", f"/sessions/{s['id']}/transfer", {"groupId": "vip"})
        away = await ann_ws.wait_event("session.transferred", lambda e: e["sessionId"] == s["id"])
        assert away["toGroupId"] == "vip" and away["toAgentId"] is None
        requeued = await vws.wait_event("session.requeued")
        assert requeued["session"]["state"] == "waiting" and requeued["session"]["group"] == "vip"
        # Ann's freed capacity took the session that waited (B3), not the
        # transferred one, which waits for the VIP group.
        got = await ann_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s2["id"])
        assert got["notify"]["kind"] == "new_session"
        queue = (await tenant.admin.ok("GET", "/queue"))["items"]
        assert [(q["sessionId"], q["group"]) for q in queue] == [(s["id"], "vip")]

        # Dan, of the VIP group, turns idle: dispatch gives it to him, marked transferred.
        dan_ws = await Ws.connect(session, dan.token)
        await dan.ok("PUT", "/agents/me/status", {"status": "idle"})
        got = await dan_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s["id"])
        assert got["session"]["marker"] == "transferred" and got["notify"]["kind"] == "transfer"
        assert (await vws.wait_event("session.assigned"))["session"]["agent"] == {"nickname": "Dan"}
        final = await dan.ok("GET", f"/sessions/{s['id']}")
        assert [(t["from"], t.get("toGroup"), t.get("toAgent")) for t in final["transfers"]] == [("ann", "vip", None)]
        assert final["group"] == "vip" and final["handlers"] == ["ann", "dan"]
        for ws in (ann_ws, dan_ws, vws):
            await ws.close()

    run(body)


def test_refused_transfers_change_nothing():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ann_ws = await Ws.connect(session, ann.token)
        visitor, vws, s = await active_session(tenant, ann, ann_ws)
        await tenant.agent("bob", status="busy")
        other = Tenant(session)
        await other.agent("zed")
        path = f"/sessions/{s['id']}/transfer"
        for who, body_, expect in [
            (ann, {"agentId": "ann"}, (400, "transfer_to_self")),
            (ann, {"agentId": "zed"}, (404, "agent_not_found")),  # another tenant's agent
            (ann, {"agentId": "nobody"}, (404, "agent_not_found")),
            (ann, {"groupId": "nogroup"}, (404, "skill_group_not_found")),
            (ann, {"agentId": "bob", "groupId": "g"}, (400, "invalid_field")),
            (ann, {}, (400, "invalid_field")),
            (ann, {"agentId": "bob", "extra": 1}, (400, "invalid_field")),
            (visitor, {"agentId": "bob"}, (403, "forbidden")),
            (other.admin, {"agentId": "zed"}, (404, "session_not_found")),  # another tenant's admin
        ]:
            status, out = await who.call("POST", path, body_)
            assert (status, out["error"]["code"]) == expect, (body_, status, out)
        # Bob at the hard cap (A4) is refused too.
        db = dynamodb()
        db.update_item(TableName=TABLE, Key={"pk": {"S": f"T#{tenant.id}"}, "sk": {"S": "AGENT#bob"}},
                       UpdateExpression="SET active = :n", ExpressionAttributeValues={":n": {"N": "200"}})
        status, out = await ann.call("POST", path, {"agentId": "bob"})
        assert (status, out["error"]["code"]) == (409, "agent_at_capacity")
        after = await ann.ok("GET", f"/sessions/{s['id']}")
        assert after["agentId"] == "ann" and after.get("transfers", []) == [] and after["state"] == "active"
        assert (await agent_record(tenant, "ann"))["active"] == 1
        assert (await agent_record(tenant, "bob"))["active"] == 200
        assert not ann_ws.seen("session.transferred")
        for ws in (ann_ws, vws):
            await ws.close()

    run(body)


def test_concurrent_transfers_of_one_session_exactly_one_wins():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ann_ws = await Ws.connect(session, ann.token)
        for _ in range(3):
            visitor, vws, s = await active_session(tenant, ann, ann_ws)
            await vws.close()
        bob = await tenant.agent("bob", status="busy")
        carl = await tenant.agent("carl", status="busy")
        # The last one: Ann and an admin hand it on at the same moment.
        results = await asyncio.gather(
            ann.call("POST", f"/sessions/{s['id']}/transfer", {"agentId": "bob"}),
            tenant.admin.call("POST", f"/sessions/{s['id']}/transfer", {"agentId": "carl"}),
            ann.call("POST", f"/sessions/{s['id']}/transfer", {"agentId": "carl"}),
        )
        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 409, 409], results
        assert all(out["error"]["code"] == "not_assigned" for status, out in results if status == 409)
        winner = next(out["agentId"] for status, out in results if status == 200)
        final = await tenant.admin.ok("GET", f"/sessions/{s['id']}")
        assert final["agentId"] == winner and len(final["transfers"]) == 1
        counts = {a: (await agent_record(tenant, a))["active"] for a in ("ann", "bob", "carl")}
        assert counts == {"ann": 2, "bob": int(winner == "bob"), "carl": int(winner == "carl")}, counts
        await ann_ws.close()

    run(body)


def test_an_admin_transfers_any_session_of_the_tenant():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ann_ws = await Ws.connect(session, ann.token)
        visitor, vws, s = await active_session(tenant, ann, ann_ws)
        bob = await tenant.agent("bob", status="away")
        bob_ws = await Ws.connect(session, bob.token)
        out = await tenant.admin.ok("POST", f"/sessions/{s['id']}/transfer", {"agentId": "bob"})
        assert out["agentId"] == "bob"
        await bob_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s["id"])
        await ann_ws.wait_event("session.transferred")
        rec = out["transfers"][0]
        assert rec["from"] == "ann" and rec["toAgent"] == "bob" and rec["by"] != "ann"
        for ws in (ann_ws, bob_ws, vws):
            await ws.close()

    run(body)
