"""The local API Gateway: plays template.yaml's WebSocket API (with its
`$connect` authorizer, route selection on `action`, route responses and the
`@connections` management API), its HTTP API (with its Lambda authorizer), its rate() schedules, and the table's
TTL and stream event-source mapping (local/streams.py), invoking functions
through `cargo lambda watch`'s Invoke API with AWS's own event shapes.

Schedules run every LOCAL_SCHEDULE_SECS when that is set (tests run on
seconds, not minutes); TTL deletes every LOCAL_TTL_SECS and the stream is
read every LOCAL_STREAM_POLL_SECS. `GET /_kefu/timers` on the WebSocket port
reports them; `POST /_kefu/timers {"schedules": false, "ttl": true,
"stream": true}` switches each off or on. `GET /_kefu/connections` reports,
per connection id, how many `@connections` posts were answered 410 Gone.

    python local/gateway.py [--http-port 3000] [--ws-port 3001] [--lambda-url http://127.0.0.1:9000]

Behaviour follows API Gateway where a client can tell:
- WebSocket: a missing token is refused with 401 before the authorizer runs;
  an authorizer failing with "Unauthorized" gives 401, a Deny policy 403;
  a `$connect` answering non-2xx refuses the handshake with that status;
  messages over 128 KB close the connection (1009); pushes to a connection
  still inside its `$connect`, or gone, answer 410 GoneException.
- HTTP: no route → 404 {"message":"Not Found"}; missing identity → 401
  {"message":"Unauthorized"}; authorizer says no → 403 {"message":"Forbidden"};
  a function that fails → 500 {"message":"Internal Server Error"}.
"""

import argparse
import asyncio
import base64
import collections
import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from aiohttp import ClientError, ClientSession, ClientTimeout, WSMsgType, web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iam  # noqa: E402
import streams  # noqa: E402
import template  # noqa: E402
import translate  # noqa: E402

log = logging.getLogger("gateway")
ACCOUNT = "000000000000"
REGION = os.environ.get("AWS_REGION", "us-east-1")
API_ID = "local"
MAX_WS_MESSAGE = 128 * 1024


def now_ms():
    return int(time.time() * 1000)


