"""gunicorn settings shared by `make run` and the container (HOST, PORT, WORKERS override)."""

import gc
import logging
import os

from gunicorn.workers import gthread

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WORKERS", "2"))
# Seconds a client may stay silent in the middle of a request (its header, its body) or while
# its answer is sent, before its connection is closed and its thread freed.
CLIENT_SILENCE_LIMIT = float(os.environ.get("CLIENT_SILENCE_LIMIT", "10"))


class SilenceLimitedConnection(gthread.TConn):
    """A gthread connection whose blocking reads and writes give up after the silence limit.

    gunicorn's gthread worker hands a connection to a thread as soon as its first bytes arrive,
    then reads the rest of the header with no time limit: clients that send half a header and
    stop held every thread (20 such sockets froze /healthz for good). With a socket timeout the
    thread gets a TimeoutError after CLIENT_SILENCE_LIMIT seconds of silence and closes it.
    """

    def init(self):
        super().init()
        self.sock.settimeout(CLIENT_SILENCE_LIMIT)


class SilenceLimitedWorker(gthread.ThreadWorker):
    """gunicorn's gthread worker, with connections that cannot stay silent for ever."""

    def accept(self, listener):
        try:
            client_sock, client_addr = listener.accept()
        except BlockingIOError:
            return  # another worker took it
        self.nr_conns += 1
        client_sock.setblocking(True)
        self.enqueue_req(SilenceLimitedConnection(self.cfg, client_sock, client_addr,
                                                  listener.getsockname()))


class SilentClientRecord(logging.Filter):
    """gunicorn logs a silent client's TimeoutError with a traceback, as if Vigie had failed:
    say it in one warning line instead."""

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, TimeoutError):
            record.msg, record.args, record.exc_info, record.exc_text = (
                "a client stayed silent %g s in the middle of a request: connection closed",
                (CLIENT_SILENCE_LIMIT,), None, None)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


# Threads, not sync workers: a sync worker belongs to one connection until its header ends, so
# two clients sending half a header froze the whole service. A gthread worker leaves silent
# connections in its poller, gives each started request one of THREADS threads, and (above)
# frees a thread whose client went silent; the nginx recipe of docs/operations.md in front
# buffers slow clients entirely in deployments.
worker_class = SilenceLimitedWorker
threads = int(os.environ.get("THREADS", "8"))
# No keep-alive by default: a kept-alive connection stays with the worker that accepted it, and
# a few busy clients (gateways) then pile up on one worker while the other idles: 8 clients got
# 320 to 1,040 requests/s from one start to the next. Closed after each answer, every request
# goes to whichever worker is free (785 to 953 in 21 runs, the same 1-client latency, 1 ms
# more for a 1,000-reading request); nginx in front talks to Vigie without keep-alive anyway.
# KEEPALIVE=<seconds> turns it on (docs/benchmarks.md).
keepalive = int(os.environ.get("KEEPALIVE", "0"))
# Batch files are scored in a background thread; this is the heartbeat of a worker's main loop.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
# Who may tell gunicorn that a request came over HTTPS (X-Forwarded-Proto): the proxies Vigie
# believes (webapp/__init__.py, trust_proxies), and nobody when Vigie is exposed directly.
if int(os.environ.get("VIGIE_TRUSTED_PROXIES") or 0):
    forwarded_allow_ips = os.environ.get("VIGIE_TRUSTED_PROXY_ADDRESSES") or "127.0.0.1,::1"
else:
    forwarded_allow_ips = ""
control_socket_disable = True  # several servers (tests, instances) must not share one socket


def post_worker_init(worker):
    """The app's modules live as long as the worker: keep the garbage collector off them."""
    gc.collect()
    gc.freeze()
    logging.getLogger("gunicorn.error").addFilter(SilentClientRecord())
