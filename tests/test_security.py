"""Security hardening (issue 6), end to end: input hygiene and a local stack
that is not an open door."""

import base64
import hashlib
import hmac
import json
import time

from kefu import LOCAL_ENV, Http, Tenant, Ws, run

STACK_PORTS = (3000, 3001, 8000, 9000)


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
