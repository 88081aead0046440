"""The alarms page as an operator's tool: the menu badge, acknowledgements, plain file names."""

import pytest

from tests.conftest import csrf_token
from tests.services.test_alarms import write_alarm
from tests.support.postgres import fresh_database_url, unreachable_database_url
from webapp.services.alarm_acks import acknowledgements
from webapp.services.record_log import Logs


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """Every test here runs on the file store and on the shared database."""
    return fresh_database_url(request)


def logs_of(app):
    return app.extensions["vigie.logs"]


def open_two_alarms(app):
    logs = logs_of(app)
    write_alarm(logs, "s1:1:42", "pump-1", "2026-11-28T00:08:04.196Z")
    write_alarm(logs, "s1:1:90", "pump-1", "2026-11-28T01:08:04.196Z")
    write_alarm(logs, "s1:1:10", "pump-1", "2026-11-27T01:08:04.196Z",
                closed_at="2026-11-27T01:20:04.196Z")


def acknowledge(client, alarm_id, comment):
    return client.post(f"/alarms/{alarm_id}/acknowledge", data={
        "comment": comment, "csrf_token": csrf_token(client, "/alarms")})


def test_the_menu_shows_the_open_alarms_on_every_page(app, login):
    client = login("operator")
    assert 'id="alarm-badge"' not in client.get("/history").get_data(as_text=True)
    open_two_alarms(app)
    for path in ("/", "/history", "/batch/", "/alarms"):
        page = client.get(path).get_data(as_text=True)
        assert 'id="alarm-badge"' in page and "2 alarmes en cours" in page, path
    client.get("/language/en")
    assert "2 open alarms" in client.get("/history").get_data(as_text=True)


def test_plurals_follow_the_count(app, login):
    write_alarm(logs_of(app), "s1:1:42", "pump-1", "2026-11-28T00:08:04.196Z")
    page = login("operator").get("/alarms").get_data(as_text=True)
    assert "1 alarme en cours" in page and "0 terminée récemment" in page


def test_an_operator_takes_an_alarm_in_hand_with_a_comment(app, login):
    open_two_alarms(app)
    client = login("operator")
    response = acknowledge(client, "s1:1:42", "  on my way,   pump room 2 ")
    assert response.status_code == 302
    rows = [row for rows in acknowledgements(logs_of(app)).values() for row in rows]
    assert [(r["principal"], r["alarm_id"], r["comment"]) for r in rows] == [
        ("operator", "s1:1:42", "on my way, pump room 2")]
    page = client.get("/alarms").get_data(as_text=True)
    assert "par operator" in page and "— « on my way, pump room 2 »" in page
    assert page.count('class="ack-form"') == 1  # only the other open alarm still asks
    assert "fermée par Vigie après une série de relevés normaux" in page  # the close reason


def test_unknown_alarms_and_long_comments_are_refused(app, login):
    open_two_alarms(app)
    client = login("operator")
    assert acknowledge(client, "s9:9:9", "").status_code == 404
    response = acknowledge(client, "s1:1:42", "x" * 501)
    assert response.status_code == 302
    assert "Le commentaire fait 501 caractères" in client.get("/alarms").get_data(as_text=True)
    assert acknowledgements(logs_of(app)) == {}


def test_the_page_refreshes_itself(app, login):
    page = login("operator").get("/alarms").get_data(as_text=True)
    assert 'data-refresh-seconds="30"' in page and "js/refresh.js" in page
    assert "<script>" not in page  # no inline script (content security policy)


def test_alarms_with_their_database_away_answer_a_clear_503(app, login, monkeypatch):
    client = login("operator")
    token = csrf_token(client, "/")
    away = Logs(app.config["LOG_DIR"], unreachable_database_url())
    monkeypatch.setitem(app.extensions, "vigie.logs", away)
    acknowledged = client.post("/alarms/s1:1:42/acknowledge", data={"csrf_token": token})
    for response in (client.get("/alarms"), acknowledged):
        assert response.status_code == 503
        assert "base de données est indisponible" in response.get_data(as_text=True)
