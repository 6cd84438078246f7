"""A small Kefu client for the end-to-end tests: real HTTP and WebSocket
clients against the local gateway, as a frontend would use them."""

import asyncio
import json
import os
import subprocess
import uuid

import aiohttp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_CLI = os.path.join(ROOT, "target", "debug", "kefu-admin")
TIMEOUT = float(os.environ.get("KEFU_TEST_TIMEOUT", "30"))

# The local stack's environment (local/env, as local/stack.sh derives it):
# its ports, table, key, and the credentials the admin CLI and the tests use.
def parse_env(text):
    """`KEY=VALUE` lines (what `local/stack.sh env` prints) as a dict."""
    return dict(line.split("=", 1) for line in text.splitlines())


LOCAL_ENV = parse_env(subprocess.run([os.path.join(ROOT, "local", "stack.sh"), "env"], check=True,
                                     capture_output=True, text=True).stdout)
HTTP = f"http://127.0.0.1:{LOCAL_ENV['KEFU_HTTP_PORT']}"
WS = f"ws://127.0.0.1:{LOCAL_ENV['KEFU_WS_PORT']}"
STACK_PORTS = tuple(int(LOCAL_ENV[f"KEFU_{p}_PORT"]) for p in ("HTTP", "WS", "DYNAMODB", "LAMBDA"))


TABLE = LOCAL_ENV["TABLE_NAME"]


def dynamodb():
    """A client of the local stack's DynamoDB, as its operator (not a function)."""
    import boto3

    return boto3.client("dynamodb", region_name=LOCAL_ENV["AWS_REGION"],
                        endpoint_url=LOCAL_ENV["AWS_ENDPOINT_URL_DYNAMODB"],
                        aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"])


async def eventually(check, timeout=5.0):
    """`await check()` until it passes (no AssertionError), for at most
    `timeout` seconds: for reads of an index, which trails its table on real
    DynamoDB. Its last failure is raised."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


def _owner_key(tenant_id, role, user_id):
    if role == "visitor":
        return {"pk": {"S": f"T#{tenant_id}#V#{user_id}"}, "sk": {"S": "VISITOR"}}
    return {"pk": {"S": f"T#{tenant_id}"}, "sk": {"S": f"AGENT#{user_id}"}}


def plant_stale_connection(tenant_id, role, user_id, conn_id):
    """A connection whose $disconnect was lost: recorded, but gone from the
    gateway, so the first push to it gets 410 Gone."""
    db = dynamodb()
    db.update_item(TableName=TABLE, Key=_owner_key(tenant_id, role, user_id), UpdateExpression="SET conns.#c = :e",
                   ExpressionAttributeNames={"#c": conn_id}, ExpressionAttributeValues={":e": {"N": "99999999999999"}})
    db.put_item(TableName=TABLE, Item={"pk": {"S": f"CONN#{conn_id}"}, "sk": {"S": "CONN"}, "id": {"S": conn_id},
                                        "tenant": {"S": tenant_id}, "role": {"S": role}, "userId": {"S": user_id},
                                        "connectedAt": {"N": "0"}, "expiresAtMs": {"N": "99999999999999"}})


def assert_connection_removed(tenant_id, role, user_id, conn_id, live=1):
    """The stale connection is gone from its owner and from the table; `live` remain."""
    db = dynamodb()
    conns = db.get_item(TableName=TABLE, Key=_owner_key(tenant_id, role, user_id), ConsistentRead=True)["Item"]["conns"]["M"]
    assert conn_id not in conns and len(conns) == live, conns
    assert "Item" not in db.get_item(TableName=TABLE, Key={"pk": {"S": f"CONN#{conn_id}"}, "sk": {"S": "CONN"}})


def admin_cli(*args):
    env = {**LOCAL_ENV, **os.environ}
    out = subprocess.run([ADMIN_CLI, *args], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


class Http:
    def __init__(self, session, token=None):
        self.session = session
        self.token = token

    async def call(self, method, path, body=None, token=..., raw=None):
        """(status, json body)."""
        token = self.token if token is ... else token
        headers = {"authorization": f"Bearer {token}"} if token else {}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        async with self.session.request(method, HTTP + path, data=data, headers=headers) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None)

    async def ok(self, method, path, body=None, expect=(200, 201)):
        status, out = await self.call(method, path, body)
        assert status in ((expect,) if isinstance(expect, int) else expect), (method, path, status, out)
        return out

    async def pages(self, path, limit):
        """Every page of a list (`path` with its query, if any), `limit`
        items at a time, following `nextCursor`: the pages' items."""
        pages, cursor, sep = [], None, "&" if "?" in path else "?"
        while True:
            page = await self.ok("GET", f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
            assert len(page["items"]) <= limit, page
            pages.append(page["items"])
            cursor = page["nextCursor"]
            if not cursor:
                return pages


class Ws:
    """A WebSocket client: `request` sends an action and waits for the frame
    answering its requestId; everything else lands in `events`."""

    def __init__(self, ws, session):
        self.ws = ws
        self.session = session
        self.events = []
        self.replies = {}
        self.changed = asyncio.Condition()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, session, token, headers=None):
        ws = await session.ws_connect(f"{WS}/?token={token}", autoping=True, max_msg_size=0, headers=headers)
        return cls(ws, session)

    async def _read(self):
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            async with self.changed:
                if "requestId" in frame:
                    self.replies[frame["requestId"]] = frame
                else:
                    self.events.append(frame)
                self.changed.notify_all()
        async with self.changed:
            self.changed.notify_all()

    async def send_raw(self, text):
        await self.ws.send_str(text)

    async def request(self, action, **fields):
        rid = uuid.uuid4().hex
        await self.ws.send_str(json.dumps({"action": action, "requestId": rid, **fields}))
        return await self.reply(rid)

    async def reply(self, rid):
        """The answer to a frame sent raw with requestId `rid`."""
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: rid in self.replies or self.ws.closed), TIMEOUT)
        return self.replies.pop(rid)

    async def send_message(self, session_id, message, client_msg_id=None):
        return await self.request(
            "sendMessage", sessionId=session_id, clientMsgId=client_msg_id or uuid.uuid4().hex, message=message
        )

    async def wait_event(self, type_, pred=lambda e: True, timeout=TIMEOUT):
        """The first event of `type_` matching `pred` (consumed)."""
        match = lambda: next((e for e in self.events if e.get("type") == type_ and pred(e)), None)
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: match() is not None), timeout)
            e = match()
            self.events.remove(e)
            return e

    def seen(self, type_, pred=lambda e: True):
        return [e for e in self.events if e.get("type") == type_ and pred(e)]

    async def close(self):
        await self.ws.close()
        await self.reader