def request_time(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")


def json_response(status, body, headers=None):
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


class Invoker:
    """Calls functions through the Lambda Invoke API of `cargo lambda watch`."""

    def __init__(self, base_url):
        self.base_url = base_url.rstrip("/")
        self.session = None

    async def start(self):
        # The first call of a function may wait for cargo to (re)build it.
        self.session = ClientSession(timeout=ClientTimeout(total=900))

    async def invoke(self, binary, event):
        """(ok, payload): ok is False when the function failed, or could not
        be reached or was cut off mid-invocation (its instance killed):
        Lambda answers those as failures too."""
        url = f"{self.base_url}/2015-03-31/functions/{binary}/invocations"
        try:
            return await self._invoke(url, binary, event)
        except ClientError as e:
            log.warning("function %s unreachable: %r", binary, e)
            return False, None

    async def _invoke(self, url, binary, event):
        async with self.session.post(url, json=event) as r:
            text = await r.text()
            try:
                payload = json.loads(text) if text else None
            except ValueError:
                payload = text
            failed = (
                r.status >= 300
                or "X-Amz-Function-Error" in r.headers
                or (isinstance(payload, dict) and "errorType" in payload and "errorMessage" in payload)
            )
            if failed:
                log.warning("function %s failed: %s %s", binary, r.status, text[:500])
            return not failed, payload


class Connection:
    def __init__(self, conn_id, ws, source_ip, user_agent):
        self.id = conn_id
        self.ws = ws
        self.connected_at = now_ms()
        self.last_active = self.connected_at
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.authorizer = None  # what the $connect authorizer returned
        self.lock = asyncio.Lock()

    async def send(self, text):
        async with self.lock:
            await self.ws.send_str(text)


class WebSocketApi:
    def __init__(self, spec, invoker, stage):
        self.routes = spec["routes"]
        self.identity_source = spec["identity_source"]
        self.invoker = invoker
        self.stage = stage
        self.connections = {}
        # `@connections` posts answered 410 Gone, per connection id (the
        # newest 10,000 ids): a connection cleaned up on its first Gone is
        # posted to once, never again.
        self.gone_posts = collections.OrderedDict()

    def context(self, conn_id, route_key, event_type, request, connected_at):
        t = now_ms()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": uuid.uuid4().hex,
            "requestTime": request_time(t),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": connected_at,
            "requestTimeEpoch": t,
            "identity": {"sourceIp": request["ip"], "userAgent": request["ua"]},
            "requestId": uuid.uuid4().hex,
            "domainName": request["host"],
            "connectionId": conn_id,
            "apiId": API_ID,
        }

    def missing_identity(self, query, headers):
        for src in self.identity_source:
            if src.startswith("route.request.querystring."):
                if not query.get(src.rsplit(".", 1)[1]):
                    return True
            elif src.startswith("route.request.header."):
                if not headers.get(src.rsplit(".", 1)[1]):
                    return True
        return False

    async def handle(self, request):
        conn_id = base64.b64encode(uuid.uuid4().bytes[:12]).decode()
        query = dict(request.query)
        headers = dict(request.headers)
        info = {"ip": request.remote or "127.0.0.1", "ua": headers.get("User-Agent", ""), "host": request.host}
        connected_at = now_ms()
        ctx = self.context(conn_id, "$connect", "CONNECT", info, connected_at)
        connect = self.routes["$connect"]
        multi_q = {k: request.query.getall(k) for k in request.query}
        multi_h = {k: request.headers.getall(k) for k in request.headers}

        if connect["authorizer"]:
            if self.missing_identity(query, headers):
                return web.Response(status=401, text="Unauthorized")
            event = {
                "type": "REQUEST",
                "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{self.stage}/$connect",
                "headers": headers,
                "multiValueHeaders": multi_h,
                "queryStringParameters": query,
                "multiValueQueryStringParameters": multi_q,
                "stageVariables": {},
                "requestContext": ctx,
            }
            ok, out = await self.invoker.invoke(connect["authorizer"], event)
            if not ok:
                unauthorized = isinstance(out, dict) and out.get("errorMessage") == "Unauthorized"
                return web.Response(status=401 if unauthorized else 500, text="Unauthorized" if unauthorized else "")
            statements = out.get("policyDocument", {}).get("Statement", [])
            if not statements or any(s.get("Effect") != "Allow" for s in statements):
                return web.Response(status=403, text="Forbidden")
            ctx["authorizer"] = {"principalId": out.get("principalId"), **(out.get("context") or {})}

        event = {
            "headers": headers,
            "multiValueHeaders": multi_h,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_q or None,
            "requestContext": ctx,
            "isBase64Encoded": False,
        }
        ok, out = await self.invoker.invoke(connect["binary"], event)
        status = (out or {}).get("statusCode", 200) if ok and isinstance(out, dict) else 500
        if not 200 <= status < 300:
            return web.Response(status=status)

        # Until here the connection is not open: pushes to it get 410 Gone, as
        # on API Gateway until $connect returns. Tests lengthen that window
        # (X-Kefu-Connect-Hold-Ms, at most 10 s) to race pushes against it.
        hold = headers.get("X-Kefu-Connect-Hold-Ms", "0")
        await asyncio.sleep(min(int(hold) if hold.isdigit() else 0, 10_000) / 1000)
        ws = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE, autoping=True)
        await ws.prepare(request)
        conn = Connection(conn_id, ws, info["ip"], info["ua"])
        conn.authorizer = ctx.get("authorizer")
        self.connections[conn_id] = conn
        log.info("connected %s", conn_id)
        tasks = set()
        try:
            async for msg in ws:
                conn.last_active = now_ms()
                if msg.type == WSMsgType.TEXT:
                    task = asyncio.create_task(self.message(conn, msg.data, False, info))
                elif msg.type == WSMsgType.BINARY:
                    task = asyncio.create_task(self.message(conn, base64.b64encode(msg.data).decode(), True, info))
                else:
                    break
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            self.connections.pop(conn_id, None)
            code = ws.close_code or 1005
            log.info("disconnected %s (%s)", conn_id, code)
            ctx = self.context(conn_id, "$disconnect", "DISCONNECT", info, connected_at)
            if conn.authorizer is not None:
                ctx["authorizer"] = conn.authorizer
            ctx["disconnectStatusCode"] = code
            ctx["disconnectReason"] = ""
            event = {"headers": headers, "requestContext": ctx, "isBase64Encoded": False}
            await self.invoker.invoke(self.routes["$disconnect"]["binary"], event)
        return ws

    def select(self, body, is_base64):
        """RouteSelectionExpression `$request.body.action`."""
        if is_base64:
            return "$default"
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError, RecursionError):
            # Not JSON, not an object, or nested past the parser's depth:
            # API Gateway cannot evaluate the expression and uses $default.
            return "$default"
        if isinstance(action, str) and not action.startswith("$") and action in self.routes:
            return action
        return "$default"

    async def message(self, conn, body, is_base64, info):
        route_key = self.select(body, is_base64)
        route = self.routes[route_key]
        ctx = self.context(conn.id, route_key, "MESSAGE", info, conn.connected_at)
        ctx["messageId"] = uuid.uuid4().hex
        if conn.authorizer is not None:
            # API Gateway hands the $connect authorizer's context to every
            # later route of the connection.
            ctx["authorizer"] = conn.authorizer
        event = {"requestContext": ctx, "body": body, "isBase64Encoded": is_base64}
        try:
            ok, out = await self.invoker.invoke(route["binary"], event)
        except Exception:  # the function could not be reached: an integration failure
            log.exception("invoking %s failed", route["binary"])
            ok, out = False, None
        if conn.ws.closed:
            return
        if not ok:
            # What API Gateway sends when an integration fails.
            await conn.send(json.dumps({"message": "Internal server error", "connectionId": conn.id, "requestId": ctx["requestId"]}))
        elif route["route_response"] and isinstance(out, dict) and out.get("body"):
            await conn.send(out["body"])

    # ---------------------------------------------------------- @connections
    async def post_to_connection(self, request):
        conn = self.connections.get(request.match_info["id"])
        if conn is None or conn.ws.closed:
            conn_id = request.match_info["id"]
            self.gone_posts[conn_id] = self.gone_posts.pop(conn_id, 0) + 1
            while len(self.gone_posts) > 10_000:
                self.gone_posts.popitem(last=False)
            return self.gone()
        data = await request.read()
        if len(data) > MAX_WS_MESSAGE:
            return json_response(413, {"message": "Request entity too large"}, {"x-amzn-ErrorType": "PayloadTooLargeException"})
        try:
            await conn.send(data.decode("utf-8"))
        except (ConnectionResetError, RuntimeError):
            return self.gone()
        return web.Response(status=200)

    async def get_connection(self, request):
        conn = self.connections.get(request.match_info["id"])
        if conn is None:
            return self.gone()
        iso = lambda ms: datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat().replace("+00:00", "Z")
        return json_response(200, {
            "connectedAt": iso(conn.connected_at),
            "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
            "lastActiveAt": iso(conn.last_active),
        })

    async def delete_connection(self, request):
        conn = self.connections.get(request.match_info["id"])
        if conn is None:
            return self.gone()
        await conn.ws.close(code=1000)
        return web.Response(status=204)

    def iam_middleware(self, grants):
        """A function may manage connections only as its role allows
        (execute-api:ManageConnections per method, local/iam.py)."""
        @web.middleware
        async def check(request, handler):
            if request.path.endswith("/_kefu/iam"):
                return json_response(200, grants.report())
            if "/@connections/" in request.path:
                who = iam.identity(request.headers.get("User-Agent"))
                if grants.check(who, "connections", [request.method], request.headers.get("User-Agent")) is not None:
                    resource = f"arn:aws:execute-api:{iam.REGION}:{iam.ACCOUNT}:local/{self.stage}/{request.method}/@connections/*"
                    return json_response(403, {
                        "Message": f"User: {iam.role_arn(who)} is not authorized to perform: execute-api:ManageConnections on resource: {resource}",
                    }, {"x-amzn-ErrorType": "AccessDeniedException"})
            return await handler(request)
        return check

    @staticmethod
    def gone():
        return json_response(410, {"__type": "GoneException", "message": "Gone"}, {"x-amzn-ErrorType": "GoneException"})


