"""deploy/: nginx accepts the cluster configuration; Vigie believes only the declared proxy."""

import os
import subprocess
import tempfile

from tests.support.servers import ROOT
from tests.support.nginx import NGINX, PROXY_CONF, require_nginx
from webapp import create_app

DEPLOY_CONF = os.path.join(ROOT, "deploy", "nginx", "nginx.conf")


def test_the_compose_nginx_configuration_is_valid_for_nginx():
    require_nginx()
    with open(DEPLOY_CONF, encoding="utf-8") as handle:
        text = handle.read()
    with tempfile.TemporaryDirectory() as prefix:
        # Only what needs the containers changes: host names, paths, the listening port.
        text = (text.replace("vigie1:8000", "127.0.0.1:1").replace("vigie2:8000", "127.0.0.1:2")
                .replace("/etc/nginx/vigie-proxy.conf", PROXY_CONF)
                .replace("listen 80;", "listen 127.0.0.1:1;")
                .replace("/dev/stdout", f"{prefix}/access.log")
                .replace("/dev/stderr", f"{prefix}/error.log"))
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write(f"pid {prefix}/nginx.pid;\n" + text)
        result = subprocess.run([NGINX, "-t", "-c", conf, "-p", prefix, "-e",
                                 f"{prefix}/error.log"], capture_output=True, text=True,
                                timeout=30)
    assert result.returncode == 0, result.stderr


def remote_addr_and_scheme(paths, trusted, headers):
    app = create_app({**paths, "TESTING": True, "ADMIN_PASSWORD": "admin-pass-123",
                      "TRUSTED_PROXIES": trusted})
    seen = {}

    @app.get("/_probe")
    def probe():
        from flask import request
        seen.update(addr=request.remote_addr, scheme=request.scheme)
        return ""

    app.test_client().get("/_probe", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    return seen["addr"], seen["scheme"]


def test_forwarded_headers_are_believed_only_behind_a_declared_proxy(paths):
    headers = {"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "https"}
    # Direct exposure (the default): a client cannot pick its address for the sign-in throttle.
    assert remote_addr_and_scheme(paths, 0, headers) == ("10.0.0.9", "http")
    # Behind nginx (VIGIE_TRUSTED_PROXIES=1): the address and scheme nginx saw.
    assert remote_addr_and_scheme(paths, 1, headers) == ("192.0.2.7", "https")
    # A client that adds its own X-Forwarded-For in front of nginx's gains nothing: the last
    # hop (nginx's, which replaces the header anyway) is the one believed.
    spoofed = {**headers, "X-Forwarded-For": "203.0.113.1, 192.0.2.7"}
    assert remote_addr_and_scheme(paths, 1, spoofed)[0] == "192.0.2.7"
