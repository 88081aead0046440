"""Access control: login, every route protected, roles, session cookie flags."""

import pytest

from tests.conftest import PASSWORDS, csrf_token
from webapp import create_app

PUBLIC = {"/login", "/healthz", "/readyz", "/api/v1/openapi.json", "/static/<path:filename>",
          "/language/<code>"}


def concrete(rule):
    """A URL for the rule, with a plausible value for each argument."""
    from werkzeug.routing import AnyConverter, IntegerConverter
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif isinstance(converter, IntegerConverter):
            values[name] = 1
        else:
            values[name] = "x1"
    return rule.build(values, append_unknown=False)[1]


def protected_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule not in PUBLIC]


def test_every_protected_route_redirects_to_login_or_answers_401(client, app):
    rules = protected_rules(app)
    assert len(rules) >= 2
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(concrete(rule), method=method)
            if rule.rule.startswith("/api/"):
                assert response.status_code in (401, 400, 415), (rule.rule, method)
                assert response.status_code == 401 or not response.is_json or \
                    response.json.get("error"), (rule.rule, method)
            elif method == "GET":
                assert response.status_code == 302, (rule.rule, method)
                assert "/login" in response.location, rule.rule
            else:  # unauthenticated POSTs fail on CSRF or login, never succeed
                assert response.status_code in (302, 400, 401), (rule.rule, method)


def test_api_without_key_answers_401_json(client, app):
    api_rules = [r for r in protected_rules(app) if r.rule.startswith("/api/")]
    for rule in api_rules:
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(concrete(rule), method=method, json={})
        assert response.status_code == 401, rule.rule
        assert response.json["error"]


def test_operator_gets_403_on_admin_routes(client, app, login):
    login("operator")
    admin_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin")]
    for rule in admin_rules:
        if "GET" in rule.methods and not rule.arguments:
            assert client.get(rule.rule).status_code == 403, rule.rule


def test_wrong_password_is_refused_and_right_one_logs_in(client):
    response = client.post("/login", data={"username": "admin", "password": "nope",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 401
    assert "incorrect" in response.get_data(as_text=True)
    response = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302


def test_login_form_requires_csrf(client):
    response = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"]})
    assert response.status_code in (400, 401)
    assert client.get("/").status_code == 302


def test_next_parameter_cannot_redirect_off_site(client):
    response = client.post("/login?next=//evil.example/x", data={
        "username": "admin", "password": PASSWORDS["admin"], "csrf_token": csrf_token(client)})
    assert response.location == "/"


def test_logout_needs_post_with_csrf(client, login):
    login("operator")
    assert client.get("/logout").status_code == 405
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.get("/").status_code == 302


def test_session_cookie_is_httponly_lax_and_secure_behind_tls(paths):
    app = create_app({**paths, "HTTPS": "1", "ADMIN_PASSWORD": PASSWORDS["admin"]})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    client = app.test_client()
    response = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                           "csrf_token": csrf_token(client)})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_first_start_writes_a_private_random_admin_password(paths):
    import os
    import stat
    create_app(paths)
    path = os.path.join(paths["INSTANCE_DIR"], "initial_admin_password")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    password = open(path).read().strip()
    assert len(password) >= 12
    client = create_app(paths).test_client()
    response = client.post("/login", data={"username": "admin", "password": password,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    with open(os.path.join(paths["LOG_DIR"], "app.log")) as handle:
        log = handle.read()
    assert password not in log and path in log  # where the password is, never the password


def test_instance_folder_and_database_are_private(paths, capfd):
    import os
    import stat
    create_app(paths)
    mode = lambda path: stat.S_IMODE(os.stat(path).st_mode)  # noqa: E731
    assert mode(paths["INSTANCE_DIR"]) == 0o700
    for name in ("vigie.db", "secret_key", "initial_admin_password"):
        assert mode(os.path.join(paths["INSTANCE_DIR"], name)) == 0o600, name
    password = open(os.path.join(paths["INSTANCE_DIR"], "initial_admin_password")).read().strip()
    assert password not in capfd.readouterr().err


def test_secret_key_is_generated_once_and_reused(paths):
    first = create_app(paths).config["SECRET_KEY"]
    assert first == create_app(paths).config["SECRET_KEY"]
    assert len(first) >= 32


@pytest.mark.parametrize("role, allowed", [("operator", True), ("analyst", True), ("admin", True)])
def test_each_role_can_open_the_form(client, login, role, allowed):
    login(role)
    assert (client.get("/").status_code == 200) == allowed


def test_an_unknown_name_costs_one_hash_check_like_a_wrong_password(app, monkeypatch):
    # Timing must not tell which names exist: before, an unknown name hashed a new dummy
    # password and then checked it (two scrypt runs, 0.315 s against 0.160 s).
    from webapp.services import users
    calls = []
    for name in ("generate_password_hash", "check_password_hash"):
        real = getattr(users, name)
        monkeypatch.setattr(users, name, lambda *a, _real=real, _name=name: calls.append(
            _name) or _real(*a))
    users.authenticate(app.config["DATABASE"], "nobody", "x")  # the dummy hash is made once
    calls.clear()
    users.authenticate(app.config["DATABASE"], "nobody", "wrong-password")
    unknown = list(calls)
    calls.clear()
    users.authenticate(app.config["DATABASE"], "operator", "wrong-password")
    assert unknown == calls == ["check_password_hash"]
