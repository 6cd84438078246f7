"""B2/B3/B4 and A1: who gets a session, and every event that drains the
queue at once: an agent connecting, turning idle, raising its maximum, a
session closing, a new group member."""

import asyncio
import collections
import json
import urllib.request

from kefu import (LOCAL_ENV, TABLE, Tenant, Ws, admin_cli, assert_connection_removed, dynamodb, eventually,
                   plant_stale_connection, run)

GRACE_SECS = 3  # PRESENCE_GRACE_SECS of the local stack (Cargo.toml)


async def start(tenant, body=None):
    visitor, _ = await tenant.visitor()
    out = await visitor.ok("POST", "/sessions", body or {})
    return out["session"]


def test_each_trigger_drains_the_queue_at_once():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann", max_concurrent=1, status=None)  # offline, not connected
        visitor, _ = await tenant.visitor()
        s1 = (await visitor.ok("POST", "/sessions", {}))["session"]
        assert s1["state"] == "waiting", "nobody is online"
        visitor_ws = await Ws.connect(session, visitor.token)
        await ann.ok("PUT", "/agents/me/status", {"status": "idle"})
        assert (await tenant.admin.ok("GET", f"/sessions/{s1['id']}"))["state"] == "waiting", "idle but not connected"

        ws = await Ws.connect(session, ann.token)  # trigger: connects while idle
        # API Gateway accepts no pushes to a connection inside its own
        # $connect, so a connecting client lists its sessions (docs/protocol.md);
        # the visitor, connected already, hears of it at once.
        async def listed():
            mine = (await ann.ok("GET", "/sessions"))["items"]
            assert [x["id"] for x in mine] == [s1["id"]] and mine[0]["marker"] == "new"
        await eventually(listed)
        await visitor_ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s1["id"])
        await visitor_ws.close()

        s2 = await start(tenant)
        assert s2["state"] == "waiting", "at its maximum of 1"
        await ann.ok("PATCH", "/agents/me", {"maxConcurrent": 2})  # trigger: maximum raised
        await ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s2["id"])

        s3 = await start(tenant)
        assert s3["state"] == "waiting"
        await ann.ok("POST", f"/sessions/{s1['id']}/close")  # trigger: a session closes
        await ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s3["id"])

        await ann.ok("PUT", "/agents/me/status", {"status": "busy"})
        await ann.ok("PATCH", "/agents/me", {"maxConcurrent": 3})
        s4 = await start(tenant)
        assert s4["state"] == "waiting", "busy agents are not dispatched to"
        await ann.ok("PUT", "/agents/me/status", {"status": "idle"})  # trigger: turns idle
        await ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s4["id"])
        assert (await ann.ok("GET", "/agents/me"))["active"] == 3
        await ws.close()

    run(body)


def test_least_loaded_agent_first_and_skill_groups_are_respected():
    async def body(session):
        tenant = Tenant(session)
        await tenant.admin.ok("POST", "/skill-groups", {"groupId": "vip", "name": "VIP"}, expect=201)
        plain = await tenant.agent("plain", max_concurrent=5)
        vip = await tenant.agent("vipa", max_concurrent=1, groups=["vip"])
        sockets = [await Ws.connect(session, h.token) for h in (plain, vip)]

        first, second = await start(tenant), await start(tenant)
        # Visitors see their agent by nickname (Tenant.agent: the id, titled).
        assert {first["agent"]["nickname"], second["agent"]["nickname"]} == {"Plain", "Vipa"}, "least loaded first"
        await vip.ok("POST", f"/sessions/{(first if first['agent']['nickname'] == 'Vipa' else second)['id']}/close")

        s = await start(tenant, {"groupId": "vip"})
        assert s["agent"] == {"nickname": "Vipa"}
        s2 = await start(tenant, {"groupId": "vip"})
        assert s2["state"] == "waiting", "only group members serve the group, and vipa is full"
        groups = await plain.ok("GET", "/skill-groups")
        assert groups == [{"id": "vip", "name": "VIP", "memberCount": 1, "idleCount": 1, "members": ["vipa"]}]

        # A new member takes the group's waiting session at once.
        await tenant.admin.ok("PUT", "/skill-groups/vip/members/plain")
        await sockets[0].wait_event("session.assigned", lambda e: e["session"]["id"] == s2["id"])
        for ws in sockets:
            await ws.close()

    run(body)