class HttpApi:
    def __init__(self, spec, invoker):
        self.invoker = invoker
        self.authorizer = spec["authorizer"]
        self.identity_headers = [h.lower() for h in spec["identity_headers"]]
        self.routes = []
        for method, path, binary, public in spec["routes"]:
            regex = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")
            literal = sum(1 for seg in path.split("/") if seg and not seg.startswith("{"))
            self.routes.append((method, regex, f"{method} {path}", binary, public, literal))

    def match(self, method, path):
        found = [r for r in self.routes if r[0] == method and r[1].match(path)]
        return max(found, key=lambda r: r[5]) if found else None

    async def handle(self, request):
        cors = {"access-control-allow-origin": "*"}
        if request.method == "OPTIONS":
            return web.Response(status=204, headers={
                **cors,
                "access-control-allow-methods": "GET,POST,PUT,PATCH,DELETE,OPTIONS",
                "access-control-allow-headers": "authorization,content-type",
            })
        route = self.match(request.method, request.path)
        if route is None:
            return json_response(404, {"message": "Not Found"}, cors)
        method, regex, route_key, binary, public, _ = route
        raw = await request.read()
        try:
            body, is_b64 = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            body, is_b64 = base64.b64encode(raw).decode(), True
        headers = {k.lower(): ", ".join(request.headers.getall(k)) for k in request.headers}
        t = now_ms()
        query = {k: ",".join(request.query.getall(k)) for k in request.query}
        ctx = {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
                "sourceIp": request.remote or "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "time": request_time(t),
            "timeEpoch": t,
        }
        params = regex.match(request.path).groupdict()
        event = {
            "version": "2.0",
            "routeKey": route_key,
            # As API Gateway passes them: still percent-encoded.
            "rawPath": request.rel_url.raw_path,
            "rawQueryString": request.rel_url.raw_query_string,
            "headers": headers,
            "requestContext": ctx,
            "isBase64Encoded": is_b64,
        }
        if query:
            event["queryStringParameters"] = query
        if params:
            event["pathParameters"] = params
        if raw:
            event["body"] = body

        if not public and self.authorizer:
            identity = [headers.get(h) for h in self.identity_headers]
            if not all(identity):
                return json_response(401, {"message": "Unauthorized"}, cors)
            auth_event = {
                **{k: v for k, v in event.items() if k != "body" and k != "isBase64Encoded"},
                "type": "REQUEST",
                "routeArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/$default/{request.method}{request.path}",
                "identitySource": identity,
            }
            ok, out = await self.invoker.invoke(self.authorizer, auth_event)
            if not ok:
                return json_response(500, {"message": "Internal Server Error"}, cors)
            if not (isinstance(out, dict) and out.get("isAuthorized") is True):
                return json_response(403, {"message": "Forbidden"}, cors)
            ctx["authorizer"] = {"lambda": out.get("context") or {}}

        ok, out = await self.invoker.invoke(binary, event)
        if not ok or not isinstance(out, dict):
            return json_response(500, {"message": "Internal Server Error"}, cors)
        payload = out.get("body") or ""
        data = base64.b64decode(payload) if out.get("isBase64Encoded") else payload.encode()
        resp_headers = {**cors, **{k: str(v) for k, v in (out.get("headers") or {}).items()}}
        return web.Response(status=out.get("statusCode", 200), body=data, headers=resp_headers)


