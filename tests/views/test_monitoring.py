"""The monitoring page and GET /api/v1/monitoring: roles, figures, empty and large histories."""

import json
import os
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import NORMAL_CSV
from tests.support.monitoring_fixtures import normal_pool, write_history
from webapp.services import apikeys


@pytest.fixture(scope="module")
def pool():
    return normal_pool(NORMAL_CSV)


def fill_history(app, pool, days=2, rows=500, **options):
    """Synthetic audit rows for the last `days` whole days before today (UTC)."""
    from webapp.services.registry import ModelRegistry
    threshold = ModelRegistry(app.config["MODEL_STORE"]).manifest("pump-1", "v1")["threshold"]
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    write_history(app.config["AUDIT_DIR"], pool, threshold, days=days, rows_per_day=rows,
                  end_day=yesterday, **options)


def api_key(app, role):
    return apikeys.create_key(app.config["DATABASE"], f"{role}-key", role, "tests")[1]


def embedded_report(page):
    """The figures the charts are drawn from, as embedded in the page."""
    text = re.search(r'<script type="application/json" id="monitoring-data">(.*?)</script>',
                     page, re.S).group(1)
    return json.loads(text)["report"]


def test_operators_may_not_open_monitoring(client, login):
    login("operator")
    assert client.get("/monitoring").status_code == 403


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/monitoring")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("user", ["analyst", "admin"])
def test_page_renders_with_an_empty_history(client, login, user):
    login(user)
    page = client.get("/monitoring?window=7d").get_data(as_text=True)
    assert "chart.umd.min.js" in page and "cdn" not in page.lower()
    assert 'id="chart-volume"' in page and 'id="chart-anomaly-rate"' in page
    assert embedded_report(page)["operations"]["predictions"] == 0
    assert "Aucun relevé évalué sur cette période" in page  # French by default


def test_page_shows_drifted_sensors_and_the_summary(app, client, login, pool):
    fill_history(app, pool, shift={"Current": 3.0})
    login("analyst")
    client.get("/language/en")
    page = client.get("/monitoring?asset=pump-1&window=7d").get_data(as_text=True)
    report = embedded_report(page)
    assert report["model"]["readings"] == 1000
    assert [s["sensor"] for s in report["drift"][0]["sensors"] if s["status"] == "drift"] == \
        ["Current"]
    assert 'class="drift-drift" data-sensor="Current"' in page
    assert "1 of 8 sensors have drifted since training: consider retraining." in page


def test_bad_window_is_a_clear_400(client, login):
    login("analyst")
    response = client.get("/monitoring?window=dates&from=2026-02-31&to=2026-03-01")
    assert response.status_code == 400
    assert "AAAA-MM-JJ" in response.get_data(as_text=True)


def test_page_renders_a_large_history(app, client, login, pool):
    fill_history(app, pool, days=5, rows=10_000)
    login("admin")
    page = client.get("/monitoring?window=30d").get_data(as_text=True)
    assert embedded_report(page)["operations"]["predictions"] == 50_000
    again = client.get("/monitoring?window=30d").get_data(as_text=True)
    assert embedded_report(again)["model"]["readings"] == 50_000


def test_api_returns_the_figures_with_a_status(app, client, pool):
    fill_history(app, pool, shift={"Pressure": 3.0})
    response = client.get("/api/v1/monitoring?window=7d",
                          headers={"X-API-Key": api_key(app, "analyst")})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "alert"
    assert body["reasons"] == ["pump-1: 1 of 8 sensors have drifted since training: "
                               "consider retraining"]
    assert body["model"]["readings"] == 1000
    assert set(body) >= {"operations", "model", "drift", "quality", "hours", "window"}


def test_api_refuses_operator_keys_and_bad_windows(app, client):
    operator = client.get("/api/v1/monitoring", headers={"X-API-Key": api_key(app, "operator")})
    assert operator.status_code == 403
    assert client.get("/api/v1/monitoring").status_code == 401
    bad = client.get("/api/v1/monitoring?window=week",
                     headers={"X-API-Key": api_key(app, "admin")})
    assert bad.status_code == 400 and "unknown window" in bad.get_json()["error"]


