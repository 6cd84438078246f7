"""A DynamoDB-compatible server for the local stack: moto, one request at a time.

The stock threaded `moto_server` is not atomic: concurrent conditional
updates can all pass their condition, and concurrent TransactWriteItems fail
with HTTP 500. Serialising requests behind a lock restores DynamoDB's
guarantees (conditional writes and transactions are atomic), which Kefu's
capacity rules depend on. Any other DynamoDB-compatible endpoint (DynamoDB
Local, AWS) works with Kefu unchanged; this is just the default.

    python local/dynamodb.py [--port 8000]
"""

import argparse
import logging
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class Serialized:
    """WSGI middleware: one request inside the app at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Consume the whole response inside the lock: the work happens
            # while the body is produced.
            return list(self.app(environ, start_response))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = Serialized(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
