"""Bad input gets a clear error with a code, changes nothing, and leaves the
connection usable (H1, H2, H3, C2)."""

import base64
import hashlib
import hmac
import json
import time

import aiohttp
import pytest

from kefu import WS, Http, Tenant, Ws, run


async def chat(session, tenant):
    agent = await tenant.agent("ann")
    agent_ws = await Ws.connect(session, agent.token)
    visitor, visitor_id = await tenant.visitor(name="Li Lei")
    visitor_ws = await Ws.connect(session, visitor.token)
    sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
    return agent, agent_ws, visitor, visitor_ws, sid


def error(frame, code):
    assert frame["type"] == "error", frame
    assert frame["error"]["code"] == code, frame
    assert frame["error"]["message"], frame


def test_bad_frames_get_error_events_and_the_connection_stays_usable():
    async def body(session):
        tenant = Tenant(session)
        agent, agent_ws, visitor, visitor_ws, sid = await chat(session, tenant)
        ws = visitor_ws

        async def raw(text):
            await ws.send_raw(text)
            # $default answers on the same connection; no requestId to match.
            return await ws.wait_event("error")

        error(await raw("this is not json"), "invalid_json")
        error(await raw("[1, 2, 3]"), "invalid_json")
        error(await raw(json.dumps({"hello": 1})), "missing_field")
        # Only a JSON object's own requestId is echoed: an array's second
        # element is not one (its answer carries no requestId at all).
        error(await raw(json.dumps(["sendMessage", "r-array"])), "invalid_json")
        assert "r-array" not in ws.replies
        # Present but not a string: invalid, not missing; the requestId comes back.
        await ws.send_raw(json.dumps({"action": 5, "requestId": "r-num"}))
        error(await ws.reply("r-num"), "invalid_field")
        await ws.send_raw(json.dumps({"action": ["ping"], "requestId": "r-list"}))
        error(await ws.reply("r-list"), "invalid_field")
        # Nested far past any parser's depth (20 KB, within a frame): API Gateway
        # routes it to $default, which answers invalid_json; nothing is dropped.
        error(await raw("[" * 10_000 + "]" * 10_000), "invalid_json")
        error(await raw('{"action": "sendMessage", "message": ' + "[" * 10_000 + "]" * 10_000 + "}"), "invalid_json")
        error(await ws.request("danceParty"), "unknown_action")
        error(await ws.request("sendMessage", sessionId=sid), "invalid_field")  # no clientMsgId, no message
        error(await ws.request("sendMessage", sessionId=sid, clientMsgId=5, message={"type": "text", "text": "x"}),
              "invalid_field")
        error(await ws.send_message(sid, {"type": "text"}), "invalid_message")
        error(await ws.send_message(sid, {"type": "sticker", "id": 3}), "invalid_message")
        error(await ws.send_message(sid, {"type": "text", "text": "   "}), "invalid_message")
        error(await ws.send_message(sid, {"type": "image", "url": "javascript:alert(1)"}), "invalid_message")
        error(await ws.send_message(sid, {"type": "custom", "payload": "x" * 30_000}), "message_too_large")
        error(await ws.send_message(sid, {"type": "text", "text": "hi"}, client_msg_id="bad id with spaces"), "invalid_id")
        error(await ws.send_message("T#other#S#x", {"type": "text", "text": "hi"}), "invalid_id")
        error(await ws.send_message("s_doesnotexist", {"type": "text", "text": "hi"}), "session_not_found")
        error(await ws.request("sync", sessionId=sid, afterSeq="ten"), "invalid_field")

        # Agents may not send what only visitors send, nor voice to web visitors.
        error(await agent_ws.send_message(sid, {"type": "location", "latitude": 1, "longitude": 2}), "unsupported_message_type")
        error(await agent_ws.send_message(sid, {"type": "voice", "url": "https://x/v.amr", "duration": 3}), "voice_not_supported")

        # Nothing was stored, and the connection still works.
        assert (await ws.request("ping"))["type"] == "pong"
        ok = await ws.send_message(sid, {"type": "text", "text": "finally"})
        assert ok["type"] == "message.sent" and ok["message"]["seq"] == 1
        page = await visitor.ok("GET", f"/sessions/{sid}/messages")
        assert [m["seq"] for m in page["messages"]] == [1]

        # Over API Gateway's 128 KB message limit: the connection is closed (1009).
        await ws.send_raw(json.dumps({"action": "sendMessage", "pad": "x" * 140_000}))
        await ws.reader
        assert ws.ws.close_code == 1009
        await agent_ws.close()

    run(body)


