"""Model versions pages and POST /api/v1/models/active: roles, switches, training, comparison."""

import csv
import io
import json
import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import NORMAL_CSV, csrf_token
from webapp.services import apikeys
from webapp.services.lifecycle import ModelLifecycle
from webapp.services.registry import ModelRegistry
from webapp.services.training import train_version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LABELLED_CSV = os.path.join(ROOT, "data", "skab", "valve1", "1.csv")


@pytest.fixture
def store(app):
    """pump-1 with v1 active and a candidate v2."""
    registry = ModelRegistry(app.config["MODEL_STORE"])
    train_version(registry, "pump-1", NORMAL_CSV, 250, created_by="alice")
    return registry


def events(app):
    return ModelLifecycle(ModelRegistry(app.config["MODEL_STORE"]), app.config["LOG_DIR"]).events()


def post_switch(client, path, **data):
    """Post a switch form as confirmed (tests/views/test_confirmation.py asks first)."""
    token = csrf_token(client, "/admin/models/train")
    return client.post(path, data={"csrf_token": token, "confirm": "1", **data})


# --- versions page -----------------------------------------------------------------------------

def test_operator_gets_403_everywhere(login, store):
    client = login("operator")
    for path in ("/admin/models/", "/admin/models/train", "/admin/models/pump-1/versions/v2"):
        assert client.get(path).status_code == 403, path
    response = client.post("/admin/models/pump-1/activate", data={
        "version": "v2", "reason": "x", "csrf_token": csrf_token(client, "/")})
    assert response.status_code == 403
    assert store.active_version("pump-1") == "v1"


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/models/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_analyst_sees_versions_and_manifests_but_no_switch(login, store):
    client = login("analyst")
    page = client.get("/admin/models/").get_data(as_text=True)
    assert "pump-1" in page and 'id="row-pump-1-v1"' in page and 'id="row-pump-1-v2"' in page
    assert "normal_400.csv" in page and "alice" in page and "250" in page
    assert "/admin/models/pump-1/activate" not in page
    assert "/admin/models/pump-1/rollback" not in page


def test_analyst_cannot_switch(login, store, app):
    client = login("analyst")
    for path, data in (("/admin/models/pump-1/activate", {"version": "v2", "reason": "x"}),
                       ("/admin/models/pump-1/rollback", {"reason": "x"}),
                       ("/admin/models/pump-1/shadow", {"version": "v2", "reason": "x"})):
        assert post_switch(client, path, **data).status_code == 403, path
    assert store.active_version("pump-1") == "v1"
    assert store.shadow_version("pump-1") is None
    assert events(app) == []


def test_admin_activates_and_rolls_back_in_one_click(login, store, app):
    client = login("admin")
    response = post_switch(client, "/admin/models/pump-1/activate", version="v2",
                           reason="after overhaul")
    assert response.status_code == 303
    assert store.active_version("pump-1") == "v2"
    page = client.get("/admin/models/").get_data(as_text=True)
    assert "after overhaul" in page
    assert 'id="rollback-pump-1"' in page
    response = post_switch(client, "/admin/models/pump-1/rollback", reason="false alarms")
    assert response.status_code == 303
    assert store.active_version("pump-1") == "v1"
    rows = events(app)
    assert [(r["principal"], r["action"], r["from_version"], r["to_version"], r["reason"])
            for r in rows] == [("admin", "activate", "v1", "v2", "after overhaul"),
                               ("admin", "rollback", "v2", "v1", "false alarms")]
    history = client.get("/admin/models/").get_data(as_text=True)
    assert "pump-1 est revenu à v1." in history  # the flash, in French by default
    assert history.index("false alarms") < history.index("after overhaul")  # newest first


def test_switch_without_reason_is_refused_with_a_message(login, store, app):
    client = login("admin")
    response = post_switch(client, "/admin/models/pump-1/activate", version="v2", reason="  ")
    assert response.status_code == 400
    assert "reason" in response.get_data(as_text=True).lower()
    assert store.active_version("pump-1") == "v1"
    assert events(app) == []


