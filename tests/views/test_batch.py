"""The /batch page: upload, progress, result page, downloads, limits and who may see what."""

import glob
import hashlib
import io
import json
import os
import re
import time

import pandas as pd
import pytest

from tests.conftest import NORMAL_CSV, PASSWORDS, csrf_token, read_audit_table
from webapp.services import users
from webapp.services.batch.store import BatchStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKAB_LABELLED = sorted(glob.glob(os.path.join(ROOT, "data", "skab", "**", "*.csv"),
                                 recursive=True))


def upload(client, content, filename="export.csv", asset="pump-1"):
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    return client.post("/batch/", data={"asset": asset, "csrf_token": csrf_token(client, "/batch/"),
                                        "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def wait_until_finished(client, batch_id, deadline=120):
    """Poll the status like the page does, until the batch is done or failed."""
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        status = client.get(f"/batch/{batch_id}/status").get_json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} still {status['state']} after {deadline} s")


def upload_and_wait(client, content, **options):
    response = upload(client, content, **options)
    assert response.status_code == 303, response.get_data(as_text=True)
    batch_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    return batch_id, wait_until_finished(client, batch_id)


def audit_rows(app):
    return read_audit_table(app.config["AUDIT_DIR"])


def normal_text(rows=200):
    with open(NORMAL_CSV, encoding="utf-8") as handle:
        return "".join(handle.readlines()[:rows + 1])


def test_page_is_in_the_menu_for_operators_and_asks_anonymous_users_to_log_in(client, login):
    assert client.get("/batch/").status_code == 302
    page = login("operator").get("/batch/").get_data(as_text=True)
    assert 'href="/batch/"' in page and 'type="file"' in page and "js/batch.js" in page


def test_upload_scores_the_file_and_keeps_its_traces(app, client, login):
    login("operator")
    content = normal_text(200)
    batch_id, status = upload_and_wait(client, content)
    assert status["state"] == "done" and status["scored"] == 200
    page = client.get(f"/batch/{batch_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r'id="rows-read">200<', html) and re.search(r'id="rows-rejected">0<', html)
    assert "chart.umd.min.js" in html and 'id="chart-data"' in html
    folder = os.path.join(app.config["LOG_DIR"], "batches", batch_id)
    meta = json.load(open(os.path.join(folder, "meta.json")))
    assert meta["sha256"] == hashlib.sha256(content.encode()).hexdigest()
    assert meta["principal"] == "operator" and meta["filename"] == "export.csv"
    assert not os.path.exists(os.path.join(folder, "input.csv"))
    download = client.get(f"/batch/{batch_id}/results.csv")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    results = pd.read_csv(io.BytesIO(download.data), dtype=str)
    assert len(results) == 200 and results.columns[-6:].tolist() == [
        "score", "threshold", "predicted_anomaly", "top_sensors", "asset", "model_version"]
    audit = audit_rows(app)
    assert len(audit) == 200 and set(audit["batch_id"]) == {batch_id}
    assert set(audit["channel"]) == {"batch"} and set(audit["principal"]) == {"operator"}


def test_rejected_rows_are_listed_on_the_page_and_in_the_report(app, client, login):
    login("operator")
    lines = normal_text(30).splitlines()
    lines[4] = lines[4].replace(";", ";oops", 1)
    lines[9] = "2020-02-08 13:31:00;0.2"
    batch_id, status = upload_and_wait(client, "\n".join(lines) + "\n")
    assert (status["scored"], status["rejected"]) == (28, 2)
    html = client.get(f"/batch/{batch_id}").get_data(as_text=True)
    assert 'id="rejected-rows"' in html and "oops" in html
    report = pd.read_csv(io.BytesIO(client.get(f"/batch/{batch_id}/errors.csv").data), dtype=str)
    assert report["line"].tolist() == ["5", "10"]
    assert report["column"].fillna("").tolist() == ["Accelerometer1RMS", ""]
    assert len(audit_rows(app)) == 28


def test_missing_columns_are_named_on_the_form_and_nothing_is_scored(app, client, login):
    login("operator")
    frame = pd.read_csv(NORMAL_CSV, sep=";", dtype=str).drop(columns=["Current"])
    response = upload(client, frame.to_csv(sep=";", index=False))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Current" in html and 'id="file-error"' in html
    assert not glob.glob(os.path.join(app.config["LOG_DIR"], "batches", "*"))
    assert audit_rows(app).empty


@pytest.mark.parametrize("content, words", [
    (b"", "Choose a CSV file"),  # an empty upload is no file at all for the browser
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "CSV"),
])
def test_unreadable_uploads_get_a_clear_message(client, login, content, words):
    login("operator")
    response = upload(client, content)
    assert response.status_code == 422
    assert 'id="file-error"' in response.get_data(as_text=True)


def test_header_only_file_fails_with_a_clear_message(client, login):
    login("operator")
    batch_id, status = upload_and_wait(client, normal_text(0))
    assert status["state"] == "failed"
    assert 'role="alert"' in client.get(f"/batch/{batch_id}").get_data(as_text=True)


def test_upload_over_the_limit_is_a_clear_413(app, client, login):
    login("operator")
    app.config["MAX_CONTENT_LENGTH"] = 4096
    response = upload(client, normal_text(200))
    assert response.status_code == 413
    assert "4 kB" in response.get_data(as_text=True)


def test_operators_see_only_their_own_batches(app, client, login):
    users.create_user(app.config["DATABASE"], "operator2", PASSWORDS["operator"], "operator")
    login("operator")
    batch_id, _ = upload_and_wait(client, normal_text(50))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/batch/")})
    client.post("/login", data={"username": "operator2", "password": PASSWORDS["operator"],
                                "csrf_token": csrf_token(client)})
    for path in ("", "/status", "/results.csv", "/errors.csv"):
        assert client.get(f"/batch/{batch_id}{path}").status_code == 404
    assert batch_id not in client.get("/batch/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/batch/")})
    login("analyst")
    assert client.get(f"/batch/{batch_id}").status_code == 200
    assert batch_id in client.get("/batch/").get_data(as_text=True)


