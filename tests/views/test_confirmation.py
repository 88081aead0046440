"""Activate, roll back, revoke a key, deactivate a user: without confirm=1 the server asks first,
restating the consequence, and nothing changes; the page's own form (fresh CSRF) acts."""

import html
import re

import pytest

from tests.conftest import NORMAL_CSV, csrf_token
from webapp.services import apikeys, users
from webapp.services.training import train_version


@pytest.fixture
def second_version(app):
    from webapp.extensions import registry
    with app.app_context():
        train_version(registry(), "pump-1", NORMAL_CSV, created_by="tests")
    return app


def fields_of(page):
    """The hidden fields of the confirmation page's form, as a browser would post them."""
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*id="confirm-form">(.*?)</form>',
                     page, re.S)
    values = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                             form.group(2)))
    return form.group(1), {name: html.unescape(value) for name, value in values.items()}


def ask_then_confirm(client, path, data, language):
    client.get(f"/language/{language}")
    first = client.post(path, data={"csrf_token": csrf_token(client, "/account/password"),
                                    **data})
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    action, fields = fields_of(page)
    assert action == path and fields["confirm"] == "1" and fields["csrf_token"]
    assert all(fields[name] == value for name, value in data.items())
    return page, lambda: client.post(action, data=fields)


@pytest.mark.parametrize("language,words", [
    ("fr", "Activer v2 pour pump-1 ?"), ("en", "Activate v2 for pump-1? From the next request")])
def test_activating_a_version_asks_first_then_acts(second_version, client, login, language,
                                                   words):
    login("admin")
    page, confirm = ask_then_confirm(client, "/admin/models/pump-1/activate",
                                     {"version": "v2", "reason": "après révision"}, language)
    assert words in html.unescape(page)
    from webapp.extensions import registry
    with second_version.app_context():
        assert registry().active_version("pump-1") == "v1"
        assert confirm().status_code == 303
        assert registry().active_version("pump-1") == "v2"
        page, confirm = ask_then_confirm(client, "/admin/models/pump-1/rollback",
                                         {"reason": "too many false alarms"}, language)
        assert ("Revenir à v1" if language == "fr" else "Roll pump-1 back to v1?") in \
            html.unescape(page)
        assert registry().active_version("pump-1") == "v2"
        assert confirm().status_code == 303 and registry().active_version("pump-1") == "v1"


def test_an_unknown_version_is_refused_before_any_question(client, login):
    login("admin")
    response = client.post("/admin/models/pump-1/activate", data={
        "csrf_token": csrf_token(client, "/account/password"), "version": "v9", "reason": "x"})
    assert response.status_code == 404 and 'id="confirm-form"' not in response.get_data(True)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_deactivating_a_user_asks_first(app, client, login, language):
    login("admin")
    page, confirm = ask_then_confirm(client, "/admin/users/operator/deactivate", {}, language)
    assert ("Désactiver operator ?" if language == "fr" else "Deactivate operator?") in \
        html.unescape(page)
    assert users.get_user_by_name(app.config["DATABASE"], "operator").active
    assert confirm().status_code == 302
    assert not users.get_user_by_name(app.config["DATABASE"], "operator").active


@pytest.mark.parametrize("language", ["fr", "en"])
def test_revoking_a_key_asks_first(app, client, login, language):
    apikeys.create_key(app.config["DATABASE"], "gateway", "operator", "tests")
    login("admin")
    page, confirm = ask_then_confirm(client, "/admin/apikeys/gateway/revoke", {}, language)
    assert ("Révoquer la clé gateway ?" if language == "fr" else "Revoke the key gateway?") in \
        html.unescape(page)
    assert not apikeys.get_key(app.config["DATABASE"], "gateway").revoked
    assert confirm().status_code == 302
    assert apikeys.get_key(app.config["DATABASE"], "gateway").revoked


def test_the_confirmation_still_needs_a_valid_csrf_token(app, client, login):
    login("admin")
    response = client.post("/admin/users/operator/deactivate", data={"confirm": "1"})
    assert response.status_code == 400
    assert users.get_user_by_name(app.config["DATABASE"], "operator").active