class Tenant:
    """A fresh tenant per test, so tests never see each other's data."""

    def __init__(self, session):
        self.session = session
        self.id = "t-" + uuid.uuid4().hex[:12]
        out = admin_cli("create-tenant", self.id, "Test " + self.id)
        self.admin = Http(session, out["token"])

    async def agent(self, agent_id, max_concurrent=5, status="idle", groups=(), nickname=None):
        """Creates an agent, sets its status; returns its Http (token set)."""
        await self.admin.ok("POST", "/agents", {
            "agentId": agent_id, "nickname": nickname or agent_id.title(), "realName": agent_id.title() + " Real",
            "maxConcurrent": max_concurrent,
        })
        for g in groups:
            await self.admin.ok("PUT", f"/skill-groups/{g}/members/{agent_id}")
        token = (await self.admin.ok("POST", f"/agents/{agent_id}/token"))["token"]
        http = Http(self.session, token)
        if status:
            await http.ok("PUT", "/agents/me/status", {"status": status})
        return http

    async def visitor(self, name=None, channel="web", nickname=None):
        body = {"tenantId": self.id, "channel": channel}
        if name:
            body["name"] = name
        if nickname:
            body["nickname"] = nickname
        out = await Http(self.session).ok("POST", "/visitor/token", body)
        return Http(self.session, out["token"]), out["visitorId"]


def run(coro):
    """Runs an async test body with one HTTP session."""

    async def main():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            return await coro(session)

    return asyncio.run(main())
