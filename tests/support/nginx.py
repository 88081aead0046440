"""A private nginx in front of N loopback upstreams, in the foreground, for the tests."""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from tests.support.servers import ROOT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PROXY_CONF = os.path.join(ROOT, "deploy", "nginx", "vigie-proxy.conf")
TEMP_FOLDERS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

CONFIG = """daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream vigie {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        add_header X-Vigie-Upstream $upstream_addr always;  # which instance answered (tests)
        include {proxy_conf};
    }}
}}
"""


def render_config(prefix, port, upstream_ports):
    """nginx.conf for a private instance; every path it writes lies inside `prefix`."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;"
                        for p in upstream_ports)
    return CONFIG.format(prefix=prefix, port=port, servers=servers, proxy_conf=PROXY_CONF)


def nginx_missing_reason():
    """Why the nginx tests cannot run here, or None when they can."""
    if not os.path.exists(NGINX):
        return "nginx is not installed (apt-get install nginx-light)"
    return None


def require_nginx():
    """Skip with the reason when nginx is missing; under CI=true fail instead."""
    reason = nginx_missing_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the nginx tests: {reason}")
    pytest.skip(reason)


def _wait_listening(port, process, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port} within {timeout} s")


@contextlib.contextmanager
def nginx_proxy(upstream_ports):
    """Run nginx in front of `upstream_ports`; yields (base_url, prefix). Stopped after."""
    require_nginx()
    # Under /tmp, not pytest's private tmp folder: nginx's workers run as an unprivileged user
    # when root starts it, and must reach the body buffers in the prefix.
    prefix = tempfile.mkdtemp(prefix="vigie-nginx-")
    os.chmod(prefix, 0o755)
    for name in TEMP_FOLDERS:
        os.makedirs(os.path.join(prefix, name), mode=0o777)
        os.chmod(os.path.join(prefix, name), 0o777)
    port = free_port()
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w", encoding="utf-8") as handle:
        handle.write(render_config(prefix, port, upstream_ports))
    process = subprocess.Popen([NGINX, "-c", conf, "-p", prefix], stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(prefix, "stderr.log"), "wb"),
                               start_new_session=True)
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}", prefix
    finally:
        process.terminate()  # TERM: fast shutdown of master and workers
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        shutil.rmtree(prefix, ignore_errors=True)
