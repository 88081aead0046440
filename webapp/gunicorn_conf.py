"""gunicorn settings shared by `make run` and the container (HOST, PORT, WORKERS override)."""

import gc
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WORKERS", "2"))
# Batch uploads are scored inside the request; give them time before the worker is recycled.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
control_socket_disable = True  # several servers (tests, instances) must not share one socket


def post_worker_init(worker):
    """The app's modules live as long as the worker: keep the garbage collector off them."""
    gc.collect()
    gc.freeze()