def test_tampered_version_is_shown_not_loadable_and_refused(login, store, app):
    with open(os.path.join(store.root, "pump-1", "v2", "model.pkl"), "ab") as handle:
        handle.write(b"x")
    client = login("admin")
    page = client.get("/admin/models/").get_data(as_text=True)
    assert "does not match its manifest" in page
    response = post_switch(client, "/admin/models/pump-1/activate", version="v2", reason="go")
    assert response.status_code == 409
    assert "does not match its manifest" in response.get_data(as_text=True)
    assert store.active_version("pump-1") == "v1"


@pytest.mark.parametrize("version", ["../v1", "../../../../etc/passwd", "%2e%2e%2fv1", "/v1",
                                     "v1/..", "v99"])
def test_traversal_through_the_page_is_refused(login, store, version):
    client = login("admin")
    response = post_switch(client, "/admin/models/pump-1/activate", version=version, reason="x")
    assert response.status_code == 404
    assert store.active_version("pump-1") == "v1"
    response = post_switch(client, "/admin/models/pump-1/shadow", version=version, reason="x")
    assert response.status_code == 404
    assert store.shadow_version("pump-1") is None


@pytest.mark.parametrize("path", ["/admin/models/..%2fpump-1/versions/v1",
                                  "/admin/models/pump-1/versions/..%2f..%2fv1",
                                  "/admin/models/pump-1/versions/%2e%2e",
                                  "/admin/models/pump-1/versions/v9"])
def test_traversal_in_page_urls_is_404(login, store, path):
    assert login("analyst").get(path).status_code == 404


def test_shadow_from_the_page(login, store, app):
    client = login("admin")
    assert post_switch(client, "/admin/models/pump-1/shadow", version="v2",
                       reason="watch it").status_code == 303
    assert store.shadow_version("pump-1") == "v2"
    page = client.get("/admin/models/").get_data(as_text=True)
    assert "badge-shadow" in page
    assert post_switch(client, "/admin/models/pump-1/shadow/stop",
                       reason="done").status_code == 303
    assert store.shadow_version("pump-1") is None


# --- candidate training ------------------------------------------------------------------------

def start_training(client, asset, normal, labelled=None, normal_rows=""):
    data = {"csrf_token": csrf_token(client, "/admin/models/train"), "asset": asset,
            "normal_rows": normal_rows, "normal_file": (io.BytesIO(normal), "normal.csv")}
    if labelled is not None:
        data["labelled_file"] = (io.BytesIO(labelled), "labelled.csv")
    return client.post("/admin/models/train", data=data, content_type="multipart/form-data")


