#!/usr/bin/env bash
# The local stack: DynamoDB (moto, one request at a time), `cargo lambda
# watch`, and the local API Gateway (HTTP and WebSocket APIs), on the ports
# of local/env. Logs and pids go to .local/.
#
#   local/stack.sh start [reload]   reload: functions rebuild when their code
#                                   changes (make dev); without it they never
#                                   do, so tests never race a rebuild (make test)
#   local/stack.sh restart-functions
#                                   kill every function instance, in flight
#                                   or not, and start the watcher again (in
#                                   the mode the stack was started in)
#   local/stack.sh follow           show the logs until Ctrl-C, then stop
#   local/stack.sh stop | status
#   local/stack.sh env              the stack's environment, KEY=VALUE
#   local/stack.sh run CMD...       run CMD in that environment
#
# It only ever uses processes it started itself: a port held by anything else
# (another checkout's stack, say) is refused, never silently used.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=.local
BIN=$PWD/.venv/bin
mkdir -p "$RUN"

# local/env's KEY=VALUE lines (no blanks, no comments).
env_lines() { grep -v -e '^$' -e '^#' local/env; }

# local/env, under whatever the environment sets already.
while IFS= read -r line; do
  key=${line%%=*}
  [ -n "${!key+x}" ] || export "$key=${line#*=}"
