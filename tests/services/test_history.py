"""History search: filters, pages, roles, the full record of a request, CSV export."""

import csv
import io
import os

import numpy as np
import pytest

from tests.conftest import NORMAL_CSV
from tests.support.monitoring_fixtures import normal_pool, synthetic_rows, write_audit_day
from tests.support.postgres import fresh_database_url
from webapp.services import database
from webapp.services.history import FilterError, HistoryFilter, request_rows, search


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """Every test here runs on the CSV day files and on the PostgreSQL audit table."""
    return fresh_database_url(request)


def store_day(app, day, rows):
    """Audit rows of a day, in whichever store the app writes; returns what queries read."""
    if database.is_sqlite(app.config["DATABASE"]):
        write_audit_day(app.config["AUDIT_DIR"], day, rows)
        return app.config["AUDIT_DIR"]
    sink = app.extensions["vigie.audit"]
    sink.write(rows)
    return sink


@pytest.fixture(scope="module")
def pool():
    return normal_pool(NORMAL_CSV)


@pytest.fixture
def history(app, pool):
    """Three days in March: operator, analyst and an API key, models v1 then v2."""
    rng = np.random.default_rng(0)
    for day, version in (("2026-02-28", "v1"), ("2026-03-01", "v1"), ("2026-03-02", "v2")):
        rows = synthetic_rows(day, 120, pool, 1.0, rng, version=version, anomaly_rate=0.2)
        rows[0].update(request_id=f"batch-{day}", batch_id=f"b-{day}", channel="batch")
        source = store_day(app, day, rows)
    return source


def test_one_filter_answers_the_auditor(history):
    wanted = HistoryFilter.from_mapping({"principal": "operator", "model_version": "v2",
                                         "verdict": "anomaly", "date_from": "2026-03-01",
                                         "date_to": "2026-03-31"})
    rows, more = search(history, wanted, page_size=500)
    assert rows and not more
    assert {(r["principal"], r["model_version"], r["anomaly"]) for r in rows} == \
        {("operator", "v2", "1")}
    assert all(r["timestamp_utc"].startswith("2026-03") for r in rows)
    times = [r["timestamp_utc"] for r in rows]
    assert times == sorted(times, reverse=True)


def test_which_version_answered_a_request(history):
    rows = request_rows(history, "batch-2026-03-02")
    assert [r["model_version"] for r in rows] == ["v2"]
    assert rows[0]["reading"] == 1 and "Current" in rows[0]["inputs"]
    assert request_rows(history, "nope") == []


def test_pages_do_not_overlap(history):
    wanted = HistoryFilter.from_mapping({"channel": "form"})
    first, more = search(history, wanted, 1, 20)
    second, _ = search(history, wanted, 2, 20)
    assert more and len(first) == 20 and len(second) == 20
    assert not {r["request_id"] for r in first} & {r["request_id"] for r in second}


@pytest.mark.parametrize("values, message", [
    ({"date_from": "03/01/2026"}, "YYYY-MM-DD"),
    ({"date_from": "2026-03-02", "date_to": "2026-03-01"}, "before"),
    ({"channel": "fax"}, "choose one of"),
    ({"verdict": "bad"}, "choose one of")])
def test_bad_filters_say_what_to_write(values, message):
    with pytest.raises(FilterError, match=message):
        HistoryFilter.from_mapping(values)


def test_analysts_see_everyone_and_filter_in_the_page(history, client, login):
    login("analyst")
    page = client.get("/history?principal=apikey:line-3&asset=pump-1").get_data(as_text=True)
    assert "apikey:line-3" in page and ">operator</td>" not in page
    assert 'rel="next"' in page


def test_operators_see_only_their_own_rows(history, client, login):
    login("operator")
    page = client.get("/history?principal=analyst").get_data(as_text=True)
    assert ">operator</td>" in page and ">analyst</td>" not in page
    assert 'name="principal"' not in page


def test_operators_cannot_open_someone_elses_request(history, client, login):
    login("operator")
    rows, _ = search(history, HistoryFilter(principal="analyst"), 1, 1)
    assert client.get(f"/history/{rows[0]['request_id']}").status_code == 404
    own, _ = search(history, HistoryFilter(principal="operator"), 1, 1)
    assert client.get(f"/history/{own[0]['request_id']}").status_code == 200


def test_record_shows_inputs_version_and_sha(history, client, login):
    login("analyst")
    page = client.get("/history/batch-2026-03-02").get_data(as_text=True)
    assert 'id="model-version">v2<' in page and "0" * 64 in page
    assert "Accelerometer1RMS" in page
    assert client.get("/history/unknown-id").status_code == 404


def test_bad_filter_is_a_400_with_the_reason(history, client, login):
    login("analyst")
    response = client.get("/history?date_from=yesterday")
    assert response.status_code == 400 and "AAAA-MM-JJ" in response.get_data(as_text=True)


def test_export_streams_the_filtered_rows_formula_safe(app, history, client, login, pool):
    rows = synthetic_rows("2026-03-03", 2, pool, 1.0, np.random.default_rng(1))
    rows[0]["batch_id"] = "=HYPERLINK(\"http://evil\")"
    store_day(app, "2026-03-03", rows)
    login("analyst")
    response = client.get("/history/export.csv?date_from=2026-03-01&model_version=v1")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    exported = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(exported) == 122 and {r["model_version"] for r in exported} == {"v1"}
    assert not any(r["batch_id"].startswith("=") for r in exported)
    assert any(r["batch_id"].startswith("'=") for r in exported)


def test_operator_export_holds_only_their_rows(history, client, login):
    login("operator")
    body = client.get("/history/export.csv").get_data(as_text=True)
    principals = {r["principal"] for r in csv.DictReader(io.StringIO(body))}
    assert principals == {"operator"}


def test_empty_history_page(client, login):
    login("operator")
    page = client.get("/history").get_data(as_text=True)
    assert 'id="no-rows"' in page


def test_search_stops_at_the_page_it_needs(history, monkeypatch):
    if not isinstance(history, str):
        pytest.skip("the database store reads a page with one query (yield_per), no day files")
    opened = []
    import webapp.services.audit as module
    original = module.read_bytes
    monkeypatch.setattr(module, "read_bytes", lambda path: opened.append(path) or original(path))
    search(history, HistoryFilter(), 1, 10)
    assert [os.path.basename(p) for p in opened] == ["predictions-2026-03-02.csv"]


def test_export_with_a_bad_filter_says_why(client, login):
    login("analyst")
    response = client.get("/history/export.csv?channel=fax")
    assert response.status_code == 400
    assert "choisissez un canal parmi" in response.get_data(as_text=True)
