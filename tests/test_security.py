"""Security hardening (issue 6), end to end: input hygiene and a local stack
that is not an open door."""

import asyncio
import base64
import hashlib
import hmac
import json
import time

import aiohttp
import pytest

from kefu import LOCAL_ENV, STACK_PORTS, WS, Http, Tenant, Ws, admin_cli, dynamodb, eventually, run
# WS_ACTIONS_PER_SECOND in Cargo.toml's [workspace.metadata.lambda.env].
LOCAL_WS_ACTIONS_PER_SECOND = 20


def local_token(claims):
    """A token signed with the local stack's own key, with the given claims."""
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64(json.dumps(claims).encode())
    sig = hmac.new(LOCAL_ENV["JWT_SECRET"].encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(sig)}"


def listeners():
    """{port: [local address, …]} of the TCP sockets listening on this machine."""
    out = {}
    for path, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = open(path).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if state != "0A":  # LISTEN
                continue
            addr, port = local.split(":")
            out.setdefault(int(port, 16), []).append(addr)
    return out


def test_every_local_listener_is_bound_to_loopback():
    # 127.0.0.1 is 0100007F in /proc/net/tcp; anything else (0.0.0.0, ::)
    # would let another machine on the network invoke a function as any admin.
    found = listeners()
    for port in STACK_PORTS:
        assert found.get(port), f"nothing listens on :{port}"
        assert all(addr == "0100007F" for addr in found[port]), (port, found[port])


def test_tokens_from_the_future_or_living_too_long_are_refused():
    async def body(session):
        tenant = Tenant(session)
        now = int(time.time())
        base = {"ten": tenant.id, "sub": "admin", "role": "admin"}
        good = local_token({**base, "iat": now, "exp": now + 3600})
        assert (await Http(session, good).call("GET", "/agents"))[0] == 200, "the signer matches the stack's key"
        future = local_token({**base, "iat": now + 3600, "exp": now + 7200})
        forever = local_token({**base, "iat": now, "exp": now + 10 * 365 * 86400})
        for token in (future, forever):
            status, _ = await Http(session, token).call("GET", "/agents")
            assert status == 403, token

    run(body)


def test_reading_past_the_last_message_is_an_empty_page():
    async def body(session):
        tenant = Tenant(session)
        await tenant.agent("ann")
        visitor, _ = await tenant.visitor(name="Li Lei")
        sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
        ws = await Ws.connect(session, visitor.token)
        assert (await ws.send_message(sid, {"type": "text", "text": "hi"}))["message"]["seq"] == 1
        for after in (1, 2, 10**9, 2**64 - 1):
            page = await visitor.ok("GET", f"/sessions/{sid}/messages?after={after}")
            assert (page["messages"], page["hasMore"], page["lastSeq"]) == ([], False, 1), after
            synced = await ws.request("sync", sessionId=sid, afterSeq=after)
            assert (synced["type"], synced["messages"], synced["lastSeq"]) == ("sync", [], 1), after
        await ws.close()

    run(body)


def test_names_lose_control_and_bidi_characters_and_media_must_be_https():
    async def body(session):
        tenant = Tenant(session)
        agent = await tenant.agent("ann", nickname="\u202eAnn\u202c\u0007")
        assert (await agent.ok("GET", "/agents/me"))["nickname"] == "Ann"
        visitor, _ = await tenant.visitor(name="\u2066Wang\u2069 Fang\n", nickname="\u200f小芳")
        sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
        s = await tenant.admin.ok("GET", f"/sessions/{sid}")
        assert (s["visitorName"], s["visitorNickname"]) == ("Wang Fang", "小芳")
        status, out = await tenant.admin.call("POST", "/agents", {"nickname": "\u202e\u202c", "realName": "R"})
        assert (status, out["error"]["code"]) == (400, "invalid_field")

        ws = await Ws.connect(session, visitor.token)
        out = await ws.send_message(sid, {"type": "image", "url": "http://cdn.example.com/a.png"})
        assert (out["type"], out["error"]["code"]) == ("error", "invalid_message")
        ok = await ws.send_message(sid, {"type": "image", "url": "https://cdn.example.com/a.png"})
        assert ok["type"] == "message.sent"
        await ws.close()

    run(body)


