"""History by request: one line per request or batch, from the request index kept at append time."""

import io
import os

import numpy as np
import pytest

from tests.api.test_predict import normal_readings, post
from tests.conftest import NORMAL_CSV
from tests.support.monitoring_fixtures import normal_pool, synthetic_rows, write_audit_day
from webapp.services import apikeys, audit
from webapp.services.audit import CsvAuditSink, request_rows
from webapp.services.audit_index import index_path
from webapp.services.batch.scorer import score_file
from webapp.services.history import HistoryFilter, search_requests
from webapp.services.registry import ModelRegistry


@pytest.fixture
def batch_and_api(app, paths, client, tmp_path):
    """A batch file scored in three chunks, then one API request of five readings."""
    loaded = ModelRegistry(paths["MODEL_STORE"]).load_active("pump-1")
    lines = open(NORMAL_CSV, encoding="utf-8").read().splitlines()[:121]
    for index in (10, 50, 90):  # vibration and current three times their level: abnormal
        cells = lines[index].split(";")
        cells[1:4] = [str(float(cell.replace(",", ".")) * 3) for cell in cells[1:4]]
        lines[index] = ";".join(cells)
    sink = CsvAuditSink(app.config["AUDIT_DIR"])
    summary = score_file(io.BytesIO(("\n".join(lines) + "\n").encode()), loaded, sink,
                         batch_id="batch-one", channel="batch", principal="operator",
                         results_path=str(tmp_path / "r.csv"), errors_path=str(tmp_path / "e.csv"),
                         chunk_rows=40)
    key = apikeys.create_key(app.config["DATABASE"], "gw", "operator", "t")[1]
    answer = post(client, {"asset": "pump-1", "readings": normal_readings(5)}, key).get_json()
    return summary, answer["request_id"]


def test_one_line_per_request_or_batch_with_its_counts(app, batch_and_api):
    summary, api_request = batch_and_api
    found, more = search_requests(app.config["AUDIT_DIR"], HistoryFilter())
    assert not more
    assert [(r["request_id"], r["channel"], r["readings"]) for r in found] == \
        [(api_request, "api", 5), ("batch-one", "batch", 120)]
    assert found[1]["anomalies"] == summary.anomalies and summary.anomalies >= 3
    anomalous, _ = search_requests(app.config["AUDIT_DIR"], HistoryFilter(verdict="anomaly"))
    assert [r["request_id"] for r in anomalous] == ["batch-one"]


def test_the_history_page_lists_requests_not_readings(app, batch_and_api, client, login):
    login("analyst")
    page = client.get("/history").get_data(as_text=True)
    table = page.split('id="history-rows"')[1].split("</table>")[0]
    assert table.count("<tr class=") == 2 and '"Relevés">120</td>' in table


def test_a_batch_opens_on_its_flagged_readings_and_a_form_only_for_the_judged_one(
        batch_and_api, client, login):
    login("analyst")
    page = client.get("/history/batch-one").get_data(as_text=True)
    first = page.split('class="card reading')[1]
    assert first.startswith(" row-anomaly")
    assert "feedback-form" not in page and "judge=" in page
    judged = client.get("/history/batch-one?judge=" + first.split('id="r')[1].split('"')[0])
    assert judged.get_data(as_text=True).count('class="feedback-form"') == 1


def test_which_version_answered_a_request_reads_one_audit_file(app, batch_and_api,
                                                               monkeypatch, pool=None):
    _, api_request = batch_and_api
    audit_dir = app.config["AUDIT_DIR"]
    pool = normal_pool(NORMAL_CSV)
    for day in ("2026-01-01", "2026-01-02"):  # older days, before the index existed
        write_audit_day(audit_dir, day, synthetic_rows(day, 50, pool, 1.0,
                                                       np.random.default_rng(0)))
    opened = []
    real = audit.read_bytes
    monkeypatch.setattr(audit, "read_bytes", lambda path: opened.append(path) or real(path))
    rows = request_rows(audit_dir, api_request)
    assert [r["model_version"] for r in rows] == ["v1"] * 5
    assert len(opened) == 1


def test_a_day_from_before_the_index_is_indexed_when_first_listed(app):
    audit_dir = app.config["AUDIT_DIR"]
    rows = synthetic_rows("2026-01-01", 30, normal_pool(NORMAL_CSV), 1.0,
                          np.random.default_rng(0), anomaly_rate=0.5)
    write_audit_day(audit_dir, "2026-01-01", rows)
    assert not os.path.exists(index_path(audit_dir, "2026-01-01"))
    found, _ = search_requests(audit_dir, HistoryFilter(), page_size=100)
    assert len(found) == 30 and sum(r["anomalies"] for r in found) == \
        sum(bool(r["anomaly"]) for r in rows)
    assert os.path.exists(index_path(audit_dir, "2026-01-01"))
