"""User, key and asset names: a trailing newline is refused by the form, with the form's message."""

import html

import pytest

from tests.conftest import csrf_token

FORM_MESSAGE = "Use letters, digits, '.', '-' or '_' (64 characters at most)."


@pytest.mark.parametrize("name", ["bob\n", "bob\r\n", "bob\nx"])
def test_a_user_name_with_a_newline_gets_the_form_message(client, login, name):
    login("admin")
    client.get("/language/en")
    response = client.post("/admin/users", data={
        "username": name, "role": "operator", "password": "pass-word-123",
        "confirm": "pass-word-123", "csrf_token": csrf_token(client, "/admin/users")})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400 and FORM_MESSAGE in page
    assert "already exists" not in page


@pytest.mark.parametrize("name", ["gateway\n", "gateway\r\n"])
def test_a_key_name_with_a_newline_gets_the_form_message(client, login, name):
    login("admin")
    client.get("/language/en")
    response = client.post("/admin/apikeys", data={
        "name": name, "role": "operator", "csrf_token": csrf_token(client, "/admin/apikeys")})
    assert FORM_MESSAGE in html.unescape(response.get_data(as_text=True))


def test_the_name_patterns_end_at_the_end_of_the_text():
    from features.schema import ASSET_NAME_PATTERN
    from webapp.services.apikeys import NAME_PATTERN
    from webapp.services.users import USERNAME_PATTERN
    for pattern in (USERNAME_PATTERN, NAME_PATTERN, ASSET_NAME_PATTERN):
        assert pattern.match("name") and not pattern.match("name\n")  # how WTForms uses them