def test_presence_has_a_short_grace_then_a_gone_agent_gets_nothing():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        await ws.close()
        s = await start(tenant)
        assert s["state"] == "active", "a page reload does not cost the agent its place"
        assert s["agent"] == {"nickname": "Ann"}
        await asyncio.sleep(GRACE_SECS + 0.5)
        s = await start(tenant)
        assert s["state"] == "waiting", "an agent whose connections are gone is not dispatched to"
        ws = await Ws.connect(session, ann.token)
        async def listed():
            assert s["id"] in [x["id"] for x in (await ann.ok("GET", "/sessions"))["items"]]
        await eventually(listed)
        await ws.close()

    run(body)


def test_manual_pickup_is_bound_only_by_the_hard_cap():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann", max_concurrent=0)  # auto-dispatch never gives her anything
        ws = await Ws.connect(session, ann.token)
        s = await start(tenant)
        assert s["state"] == "waiting"
        queue = (await ann.ok("GET", "/queue"))["items"]
        assert [q["sessionId"] for q in queue] == [s["id"]]
        picked = await ann.ok("POST", f"/sessions/{s['id']}/pickup")
        assert picked["state"] == "active" and picked["agentId"] == "ann"
        await ws.wait_event("session.assigned", lambda e: e["session"]["id"] == s["id"])
        status, out = await ann.call("POST", f"/sessions/{s['id']}/pickup")
        assert (status, out["error"]["code"]) == (409, "session_not_waiting")
        visitor, _ = await tenant.visitor()
        status, out = await visitor.call("POST", f"/sessions/{s['id']}/pickup")
        assert status == 403
        assert (await ann.ok("GET", "/queue"))["items"] == []
        await ws.close()

    run(body)


def test_a_connection_that_vanished_is_deleted_on_the_first_push():
    """A lost $disconnect leaves a stale connection behind; the first push to
    it gets GoneException and removes it instead of retrying forever."""

    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        def plant_stale(stale):
            plant_stale_connection(tenant.id, "agent", "ann", stale)

        def assert_removed(stale):
            assert_connection_removed(tenant.id, "agent", "ann", stale)

        plant_stale("stale-connection-id")
        await ann.ok("PUT", "/agents/me/status", {"status": "idle"})  # pushes agent.updated to every connection
        await ws.wait_event("agent.updated")
        assert_removed("stale-connection-id")

        # The same on the message path: a visitor's message reaches the
        # agent's live connection and removes the stale one.
        visitor, _ = await tenant.visitor()
        sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
        await ws.wait_event("session.assigned", lambda e: e["session"]["id"] == sid)
        plant_stale("stale-too")
        visitor_ws = await Ws.connect(session, visitor.token)
        await visitor_ws.send_message(sid, {"type": "text", "text": "anyone?"})
        await ws.wait_event("message.new", lambda e: e["sessionId"] == sid)
        assert_removed("stale-too")
        await visitor_ws.close()
        await ws.close()

    run(body)