def wait_for_job(client, location, timeout=60):
    """Poll the job status as the page's script does, until it ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(location + ".json").get_json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError("the training did not finish")


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def test_an_analyst_cannot_create_an_asset(login, app):
    client = login("analyst")
    client.get("/language/en")
    response = start_training(client, "pump-7", read(NORMAL_CSV), normal_rows="300")
    assert response.status_code == 400
    assert "Only an administrator can create a new asset" in response.get_data(as_text=True)
    assert ModelRegistry(app.config["MODEL_STORE"]).assets() == ["pump-1"]
    assert events(app) == []


def test_admin_trains_the_first_version_of_a_new_asset(login, app):
    client = login("admin")
    response = start_training(client, "pump-7", read(NORMAL_CSV), normal_rows="300")
    assert response.status_code == 303
    location = response.headers["Location"]
    status = wait_for_job(client, location)
    assert status["state"] == "done", status
    registry = ModelRegistry(app.config["MODEL_STORE"])
    manifest = registry.manifest("pump-7", status["version"])
    assert manifest["created_by"] == "admin"
    assert manifest["training_data"]["rows_used"] == 300
    page = client.get(location).get_data(as_text=True)
    assert 'id="job-result"' in page and status["version"] in page
    assert registry.active_version("pump-7") == "v1"  # a new asset's first version answers
    assert [(e["action"], e["to_version"], e["principal"]) for e in events(app)] == [
        ("train", "v1", "admin"), ("activate", "v1", "admin")]


def test_candidate_with_labels_is_compared_with_the_active_version(login, store, app):
    client = login("analyst")
    labelled = read(LABELLED_CSV)
    response = start_training(client, "pump-1", labelled, labelled, normal_rows="350")
    status = wait_for_job(client, response.headers["Location"])
    assert status["state"] == "done", status
    assert ModelRegistry(app.config["MODEL_STORE"]).active_version("pump-1") == "v1"
    page = client.get(f"/admin/models/pump-1/versions/{status['version']}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "labelled.csv" in text and "TP / FP / FN / TN" in text
    assert f"{status['version']} (" in text and "v1 (" in text


def test_bad_training_file_gets_line_and_column_and_leaves_no_version(login, store, app):
    client = login("analyst")
    lines = read(NORMAL_CSV).decode().splitlines()
    lines[3] = lines[3].replace(";", ";oops", 1)
    response = start_training(client, "pump-1", ("\n".join(lines) + "\n").encode())
    location = response.headers["Location"]
    status = wait_for_job(client, location)
    assert status["state"] == "failed"
    assert status["errors"][0]["line"] == 4
    page = client.get(location).get_data(as_text=True)
    assert "Accelerometer1RMS" in page and 'id="job-errors"' in page
    assert "Saisissez un nombre" in page  # the upload pages' message, in the user's language
    assert "1 valeur invalide dans le fichier" in page
    assert ModelRegistry(app.config["MODEL_STORE"]).versions("pump-1") == ["v1", "v2"]


@pytest.mark.parametrize("asset, message", [("../evil", "letters, digits"),
                                            ("", "Choose an asset")])
def test_train_form_checks_the_asset_name(login, app, asset, message):
    client = login("analyst")
    client.get("/language/en")
    response = start_training(client, asset, read(NORMAL_CSV))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert not os.path.exists(os.path.join(app.config["MODEL_STORE"], "..", "evil"))


def test_missing_columns_are_named_on_the_job_page(login, app):
    client = login("analyst")
    response = start_training(client, "pump-1", b"Current;Voltage\n1;230\n")
    status = wait_for_job(client, response.headers["Location"])
    assert status["state"] == "failed"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Colonnes de capteurs manquantes" in page and "Accelerometer1RMS" in page


def test_train_form_requires_the_normal_file(login):
    client = login("analyst")
    response = client.post("/admin/models/train", data={
        "csrf_token": csrf_token(client, "/admin/models/train"), "asset": "pump-1"},
        content_type="multipart/form-data")
    assert response.status_code == 400
    assert 'class="field-error"' in response.get_data(as_text=True)


def test_unknown_job_is_404(login):
    client = login("analyst")
    assert client.get("/admin/models/jobs/" + "0" * 32).status_code == 404
    assert client.get("/admin/models/jobs/..%2f..%2fsecret").status_code == 404


# --- comparison on audited readings --------------------------------------------------------------

def test_candidate_page_compares_on_the_audited_window(login, store, app):
    key = apikeys.create_key(app.config["DATABASE"], "gw", "operator", "tests")[1]
    client = login("analyst")
    with open(NORMAL_CSV) as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    readings = [{k: float(v) for k, v in row.items() if k != "datetime"} for row in rows[:60]]
    readings[30]["Current"] = 40.0  # far outside normal operation
    response = client.post("/api/v1/predict", json={"asset": "pump-1", "readings": readings},
                           headers={"X-API-Key": key})
    assert response.status_code == 200, response.get_data(as_text=True)
    page = client.get("/admin/models/pump-1/versions/v2?hours=24").get_data(as_text=True)
    assert 'id="agreement"' in page
    assert "<dd>60</dd>" in page  # every audited reading re-scored


def test_comparison_service_reports_disagreements(store, app):
    from webapp.services import candidates
    audit_dir = app.config["AUDIT_DIR"]
    os.makedirs(audit_dir, exist_ok=True)
    from webapp.services.audit import CsvAuditSink
    from webapp.services.scoring import frame_from_values, predict_and_audit
    v1 = store.load("pump-1", "v1")
    for current in (2.17, 5.0, 9.0, 30.0):
        values = {"Accelerometer1RMS": 0.2, "Accelerometer2RMS": 0.27, "Current": current,
                  "Pressure": 0.38, "Temperature": 90.6, "Thermocouple": 26.8, "Voltage": 238.8,
                  "Volume Flow RateRMS": 122.6}
        predict_and_audit(v1, frame_from_values(values, v1.model.columns),
                          CsvAuditSink(audit_dir), channel="form", principal="t")
    result = candidates.compare_on_audit(store, "pump-1", "v2", audit_dir, 1)
    assert result["readings"] == 4
    assert result["active"]["version"] == "v1"
    expected_differences = sum(
        d["candidate_anomaly"] != d["active_anomaly"] for d in result["disagreements"])
    assert result["disagreement_count"] == expected_differences
    assert result["agreement_rate"] == round(1 - expected_differences / 4, 4)
    assert 0 <= result["active"]["anomaly_rate"] <= 1
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    assert candidates.compare_on_audit(store, "pump-1", "v2", audit_dir, 1,
                                       now=later)["readings"] == 0


# --- API -----------------------------------------------------------------------------------------

@pytest.fixture
def admin_key(app):
    return apikeys.create_key(app.config["DATABASE"], "deploy", "admin", "tests")[1]


def api_switch(client, key, body, **kwargs):
    kwargs.setdefault("json", body)
    return client.post("/api/v1/models/active", headers={"X-API-Key": key}, **kwargs)


def test_api_activates_with_an_admin_key(client, store, app, admin_key):
    response = api_switch(client, admin_key, {"asset": "pump-1", "version": "v2",
                                              "reason": "pipeline 42"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["previous_version"] == "v1"
    assert store.active_version("pump-1") == "v2"
    assert events(app)[-1]["principal"] == "apikey:deploy"
    assert client.get("/api/v1/models/active", headers={"X-API-Key": admin_key}).get_json()[
        "assets"][0]["version"] == "v2"


def test_api_refuses_keys_below_admin(client, store, app):
    for role in ("operator", "analyst"):
        key = apikeys.create_key(app.config["DATABASE"], f"k-{role}", role, "tests")[1]
        response = api_switch(client, key, {"asset": "pump-1", "version": "v2", "reason": "x"})
        assert response.status_code == 403
    assert api_switch(client, "", {"asset": "pump-1", "version": "v2",
                                   "reason": "x"}).status_code == 401
    assert store.active_version("pump-1") == "v1"


@pytest.mark.parametrize("body, status, text", [
    ({"asset": "pump-1", "version": "v2"}, 400, "required"),
    ({"asset": "pump-1", "version": 2, "reason": "x"}, 400, "required"),
    ({"asset": "pump-1", "version": "v2", "reason": "x", "force": True}, 400, "nothing else"),
    ([1, 2], 400, "JSON object"),
    ({"asset": "pump-1", "version": "v2", "reason": " "}, 422, "reason"),
    ({"asset": "pump-1", "version": "../v1", "reason": "x"}, 422, "invalid version name"),
    ({"asset": "pump-1", "version": "/etc/passwd", "reason": "x"}, 422, "invalid version"),
    ({"asset": "../pump-1", "version": "v1", "reason": "x"}, 422, "invalid asset name"),
    ({"asset": "pump-1", "version": "v9", "reason": "x"}, 404, "no version"),
    ({"asset": "pump-9", "version": "v1", "reason": "x"}, 404, "unknown asset"),
    ({"asset": "pump-1", "version": "v1", "reason": "x"}, 409, "already the active"),
])
def test_api_errors(client, store, admin_key, body, status, text):
    response = api_switch(client, admin_key, body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert text in response.get_json()["error"]
    assert store.active_version("pump-1") == "v1"


def test_api_tampered_version_is_409_with_the_reason(client, store, admin_key):
    with open(os.path.join(store.root, "pump-1", "v2", "model.pkl"), "ab") as handle:
        handle.write(b"x")
    response = api_switch(client, admin_key, {"asset": "pump-1", "version": "v2", "reason": "x"})
    assert response.status_code == 409
    assert "does not match its manifest" in response.get_json()["error"]


def test_api_non_json_body_is_415(client, store, admin_key):
    response = api_switch(client, admin_key, None, json=None, data="asset=pump-1",
                          content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_openapi_documents_the_switch(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/models/active"]["post"]
    assert {"200", "409", "422"} <= set(operation["responses"])
    assert json.dumps(operation).count("ActivateRequest") == 1


def test_candidate_page_compares_on_an_uploaded_labelled_file(login, store):
    client = login("analyst")
    path = "/admin/models/pump-1/versions/v2"
    response = client.post(path, data={
        "csrf_token": csrf_token(client, path),
        "labelled_file": (io.BytesIO(read(LABELLED_CSV)), "valve 1.csv")},
        content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "valve_1.csv" in text and "TP / FP / FN / TN" in text
    assert text.count("<tr><th>v") == 2  # one metrics row per version


def test_candidate_page_refuses_an_unlabelled_file_with_the_reason(login, store):
    client = login("analyst")
    path = "/admin/models/pump-1/versions/v2"
    response = client.post(path, data={
        "csrf_token": csrf_token(client, path),
        "labelled_file": (io.BytesIO(read(NORMAL_CSV)), "normal.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Le fichier étiqueté n&#39;a pas de colonne anomaly" in response.get_data(as_text=True)


def test_candidate_page_refuses_an_unreadable_file_in_french(login, store):
    client = login("analyst")
    path = "/admin/models/pump-1/versions/v2"
    response = client.post(path, data={
        "csrf_token": csrf_token(client, path),
        "labelled_file": (io.BytesIO(b"\x00\xff\xfe" * 100), "labelled.csv")},
        content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Le fichier ne se lit pas comme un tableau CSV" in page and "codec" not in page


def test_a_job_whose_process_died_is_reported_failed(app, login):
    import subprocess

    from webapp.services import candidates
    job = candidates.new_job(app.config["LOG_DIR"], "pump-1", "analyst",
                             ("n.csv", io.BytesIO(read(NORMAL_CSV))))
    dead = subprocess.Popen(["true"])  # a process id that no longer runs
    dead.wait()
    candidates.write_job(app.config["LOG_DIR"], {**job, "state": "running", "pid": dead.pid})
    status = login("analyst").get(f"/admin/models/jobs/{job['id']}.json").get_json()
    assert status["state"] == "failed" and "start it again" in status["message"]


@pytest.mark.parametrize("content, reason", [
    (b"\x00\xff\xfe" * 100, "pas du texte UTF-8"),
    (("datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;"
      "Voltage;Volume Flow RateRMS\n2020-01-01;1;1;1;1;1;1;1;1\n2020-01-02;1;1;1;1;1;1;1;1;9;9\n"
      ).encode(), "ligne 3"),  # a line with more cells than the header, named by its file line
])
def test_an_unreadable_training_file_is_explained_in_french(login, app, content, reason):
    client = login("analyst")
    response = start_training(client, "pump-1", content)
    status = wait_for_job(client, response.headers["Location"])
    assert status["state"] == "failed"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert reason in page and "Corriger le fichier" in page
    assert "C error" not in page and "codec" not in page and "readable UTF-8" not in page


def test_a_job_whose_process_died_is_explained_in_french(app, login):
    import subprocess

    from webapp.services import candidates
    job = candidates.new_job(app.config["LOG_DIR"], "pump-1", "analyst",
                             ("n.csv", io.BytesIO(read(NORMAL_CSV))))
    dead = subprocess.Popen(["true"])
    dead.wait()
    candidates.write_job(app.config["LOG_DIR"], {**job, "state": "running", "pid": dead.pid})
    page = login("analyst").get(f"/admin/models/jobs/{job['id']}").get_data(as_text=True)
    assert "Le processus du serveur qui menait cet entraînement s’est arrêté" in page


def test_refused_switches_are_explained_in_french(login, store, app):
    client = login("admin")
    page = post_switch(client, "/admin/models/pump-1/rollback", reason="x")
    assert page.status_code == 409
    assert "pump-1 n’a pas de version active antérieure" in page.get_data(as_text=True)
    page = post_switch(client, "/admin/models/pump-1/shadow", version="v1", reason="x")
    assert page.status_code == 409
    assert "v1 est la version active de pump-1" in page.get_data(as_text=True)
    page = post_switch(client, "/admin/models/pump-1/activate", version="v9", reason="x")
    assert page.status_code == 404
    assert "Cet équipement ou cette version n’existe pas" in page.get_data(as_text=True)
    page = post_switch(client, "/admin/models/pump-1/activate", version="v2", reason="a\x01b")
    assert page.status_code == 400
    assert "Le motif contient un caractère de contrôle (\\x01)" in page.get_data(as_text=True)
    assert store.active_version("pump-1") == "v1" and events(app) == []
