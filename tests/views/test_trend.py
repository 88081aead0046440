"""The trend page (/monitoring/trend) and the chart on an alarm's page: roles, data, refusals."""

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import NORMAL_CSV
from tests.services.test_alarms import write_alarm
from tests.support.monitoring_fixtures import normal_pool, write_history


@pytest.fixture
def history(app):
    now = datetime.now(timezone.utc)
    write_history(app.config["AUDIT_DIR"], normal_pool(NORMAL_CSV), 6.7, days=2,
                  rows_per_day=400, end_day=now.date())
    opened = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_alarm(app.config["LOG_DIR"], "s1:1:5", "pump-1", opened)
    return app


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/monitoring/trend")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("window", ["6h", "24h", "7d"])
def test_an_operator_sees_each_sensor_by_label_and_the_open_alarm(history, client, login,
                                                                    window):
    login("operator")
    page = client.get(f"/monitoring/trend?asset=pump-1&window={window}").get_data(as_text=True)
    assert 'id="trend-score"' in page and "Courant moteur" in page and "(A)" in page
    assert page.count('class="card trend-chart"') == 9  # the score and the eight sensors
    assert 'href="/history/alarm/s1:1:5"' in page and "toujours ouverte" in page
    assert "chart.umd" not in page and "<svg" in page  # drawn on the server, no chart script
    assert 'href="/monitoring/trend"' in page  # in the menu


@pytest.mark.parametrize("query,language,words", [
    ("window=1h", "fr", "La période 1h ne fait pas partie des périodes proposées"),
    ("window=1h", "en", "The window 1h is not one of the windows offered"),
    ("asset=pump-9", "fr", "Aucun équipement ne s&#39;appelle pump-9"),
    ("asset=pump-9", "en", "There is no asset named pump-9"),
])
def test_a_bad_query_is_a_clear_400_in_the_readers_language(client, login, query, language,
                                                            words):
    login("operator")
    client.get(f"/language/{language}")
    response = client.get(f"/monitoring/trend?{query}")
    assert response.status_code == 400 and words in response.get_data(as_text=True)


def test_an_empty_audit_says_so_on_every_chart(client, login):
    login("operator")
    client.get("/language/en")
    page = client.get("/monitoring/trend").get_data(as_text=True)
    assert "0 readings of pump-1" in page and "No reading of this asset in this window." in page


def test_an_alarms_page_charts_its_score_and_top_sensors(history, client, login):
    login("operator")
    page = client.get("/history/alarm/s1:1:5").get_data(as_text=True)
    assert 'id="alarm-chart-score"' in page and 'id="alarm-chart-Current"' in page
    assert 'id="alarm-chart-Pressure"' in page and 'id="alarm-chart-Voltage"' not in page
    assert 'class="alarm-area"' in page and "UTC)" in page
    assert 'href="/monitoring/trend?asset=pump-1"' in page
