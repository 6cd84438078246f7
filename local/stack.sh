#!/usr/bin/env bash
# The local stack: DynamoDB (moto, one request at a time) on :8000,
# `cargo lambda watch` on :9000, and the local API Gateway on :3000 (HTTP) and
# :3001 (WebSocket). Logs and pids go to .local/.
#
#   local/stack.sh start [reload]   reload: functions rebuild when their code
#                                   changes (make dev); without it they never
#                                   do, so tests never race a rebuild (make test)
#   local/stack.sh follow           show the logs until Ctrl-C, then stop
#   local/stack.sh stop | status
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=.local
BIN=$PWD/.venv/bin
mkdir -p "$RUN"

# Functions get their environment from [workspace.metadata.lambda.env] in
# Cargo.toml; these are for the tools started here.
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_ENDPOINT_URL_DYNAMODB=${AWS_ENDPOINT_URL_DYNAMODB:-http://127.0.0.1:8000} TABLE_NAME=${TABLE_NAME:-kefu}
# Instances per function: Lambda runs many at once, and so must we, or races
# Lambda would expose stay hidden.
CONCURRENCY=${KEFU_LAMBDA_CONCURRENCY:-8}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # port name
  for _ in $(seq 1 600); do listening "$1" && return 0; sleep 0.2; done
  echo "$2 did not start on :$1; see $RUN/$2.log" >&2; exit 1
}

launch() { # name port command...
  local name=$1 port=$2; shift 2
  if listening "$port"; then echo "$name: already on :$port"; return; fi
  # A new file: what a stopped predecessor still writes goes to the old one.
  rm -f "$RUN/$name.log"
  setsid "$@" >"$RUN/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
  wait_for "$port" "$name"
  echo "$name: on :$port"
}

start() {
  # DynamoDB Local or any other compatible server already on :8000 is used as is.
  launch dynamodb 8000 "$BIN/python" local/dynamodb.py --port 8000
  "$BIN/python" local/tables.py
  # Restart our watcher in the mode asked for (a stable one would not pick up
  # binaries rebuilt since it started).
  local reload=--ignore-changes
  [ "${1:-}" = reload ] && reload=
  stop_one lambda 9000
  launch lambda 9000 env PATH="$BIN:$PATH" "$BIN/cargo-lambda" lambda watch $reload \
    --concurrency "$CONCURRENCY" --invoke-address 127.0.0.1 --invoke-port 9000
  # The gateway reads template.yaml and its own code at start: restart ours too.
  stop_one gateway 3000
  launch gateway 3000 "$BIN/python" local/gateway.py --http-port 3000 --ws-port 3001
  wait_for 3001 gateway
}

stop_one() {
  if [ -f "$RUN/$1.pid" ]; then
    kill -- "-$(cat "$RUN/$1.pid")" 2>/dev/null || true
    rm -f "$RUN/$1.pid"
    for _ in $(seq 1 50); do listening "${2:-0}" || break; sleep 0.1; done
    echo "$1: stopped"
  fi
}

stop() {
  stop_one gateway 3000
  stop_one lambda 9000
  stop_one dynamodb 8000
}

follow() {
  trap 'echo; stop; exit 0' INT TERM
  tail -n 0 -F "$RUN/gateway.log" "$RUN/lambda.log" "$RUN/dynamodb.log" &
  wait
}

status() {
  for p in 8000:dynamodb 9000:lambda 3000:http-api 3001:websocket-api; do
    if listening "${p%%:*}"; then echo "${p#*:}: up on :${p%%:*}"; else echo "${p#*:}: down"; fi
  done
}

case "${1:-}" in
  start) start "${2:-}" ;;
  follow) follow ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [reload] | follow | stop | status" >&2; exit 2 ;;
esac