def test_a_push_racing_a_connect_does_not_unregister_the_new_connection():
    """A connection is recorded inside its $connect, and API Gateway answers
    410 Gone to pushes until $connect returns. A push in that window must not
    delete the fresh connection: an agent reloading its page while a visitor
    writes would otherwise miss every later event. (The local gateway holds
    this $connect open for 3 s to make the window wide.)"""

    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        first = await Ws.connect(session, ann.token)
        visitor, _ = await tenant.visitor()
        sid = (await visitor.ok("POST", "/sessions", {}))["session"]["id"]
        await first.wait_event("session.assigned", lambda e: e["session"]["id"] == sid)
        visitor_ws = await Ws.connect(session, visitor.token)

        db = dynamodb()
        key = {"pk": {"S": f"T#{tenant.id}"}, "sk": {"S": "AGENT#ann"}}
        conns = lambda: db.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]["conns"]["M"]
        connecting = asyncio.create_task(Ws.connect(session, ann.token, headers={"X-Kefu-Connect-Hold-Ms": "3000"}))
        for _ in range(100):
            if len(conns()) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(conns()) == 2, "the new connection is recorded while its $connect runs"
        assert not connecting.done()

        # This push reaches `first` and gets 410 Gone from the one connecting.
        await visitor_ws.send_message(sid, {"type": "text", "text": "while you reload"})
        await first.wait_event("message.new", lambda e: e["message"]["content"].get("text") == "while you reload")
        assert len(conns()) == 2, "a Gone inside $connect deletes nothing"

        second = await connecting
        await visitor_ws.send_message(sid, {"type": "text", "text": "after"})
        await second.wait_event("message.new", lambda e: e["message"]["content"].get("text") == "after")
        for ws in (first, second, visitor_ws):
            await ws.close()

    run(body)


def items_read(who):
    """Items the local DynamoDB's Queries have returned to function `who`, per table or index."""
    with urllib.request.urlopen(LOCAL_ENV["AWS_ENDPOINT_URL_DYNAMODB"] + "/_kefu/read", timeout=5) as r:
        return collections.Counter(json.load(r).get(who, {}))


def test_a_drain_reads_a_few_candidates_whatever_the_staff_and_still_the_least_loaded_first():
    """Issue 12: a drain reads the best few of the ready list (4 a shard,
    8 shards), never every agent of the tenant; and the least loaded still
    come first, across every shard and past the first few."""
    async def body(session):
        tenant = Tenant(session)
        staff = 80
        agents = []
        for i in range(0, staff, 10):
            agents += await asyncio.gather(*(tenant.agent(f"a{j:02}", max_concurrent=2) for j in range(i, i + 10)))
        sockets = []
        for i in range(0, staff, 10):
            sockets += await asyncio.gather(*(Ws.connect(session, a.token) for a in agents[i:i + 10]))

        before = items_read("http-session-start")
        first = await start(tenant)
        read = items_read("http-session-start") - before
        assert first["state"] == "active"
        assert read["gsi6"] <= 32, f"{dict(read)}: the ready list's first few, not {staff} agents"
        assert read["table"] <= 1, f"{dict(read)}: the queue's head, and no agent record"

        # Every start goes to an agent with nothing yet, until all have one.
        loads = collections.Counter([first["agent"]["nickname"]])
        for _ in range(staff - 1):
            s = await start(tenant)
            loads[s["agent"]["nickname"]] += 1
        assert len(loads) == staff and set(loads.values()) == {1}, loads

        # A tenant this large (READY_SPLIT_AT is 40 locally) spreads its open
        # sessions over 16 shards: an admin's pages still hold each once,
        # newest activity first, and a page reads a few entries a shard.
        before = items_read("http-sessions")
        listed = await tenant.admin.pages("/sessions?scope=all", 7)
        read = items_read("http-sessions") - before
        seen, pages = sum(listed, []), len(listed)
        assert len({x["id"] for x in seen}) == len(seen) == staff
        activity = [x["lastActivityAt"] for x in seen]
        assert activity == sorted(activity, reverse=True), "newest activity first, across pages"
        assert read["gsi7"] <= pages * 16 * 4, f"{dict(read)}: a few entries a shard a page, over {pages} pages"
        for ws in sockets:
            await ws.close()

    run(body)


