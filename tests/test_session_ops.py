"""Operations inside a session: lock (D3), tags and notes (D1, D2)."""

from kefu import Tenant, Ws, run


async def assigned(tenant, agent_ws, name="Wang Fang"):
    """A visitor whose session was just given to the connected agent: (visitor http, session)."""
    visitor, _ = await tenant.visitor(name=name)
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
