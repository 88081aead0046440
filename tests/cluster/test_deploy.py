"""deploy/: nginx accepts the cluster configuration; Vigie believes only the declared proxy."""

import os
import shutil
import subprocess
import tempfile

import pytest

from tests.support.servers import ROOT
from tests.support.nginx import DEPLOY_NGINX, NGINX, make_certificate, require_nginx
from webapp import create_app

COMPOSE_FILE = os.path.join(ROOT, "deploy", "compose.yaml")


def check_compose_site(site):
    """nginx -t on deploy/nginx as compose mounts it, with `site` as vigie-site.conf."""
    require_nginx()
    with tempfile.TemporaryDirectory() as prefix:
        for name in os.listdir(DEPLOY_NGINX):
            if name.endswith(".conf"):
                shutil.copy(os.path.join(DEPLOY_NGINX, name), prefix)
        shutil.copy(os.path.join(DEPLOY_NGINX, f"site-{site}.conf"),
                    os.path.join(prefix, "vigie-site.conf"))
        make_certificate(os.path.join(prefix, "tls"))  # deploy/tls, as the TLS site reads it
        # Only what needs the containers changes: host names, ports, where the logs go.
        replaced = {"nginx.conf": [("vigie1:8000", "127.0.0.1:1"), ("vigie2:8000", "127.0.0.1:2"),
                                   ("/dev/stdout", f"{prefix}/access.log"),
                                   ("/dev/stderr", f"{prefix}/error.log")],
                    "vigie-site.conf": [("listen 80;", "listen 127.0.0.1:1;"),
                                        ("listen 443 ssl;", "listen 127.0.0.1:2 ssl;")]}
        for name, pairs in replaced.items():
            path = os.path.join(prefix, name)
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            for old, new in pairs:
                assert old in text or (site == "http" and "443" in old), (name, old)
                text = text.replace(old, new)
            if name == "nginx.conf":
                text = f"pid {prefix}/nginx.pid;\n" + text
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        result = subprocess.run([NGINX, "-t", "-c", os.path.join(prefix, "nginx.conf"), "-p",
                                 prefix, "-e", f"{prefix}/error.log"], capture_output=True,
                                text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_the_compose_plain_http_site_is_valid_for_nginx():
    check_compose_site("http")


def test_the_compose_tls_site_is_valid_for_nginx():
    check_compose_site("https")


def test_compose_mounts_every_nginx_file_and_keeps_the_official_images():
    with open(COMPOSE_FILE, encoding="utf-8") as handle:
        compose = handle.read()
    for name in os.listdir(DEPLOY_NGINX):
        if name.endswith(".conf") and not name.startswith("site-"):
            assert f"./nginx/{name}:/etc/nginx/{name}:ro" in compose, name
    assert "./nginx/site-${VIGIE_NGINX_SITE:-http}.conf:/etc/nginx/vigie-site.conf:ro" in compose
    assert "${VIGIE_TLS_DIR:-./tls}:/etc/nginx/tls:ro" in compose
    # The stand-ins of .ci/cluster-stand-ins.sh take these names on machines without a
    # registry; the recipe itself names the official images.
    assert "image: docker.io/library/postgres:15-bookworm" in compose
    assert "image: docker.io/library/nginx:1.27-bookworm" in compose


def remote_addr_and_scheme(paths, trusted, headers, addresses=""):
    app = create_app({**paths, "TESTING": True, "ADMIN_PASSWORD": "admin-pass-123",
                      "TRUSTED_PROXIES": trusted, "TRUSTED_PROXY_ADDRESSES": addresses})
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


def test_forwarded_headers_are_believed_only_from_the_declared_proxy_addresses(paths):
    headers = {"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "https"}
    # The request comes from 10.0.0.9: nginx is elsewhere, so the headers are the client's own.
    assert remote_addr_and_scheme(paths, 1, headers, "10.0.0.2") == ("10.0.0.9", "http")
    # From nginx's address, or a network that holds it: believed.
    assert remote_addr_and_scheme(paths, 1, headers, "10.0.0.9") == ("192.0.2.7", "https")
    assert remote_addr_and_scheme(paths, 1, headers, "10.0.0.0/24, ::1") == ("192.0.2.7",
                                                                             "https")


def test_a_wrong_proxy_address_stops_the_start_with_its_name(paths):
    with pytest.raises(ValueError, match="'nginx' is neither an address nor a network"):
        remote_addr_and_scheme(paths, 1, {}, "10.0.0.2,nginx")
