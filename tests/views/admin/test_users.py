"""The users admin page: list, create, change a role, deactivate and reactivate; admins only."""

import re

import pytest

from tests.conftest import PASSWORDS, csrf_token
from tests.support.postgres import fresh_database_url
from webapp.services import users


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """Every test here runs on the embedded SQLite file and on PostgreSQL."""
    return fresh_database_url(request)


def token(client):
    return csrf_token(client, "/admin/users")


def create(client, name, role="operator", password="a-long-password", confirm=None):
    return client.post("/admin/users", data={
        "username": name, "role": role, "password": password,
        "confirm": password if confirm is None else confirm, "csrf_token": token(client)})


def sign_in(app, name, password):
    client = app.test_client()
    return client.post("/login", data={"username": name, "password": password,
                                       "csrf_token": csrf_token(client)}), client


def test_page_lists_users_with_role_and_creation_date(client, app, login):
    login("admin")
    page = client.get("/admin/users").get_data(as_text=True)
    for name in ("admin", "analyst", "operator"):
        assert f'id="user-{name}"' in page
    assert users.get_user_by_name(app.config["DATABASE"], "analyst").created_at[:10] in page


def test_admin_creates_a_user_who_can_sign_in(client, app, login):
    login("admin")
    response = create(client, "night-shift", role="analyst")
    assert response.status_code == 302
    assert users.get_user_by_name(app.config["DATABASE"], "night-shift").role == "analyst"
    assert sign_in(app, "night-shift", "a-long-password")[0].status_code == 302


@pytest.mark.parametrize("name, password, confirm, text", [
    ("x y", "a-long-password", None, "64"),
    ("newbie", "short", None, "8"),
    ("newbie", "a-long-password", "another-password", "differ"),
    ("operator", "a-long-password", None, "operator"),
])
def test_invalid_creation_is_refused_with_the_reason(client, app, login, name, password,
                                                     confirm, text):
    login("admin")
    client.get("/language/en")
    response = create(client, name, password=password, confirm=confirm)
    assert response.status_code == 400
    errors = re.findall(r'class="field-error"[^>]*>([^<]+)<', response.get_data(as_text=True))
    assert errors and any(text in error for error in errors), errors
    assert users.get_user_by_name(app.config["DATABASE"], "newbie") is None


def test_role_change(client, app, login):
    login("admin")
    response = client.post("/admin/users/operator/role",
                           data={"role": "analyst", "csrf_token": token(client)})
    assert response.status_code == 302
    assert users.get_user_by_name(app.config["DATABASE"], "operator").role == "analyst"


def test_deactivated_user_cannot_sign_in_and_is_signed_out_then_reactivated(client, app, login):
    _, operator_client = sign_in(app, "operator", PASSWORDS["operator"])
    assert operator_client.get("/").status_code == 200
    login("admin")
    client.post("/admin/users/operator/deactivate",
                data={"csrf_token": token(client), "confirm": "1"})
    assert not users.get_user_by_name(app.config["DATABASE"], "operator").active
    assert operator_client.get("/").status_code == 302  # the open session ends
    assert sign_in(app, "operator", PASSWORDS["operator"])[0].status_code == 401
    client.post("/admin/users/operator/reactivate", data={"csrf_token": token(client)})
    assert sign_in(app, "operator", PASSWORDS["operator"])[0].status_code == 302


def test_admin_cannot_change_own_account(client, app, login):
    login("admin")
    response = client.post("/admin/users/admin/deactivate",
                           data={"csrf_token": token(client), "confirm": "1"},
                           follow_redirects=True)
    assert users.get_user_by_name(app.config["DATABASE"], "admin").active
    assert 'class="flash flash-error"' in response.get_data(as_text=True)


def test_the_last_active_admin_stays(app):
    database = app.config["DATABASE"]
    with pytest.raises(users.LastAdminError):
        users.set_role(database, "admin", "operator")
    with pytest.raises(users.LastAdminError):
        users.set_active(database, "admin", False)
    users.set_role(database, "analyst", "admin")
    users.set_role(database, "admin", "operator")  # another admin remains
    with pytest.raises(users.UnknownUser):
        users.set_active(database, "nobody", False)


@pytest.mark.parametrize("path, data", [
    ("/admin/users", {"username": "sneaky", "role": "admin", "password": "a-long-password",
                      "confirm": "a-long-password"}),
    ("/admin/users/operator/role", {"role": "admin"}),
    ("/admin/users/operator/deactivate", {}),
])
def test_forms_require_csrf(client, app, login, path, data):
    login("admin")
    assert client.post(path, data=data).status_code == 400
    operator = users.get_user_by_name(app.config["DATABASE"], "operator")
    assert operator.role == "operator" and operator.active
    assert users.get_user_by_name(app.config["DATABASE"], "sneaky") is None


@pytest.mark.parametrize("role", ["operator", "analyst"])
def test_other_roles_get_403(client, app, login, role):
    login(role)
    assert client.get("/admin/users").status_code == 403
    response = client.post("/admin/users/admin/deactivate",
                           data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 403
    assert users.get_user_by_name(app.config["DATABASE"], "admin").active


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/users")
    assert response.status_code == 302 and "/login" in response.location


def test_menu_shows_admin_pages_to_admins_only(client, login):
    login("operator")
    assert "/admin/users" not in client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login("admin")
    page = client.get("/").get_data(as_text=True)
    assert 'href="/admin/users"' in page and 'href="/admin/apikeys"' in page