def test_a_batch_whose_process_died_is_reported_as_failed(app, client, login):
    login("operator")
    store = BatchStore(os.path.join(app.config["LOG_DIR"], "batches"))
    os.makedirs(store.root, exist_ok=True)
    batch_id = store.reserve()
    store.create(batch_id, {"asset": "pump-1", "model_version": "v1", "principal": "operator",
                            "channel": "batch", "filename": "x.csv"})
    page = client.get(f"/batch/{batch_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and 'id="processing"' in page  # works without JS
    store.set_status(batch_id, "running", rows_read=10)
    status_path = store.path(batch_id, "status.json")
    status = json.load(open(status_path))
    status["pid"] = 2 ** 22 + 12345  # no such process on this host
    json.dump(status, open(status_path, "w"))
    answer = client.get(f"/batch/{batch_id}/status").get_json()
    assert answer["state"] == "failed" and answer["code"] == "stopped"
    assert "Déposez le fichier à nouveau" in answer["message"]


def test_unknown_or_malformed_batch_ids_are_404(client, login):
    login("operator")
    for batch_id in ("0123456789abcdef", "..%2F..%2Fetc", "ZZZ"):
        assert client.get(f"/batch/{batch_id}").status_code == 404


def test_labelled_file_shows_the_comparison_with_the_labels(client, login):
    login("operator")
    lines = normal_text(100).splitlines()
    lines[0] += ";anomaly"
    lines[1:] = [line + (";1" if i >= 60 else ";0") for i, line in enumerate(lines[1:])]
    batch_id, status = upload_and_wait(client, "\n".join(lines))
    html = client.get(f"/batch/{batch_id}").get_data(as_text=True)
    assert 'id="comparison"' in html and 'id="f1"' in html


@pytest.mark.skipif(not SKAB_LABELLED, reason="labelled SKAB files not yet in data/skab/")
def test_every_labelled_skab_file_uploads_and_is_compared(app, client, login):
    login("operator")
    scored = 0
    for path in SKAB_LABELLED:
        with open(path, "rb") as handle:
            content = handle.read()
        batch_id, status = upload_and_wait(client, content, filename=os.path.basename(path))
        assert status["state"] == "done", (path, status)
        rows = content.count(b"\n") - 1 + (not content.endswith(b"\n"))
        assert status["rows_read"] == rows and status["rejected"] == 0, path
        summary = json.load(open(os.path.join(app.config["LOG_DIR"], "batches", batch_id,
                                              "summary.json")))
        assert summary["metrics"]["rows"] == status["scored"], path
        scored += status["scored"]
    assert len(audit_rows(app)) == scored


def test_page_and_row_problems_are_in_french_by_default(client, login):
    login("operator")
    assert "Déposer et évaluer" in client.get("/batch/").get_data(as_text=True)
    lines = normal_text(30).splitlines()
    lines[3] += ";extra"
    batch_id, _ = upload_and_wait(client, "\n".join(lines))
    html = client.get(f"/batch/{batch_id}").get_data(as_text=True)
    assert "La ligne a 10 champs, l’en-tête en a 9." in html and "Lignes rejetées" in html


def test_a_file_from_another_operating_point_is_called_out_of_calibration(client, login):
    login("operator")
    skab = os.path.join(ROOT, "data", "skab", "valve1", "3.csv")
    with open(skab, encoding="utf-8") as handle:
        batch_id, status = upload_and_wait(client, handle.read())
    assert status["state"] == "done"
    html = client.get(f"/batch/{batch_id}").get_data(as_text=True)
    assert 'id="calibration-warning"' in html
    assert "ne ressemble pas aux données sur lesquelles ce modèle a été calibré" in html
    assert "Débit de circulation" in html  # the flow, by its label, against its usual range


def test_a_normal_file_gets_a_plain_headline_and_no_calibration_warning(client, login):
    login("operator")
    batch_id, _ = upload_and_wait(client, normal_text(200))
    html = client.get(f"/batch/{batch_id}").get_data(as_text=True)
    assert 'id="file-verdict"' in html and 'id="calibration-warning"' not in html


def test_a_full_disk_during_the_upload_is_a_clear_503_and_leaves_no_batch(app, client, login,
                                                                           monkeypatch):
    import errno

    from webapp.services.batch import store as routes

    def disk_full(stream, path, block=1 << 20):
        with open(path, "wb") as handle:
            handle.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(routes, "save_upload", disk_full)
    login("operator")
    client.get("/language/en")
    response = upload(client, normal_text(20))
    assert response.status_code == 503
    assert "The server&#39;s disk is full" in response.get_data(as_text=True)
    assert os.listdir(os.path.join(app.config["LOG_DIR"], "batches")) == []


def test_a_stored_file_name_with_cr_lf_no_longer_breaks_its_downloads(app, client, login):
    # Names are checked at upload now; a batch stored before may still hold a CR/LF.
    login("operator")
    batch_id, status = upload_and_wait(client, normal_text(20))
    assert status["state"] == "done"
    store = BatchStore(os.path.join(app.config["LOG_DIR"], "batches"))
    meta_path = store.path(batch_id, "meta.json")
    json.dump({**json.load(open(meta_path)), "filename": "bad\r\nSet-Cookie: x=1.csv"},
              open(meta_path, "w"))
    response = client.get(f"/batch/{batch_id}/results.csv")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition


@pytest.fixture
def database_url(request):
    """The embedded default unless a test asks for PostgreSQL (indirect parametrisation)."""
    from tests.support.postgres import fresh_database_url
    return fresh_database_url(request) if hasattr(request, "param") else None


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_page_follows_a_batch_on_either_store_and_lists_it(app, client, login,
                                                               database_url):
    login("operator")
    batch_id, status = upload_and_wait(client, normal_text(30), filename="line 3.csv")
    assert status["state"] == "done" and status["scored"] == 30
    assert "pid" not in status and "host" not in status
    assert "line 3.csv" in client.get("/batch/").get_data(as_text=True)
    assert "30" in client.get(f"/batch/{batch_id}").get_data(as_text=True)
    download = client.get(f"/batch/{batch_id}/results.csv")
    assert download.status_code == 200 and len(download.data.splitlines()) == 31
    folder = os.path.join(app.config["BATCH_DIR"], batch_id)
    state_files = {"meta.json", "status.json", "summary.json"} & set(os.listdir(folder))
    assert state_files == (set() if database_url else {"meta.json", "status.json",
                                                       "summary.json"})


def test_the_batch_folder_is_a_setting(paths, tmp_path):
    from webapp import create_app
    shared = tmp_path / "shared-batches"
    app = create_app({**paths, "TESTING": True, "BATCH_DIR": str(shared)})
    assert app.config["BATCH_DIR"] == str(shared)
    default = create_app({**paths, "TESTING": True})
    assert default.config["BATCH_DIR"] == os.path.join(default.config["LOG_DIR"], "batches")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_poll_while_the_database_is_away_is_a_clear_503(client, login, database_url,
                                                          monkeypatch):
    import sqlalchemy as sa

    from webapp.services.job_states import DatabaseJobStates
    login("operator")
    batch_id, _ = upload_and_wait(client, normal_text(5))

    def away(self, *args, **kwargs):
        raise sa.exc.OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(DatabaseJobStates, "_select", away)
    response = client.get(f"/batch/{batch_id}/status", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert "base de données est indisponible" in response.get_json()["error"]
