"""Browser-side protections: CSP without inline script, no framing, no sniffing, HSTS over TLS."""

import glob
import os
import re

import pytest

from tests.conftest import PASSWORDS
from webapp import create_app

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATES = os.path.join(ROOT, "templates")
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/v1/openapi.json", "/nowhere",
                                  "/static/css/vigie.css"])
def test_every_response_carries_the_protections(client, path):
    headers = client.get(path).headers
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split(
        "script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers  # plain HTTP: HSTS would lock users out


def test_hsts_is_sent_when_served_over_tls(paths):
    app = create_app({**paths, "HTTPS": "1", "ADMIN_PASSWORD": PASSWORDS["admin"]})
    assert app.test_client().get("/login").headers["Strict-Transport-Security"].startswith(
        "max-age=")


@pytest.mark.parametrize("template", sorted(glob.glob(os.path.join(TEMPLATES, "**", "*.html"),
                                                      recursive=True)))
def test_templates_hold_no_inline_script(template):
    text = open(template, encoding="utf-8").read()
    assert not INLINE_HANDLER.search(text), "move the on* handler into static/js"
    for attributes in SCRIPT_TAG.findall(text):
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