# Whether rate() schedules run (POST /_kefu/timers {"schedules": false}).
SCHEDULES = {"enabled": True, "runs": 0}


async def run_schedule(invoker, binary, seconds):
    while True:
        await asyncio.sleep(seconds)
        if not SCHEDULES["enabled"]:
            continue
        SCHEDULES["runs"] += 1
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/local-{binary}"],
            "detail": {},
        }
        await invoker.invoke(binary, event)


async def serve(args):
    t = template.load()
    invoker = Invoker(args.lambda_url)
    await invoker.start()

    ws_api = WebSocketApi(template.websocket(t), invoker, args.stage)
    grants = iam.Grants()
    ws_app = web.Application(client_max_size=MAX_WS_MESSAGE * 2, middlewares=[ws_api.iam_middleware(grants)])
    # The TranslateText emulator (local/translate.py) on this port's root.
    translate.routes(ws_app, grants, iam)
    for prefix in ("", f"/{args.stage}"):
        ws_app.router.add_get(prefix or "/", ws_api.handle)
        ws_app.router.add_post(prefix + "/@connections/{id}", ws_api.post_to_connection)
        ws_app.router.add_get(prefix + "/@connections/{id}", ws_api.get_connection)
        ws_app.router.add_delete(prefix + "/@connections/{id}", ws_api.delete_connection)

    http_api = HttpApi(template.http(t), invoker)
    http_app = web.Application(client_max_size=10 * 1024 * 1024)
    http_app.router.add_route("*", "/{tail:.*}", http_api.handle)

    events = streams.TableEvents(
        os.environ.get("TABLE_NAME", "kefu"), template.ttl_attribute(t), template.stream_mappings(t), invoker,
        ttl_secs=float(os.environ.get("LOCAL_TTL_SECS", "60")),
        poll_secs=float(os.environ.get("LOCAL_STREAM_POLL_SECS", "1")))

    async def timers(request):
        if request.method == "POST":
            change = await request.json()
            for name in ("ttl", "stream"):
                if name in change:
                    events.enabled[name] = bool(change[name])
            if "schedules" in change:
                SCHEDULES["enabled"] = bool(change["schedules"])
        return json_response(200, {**events.report(), "schedules": SCHEDULES["enabled"], "scheduleRuns": SCHEDULES["runs"]})

    ws_app.router.add_get("/_kefu/timers", timers)
    ws_app.router.add_post("/_kefu/timers", timers)

    async def gone_posts(request):
        return json_response(200, {"gone": dict(ws_api.gone_posts)})

    ws_app.router.add_get("/_kefu/connections", gone_posts)

    runners = []
    for app, port in ((http_app, args.http_port), (ws_app, args.ws_port)):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, args.host, port).start()
        runners.append(runner)
    every = os.environ.get("LOCAL_SCHEDULE_SECS")
    for binary, seconds in template.schedules(t):
        asyncio.create_task(run_schedule(invoker, binary, float(every) if every else seconds))
    await events.start()
    log.info("HTTP API on http://%s:%s, WebSocket API on ws://%s:%s", args.host, args.http_port, args.host, args.ws_port)
    await asyncio.Event().wait()


def main():
    p = argparse.ArgumentParser(description="Kefu's local API Gateway")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--http-port", type=int, default=3000)
    p.add_argument("--ws-port", type=int, default=3001)
    p.add_argument("--lambda-url", default="http://127.0.0.1:9000")
    p.add_argument("--stage", default="prod")
    args = p.parse_args()
    logging.basicConfig(level=os.environ.get("GATEWAY_LOG", "INFO"), format="%(asctime)s gateway %(levelname)s %(message)s")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