def test_missing_expired_and_forged_tokens_are_refused():
    async def body(session):
        tenant = Tenant(session)
        agent = await tenant.agent("ann")
        good = agent.token
        header, payload, sig = good.split(".")
        forged = f"{header}.{payload}.{'A' * len(sig)}"
        other_secret = token_signed_with(b"some-other-secret-entirely")

        for token, status in ((None, 401), ("", 401), ("garbage", 403), (forged, 403), (other_secret, 403)):
            s, out = await Http(session).call("GET", "/agents", token=token)
            assert s == status, (token, s, out)
        s, out = await Http(session).call("GET", "/no/such/route", token=good)
        assert s == 404

        for query in ("", "?token=", "?token=garbage", f"?token={forged}", f"?token={other_secret}"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await session.ws_connect(f"{WS}/{query}")
            assert e.value.status == 401, query

    run(body)


def token_signed_with(secret):
    """A well-formed admin token signed with a key that is not the server's."""
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64(json.dumps({"ten": "x", "sub": "admin", "role": "admin", "iat": 0, "exp": int(time.time()) + 3600}).encode())
    return f"{h}.{p}.{b64(hmac.new(secret, f'{h}.{p}'.encode(), hashlib.sha256).digest())}"


def test_bad_http_bodies_and_parameters_get_clear_errors():
    async def body(session):
        tenant = Tenant(session)
        admin = tenant.admin

        async def expect(method, path, body, status, code, who=admin, raw=None):
            s, out = await who.call(method, path, body, raw=raw)
            assert (s, out["error"]["code"]) == (status, code), (method, path, s, out)
            assert out["error"]["message"]

        await expect("POST", "/agents", None, 400, "invalid_json", raw="{oops")
        await expect("POST", "/agents", None, 400, "invalid_json", raw="")
        await expect("POST", "/agents", {"nickname": "N"}, 400, "invalid_field")
        await expect("POST", "/agents", {"nickname": 7, "realName": "R"}, 400, "invalid_field")
        await expect("POST", "/agents", {"nickname": "N", "realName": "R", "maxConcurrent": 101}, 400, "invalid_max_concurrent")
        await expect("POST", "/agents", {"nickname": "N", "realName": "R", "role": "visitor"}, 400, "invalid_role")
        await expect("POST", "/agents", {"nickname": "N", "realName": "R", "bogus": 1}, 400, "invalid_field")
        await expect("PATCH", "/agents/nobody", {"maxConcurrent": 3}, 404, "agent_not_found")
        await expect("GET", "/sessions?state=sideways", None, 400, "invalid_field")
        await expect("GET", "/sessions?limit=1000", None, 400, "invalid_field")
        await expect("GET", "/sessions?state=closed&cursor=not-a-cursor", None, 400, "invalid_cursor")
        await expect("PUT", "/agents/me/status", {"status": "sleeping"}, 400, "invalid_field")

        anon = Http(session)
        await expect("POST", "/visitor/token", {"tenantId": "no-such-tenant"}, 404, "tenant_not_found", who=anon)
        await expect("POST", "/visitor/token", {"tenantId": tenant.id, "channel": "Web Site"}, 400, "invalid_channel", who=anon)
        await expect("POST", "/visitor/token", {"tenantId": "BAD#ID"}, 400, "invalid_id", who=anon)
        await expect("POST", "/visitor/token", {"tenantId": tenant.id, "resumeToken": "nope"}, 401, "unauthorized", who=anon)
        await expect("POST", "/visitor/token", None, 413, "body_too_large", who=anon,
                     raw=json.dumps({"tenantId": tenant.id, "resumeToken": "x" * 5000}))
        await expect("POST", "/visitor/token", {"tenantId": tenant.id, "name": "x" * 65}, 400, "invalid_field", who=anon)

        visitor, _ = await tenant.visitor()
        await expect("POST", "/sessions", {"groupId": "nope"}, 404, "skill_group_not_found", who=visitor)
        await expect("POST", "/sessions", {"unexpected": True}, 400, "invalid_field", who=visitor)
        await expect("GET", "/agents", None, 403, "forbidden", who=visitor)
        await expect("GET", "/queue", None, 403, "forbidden", who=visitor)
        # Nothing was created by any of it.
        assert [a["id"] for a in await admin.ok("GET", "/agents")] == ["admin"]
        assert (await visitor.ok("GET", "/sessions"))["items"] == []

    run(body)


def test_tenants_and_roles_never_see_what_is_not_theirs():
    async def body(session):
        a, b = Tenant(session), Tenant(session)
        agent_a, ws_a, visitor_a, vws_a, sid_a = await chat(session, a)
        agent_b = await b.agent("bob")
        visitor_b, _ = await b.visitor()
        other_visitor_a, _ = await a.visitor()
        colleague = await a.agent("carl")

        # Another tenant's session id: indistinguishable from a missing one.
        for who in (agent_b, b.admin, visitor_b, other_visitor_a, colleague):
            s, out = await who.call("GET", f"/sessions/{sid_a}")
            assert (s, out["error"]["code"]) == (404, "session_not_found"), out
            s, out = await who.call("GET", f"/sessions/{sid_a}/messages")
            assert s == 404
        for who in (agent_b, colleague, b.admin):
            s, out = await who.call("POST", f"/sessions/{sid_a}/close")
            assert s == 404, out
        s, out = await b.admin.call("POST", f"/sessions/{sid_a}/pickup")
        assert s == 404
        # Another tenant's admin cannot reach this tenant's agents either.
        s, out = await b.admin.call("PATCH", "/agents/ann", {"maxConcurrent": 0})
        assert (s, out["error"]["code"]) == (404, "agent_not_found")
        assert all(x["id"] != sid_a for x in (await b.admin.ok("GET", "/sessions?scope=all"))["items"])

        # Over WebSocket too: a visitor cannot write into someone else's session.
        vws_b = await Ws.connect(session, other_visitor_a.token)
        error(await vws_b.send_message(sid_a, {"type": "text", "text": "let me in"}), "session_not_found")
        cws = await Ws.connect(session, colleague.token)
        error(await cws.send_message(sid_a, {"type": "text", "text": "hi"}), "session_not_found")
        error(await cws.request("sync", sessionId=sid_a, afterSeq=0), "session_not_found")
        # An admin may read it but only the assigned agent writes.
        admin_ws = await Ws.connect(session, a.admin.token)
        assert (await admin_ws.request("sync", sessionId=sid_a, afterSeq=0))["type"] == "sync"
        error(await admin_ws.send_message(sid_a, {"type": "text", "text": "hi"}), "not_assigned")
        # Plain agents cannot administer.
        s, out = await colleague.call("POST", "/agents", {"nickname": "X", "realName": "X"})
        assert (s, out["error"]["code"]) == (403, "forbidden")
        s, out = await colleague.call("PATCH", "/agents/ann", {"maxConcurrent": 50})
        assert s == 403
        s, out = await colleague.call("GET", "/sessions?scope=all")
        assert s == 403
        assert (await a.admin.ok("GET", "/agents/ann"))["maxConcurrent"] == 5, "nothing changed"
        for ws in (ws_a, vws_a, vws_b, cws, admin_ws):
            await ws.close()

    run(body)