async def closed(ws, timeout=15):
    """The server closed this connection."""
    await asyncio.wait_for(ws.reader, timeout)
    return ws.ws.closed


def test_a_demoted_admin_loses_admin_powers_at_once_and_cannot_restore_them():
    async def body(session):
        tenant = Tenant(session)
        boss = await tenant.agent("boss", status=None)
        await tenant.admin.ok("PATCH", "/agents/boss", {"role": "admin"})
        # The token minted while boss was an agent now acts as an admin: the
        # stored role is the authority, not the token's.
        await boss.ok("POST", "/agents", {"agentId": "carl", "nickname": "Carl", "realName": "Carl C"})
        await tenant.admin.ok("PATCH", "/agents/boss", {"role": "agent"})

        for method, path, body in (
            ("POST", "/agents", {"agentId": "dave", "nickname": "Dave", "realName": "Dave D"}),
            ("PATCH", "/agents/me", {"role": "admin"}),
            ("POST", "/agents/admin/token", None),
            ("POST", "/agents/carl/token", None),
        ):
            status, out = await boss.call(method, path, body)
            assert (status, out["error"]["code"]) == (403, "forbidden"), (method, path, out)
        me = await boss.ok("GET", "/agents/me")
        assert me["role"] == "agent"
        assert [a["id"] for a in await tenant.admin.ok("GET", "/agents") if a["id"] == "dave"] == []

    run(body)


def test_admins_mint_tokens_for_agents_only_and_everyone_renews_their_own():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        await tenant.agent("boss", status=None)
        await tenant.admin.ok("PATCH", "/agents/boss", {"role": "admin"})
        status, out = await tenant.admin.call("POST", "/agents/boss/token")
        assert (status, out["error"]["code"]) == (403, "forbidden")
        renewed = await ann.ok("POST", "/agents/me/token")
        assert renewed["agentId"] == "ann" and renewed["role"] == "agent"
        assert (await Http(session, renewed["token"]).ok("GET", "/agents/me"))["id"] == "ann"
        mine = await tenant.admin.ok("POST", "/agents/me/token")
        assert mine["role"] == "admin"

    run(body)


def test_a_disabled_agent_is_refused_everywhere_and_its_connection_closes():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        assert (await ws.request("ping"))["type"] == "pong"

        view = await tenant.admin.ok("POST", "/agents/ann/disable")
        assert (view["disabled"], view["status"]) == (True, "offline")
        assert await closed(ws)
        status, _ = await ann.call("GET", "/agents/me")
        assert status == 403
        status, _ = await ann.call("POST", "/agents/me/token")
        assert status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await session.ws_connect(f"{WS}/?token={ann.token}")
        assert e.value.status == 401
        # A disabled agent is never dispatched to.
        visitor, _ = await tenant.visitor()
        s = (await visitor.ok("POST", "/sessions", {}))["session"]
        assert s["state"] == "waiting"
        status, out = await tenant.admin.call("POST", "/agents/admin/disable")
        assert (status, out["error"]["code"]) == (403, "forbidden"), "admins do not lock themselves out"

        view = await tenant.admin.ok("POST", "/agents/ann/enable")
        assert view["disabled"] is False
        assert (await ann.ok("GET", "/agents/me"))["id"] == "ann"

    run(body)


def test_revoking_an_agents_tokens_stops_them_and_closes_its_connections():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        fresh = await ann.ok("POST", "/agents/me/token")
        await tenant.admin.ok("POST", "/agents/ann/revoke-tokens")
        assert await closed(ws)
        for token in (ann.token, fresh["token"]):
            status, _ = await Http(session, token).call("GET", "/agents/me")
            assert status == 403
        # A new token works; a stolen admin token is stopped by its owner.
        new = await tenant.admin.ok("POST", "/agents/ann/token")
        assert (await Http(session, new["token"]).ok("GET", "/agents/me"))["id"] == "ann"
        await tenant.admin.ok("POST", "/agents/me/revoke-tokens")
        status, _ = await tenant.admin.call("GET", "/agents")
        assert status == 403
        # Plain agents revoke only their own tokens.
        # The operator's way back in for a tenant whose only admin revoked itself.
        operator = Http(session, admin_cli("token", tenant.id, "admin")["token"])
        await operator.ok("POST", "/agents", {"agentId": "carl", "nickname": "C", "realName": "C"})
        carl = Http(session, admin_cli("token", tenant.id, "carl")["token"])
        status, out = await carl.call("POST", "/agents/ann/revoke-tokens")
        assert (status, out["error"]["code"]) == (403, "forbidden")

    run(body)


