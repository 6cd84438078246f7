"""The local stack cannot fool you (issue 7.7): it uses only processes it
started itself, its ports are configurable, and its environment is defined
once (local/env) for everything it starts and runs."""

import os
import socket
import subprocess

from kefu import ROOT, STACK_PORTS, parse_env

STACK = os.path.join(ROOT, "local", "stack.sh")


def stack(*args, **env):
    # As from a fresh shell: without what a surrounding `stack.sh run` derived.
    base = {k: v for k, v in os.environ.items() if k not in ("WS_ENDPOINT", "AWS_ENDPOINT_URL_DYNAMODB")}
    return subprocess.run([STACK, *args], env={**base, **env}, capture_output=True, text=True, timeout=120)


def test_a_port_held_by_another_process_is_refused_and_nothing_is_touched():
    """Say another checkout's stack holds a port: `start` must refuse rather
    than send this checkout's tests to that checkout's functions."""
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        out = stack("start", KEFU_HTTP_PORT=str(port))
        assert out.returncode != 0
        assert f"port {port} is in use by a process this checkout did not start" in out.stderr
        assert f":{port} is held by a process this checkout did not start" in stack("status", KEFU_HTTP_PORT=str(port)).stdout
    # The running stack was left as it was.
    status = stack("status").stdout
    for port in STACK_PORTS:
        assert f"up on :{port}" in status, status


def test_the_environment_is_local_env_under_what_is_set_already():
    env = parse_env(stack("env", KEFU_WS_PORT="4101", TABLE_NAME="other").stdout)
    assert env["TABLE_NAME"] == "other" and env["KEFU_WS_PORT"] == "4101"
    assert env["WS_ENDPOINT"] == "http://127.0.0.1:4101", "pushes go to the gateway's own port"
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == f"http://127.0.0.1:{env['KEFU_DYNAMODB_PORT']}"
    # Pointed at another DynamoDB, everything uses it (and the stack starts no moto).
    elsewhere = parse_env(stack("env", AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:8111").stdout)
    assert elsewhere["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:8111"
    # The functions run in it too: no Cargo.toml pins an endpoint, a port
    # or a table over it (a function's own section only names the function).
    for manifest in [os.path.join(ROOT, "Cargo.toml")] + [
        os.path.join(ROOT, "functions", f, "Cargo.toml") for f in os.listdir(os.path.join(ROOT, "functions"))
    ]:
        with open(manifest) as f:
            text = f.read()
        for name in ("AWS_ENDPOINT_URL", "WS_ENDPOINT", "TABLE_NAME", "JWT_SECRET", "AWS_ACCESS_KEY_ID"):
            assert name not in text, (manifest, name)
