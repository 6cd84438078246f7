"""Connections that vanish without `$disconnect` (issue 12): the first push
to one is answered 410 Gone, and the connection is deleted then — from its
owner's record and from the table — so no later send posts to it again and
none is slowed by it."""

import json
import urllib.request

from kefu import LOCAL_ENV, Tenant, Ws, assert_connection_removed, eventually, plant_stale_connection, run
from test_session_ops import assigned

GONE = f"http://127.0.0.1:{LOCAL_ENV['KEFU_WS_PORT']}/_kefu/connections"


def gone_posts():
    with urllib.request.urlopen(GONE, timeout=5) as r:
        return json.load(r)["gone"]


def test_many_vanished_connections_are_cleaned_up_on_their_first_gone_and_never_posted_again():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        visitor, s = await assigned(tenant, ws)
        vws = await Ws.connect(session, visitor.token)
        agent_gone = [f"gone-{tenant.id}-ann-{i}" for i in range(25)]
        visitor_gone = [f"gone-{tenant.id}-v-{i}" for i in range(10)]
        for c in agent_gone:
            plant_stale_connection(tenant.id, "agent", "ann", c)
        for c in visitor_gone:
            plant_stale_connection(tenant.id, "visitor", visitor.id, c)

        # Three exchanges: every push reaches the live tabs at once.
        for i in range(3):
            asked = await vws.send_message(s["id"], {"type": "text", "text": f"question {i}"})
            await ws.wait_event("message.new", lambda e: e["message"]["seq"] == asked["message"]["seq"])
            answer = await ws.send_message(s["id"], {"type": "text", "text": f"answer {i}"})
            await vws.wait_event("message.new", lambda e: e["message"]["seq"] == answer["message"]["seq"])

        # Each vanished connection was posted to once — the push that found
        # it gone — and never again.
        gone = gone_posts()
        assert {c: gone.get(c) for c in agent_gone + visitor_gone} == {c: 1 for c in agent_gone + visitor_gone}

        async def cleaned():
            for c in agent_gone:
                assert_connection_removed(tenant.id, "agent", "ann", c)
            for c in visitor_gone:
                assert_connection_removed(tenant.id, "visitor", visitor.id, c)
        await eventually(cleaned)
        for w in (ws, vws):
            await w.close()

    run(body)