def test_a_connection_does_not_outlive_its_token():
    async def body(session):
        tenant = Tenant(session)
        await tenant.agent("ann")
        now = int(time.time())
        short = local_token({"ten": tenant.id, "sub": "ann", "role": "agent", "ver": 0, "iat": now, "exp": now + 3})
        ws = await Ws.connect(session, short)
        other = await Ws.connect(session, short)
        third = await Ws.connect(session, short)
        assert (await ws.request("sync", sessionId="s_none", afterSeq=0))["error"]["code"] == "session_not_found"
        await asyncio.sleep(4)
        # Whatever the action, the first frame after the token's exp closes the connection.
        await ws.send_raw(json.dumps({"action": "sync", "requestId": "late", "sessionId": "s_none", "afterSeq": 0}))
        await other.send_raw(json.dumps({"action": "sendMessage", "requestId": "late", "sessionId": "s_none",
                                         "clientMsgId": "c1", "message": {"type": "text", "text": "too late"}}))
        await third.send_raw(json.dumps({"action": "typing", "requestId": "late", "sessionId": "s_none", "draft": "x"}))
        assert await closed(ws)
        assert await closed(other)
        assert await closed(third)

    run(body)


def test_the_audit_trail_lists_every_mint_role_change_disable_and_revocation():
    async def body(session):
        tenant = Tenant(session)
        admin = tenant.admin
        await tenant.agent("ann", status=None)  # mints ann's token
        await admin.ok("PATCH", "/agents/ann", {"role": "admin"})
        await admin.ok("PATCH", "/agents/ann", {"role": "agent"})
        await admin.ok("POST", "/agents/ann/disable")
        await admin.ok("POST", "/agents/ann/enable")
        await admin.ok("POST", "/agents/ann/revoke-tokens")

        page = await admin.ok("GET", "/audit?limit=100")
        trail = [(e["actor"], e["action"], e["target"], e.get("detail")) for e in page["items"]]
        assert trail == [
            ("admin", "tokens_revoked", "ann", None),
            ("admin", "enabled", "ann", None),
            ("admin", "disabled", "ann", None),
            ("admin", "role_changed", "ann", "admin -> agent"),
            ("admin", "role_changed", "ann", "agent -> admin"),
            ("admin", "token_minted", "ann", None),
            ("operator", "token_minted", "admin", None),  # make tenant / kefu-admin
        ], trail
        assert all(e["at"] > 0 and e["id"] for e in page["items"])
        # Paginated, newest first.
        first = await admin.ok("GET", "/audit?limit=3")
        rest = await admin.ok("GET", f"/audit?limit=100&cursor={first['nextCursor']}")
        assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in page["items"]]
        # Admins only; another tenant's cursor is refused.
        ann = Http(session, (await admin.ok("POST", "/agents/ann/token"))["token"])
        status, out = await ann.call("GET", "/audit")
        assert (status, out["error"]["code"]) == (403, "forbidden")
        other = Tenant(session)
        status, out = await other.admin.call("GET", f"/audit?cursor={first['nextCursor']}")
        assert (status, out["error"]["code"]) == (400, "invalid_cursor")

    run(body)


