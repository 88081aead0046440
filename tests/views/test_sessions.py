"""Sessions that can be revoked and passwords that can be changed (logout, reset, first start)."""

import sqlite3

from tests.conftest import PASSWORDS, csrf_token
from webapp import create_app
from webapp.services import users

NEW_PASSWORD = "a-new-pass-456"


def sign_in(client, name, password, remember=False):
    data = {"username": name, "password": password, "csrf_token": csrf_token(client)}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data)


def sign_out(client):
    return client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def client_with_cookie(app, name, value):
    other = app.test_client()
    other.set_cookie(name, value)
    return other


def test_a_session_cookie_copied_before_logout_is_void_after_it(app, client):
    sign_in(client, "operator", PASSWORDS["operator"])
    copied = client.get_cookie("session").value
    assert client_with_cookie(app, "session", copied).get("/").status_code == 200
    sign_out(client)
    assert client_with_cookie(app, "session", copied).get("/").status_code == 302


def test_the_remember_me_token_changes_and_dies_at_logout(app, client):
    sign_in(client, "operator", PASSWORDS["operator"], remember=True)
    first = client.get_cookie("remember_token").value
    assert client_with_cookie(app, "remember_token", first).get("/").status_code == 200
    sign_out(client)
    sign_in(client, "operator", PASSWORDS["operator"], remember=True)
    assert client.get_cookie("remember_token").value != first
    assert client_with_cookie(app, "remember_token", first).get("/").status_code == 302


def test_a_new_role_or_a_deactivation_signs_the_user_out(app, client):
    sign_in(client, "operator", PASSWORDS["operator"])
    users.set_role(app.config["DATABASE"], "operator", "analyst")
    assert client.get("/").status_code == 302
    sign_in(client, "operator", PASSWORDS["operator"])
    users.set_active(app.config["DATABASE"], "operator", False)
    assert client.get("/").status_code == 302


def change_password(client, current, new, confirm=None):
    return client.post("/account/password", data={
        "current": current, "password": new, "confirm": confirm or new,
        "csrf_token": csrf_token(client, "/account/password")})


def test_every_user_changes_their_password_and_other_sessions_end(app, client):
    elsewhere = app.test_client()
    sign_in(elsewhere, "operator", PASSWORDS["operator"])
    sign_in(client, "operator", PASSWORDS["operator"])
    client.get("/language/en")
    response = change_password(client, "not-my-password", NEW_PASSWORD)
    assert response.status_code == 400
    assert "This is not your current password." in response.get_data(as_text=True)
    response = change_password(client, PASSWORDS["operator"], NEW_PASSWORD)
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this session goes on
    assert elsewhere.get("/").status_code == 302  # the other one is signed out
    sign_out(client)
    assert sign_in(client, "operator", PASSWORDS["operator"]).status_code == 401
    assert sign_in(client, "operator", NEW_PASSWORD).status_code == 302


def test_an_admin_reset_forces_a_new_password_at_next_sign_in(app, client, login):
    user_session = app.test_client()
    sign_in(user_session, "analyst", PASSWORDS["analyst"])
    login("admin")
    response = client.post("/admin/users/reset-password", data={
        "reset-username": "analyst", "reset-password": "temporary-123",
        "reset-csrf_token": csrf_token(client, "/admin/users")
    })
    assert response.status_code == 302
    assert user_session.get("/").status_code == 302  # signed out at once
    sign_in(user_session, "analyst", "temporary-123")
    for path in ("/", "/monitoring", "/history"):
        response = user_session.get(path)
        assert response.status_code == 302 and response.location == "/account/password", path
    assert "must-change" in user_session.get("/account/password").get_data(as_text=True)
    assert change_password(user_session, "temporary-123", NEW_PASSWORD).status_code == 302
    assert user_session.get("/monitoring").status_code == 200


def test_cli_sets_a_password_from_stdin_and_signs_the_user_out(app, client, runner):
    sign_in(client, "operator", PASSWORDS["operator"])
    result = runner.invoke(args=["users", "set-password", "operator", "--password-stdin"],
                           input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "new password set for operator" in result.output
    assert client.get("/").status_code == 302
    assert sign_in(client, "operator", NEW_PASSWORD).status_code == 302
    assert client.get("/").status_code == 200  # not a temporary password: no forced change
    result = runner.invoke(args=["users", "set-password", "nobody", "--password-stdin"],
                           input=NEW_PASSWORD + "\n")
    assert result.exit_code == 1 and "no user named 'nobody'" in result.output


def test_the_generated_admin_password_must_be_changed_at_first_sign_in(paths):
    app = create_app(paths)
    generated = open(f"{paths['INSTANCE_DIR']}/initial_admin_password").read().strip()
    client = app.test_client()
    sign_in(client, "admin", generated)
    assert client.get("/admin/users").location == "/account/password"
    assert client.get("/api/v1/models/active").status_code == 401  # the API is by key only
    assert change_password(client, generated, NEW_PASSWORD).status_code == 302
    assert client.get("/admin/users").status_code == 200


def test_a_database_from_before_session_versions_is_upgraded(paths):
    import os
    os.makedirs(paths["INSTANCE_DIR"])
    with sqlite3.connect(os.path.join(paths["INSTANCE_DIR"], "vigie.db")) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                           "username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, "
                           "role TEXT NOT NULL, created_at TEXT NOT NULL, "
                           "active INTEGER NOT NULL DEFAULT 1)")
    app = create_app({**paths, "ADMIN_PASSWORD": PASSWORDS["admin"]})
    admin = users.get_user_by_name(app.config["DATABASE"], "admin")
    assert (admin.session_version, admin.must_change_password) == (0, False)


def test_the_password_page_speaks_french_by_default(client, login):
    login("operator")
    page = change_password(client, "not-my-password", NEW_PASSWORD).get_data(as_text=True)
    assert "Changer votre mot de passe" in page and "Ce n&#39;est pas votre mot de passe" in page
