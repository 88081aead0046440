"""gunicorn settings shared by `make run` and the container (HOST, PORT, WORKERS override)."""

import gc
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WORKERS", "2"))
# Threads, not sync workers: a sync worker belongs to one connection until its header ends, so
# two clients sending half a header froze the whole service. A gthread worker leaves silent
# connections in its poller and gives each started request one of THREADS threads; the nginx
# recipe of docs/operations.md in front buffers headers of slow clients in deployments.
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "8"))
keepalive = 2  # seconds an idle kept-alive connection is kept: short, connections are cheap
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