def test_openapi_documents_the_route(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "get" in document["paths"]["/monitoring"]
    assert "MonitoringReport" in document["components"]["schemas"]


def test_menu_shows_monitoring_to_analysts_only(client, login):
    login("operator")
    page = client.get("/history").get_data(as_text=True)
    assert 'href="/history"' in page and 'href="/monitoring"' not in page


def test_refresh_command_builds_the_cache(app, runner, pool):
    fill_history(app, pool, days=2, rows=100)
    result = runner.invoke(args=["monitoring", "refresh", "--window", "7d"])
    assert result.exit_code == 0, result.output
    assert "200 readings summarised" in result.output and "status ok" in result.output
    assert len(os.listdir(os.path.join(app.config["LOG_DIR"], "cache"))) == 2
    bad = runner.invoke(args=["monitoring", "refresh", "--window", "year"])
    assert bad.exit_code != 0 and "unknown window" in bad.output


def test_a_rejected_form_reading_is_counted(app, client, login):
    from features.schema import SENSORS
    from tests.conftest import csrf_token
    login("operator")
    values = {sensor.name: str(sensor.example) for sensor in SENSORS}
    values.update(Current="abc", Pressure="99")
    response = client.post("/", data={"asset": "pump-1", "csrf_token": csrf_token(client, "/"),
                                      **values})
    assert response.status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    body = client.get("/api/v1/monitoring?asset=pump-1&window=hour",
                      headers={"X-API-Key": api_key(app, "analyst")}).get_json()
    assert body["operations"]["rejected_readings"] == 1
    assert body["quality"]["rejected_values_by_sensor"] == {
        "Current": {"not_a_number": 1}, "Pressure": {"out_of_range": 1}}
    assert body["quality"]["rejected_share"] == 1.0


@pytest.mark.parametrize("date_from, date_to", [("0001-01-01", "9999-12-31"),
                                                ("1970-01-01", "2026-03-01"),
                                                ("2026-01-01", "2026-04-03")])
def test_a_window_longer_than_the_limit_is_a_clear_400(app, client, date_from, date_to):
    key = api_key(app, "admin")
    response = client.get(f"/api/v1/monitoring?window=dates&from={date_from}&to={date_to}",
                          headers={"X-API-Key": key})
    assert response.status_code == 400
    assert "at most 92 days" in response.get_json()["error"]


def test_a_window_at_the_limit_is_answered_and_stays_small(app, client):
    response = client.get("/api/v1/monitoring?window=dates&from=2026-01-01&to=2026-04-02",
                          headers={"X-API-Key": api_key(app, "admin")})
    assert response.status_code == 200
    assert len(response.get_json()["hours"]) == 92 * 24
    assert len(response.get_data()) < 2_000_000


@pytest.mark.parametrize("language,words", [
    ("fr", "La plupart des relevés de la période ne ressemblent pas aux données"),
    ("en", "Most readings of this window do not look like the data this model was calibrated"),
])
def test_readings_unlike_the_calibration_data_are_said_in_plain_words(app, client, login, pool,
                                                                      language, words):
    fill_history(app, pool, days=1, shift={"Current": 40.0, "Pressure": 40.0,
                                           "Voltage": 40.0})
    login("analyst")
    client.get(f"/language/{language}")
    page = client.get("/monitoring?asset=pump-1&window=7d").get_data(as_text=True)
    assert words in page and 'id="calibration-pump-1"' in page
    assert ("Courant moteur" if language == "fr" else "Motor current") in page
    assert embedded_report(page)["calibration"][0]["out_of_calibration"]


def test_the_share_outside_calibration_is_shown_when_it_is_small(app, client, login, pool):
    fill_history(app, pool, days=1)
    login("analyst")
    page = client.get("/monitoring?asset=pump-1&window=7d").get_data(as_text=True)
    assert "Relevés loin des données de calibration" in page