def test_a_removed_agents_sessions_go_back_to_the_queue_with_their_history():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann", max_concurrent=5)
        ann_ws = await Ws.connect(session, ann.token)
        bob = await tenant.agent("bob", max_concurrent=5, status="busy")
        bob_ws = await Ws.connect(session, bob.token)
        sids, visitors = [], []
        for i in range(3):
            visitor, _ = await tenant.visitor(name=f"V{i}")
            vws = await Ws.connect(session, visitor.token)
            s = (await visitor.ok("POST", "/sessions", {}))["session"]
            assert s["state"] == "active" and s["agent"] == {"nickname": "Ann"}, s
            assert (await vws.send_message(s["id"], {"type": "text", "text": f"hello {i}"}))["type"] == "message.sent"
            sids.append(s["id"])
            visitors.append((visitor, vws))

        removed = await tenant.admin.ok("DELETE", "/agents/ann")
        assert (removed["removed"], removed["disabled"], removed["active"]) == (True, True, 0)
        assert await closed(ann_ws)
        assert (await ann.call("GET", "/agents/me"))[0] == 403
        assert "ann" not in [a["id"] for a in await tenant.admin.ok("GET", "/agents")]

        queue = await bob.ok("GET", "/queue")
        assert [e["sessionId"] for e in queue["items"]] == sids, "back at their places, oldest first"
        for (visitor, vws), sid in zip(visitors, sids):
            e = await vws.wait_event("session.requeued", lambda e: e["session"]["id"] == sid)
            assert (e["session"]["state"], e["session"]["agent"]) == ("waiting", None)
            page = await visitor.ok("GET", f"/sessions/{sid}/messages")
            assert [m["content"]["text"] for m in page["messages"]][:1] == [f"hello {sids.index(sid)}"]

        # Another agent turning idle takes them (B3) and sees the whole history.
        await bob.ok("PUT", "/agents/me/status", {"status": "idle"})
        for sid in sids:
            await bob_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == sid)
            s = await bob.ok("GET", f"/sessions/{sid}")
            assert s["agentId"] == "bob" and s["handlers"] == ["ann", "bob"], s
            assert len((await bob.ok("GET", f"/sessions/{sid}/messages"))["messages"]) == 1
        assert (await tenant.admin.ok("GET", "/agents/bob"))["active"] == 3

        trail = (await tenant.admin.ok("GET", "/audit"))["items"]
        assert (trail[0]["action"], trail[0]["target"], trail[0]["detail"]) == ("removed", "ann", "3 sessions back in the queue")
        status, out = await tenant.admin.call("DELETE", "/agents/admin")
        assert (status, out["error"]["code"]) == (403, "forbidden")
        # A removed agent cannot be brought back in by the back door.
        for path in ("/agents/ann/enable", "/agents/ann/token"):
            status, out = await tenant.admin.call("POST", path)
            assert (status, out["error"]["code"]) == (404, "agent_not_found"), path
        for _, vws in visitors:
            await vws.close()
        await bob_ws.close()

    run(body)


def test_the_queue_and_pickup_respect_skill_groups_and_the_queue_pages():
    async def body(session):
        tenant = Tenant(session)
        await tenant.admin.ok("POST", "/skill-groups", {"groupId": "vip", "name": "VIP"})
        await tenant.admin.ok("POST", "/skill-groups", {"groupId": "sales", "name": "Sales"})
        # Nobody is online: everything waits.
        insider = await tenant.agent("ivy", groups=["vip"], status="busy")
        outsider = await tenant.agent("otto", groups=["sales"], status="busy")
        waiting = {}
        for group in ("vip", None, "vip", "sales", None):
            visitor, _ = await tenant.visitor()
            s = (await visitor.ok("POST", "/sessions", {"groupId": group} if group else {}))["session"]
            waiting[s["id"]] = group
        ids = list(waiting)

        async def everything(who, limit):
            seen, cursor = [], None
            while True:
                q = f"/queue?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
                page = await who.ok("GET", q)
                assert len(page["items"]) <= limit
                seen += [e["sessionId"] for e in page["items"]]
                cursor = page["nextCursor"]
                if not cursor:
                    return seen

        assert await everything(tenant.admin, 2) == ids, "admins see all, oldest first, across pages"
        assert await everything(outsider, 2) == [i for i in ids if waiting[i] in (None, "sales")]
        assert await everything(insider, 100) == [i for i in ids if waiting[i] in (None, "vip")]

        vip = ids[0]
        status, out = await outsider.call("POST", f"/sessions/{vip}/pickup")
        assert (status, out["error"]["code"]) == (404, "session_not_found")
        status, out = await outsider.call("GET", f"/sessions/{vip}/messages")
        assert status == 404
        taken = await insider.ok("POST", f"/sessions/{vip}/pickup")
        assert taken["agentId"] == "ivy"
        status, out = await tenant.admin.call("GET", "/queue?limit=0")
        assert (status, out["error"]["code"]) == (400, "invalid_field")

    run(body)