done < <(env_lines)
export WS_ENDPOINT=${WS_ENDPOINT:-http://127.0.0.1:$KEFU_WS_PORT}
# Amazon Translate: the gateway's emulator (local/translate.py) unless it
# names another endpoint.
export AWS_ENDPOINT_URL_TRANSLATE=${AWS_ENDPOINT_URL_TRANSLATE:-http://127.0.0.1:$KEFU_WS_PORT}
# Another DynamoDB (DynamoDB Local, AWS) when AWS_ENDPOINT_URL_DYNAMODB names
# one; otherwise ours.
OWN_DYNAMODB=
if [ -z "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
  export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$KEFU_DYNAMODB_PORT
  OWN_DYNAMODB=1
  # Our moto serves Secrets Manager too (the key rotation tests use it).
  export AWS_ENDPOINT_URL_SECRETS_MANAGER=${AWS_ENDPOINT_URL_SECRETS_MANAGER:-$AWS_ENDPOINT_URL_DYNAMODB}
fi
# Instances per function: Lambda runs many at once, and so must we, or races
# Lambda would expose stay hidden.
CONCURRENCY=${KEFU_LAMBDA_CONCURRENCY:-8}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The process we started as `name` still runs (and, given a port, is what
# listens on it: a socket of its own, per /proc).
ours() { # name [port]
  [ -f "$RUN/$1.pid" ] || return 1
  local pid; pid=$(cat "$RUN/$1.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  [ -n "${2:-}" ] || return 0
  local inode
  for inode in $(awk -v port="$(printf ':%04X' "$2")" 'substr($2, length($2) - 4) == port && $4 == "0A" { print $10 }' \
                   /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    # Not `ls | grep -q`: grep quits at its match, and under pipefail the
    # listing's SIGPIPE (a process with many sockets) would fail the check.
    [[ $(ls -l "/proc/$pid/fd" 2>/dev/null) == *"socket:[$inode]"* ]] && return 0
  done
  return 1
}

wait_for() { # port name
  for _ in $(seq 1 600); do listening "$1" && return 0; sleep 0.2; done
  echo "$2 did not start on :$1; see $RUN/$2.log" >&2; exit 1
}

# Every port we are to serve is free or held by what we started: checked
# before anything is started or stopped.
check_ports() {
  local bad=0 p
  for p in ${OWN_DYNAMODB:+dynamodb:$KEFU_DYNAMODB_PORT} lambda:$KEFU_LAMBDA_PORT \
           gateway:$KEFU_HTTP_PORT gateway:$KEFU_WS_PORT; do
    if listening "${p#*:}" && ! ours "${p%%:*}" "${p#*:}"; then
      echo "port ${p#*:} is in use by a process this checkout did not start;" \
           "stop it, or give this stack other ports (KEFU_*_PORT, see local/env)" >&2
      bad=1
    fi
  done
  return $bad
}

launch() { # name port command...
  local name=$1 port=$2; shift 2
  if ours "$name" "$port"; then echo "$name: already on :$port"; return; fi
  # A new file: what a stopped predecessor still writes goes to the old one.
  rm -f "$RUN/$name.log"
  setsid "$@" >"$RUN/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
  wait_for "$port" "$name"
  echo "$name: on :$port"
}

start() {
  check_ports
  if [ -n "$OWN_DYNAMODB" ]; then
    launch dynamodb "$KEFU_DYNAMODB_PORT" "$BIN/python" local/dynamodb.py --port "$KEFU_DYNAMODB_PORT"
  else
    echo "dynamodb: using $AWS_ENDPOINT_URL_DYNAMODB"
  fi
  "$BIN/python" local/tables.py
  # Restart our watcher in the mode asked for (a stable one would not pick up
  # binaries rebuilt since it started).
  functions "${1:-}"
  # The gateway reads template.yaml and its own code at start: restart ours too.
  stop_one gateway "$KEFU_HTTP_PORT"
  launch gateway "$KEFU_HTTP_PORT" "$BIN/python" local/gateway.py --http-port "$KEFU_HTTP_PORT" \
    --ws-port "$KEFU_WS_PORT" --lambda-url "http://127.0.0.1:$KEFU_LAMBDA_PORT"
  wait_for "$KEFU_WS_PORT" gateway
}

# (Re)starts `cargo lambda watch`: every function instance is killed, in
# flight or not, as when Lambda replaces them all, and new ones start on the
# next invocations. reload: functions rebuild when their code changes.
functions() { # [reload]
  local reload=--ignore-changes
  [ "${1:-}" = reload ] && reload=
  echo "${1:-}" >"$RUN/lambda.mode"
  stop_one lambda "$KEFU_LAMBDA_PORT"
  launch lambda "$KEFU_LAMBDA_PORT" env PATH="$BIN:$PATH" "$BIN/cargo-lambda" lambda watch $reload \
    --concurrency "$CONCURRENCY" --invoke-address 127.0.0.1 --invoke-port "$KEFU_LAMBDA_PORT"
}

stop_one() { # name [port]
  if ours "$1"; then
    kill -- "-$(cat "$RUN/$1.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do listening "${2:-0}" || break; sleep 0.1; done
    echo "$1: stopped"
  fi
  rm -f "$RUN/$1.pid"
}

stop() {
  stop_one gateway "$KEFU_HTTP_PORT"
  stop_one lambda "$KEFU_LAMBDA_PORT"
  stop_one dynamodb "$KEFU_DYNAMODB_PORT"
}

follow() {
  trap 'echo; stop; exit 0' INT TERM
  tail -n 0 -F "$RUN/gateway.log" "$RUN/lambda.log" "$RUN/dynamodb.log" &
  wait
}

status() {
  local p
  for p in dynamodb:dynamodb:$KEFU_DYNAMODB_PORT lambda:lambda:$KEFU_LAMBDA_PORT \
           gateway:http-api:$KEFU_HTTP_PORT gateway:websocket-api:$KEFU_WS_PORT; do
    local name=${p%%:*} what=${p#*:}; local port=${what#*:}; what=${what%%:*}
    if ! listening "$port"; then echo "$what: down"
    elif ours "$name" "$port"; then echo "$what: up on :$port"
    else echo "$what: :$port is held by a process this checkout did not start"; fi
  done
}

env_() {
  while IFS= read -r line; do
    local key=${line%%=*}
    echo "$key=${!key}"
  done < <(env_lines)
  echo "WS_ENDPOINT=$WS_ENDPOINT"
  echo "AWS_ENDPOINT_URL_TRANSLATE=$AWS_ENDPOINT_URL_TRANSLATE"
  echo "AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB"
  [ -z "${AWS_ENDPOINT_URL_SECRETS_MANAGER:-}" ] || echo "AWS_ENDPOINT_URL_SECRETS_MANAGER=$AWS_ENDPOINT_URL_SECRETS_MANAGER"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  # In the mode the stack was started in.
  restart-functions)
    ours lambda "$KEFU_LAMBDA_PORT" || { echo "the functions are not running here: $0 start" >&2; exit 1; }
    functions "$(cat "$RUN/lambda.mode" 2>/dev/null || true)" ;;
  follow) follow ;;
  stop) stop ;;
  status) status ;;
  env) env_ ;;
  run) shift; exec "$@" ;;
  *) echo "usage: $0 start [reload] | restart-functions | follow | stop | status | env | run CMD..." >&2; exit 2 ;;
esac
