"""Slow and idle clients: connections that never finish their request do not freeze the service."""

import contextlib
import http.client
import os
import socket
import time
import urllib.request

from tests.support.servers import gunicorn_server

HALF_HEADER = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
THREADS = 2 * 8  # workers x threads of the project's gunicorn configuration
SILENCE = 2  # CLIENT_SILENCE_LIMIT for these tests, in seconds


def open_half_headers(stack, url, count):
    port = int(url.rsplit(":", 1)[1])
    for _ in range(count):
        idle = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        idle.sendall(HALF_HEADER)  # and never the end of the header


def healthz_seconds(url, timeout=30):
    started = time.monotonic()
    with urllib.request.urlopen(url + "/healthz", timeout=timeout) as response:
        assert response.status == 200
    return time.monotonic() - started


def test_healthz_answers_while_idle_clients_hold_half_a_header(paths):
    with gunicorn_server(paths, workers=2) as (url, _), contextlib.ExitStack() as stack:
        open_half_headers(stack, url, 4)
        time.sleep(0.5)  # let the workers pick the idle connections up
        assert healthz_seconds(url, timeout=10) < 2.0


def test_more_half_headers_than_threads_are_dropped_after_the_silence_limit(paths):
    """Before the limit, 20 such sockets froze /healthz for good (every thread blocked)."""
    env = {"CLIENT_SILENCE_LIMIT": str(SILENCE)}
    with gunicorn_server(paths, workers=2, extra_env=env) as (url, _), \
            contextlib.ExitStack() as stack:
        open_half_headers(stack, url, THREADS + 8)
        time.sleep(0.5)
        # Queued behind a few rounds of silent sockets (one worker may have taken most of
        # them; a loaded machine adds its own delays), never for good: before the limit these
        # requests timed out however long they waited. Measured alone: 5.5 s, then 0.00 s.
        for _ in range(3):
            assert healthz_seconds(url, timeout=60) < 15 * SILENCE
        # Every silent socket is still open: each is dropped by the limit, and logged so.
        text = wait_for_log(paths, "a client stayed silent", 12 * SILENCE)
    assert f"a client stayed silent {SILENCE} s in the middle of a request" in text
    assert "Traceback" not in text


def wait_for_log(paths, words, seconds):
    """The gunicorn log once it holds `words` (or when `seconds` have passed)."""
    deadline = time.monotonic() + seconds
    while True:
        with open(os.path.join(paths["LOG_DIR"], "gunicorn.out"), encoding="utf-8") as log:
            text = log.read()
        if words in text or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def test_a_body_that_stops_half_way_gets_a_4xx_after_the_silence_limit(paths):
    env = {"CLIENT_SILENCE_LIMIT": str(SILENCE)}
    with gunicorn_server(paths, workers=1, extra_env=env) as (url, _), \
            socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as client:
        client.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       b"application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nuser")
        client.settimeout(5 * SILENCE)
        status_line = client.recv(64).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 4"), status_line


def connection_header(url):
    """The Connection header of a /healthz answer to an HTTP/1.1 client that would keep it."""
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        return (response.getheader("Connection") or "").lower()
    finally:
        connection.close()


def test_connections_are_closed_after_each_answer_unless_keepalive_is_set(paths):
    """A kept-alive connection stays with one worker: a few busy clients then pile up on it
    while the other worker idles. By default each answer closes its connection."""
    with gunicorn_server(paths, workers=1) as (url, _):
        assert connection_header(url) == "close"
    with gunicorn_server(paths, workers=1, extra_env={"KEEPALIVE": "2"}) as (url, _):
        assert connection_header(url) == "keep-alive"
