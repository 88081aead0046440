"""A private nginx in front of N loopback upstreams, in the foreground, for the tests."""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import NamedTuple

import pytest

from tests.support.servers import ROOT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY_NGINX = os.path.join(ROOT, "deploy", "nginx")
PROXY_CONF = os.path.join(DEPLOY_NGINX, "vigie-proxy.conf")
# The TLS site's own files (deploy/nginx/site-https.conf includes the same two).
TLS_CONF = os.path.join(DEPLOY_NGINX, "vigie-tls.conf")
TO_HTTPS_CONF = os.path.join(DEPLOY_NGINX, "vigie-to-https.conf")
# nginx reaches the instances from this loopback address, and clients from 127.0.0.1 (or any
# other): an instance told to believe forwarded headers from PROXY_SOURCE only can tell them
# apart, as it tells nginx's container address from the others in deploy/compose.yaml.
PROXY_SOURCE = "127.0.0.2"
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
    proxy_bind {source};
    upstream vigie {{
{servers}
    }}
{sites}
}}
"""
PLAIN_SITE = """    server {{
        listen 127.0.0.1:{port};
        add_header X-Vigie-Upstream $upstream_addr always;  # which instance answered (tests)
        include {proxy_conf};
    }}"""
# As deploy/nginx/site-https.conf, on loopback ports: plain HTTP redirected, TLS proxied.
TLS_SITE = """    server {{
        listen 127.0.0.1:{port};
        set $vigie_https_host 127.0.0.1:{tls_port};
        include {to_https_conf};
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        add_header X-Vigie-Upstream $upstream_addr always;
        include {tls_conf};
        include {proxy_conf};
    }}"""


def render_config(prefix, port, upstream_ports, tls_port=None):
    """nginx.conf for a private instance; every path it writes lies inside `prefix`.

    With `tls_port`, the TLS site: the certificate is read from `prefix`/tls (vigie-tls.conf
    names it relative to the configuration file, which lies in `prefix`).
    """
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;"
                        for p in upstream_ports)
    site = TLS_SITE if tls_port else PLAIN_SITE
    sites = site.format(port=port, tls_port=tls_port, proxy_conf=PROXY_CONF, tls_conf=TLS_CONF,
                        to_https_conf=TO_HTTPS_CONF)
    return CONFIG.format(prefix=prefix, servers=servers, sites=sites, source=PROXY_SOURCE)


def make_certificate(folder, host="127.0.0.1"):
    """A throwaway self-signed certificate for `host`: folder/server.crt and server.key."""
    os.makedirs(folder, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
                    "-keyout", os.path.join(folder, "server.key"),
                    "-out", os.path.join(folder, "server.crt")],
                   check=True, capture_output=True, timeout=60)
    return os.path.join(folder, "server.crt")


class Proxy(NamedTuple):
    """A running nginx: the URL clients use, its folder, and its plain-HTTP URL."""

    url: str
    prefix: str
    plain_url: str


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
def nginx_proxy(upstream_ports, tls=False):
    """Run nginx in front of `upstream_ports`; yields a Proxy. Stopped after.

    With `tls`, the TLS site with a throwaway certificate (prefix/tls/server.crt): base_url is
    https://, and plain_url the plain-HTTP address that redirects to it.
    """
    require_nginx()
    # Under /tmp, not pytest's private tmp folder: nginx's workers run as an unprivileged user
    # when root starts it, and must reach the body buffers in the prefix.
    prefix = tempfile.mkdtemp(prefix="vigie-nginx-")
    os.chmod(prefix, 0o755)
    for name in TEMP_FOLDERS:
        os.makedirs(os.path.join(prefix, name), mode=0o777)
        os.chmod(os.path.join(prefix, name), 0o777)
    port = free_port()
    tls_port = free_port() if tls else None
    if tls:
        make_certificate(os.path.join(prefix, "tls"))
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w", encoding="utf-8") as handle:
        handle.write(render_config(prefix, port, upstream_ports, tls_port))
    process = subprocess.Popen([NGINX, "-c", conf, "-p", prefix], stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(prefix, "stderr.log"), "wb"),
                               start_new_session=True)
    try:
        _wait_listening(port, process)
        plain_url = f"http://127.0.0.1:{port}"
        if tls:
            _wait_listening(tls_port, process)
            yield Proxy(f"https://127.0.0.1:{tls_port}", prefix, plain_url)
        else:
            yield Proxy(plain_url, prefix, plain_url)
    finally:
        process.terminate()  # TERM: fast shutdown of master and workers
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        shutil.rmtree(prefix, ignore_errors=True)
