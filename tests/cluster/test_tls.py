"""TLS at nginx (deploy/nginx/vigie-tls.conf, a throwaway certificate): Secure cookies over
HTTPS, plain HTTP redirected, and forwarded headers believed from nginx's address only.

nginx reaches the instance from 127.0.0.2 (PROXY_SOURCE), the instance believes forwarded
headers from there only; the clients below connect from other loopback addresses, so that
each address a test finds recorded says who was believed.
"""

import functools
import http.client
import http.cookiejar
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request

import sqlalchemy as sa

from tests.conftest import PASSWORDS
from tests.support.nginx import PROXY_SOURCE

CLIENT = "127.0.0.3"  # a browser on the plant's network, in front of nginx
INTRUDER = "127.0.0.4"  # someone who reaches gunicorn without going through nginx
SPOOFED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 3xx answer itself is what the test looks at


class AnyScheme(http.cookiejar.DefaultCookiePolicy):
    """A hand-made client sends Secure cookies over plain HTTP too (a browser would not)."""

    def return_ok_secure(self, cookie, request):
        return True


class Client:
    """Cookies, CSRF tokens and a chosen source address; trusts the test's certificate only."""

    def __init__(self, url, source, cafile=None, follow=True):
        self.url = url
        self.jar = http.cookiejar.CookieJar(None if url.startswith("https:") else AnyScheme())
        context = ssl.create_default_context(cafile=cafile) if cafile else None
        bound = {"source_address": (source, 0)}

        class FromHTTP(urllib.request.HTTPHandler):
            def http_open(self, request):
                return self.do_open(functools.partial(http.client.HTTPConnection, **bound),
                                    request)

        class FromHTTPS(urllib.request.HTTPSHandler):
            def https_open(self, request):
                return self.do_open(functools.partial(http.client.HTTPSConnection, **bound),
                                    request, context=context)

        handlers = [FromHTTP(), FromHTTPS(), urllib.request.HTTPCookieProcessor(self.jar)]
        if not follow:
            handlers.append(NoRedirect())
        self.opener = urllib.request.build_opener(*handlers)

    def open(self, path, data=None, headers=None):
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers

    def login(self, username, password, headers=None):
        _, page, _ = self.open("/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"username": username, "password": password,
                                       "csrf_token": token}).encode()
        # As a browser does (Referrer-Policy same-origin); over HTTPS Flask-WTF requires it.
        return self.open("/login", data, {"Referer": self.url + "/login", **(headers or {})})


def certificate(cluster):
    return os.path.join(cluster.nginx_prefix, "tls", "server.crt")


def recorded_addresses(cluster, username):
    """The addresses the sign-in throttle counted failures of `username` against."""
    from webapp.services import database
    from webapp.services.database import login_failures
    with database.engine(cluster.database_url).connect() as connection:
        return [address for (address,) in connection.execute(
            sa.select(login_failures.c.address).where(login_failures.c.username == username))]


def test_login_over_https_sets_a_secure_session_cookie(tls_cluster):
    client = Client(tls_cluster.url, CLIENT, certificate(tls_cluster))
    status, page, headers = client.login("admin", PASSWORDS["admin"])
    assert status == 200 and 'name="Current"' in page  # signed in: the reading form
    session = [cookie for cookie in client.jar if cookie.name == "session"]
    assert session and all(cookie.secure for cookie in session), session
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    # The Secure cookie goes back over HTTPS only: the next page is still signed in.
    status, page, _ = client.open("/")
    assert status == 200 and 'name="Current"' in page


def test_plain_http_is_redirected_to_https_and_never_proxied(tls_cluster):
    https_authority = tls_cluster.url.split("//", 1)[1]
    client = Client(tls_cluster.plain_url, CLIENT, follow=False)
    for data in (None, b"username=admin&password=x"):  # a GET, and a form posted in clear
        status, _, headers = client.open("/login?next=%2Fhistory", data)
        assert status == 308, status  # 308: a POST stays a POST at the new address
        assert headers["Location"] == f"https://{https_authority}/login?next=%2Fhistory"
        assert "X-Vigie-Upstream" not in headers  # answered by nginx itself
    # Followed, the redirect lands on the TLS site's page.
    client = Client(tls_cluster.plain_url, CLIENT, certificate(tls_cluster))
    status, page, _ = client.open("/login")
    assert status == 200 and 'name="csrf_token"' in page


def test_through_nginx_the_real_client_address_is_recorded(tls_cluster):
    client = Client(tls_cluster.url, CLIENT, certificate(tls_cluster))
    # The client's own X-Forwarded-For is replaced by nginx, which connects from PROXY_SOURCE.
    status, _, _ = client.login("nobody-via-nginx", "wrong password", SPOOFED)
    assert status == 401  # the form again, with its error
    assert recorded_addresses(tls_cluster, "nobody-via-nginx") == [CLIENT]


def test_forwarded_headers_sent_straight_to_gunicorn_are_not_believed(tls_cluster):
    instance = tls_cluster.instances[0]
    intruder = Client(instance.url, INTRUDER)
    status, _, _ = intruder.login("nobody-direct", "wrong password", SPOOFED)
    assert status == 401
    # Its own address is counted, not the one it claimed: it cannot spread its guesses over
    # invented addresses to escape the per-address limit.
    assert recorded_addresses(tls_cluster, "nobody-direct") == [INTRUDER]
    # The same request from nginx's address is believed (the trust is nginx's, not loopback's).
    proxy = Client(instance.url, PROXY_SOURCE)
    status, _, _ = proxy.login("nobody-as-nginx", "wrong password",
                               {"X-Forwarded-For": "203.0.113.9"})
    assert status == 401
    assert recorded_addresses(tls_cluster, "nobody-as-nginx") == ["203.0.113.9"]
