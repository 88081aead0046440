"""Every route, for an anonymous user, an operator, an analyst and an admin, against the role table.

The table below is the one documented in docs/operations.md ("Roles and routes"); a new route fails
this test until it is added there, so that nobody ships a page without deciding who may open it.
"""

import pytest

from tests.conftest import csrf_token
from tests.views.test_auth import concrete
from webapp.services import apikeys

PUBLIC = "public"
ROLE_TABLE = {
    "auth.login": PUBLIC, "health.healthz": PUBLIC, "health.readyz": PUBLIC,
    "static": PUBLIC, "i18n.switch_language": PUBLIC, "api.openapi_document": PUBLIC,
    "auth.logout": "operator", "auth.change_password": "operator",
    "predict.home": "operator", "batch.upload": "operator", "batch.result": "operator",
    "batch.status": "operator", "batch.download": "operator", "alarms.index": "operator",
    "alarms.acknowledge_alarm": "operator",
    "history.index": "operator", "history.export": "operator", "history.record": "operator",
    "history.alarm": "operator", "api.predict": "operator", "api.list_active_models": "operator",
    "monitoring.page": "analyst", "monitoring.trend": "operator", "api.monitoring": "analyst",
    "models_admin.index": "analyst", "models_admin.train": "analyst",
    "models_admin.job_page": "analyst", "models_admin.job_status": "analyst",
    "models_admin.candidate": "analyst",
    "models_admin.activate": "admin", "models_admin.rollback": "admin",
    "models_admin.shadow": "admin", "models_admin.stop_shadow": "admin",
    "admin_users.index": "admin", "admin_users.change_role": "admin",
    "admin_users.change_active": "admin", "admin_users.reset_password": "admin",
    "admin_keys.index": "admin", "admin_keys.revoke": "admin", "api.activate_model": "admin",
}
RANK = {"anonymous": 0, "operator": 1, "analyst": 2, "admin": 3, PUBLIC: 0}


def requests_of(app):
    """(endpoint, method, url) for every route and method of the application."""
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, concrete(rule)


def test_every_route_is_in_the_role_table(app):
    endpoints = {endpoint for endpoint, _, _ in requests_of(app)}
    assert endpoints - set(ROLE_TABLE) == set(), (
        "add the new routes to ROLE_TABLE and to docs/operations.md")
    assert set(ROLE_TABLE) - endpoints == set(), "ROLE_TABLE names routes that do not exist"


@pytest.mark.parametrize("who", ["anonymous", "operator", "analyst", "admin"])
def test_each_role_gets_exactly_what_the_table_allows(app, client, login, who):
    keys = {}
    for role in ("operator", "analyst", "admin"):
        keys[role] = apikeys.create_key(app.config["DATABASE"], f"walk-{role}", role, "t")[1]
    if who != "anonymous":
        login(who)
    token = csrf_token(client, "/login")
    for endpoint, method, url in requests_of(app):
        if endpoint == "auth.logout":
            continue  # would end the session the walk relies on; tested in test_auth
        needed = ROLE_TABLE[endpoint]
        allowed = RANK[who] >= RANK[needed]
        if url.startswith("/api/"):
            headers = {"X-API-Key": keys[who]} if who in keys else {}
            response = client.open(url, method=method, headers=headers, json={})
            denied = {401} if who == "anonymous" and needed != PUBLIC else {403}
        else:
            data = {"csrf_token": token} if method == "POST" else None
            response = client.open(url, method=method, data=data)
            denied = {302} if who == "anonymous" else {403}
        status = response.status_code
        assert status < 500, (endpoint, method, who, status)
        if needed == PUBLIC:  # a failed sign-in answers 401, which is not a refusal of access
            assert status != 403 and "/login?next" not in (response.location or ""), endpoint
        elif allowed:
            assert status not in denied | {401, 403}, (endpoint, method, who, status)
        else:
            assert status in denied, (endpoint, method, who, status)
            if status == 302:
                assert "/login" in response.location


def test_every_form_requires_a_csrf_token(app, client, login):
    login("admin")
    for endpoint, method, url in requests_of(app):
        if method != "POST" or url.startswith("/api/"):
            continue
        response = client.post(url, data={})
        assert response.status_code == 400, (endpoint, response.status_code)
