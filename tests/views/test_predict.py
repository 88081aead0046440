"""The single-reading form: verdict, contributions, audit row, errors next to fields, languages."""

import json
import os
import re

import pytest

from features.schema import SENSOR_COLUMNS
from tests.conftest import NORMAL_CSV, csrf_token, read_audit
from webapp.services.audit import AUDIT_COLUMNS

NORMAL = {"Accelerometer1RMS": "0.2024", "Accelerometer2RMS": "0.2752", "Current": "2.17",
          "Pressure": "0.3826", "Temperature": "90.65", "Thermocouple": "26.85",
          "Voltage": "238.85", "Volume Flow RateRMS": "122.66"}


def audit_rows(paths):
    return read_audit(os.path.join(paths["LOG_DIR"], "audit"))


def submit(client, values, asset="pump-1"):
    return client.post("/", data={**values, "asset": asset, "csrf_token": csrf_token(client, "/")})


def test_a_form_prediction_writes_exactly_one_complete_audit_row(client, login, paths):
    login("operator")
    response = submit(client, NORMAL)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    request_id = re.search(r'id="request-id">([0-9a-f]+)<', page).group(1)
    rows = audit_rows(paths)
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == set(AUDIT_COLUMNS)
    assert row["request_id"] == request_id
    assert row["channel"] == "form" and row["principal"] == "operator"
    assert row["asset"] == "pump-1" and row["model_version"] == "v1"
    assert len(row["model_sha256"]) == 64
    assert json.loads(row["inputs"]) == {k: float(v) for k, v in NORMAL.items()}
    assert float(row["threshold"]) > 0 and row["anomaly"] in ("0", "1")
    assert len(row["top_sensors"].split(";")) == 3
    assert row["timestamp_utc"].endswith("Z") and float(row["latency_ms"]) >= 0


def test_result_shows_verdict_score_contributions_version_and_request_id(client, login):
    login("operator")
    page = submit(client, NORMAL).get_data(as_text=True)
    assert 'id="verdict"' in page
    assert "v1" in page and "pump-1" in page
    table = re.search(r'<table class="contributions stack".*?</table>', page, re.S).group(0)
    assert all(name in table for name in SENSOR_COLUMNS)


def test_shifted_sensor_is_flagged_and_named_first(client, login):
    login("operator")
    client.get("/language/en?next=/")
    page = submit(client, {**NORMAL, "Pressure": "9.5"}).get_data(as_text=True)
    assert "Abnormal behaviour detected" in page
    first = re.search(r'<tbody>\s*<tr class="top[^"]*" data-sensor="([^"]+)"', page).group(1)
    assert first == "Pressure"
    row = re.search(r'data-sensor="Pressure">(.*?)</tr>', page, re.S).group(1)
    assert "Pressure after the pump" in row and "9.500 bar" in row  # label, value with its unit
    assert re.search(r"class=\"usual\">[\d.-]+ to [\d.-]+ bar", row)
    shares = [float(s) for s in re.findall(r'<meter min="0" max="1" value="([\d.]+)"', page)]
    assert len(shares) == 8 and min(shares) >= 0 and abs(sum(shares) - 1) < 0.01


@pytest.mark.parametrize("field, value, message", [
    ("Current", "abc", "Saisissez un nombre"),
    ("Voltage", "", "Obligatoire."),
    ("Temperature", "nan", "nombre fini"),
    ("Pressure", "99", "Doit être entre -5 et 25 bar."),
])
def test_invalid_input_rerenders_the_form_with_the_message_next_to_the_field(
        client, login, paths, field, value, message):
    login("operator")
    response = submit(client, {**NORMAL, field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    block = re.search(r'<div class="field has-error">(.*?)</div>', page, re.S).group(1)
    assert f'name="{field}"' in block and message in block
    assert 'id="verdict"' not in page
    assert f'value="{NORMAL["Current"]}"' in page or field == "Current"
    assert audit_rows(paths) == []


def test_form_without_csrf_token_is_refused(client, login, paths):
    login("operator")
    response = client.post("/", data={**NORMAL, "asset": "pump-1"})
    assert response.status_code == 400
    assert audit_rows(paths) == []


def test_example_prefills_normal_operation_values(client, login):
    login("operator")
    page = client.get("/?example=1").get_data(as_text=True)
    assert re.search(r'name="Current" type="text" value="\d', page)


def test_pages_render_in_french_by_default_and_in_english_on_request(client, login):
    login("operator")
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="fr">' in page and "Évaluer cette mesure" in page
    assert 'name="Volume Flow RateRMS"' in page and "Débit de circulation" in page
    response = client.get("/language/en?next=/")
    assert response.status_code == 302 and "vigie_lang=en" in response.headers["Set-Cookie"]
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page and "Score this reading" in page
    assert "Circulation flow rate" in page


def test_login_page_renders_in_both_languages(client):
    assert "Se connecter" in client.get("/login").get_data(as_text=True)
    client.get("/language/en?next=/login")
    assert "Sign in" in client.get("/login").get_data(as_text=True)


def test_audit_failure_gives_a_clear_error_and_no_verdict(client, login, paths):
    login("operator")
    os.makedirs(paths["LOG_DIR"], exist_ok=True)
    with open(os.path.join(paths["LOG_DIR"], "audit"), "w") as handle:
        handle.write("a file where the audit folder should be")
    response = submit(client, NORMAL)
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "pas pu être enregistrée" in page and 'id="verdict"' not in page


def test_unhandled_error_shows_a_plain_page_with_request_id_and_logs_traceback(app, paths):
    @app.route("/boom")
    def boom():
        raise RuntimeError("kaboom")
    client = app.test_client()
    response = client.get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Traceback" not in page and "kaboom" not in page
    request_id = response.headers["X-Request-ID"]
    assert request_id in page
    with open(os.path.join(paths["LOG_DIR"], "app.log")) as handle:
        log = handle.read()
    assert f"[{request_id}]" in log and "Traceback" in log and "kaboom" in log


def test_health_and_readiness(client, paths):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["assets"] == {"pump-1": "v1"}
    with open(os.path.join(paths["MODEL_STORE"], "pump-1", "v1", "model.pkl"), "ab") as handle:
        handle.write(b"x")
    broken = client.get("/readyz")
    assert broken.status_code == 503
    assert "does not match its manifest" in broken.json["problems"][0]


def test_one_broken_asset_of_two_leaves_the_service_ready_and_is_named(app, client, paths):
    from webapp.services.registry import ModelRegistry
    from webapp.services.training import train_version
    train_version(ModelRegistry(paths["MODEL_STORE"]), "pump-2", NORMAL_CSV, created_by="t")
    with open(os.path.join(paths["MODEL_STORE"], "pump-2", "v1", "model.pkl"), "ab") as handle:
        handle.write(b"x")
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "degraded"
    assert ready.json["assets"] == {"pump-1": "v1"}
    assert "does not match its manifest" in ready.json["unready"]["pump-2"]
