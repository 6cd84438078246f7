"""Cold start and size (issue 12, measure 4): for each function, the size of
its release binary, and the time from process start to its first handled
invocation, served by a minimal Lambda Runtime API (the one `cargo lambda
watch` and Lambda itself speak: GET …/invocation/next, POST …/response).

    make stack
    cargo build --release --workspace        # (or arm64 builds, under emulation: BINARY below)
    local/stack.sh run .venv/bin/python tests/bench_coldstart.py [runs [function ...]]

Three figures per function, medians over `runs` fresh processes (default
5) each without and with the DynamoDB warm-up in init (`DYNAMODB_WARM_UP`,
`DynamoStore::warm_up`), alternating:
- init: process start → its first `GET …/invocation/next` (the runtime and
  everything `App::from_env` builds: the SDK configuration, the keys);
- first: process start → the answer to its first invocation, which makes
  the function's real DynamoDB requests against the local stack. The event
  is one a client's first call would cause; a function with no such event
  here gets an empty one (it answers with an error, no request), and its
  `first` is marked `*`;
- the first invocation alone: first − init, what a client's first call
  waits for once the function is up (the warm-up moves its connection
  set-up into init).

Locally DynamoDB is plain HTTP on this machine, so `first` has no TLS
handshake in it; on Lambda the first request also pays one (BENCHMARKS.md).
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

from kefu import LOCAL_ENV, ROOT, admin_cli

# Where each function's binary is ({name}: the function), and what runs it:
# by default the native release build; for arm64 builds (`cargo lambda
# build --release --arm64`), under emulation (their answers: emulated
# timings mean nothing):
#   COLDSTART_BINARY=target/lambda/{name}/bootstrap \
#   COLDSTART_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" local/stack.sh run ...
BINARY = os.path.join(ROOT, os.environ.get("COLDSTART_BINARY", os.path.join("target", "release", "{name}")))
RUNNER = os.environ.get("COLDSTART_RUNNER", "").split()


def binary(name):
    return BINARY.format(name=name)


class Runtime(http.server.ThreadingHTTPServer):
    """The Runtime API for one process: one invocation, then it is stopped
    (each process gets a runtime of its own, on a port of its own, so a
    stopped process's last call never reaches the next one)."""

    daemon_threads = True

    def __init__(self, event):
        super().__init__(("127.0.0.1", 0), Handler)
        self.event, self.started = event, time.perf_counter()
        self.init_ms = self.first_ms = self.answer = None
        self.done = threading.Event()
        self.served = False

    def handle_error(self, request, client_address):
        pass  # the stopped process's last call, cut off


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def do_GET(self):
        rt = self.server
        if not self.path.endswith("/invocation/next"):
            return self.send_error(404)
        if rt.served:  # the next invocation never comes; the process is stopped
            rt.done.wait(30)
            return self.send_error(503)
        rt.served = True
        rt.init_ms = (time.perf_counter() - rt.started) * 1000
        body = json.dumps(rt.event).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", uuid.uuid4().hex)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        rt = self.server
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        rt.first_ms = (time.perf_counter() - rt.started) * 1000
        rt.answer = (self.path.rsplit("/", 1)[-1], data)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        rt.done.set()


def http_event(route, path, principal, query=None):
    """An HTTP API (v2) event as API Gateway sends it after the authorizer."""
    method, _ = route.split(" ", 1)
    t = int(time.time() * 1000)
    ctx = {
        "accountId": "000000000000", "apiId": "local", "domainName": "localhost", "domainPrefix": "localhost",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
        "requestId": uuid.uuid4().hex, "routeKey": route, "stage": "$default", "time": "", "timeEpoch": t,
        "authorizer": {"lambda": principal},
    }
    event = {"version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "", "headers": {},
             "requestContext": ctx, "isBase64Encoded": False}
    if query:
        event["queryStringParameters"] = query
    return event


def events():
    """A first call for each function that can be given one without a
    conversation set up: a tenant and its admin, made here."""
    tenant = "t-" + uuid.uuid4().hex[:12]
    token = admin_cli("create-tenant", tenant, "Cold " + tenant)["token"]
    admin = {"tenant": tenant, "sub": "admin", "role": "admin"}
    authorizer = http_event("GET /sessions", "/sessions", {})
    authorizer.update({"type": "REQUEST", "identitySource": [f"Bearer {token}"],
                       "routeArn": "arn:aws:execute-api:us-east-1:000000000000:local/$default/GET/sessions"})
    authorizer["headers"] = {"authorization": f"Bearer {token}"}
    return {
        "authorizer-http": authorizer,
        "http-sessions": http_event("GET /sessions", "/sessions", admin),
        "http-agents": http_event("GET /agents", "/agents", admin),
        "http-settings": http_event("GET /settings", "/settings", admin),
        "http-languages": http_event("GET /languages", "/languages", admin),
        "http-queue": http_event("GET /queue", "/queue", admin),
        "http-stats": http_event("GET /stats/me", "/stats/me", admin),
        "http-history": http_event("GET /history", "/history", admin),
        # The schedule's event and an empty batch of stream records: the
        # sweeper's first run queries every timer shard and the waiting record.
        "timer-sweeper": {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}},
        "timer-stream": {"Records": []},
    }