def test_a_large_tenants_queue_spreads_over_shards_and_still_drains_oldest_first():
    """Issue 12: a tenant of READY_SPLIT_AT agents or more (40 locally) holds
    its queue in 16 shards (one partition would run hot at a thousand starts
    a second): a start counts only its own shard, against its share of
    maxWaiting; the queue still pages oldest first across the shards, and a
    drain still takes the oldest first."""
    async def body(session):
        tenant = Tenant(session)
        staff = []
        for i in range(0, 40, 10):  # offline: every start waits
            staff += await asyncio.gather(*(tenant.agent(f"a{j:02}", max_concurrent=10, status=None)
                                            for j in range(i, i + 10)))
        await tenant.admin.ok("PATCH", "/settings", {"maxWaiting": 32})  # a share of 2 a shard
        waiting, refused = [], 0
        for _ in range(40):
            visitor, _ = await tenant.visitor()
            status, out = await visitor.call("POST", "/sessions", {})
            if status == 429:
                assert out["error"]["code"] == "queue_full", out
                refused += 1
            else:
                assert status == 201 and out["session"]["state"] == "waiting", (status, out)
                waiting.append(out["session"]["id"])
        assert refused > 0 and 10 < len(waiting) <= 32, (refused, len(waiting))
        held = {}
        for i in range(16):
            pk = f"T#{tenant.id}#QUEUE" + (f"#{i}" if i else "")
            items = dynamodb().query(TableName=TABLE, KeyConditionExpression="pk = :p",
                                     ExpressionAttributeValues={":p": {"S": pk}}, ConsistentRead=True)["Items"]
            held[i] = [x["sessionId"]["S"] for x in items]
        assert all(len(ids) <= 2 for ids in held.values()), held
        assert sorted(sum(held.values(), [])) == sorted(waiting), "each waiting session in one shard"
        assert sum(1 for ids in held.values() if ids) >= 8, held

        async def queue():
            return [x["sessionId"] for page in await tenant.admin.pages("/queue", 5) for x in page]
        assert await queue() == waiting, "oldest first, across the shards"

        # One agent of maximum 10 comes online: the drain takes the 10 oldest.
        first = staff[0]
        await first.ok("PUT", "/agents/me/status", {"status": "idle"})
        ws = await Ws.connect(session, first.token)
        async def drained():
            mine = (await first.ok("GET", "/sessions?limit=50"))["items"]
            assert sorted(x["id"] for x in mine) == sorted(waiting[:10])
        await eventually(drained)
        assert await queue() == waiting[10:]
        await ws.close()

    run(body)


def test_an_operator_reindexes_a_tenant_from_before_the_ready_list():
    """`kefu-admin reindex`: an agent record with no place in the ready list
    (as every agent of a tenant from before it) is dispatched nothing by a
    request's drain; once reindexed, it is."""
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        ws = await Ws.connect(session, ann.token)
        key = {"pk": {"S": f"T#{tenant.id}"}, "sk": {"S": "AGENT#ann"}}
        dynamodb().update_item(TableName=TABLE, Key=key, UpdateExpression="REMOVE gsi6pk, gsi6sk, rev")
        s1 = await start(tenant)
        assert s1["state"] == "waiting", "not in the list: a request's drain does not see her"
        # And s1 as a session open from before the open list (gsi7) was listed.
        session_key = {"pk": {"S": f"T#{tenant.id}#S#{s1['id']}"}, "sk": {"S": "SESSION"}}
        dynamodb().update_item(TableName=TABLE, Key=session_key,
                               UpdateExpression="SET gsi2pk = :p, gsi2sk = :s REMOVE gsi7pk, gsi7sk",
                               ExpressionAttributeValues={":p": {"S": f"T#{tenant.id}#open"},
                                                          ":s": {"S": f"000000000000001#{s1['id']}"}})
        assert (await tenant.admin.ok("GET", "/sessions?scope=all"))["items"] == []

        out = admin_cli("reindex", tenant.id)
        # The admin is offline: not listed.
        assert out == {"agents": 2, "listedAgain": 1, "shards": 1, "openSessionsMoved": 1}, out
        item = dynamodb().get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
        assert item["gsi6pk"]["S"] == f"T#{tenant.id}#READY#0"
        assert [x["id"] for x in (await tenant.admin.ok("GET", "/sessions?scope=all"))["items"]] == [s1["id"]]
        s2 = await start(tenant)
        assert s2["state"] == "active" and s2["agent"] == {"nickname": "Ann"}
        await ws.close()

    run(body)