def test_one_connection_is_rate_limited_and_nothing_refused_is_stored():
    async def body(session):
        tenant = Tenant(session)
        await tenant.agent("ann")
        visitor, _ = await tenant.visitor()
        sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
        ws = await Ws.connect(session, visitor.token)
        limit = LOCAL_WS_ACTIONS_PER_SECOND

        # A burst of cheap actions, three times the limit, on one connection.
        started = time.monotonic()
        replies = await asyncio.gather(*(ws.request("sync", sessionId=sid, afterSeq=0) for _ in range(3 * limit)))
        seconds = time.monotonic() - started
        admitted = [r for r in replies if r["type"] == "sync"]
        limited = [r for r in replies if r["type"] == "error"]
        assert {r["error"]["code"] for r in limited} == {"rate_limited"}, limited[:3]
        assert limited and len(admitted) + len(limited) == 3 * limit
        # Never more than the limit in any one-second window it touched.
        assert len(admitted) <= limit * (int(seconds) + 2), (len(admitted), seconds)

        # Sends caught by the limit store nothing; the others are stored once.
        mixed = [ws.request("sync", sessionId=sid, afterSeq=0) for _ in range(limit)]
        mixed += [ws.send_message(sid, {"type": "text", "text": f"m{i}"}) for i in range(10)]
        replies = (await asyncio.gather(*mixed))[limit:]
        sent = [r for r in replies if r["type"] == "message.sent"]
        # Ten sends at once in one session also contend for its next number:
        # one that loses too often is refused `try_again` (resend), and, like
        # a rate-limited one, stores nothing.
        refused = {"rate_limited", "try_again"}
        assert all(r["type"] == "message.sent" or r["error"]["code"] in refused for r in replies), replies
        page = await visitor.ok("GET", f"/sessions/{sid}/messages?limit=200")
        assert sorted(m["seq"] for m in page["messages"]) == sorted(r["message"]["seq"] for r in sent)
        assert page["lastSeq"] == len(sent), "a refused send stored nothing"

        # Another connection of the same visitor has its own allowance, and
        # the limited one works again a second later.
        other = await Ws.connect(session, visitor.token)
        assert (await other.send_message(sid, {"type": "text", "text": "other"}))["type"] == "message.sent"
        await asyncio.sleep(1.1)
        assert (await ws.send_message(sid, {"type": "text", "text": "later"}))["type"] == "message.sent"
        await ws.close()
        await other.close()

    run(body)


def visitor_item(tenant_id, visitor_id):
    db = dynamodb()
    key = {"pk": {"S": f"T#{tenant_id}#V#{visitor_id}"}, "sk": {"S": "VISITOR"}}
    return db, key


def test_anonymous_visitors_that_never_start_a_session_expire():
    async def body(session):
        tenant = Tenant(session)
        await tenant.agent("ann")
        visitor, visitor_id = await tenant.visitor(name="Drive-by")
        db, key = visitor_item(tenant.id, visitor_id)
        item = db.get_item(TableName=LOCAL_ENV["TABLE_NAME"], Key=key, ConsistentRead=True)["Item"]
        expires = int(item["expires_at"]["N"])
        assert abs(expires - (time.time() + 86400)) < 120, "kept for a day unless a session starts"

        # One who starts a session is kept.
        await visitor.ok("POST", "/sessions", {})
        item = db.get_item(TableName=LOCAL_ENV["TABLE_NAME"], Key=key, ConsistentRead=True)["Item"]
        assert "expires_at" not in item
        # ... and stays kept when it comes back under a new name.
        await Http(session).ok("POST", "/visitor/token", {"tenantId": tenant.id, "resumeToken": visitor.token, "name": "Regular"})
        item = db.get_item(TableName=LOCAL_ENV["TABLE_NAME"], Key=key, ConsistentRead=True)["Item"]
        assert "expires_at" not in item and item["name"]["S"] == "Regular"

        # A visitor who comes back without starting a session is kept another day from then.
        browser, browser_id = await tenant.visitor(name="Browser")
        db, key = visitor_item(tenant.id, browser_id)
        db.update_item(TableName=LOCAL_ENV["TABLE_NAME"], Key=key, UpdateExpression="SET expires_at = :soon",
                       ExpressionAttributeValues={":soon": {"N": str(int(time.time()) + 60)}})
        again = await Http(session).ok("POST", "/visitor/token", {"tenantId": tenant.id, "resumeToken": browser.token,
                                                                    "nickname": "B."})
        assert again["resumed"] is True and again["visitorId"] == browser_id
        item = db.get_item(TableName=LOCAL_ENV["TABLE_NAME"], Key=key, ConsistentRead=True)["Item"]
        assert abs(int(item["expires_at"]["N"]) - (time.time() + 86400)) < 120 and item["nickname"]["S"] == "B."

        # Past its expiry a visitor is gone for every read, deleted by TTL or not.
        idle, idle_id = await tenant.visitor(name="Idle")
        db, key = visitor_item(tenant.id, idle_id)
        db.update_item(TableName=LOCAL_ENV["TABLE_NAME"], Key=key, UpdateExpression="SET expires_at = :past",
                       ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}})
        status, out = await idle.call("POST", "/sessions", {})
        assert (status, out["error"]["code"]) == (404, "visitor_not_found")
        again = await Http(session).ok("POST", "/visitor/token", {"tenantId": tenant.id, "resumeToken": idle.token})
        assert again["resumed"] is False and again["visitorId"] != idle_id

    run(body)