def one_run(name, event, env):
    """One fresh process: (init ms, first answer ms, its answer)."""
    rt = Runtime(event)
    threading.Thread(target=rt.serve_forever, daemon=True).start()
    env = {**env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{rt.server_address[1]}"}
    rt.started = time.perf_counter()
    proc = subprocess.Popen(RUNNER + [binary(name)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not rt.done.wait(30):
            raise SystemExit(f"{name}: no answer in 30 s")
    finally:
        proc.kill()
        proc.wait()
        rt.shutdown()
        rt.server_close()
    return rt.init_ms, rt.first_ms, rt.answer


def measure(name, event, runs):
    """Medians over `runs` processes each without and with the DynamoDB
    warm-up in init (`DYNAMODB_WARM_UP`), alternating: {warm: (init, first,
    first - init)}, and the last answer."""
    base = {**os.environ, **LOCAL_ENV, "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_SDK_UA_APP_ID": name, "RUST_LOG": "warn"}
    seen = {False: [], True: []}
    answer = None
    for _ in range(runs):
        for warm in (False, True):
            init, first, answer = one_run(name, event, {**base, "DYNAMODB_WARM_UP": "1" if warm else "0"})
            seen[warm].append((init, first, first - init))
    medians = {warm: tuple(statistics.median(x[i] for x in runs_) for i in range(3)) for warm, runs_ in seen.items()}
    return medians, summary(*answer)


def summary(kind, body):
    """What the function answered: its HTTP status, the authorizer's verdict, or `error`."""
    if kind != "response":
        return kind
    out = json.loads(body) if body else None
    if isinstance(out, dict) and "statusCode" in out:
        return out["statusCode"]
    if isinstance(out, dict) and "isAuthorized" in out:
        return f"isAuthorized: {str(out['isAuthorized']).lower()}"
    return "answered"


def main(runs, only=None):
    functions = only or sorted(os.listdir(os.path.join(ROOT, "functions")))
    missing = [f for f in functions if not os.path.exists(binary(f))]
    if missing:
        raise SystemExit(f"no build of {', '.join(missing)} at {BINARY}: cargo build --release --workspace")
    known = events()
    print("| function | binary (stripped) | init p50 (warm-up off / on) | first answer p50 (off / on) "
          "| the first invocation alone p50 (off / on) | its answer |")
    print("|---|---:|---:|---:|---:|---|")
    for name in functions:
        size = os.path.getsize(binary(name)) / 1e6
        m, status = measure(name, known.get(name, {}), runs)
        mark = "" if name in known else " *"
        cells = [f"{m[False][i]:.1f} / {m[True][i]:.1f} ms" for i in range(3)]
        print(f"| `{name}` | {size:.2f} MB | {cells[0]} | {cells[1]}{mark} | {cells[2]} | {status} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, sys.argv[2:])
