import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True, scope="session")
def stack():
    """The tests drive the local stack (`local/stack.sh start`, as `make test` does)."""
    from kefu import STACK_PORTS

    for port in STACK_PORTS:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                pytest.exit(f"the local stack is not running (nothing on :{port}); run `make test`", returncode=2)


def pytest_collection_modifyitems(session, config, items):
    """Tests marked `after_all` read what the whole run did: they go last."""
    items.sort(key=lambda item: item.get_closest_marker("after_all") is not None)


def pytest_configure(config):
    config.addinivalue_line("markers", "after_all: runs after every other test (it reads what they did)")
