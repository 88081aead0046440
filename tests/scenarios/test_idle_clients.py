"""Slow and idle clients: connections that never finish their header do not freeze the service."""

import contextlib
import socket
import time
import urllib.request

from tests.support.servers import gunicorn_server

HALF_HEADER = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def test_healthz_answers_while_idle_clients_hold_half_a_header(paths):
    with gunicorn_server(paths, workers=2) as (url, _), contextlib.ExitStack() as stack:
        port = int(url.rsplit(":", 1)[1])
        for _ in range(4):
            idle = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            idle.sendall(HALF_HEADER)  # and never the end of the header
        time.sleep(0.5)  # let the workers pick the idle connections up
        started = time.monotonic()
        with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
            assert response.status == 200
        assert time.monotonic() - started < 2.0
