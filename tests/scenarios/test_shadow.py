"""Shadow mode: a candidate scores every request beside the active version, in the audit only."""

import csv
import glob
import os

import pytest

from tests.conftest import NORMAL_CSV, read_audit
from webapp.services import apikeys
from webapp.services.audit import CsvAuditSink
from webapp.services.lifecycle import ModelLifecycle
from webapp.services.registry import ActiveModels, ModelRegistry
from webapp.services.scoring import predict_and_audit, score_frame
from webapp.services.training import load_training_frame, train_version

READINGS = load_training_frame(NORMAL_CSV).iloc[:40]


@pytest.fixture
def store(app):
    """pump-1: v1 active, v2 (trained on fewer readings, so its threshold differs) in shadow."""
    registry = ModelRegistry(app.config["MODEL_STORE"])
    train_version(registry, "pump-1", NORMAL_CSV, 60, created_by="tests")
    ModelLifecycle(registry, app.config["LOG_DIR"]).set_shadow("pump-1", "v2", "admin", "watch")
    return registry


@pytest.fixture
def key(app):
    return apikeys.create_key(app.config["DATABASE"], "gw", "operator", "tests")[1]


def audit_rows(app):
    return read_audit(app.config["AUDIT_DIR"])


def api_body(count=40):
    return {"asset": "pump-1", "readings": [
        {name: float(value) for name, value in row.items()}
        for row in READINGS.iloc[:count].to_dict("records")]}


def test_shadow_scores_go_to_the_audit_and_never_to_the_answer(client, app, store, key):
    response = client.post("/api/v1/predict", json=api_body(), headers={"X-API-Key": key})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["model_version"] == "v1"
    assert "shadow" not in response.get_data(as_text=True)
    rows = audit_rows(app)
    assert len(rows) == 40
    shadow = store.load("pump-1", "v2")
    expected = score_frame(shadow, READINGS)
    active = score_frame(store.load("pump-1", "v1"), READINGS)
    for row, mine, result, answer in zip(rows, expected, active, body["results"], strict=True):
        assert row["model_version"] == "v1" and row["shadow_version"] == "v2"
        assert float(row["shadow_score"]) == pytest.approx(mine.score, abs=1e-6)
        assert row["shadow_anomaly"] == ("1" if mine.anomaly else "0")
        assert float(row["score"]) == pytest.approx(result.score, abs=1e-6)
        assert answer["score"] == pytest.approx(result.score, abs=1e-9)
    assert any(float(r["shadow_score"]) != float(r["score"]) for r in rows)


def test_form_requests_are_shadowed_too(login, app, store):
    from tests.conftest import csrf_token
    client = login("operator")
    values = {name: str(value) for name, value in READINGS.iloc[0].items()}
    page = client.post("/", data={"asset": "pump-1", "csrf_token": csrf_token(client, "/"),
                                  **values})
    assert page.status_code == 200
    assert 'id="verdict"' in page.get_data(as_text=True)
    (row,) = audit_rows(app)
    assert row["channel"] == "form" and row["shadow_version"] == "v2" and row["shadow_score"]


def test_a_failing_shadow_never_changes_the_answer(tmp_path, store, caplog):
    models = ActiveModels(store)
    loaded = models.get("pump-1")
    assert loaded.shadow.version == "v2"

    def broken(*args, **kwargs):
        raise RuntimeError("candidate crashed")
    loaded.shadow.model.score_parts = broken  # what score() and the scoring service call
    sink = CsvAuditSink(str(tmp_path / "audit"))
    _, results = predict_and_audit(loaded, READINGS, sink, channel="cli", principal="t")
    expected = score_frame(store.load("pump-1", "v1"), READINGS)
    assert [r.score for r in results] == [e.score for e in expected]
    rows = list(csv.DictReader(open(glob.glob(str(tmp_path / "audit" / "*.csv"))[0])))
    assert len(rows) == 40
    assert all(r["shadow_version"] == "v2" and r["shadow_score"] == "" for r in rows)
    assert "shadow pump-1 v2 failed" in caplog.text


def test_a_tampered_shadow_is_skipped_and_scoring_goes_on(client, app, store, key, caplog):
    with open(os.path.join(store.root, "pump-1", "v2", "model.pkl"), "ab") as handle:
        handle.write(b"x")
    response = client.post("/api/v1/predict", json=api_body(5), headers={"X-API-Key": key})
    assert response.status_code == 200
    rows = audit_rows(app)
    assert len(rows) == 5 and all(r["shadow_version"] == "" for r in rows)
    assert "shadow pump-1 v2 not used" in caplog.text


def test_without_shadow_the_columns_stay_empty(client, app, store, key):
    ModelLifecycle(store, app.config["LOG_DIR"]).clear_shadow("pump-1", "admin", "stop")
    client.post("/api/v1/predict", json=api_body(3), headers={"X-API-Key": key})
    rows = audit_rows(app)
    assert len(rows) == 3
    assert all(r["shadow_version"] == r["shadow_score"] == r["shadow_anomaly"] == ""
               for r in rows)


def test_activating_the_shadow_ends_the_shadow(client, app, store, key):
    ModelLifecycle(store, app.config["LOG_DIR"]).activate("pump-1", "v2", "admin", "promote")
    client.post("/api/v1/predict", json=api_body(2), headers={"X-API-Key": key})
    rows = audit_rows(app)
    assert [r["model_version"] for r in rows] == ["v2", "v2"]
    assert all(r["shadow_version"] == "" for r in rows)


def test_a_batch_pinned_to_a_version_is_shadowed_too(store):
    pinned = ActiveModels(store).get("pump-1", "v1")
    assert pinned.version == "v1" and pinned.shadow.version == "v2"
    assert ActiveModels(store).get("pump-1", "v2").shadow is None  # never its own shadow