def test_visitors_see_agents_by_nickname_never_by_id():
    async def body(session):
        tenant = Tenant(session)
        agent = await tenant.agent("emp-10482", nickname="Lily")
        agent_ws = await Ws.connect(session, agent.token)
        visitor, visitor_id = await tenant.visitor()
        vws = await Ws.connect(session, visitor.token)
        started = (await visitor.ok("POST", "/sessions", {}))["session"]
        assert started["agent"] == {"nickname": "Lily"}
        sid = started["id"]
        await agent_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == sid)
        await vws.send_message(sid, {"type": "text", "text": "hi"})
        await agent_ws.send_message(sid, {"type": "text", "text": "hello, how can I help?"})

        pushed = await vws.wait_event("message.new", lambda e: e["message"]["sender"]["kind"] == "agent")
        assert pushed["message"]["sender"] == {"kind": "agent", "nickname": "Lily"}
        seen = [await visitor.ok("GET", f"/sessions/{sid}/messages"), await vws.request("sync", sessionId=sid, afterSeq=0)]
        for batch in seen:
            assert [m["sender"] for m in batch["messages"]] == [
                {"kind": "visitor", "id": visitor_id},
                {"kind": "agent", "nickname": "Lily"},
            ]
        async def listed():
            items = (await visitor.ok("GET", "/sessions"))["items"]
            assert [(x["id"], x["agent"]) for x in items] == [(sid, {"nickname": "Lily"})]
            return items
        mine = await eventually(listed)
        for what in (started, await visitor.ok("GET", f"/sessions/{sid}"), pushed, mine, *seen):
            assert "emp-10482" not in json.dumps(what), what
        # Staff still see who is who.
        staff = await agent.ok("GET", f"/sessions/{sid}/messages")
        assert staff["messages"][1]["sender"] == {"kind": "agent", "id": "emp-10482"}
        for ws in (agent_ws, vws):
            await ws.close()

    run(body)


def test_a_full_queue_refuses_new_sessions_and_stores_nothing():
    async def body(session):
        tenant = Tenant(session)
        db, _ = visitor_item(tenant.id, "-")
        db.update_item(TableName=LOCAL_ENV["TABLE_NAME"], Key={"pk": {"S": f"T#{tenant.id}"}, "sk": {"S": "TENANT"}},
                       UpdateExpression="SET settings.maxWaiting = :n", ExpressionAttributeValues={":n": {"N": "3"}})
        for _ in range(3):  # nobody is online: they wait
            visitor, _ = await tenant.visitor()
            assert (await visitor.ok("POST", "/sessions", {}))["session"]["state"] == "waiting"
        late, _ = await tenant.visitor()
        status, out = await late.call("POST", "/sessions", {})
        assert (status, out["error"]["code"]) == (429, "queue_full"), out
        assert (await late.ok("GET", "/sessions"))["items"] == [], "nothing was stored"
        assert len((await tenant.admin.ok("GET", "/queue"))["items"]) == 3

        # An agent takes one: there is room again.
        ann = await tenant.agent("ann", max_concurrent=1)
        ws = await Ws.connect(session, ann.token)  # connecting drains the queue (B3)
        assert len((await ann.ok("GET", "/sessions"))["items"]) == 1
        assert (await late.ok("POST", "/sessions", {}))["session"]["state"] == "waiting"
        await ws.close()

    run(body)
