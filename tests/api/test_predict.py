"""The JSON API: predict, models/active and the OpenAPI document, with every error status."""

import io
import json
import os
import re
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schema import SENSOR_COLUMNS
from tests.conftest import NORMAL_CSV, TESTS_DIR, read_audit
from webapp.services import apikeys
from webapp.services.csvfiles import read_table
from webapp.services.registry import ModelRegistry
from webapp.services.scoring import score_frame
from webapp.services.training import train_version


@pytest.fixture
def key(app):
    """A valid operator key named gateway-1."""
    return apikeys.create_key(app.config["DATABASE"], "gateway-1", "operator", "tests")[1]


def normal_readings(count, start=0):
    """`count` consecutive readings of normal operation, as an API client sends them."""
    frame = read_table(NORMAL_CSV)
    rows = frame.iloc[start:start + count]
    return [{**{name: float(row[name]) for name in SENSOR_COLUMNS},
             "timestamp": row["datetime"]} for _, row in rows.iterrows()]


def post(client, body, key, **kwargs):
    """POST /api/v1/predict with the key; `body` is sent as JSON unless it is bytes."""
    headers = {**kwargs.pop("headers", {}), **({"X-API-Key": key} if key else {})}
    if isinstance(body, (bytes, str)):
        kwargs.setdefault("content_type", "application/json")
        return client.post("/api/v1/predict", data=body, headers=headers, **kwargs)
    return client.post("/api/v1/predict", json=body, headers=headers, **kwargs)


def audit_rows(app):
    """Every audit row written so far."""
    return read_audit(app.config["AUDIT_DIR"])


def assert_error(response, status, text):
    """The JSON error shape with `text` in its message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) >= {"error", "details"}
    assert isinstance(body["details"], list)
    assert text in body["error"], body["error"]
    return body


# --- success ---------------------------------------------------------------------------------

def test_predict_scores_readings_in_order_and_audits_each(client, app, key):
    readings = normal_readings(30)
    response = post(client, {"asset": "pump-1", "readings": readings}, key,
                    headers={"X-Request-ID": "gw-batch-0001"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["client_request_id"] == "gw-batch-0001"
    assert body["request_id"] != "gw-batch-0001"
    assert (body["asset"], body["model_version"]) == ("pump-1", "v1")
    assert len(body["results"]) == 30
    first = body["results"][0]
    assert set(first) == {"score", "threshold", "anomaly", "contributions"}
    assert set(first["contributions"]) == set(SENSOR_COLUMNS)
    assert first["anomaly"] == (first["score"] > first["threshold"])
    rows = audit_rows(app)
    assert len(rows) == 30
    assert {r["principal"] for r in rows} == {"apikey:gateway-1"}
    assert {r["channel"] for r in rows} == {"api"}
    assert {r["request_id"] for r in rows} == {body["request_id"]}
    assert {r["client_request_id"] for r in rows} == {"gw-batch-0001"}
    assert [r["reading_timestamp"] for r in rows] == [r["timestamp"] for r in readings]
    assert [float(r["score"]) for r in rows] == pytest.approx(
        [result["score"] for result in body["results"]], abs=1e-5)


def test_readings_are_scored_together_as_a_sequence(client, app, key):
    readings = normal_readings(40)
    body = post(client, {"readings": readings}, key).get_json()
    with app.app_context():
        from webapp.extensions import active_models
        loaded = active_models().get("pump-1")
    frame = read_table(NORMAL_CSV).iloc[:40][list(SENSOR_COLUMNS)].astype(float)
    expected = [r.score for r in score_frame(loaded, frame.reset_index(drop=True))]
    alone = score_frame(loaded, frame.iloc[[39]].reset_index(drop=True))[0].score
    assert [r["score"] for r in body["results"]] == pytest.approx(expected)
    # The trailing windows make the last reading's score depend on the ones before it.
    assert body["results"][39]["score"] != pytest.approx(alone)


def test_asset_may_be_omitted_only_when_the_store_has_one(client, app, key):
    assert post(client, {"readings": normal_readings(1)}, key).status_code == 200
    train_version(ModelRegistry(app.config["MODEL_STORE"]), "pump-2", NORMAL_CSV,
                  created_by="tests")
    body = assert_error(post(client, {"readings": normal_readings(1)}, key), 400,
                        "asset is required")
    assert "pump-1, pump-2" in body["error"]
    assert post(client, {"asset": "pump-2", "readings": normal_readings(1)}, key).get_json()[
        "asset"] == "pump-2"


# --- errors ----------------------------------------------------------------------------------

def test_missing_key_is_401(client):
    assert_error(post(client, {"readings": normal_readings(1)}, None), 401, "X-API-Key")


def test_unknown_key_is_401(client, key):
    assert_error(post(client, {"readings": normal_readings(1)}, key + "x"), 401,
                 "unknown API key")


def test_revoked_key_is_403_and_scores_nothing(client, app, key):
    apikeys.revoke_key(app.config["DATABASE"], "gateway-1")
    assert_error(post(client, {"readings": normal_readings(1)}, key), 403, "revoked")
    assert audit_rows(app) == []


def test_an_active_version_missing_from_the_store_is_503_not_500(client, app, key):
    """ACTIVE names a version whose folder was removed by hand: the store is broken."""
    store = ModelRegistry(app.config["MODEL_STORE"])
    with open(os.path.join(store.root, "pump-1", "ACTIVE"), "w", encoding="utf-8") as handle:
        handle.write("v9\n")
    body = assert_error(post(client, {"asset": "pump-1", "readings": normal_readings(1)}, key),
                        503, "v9")
    assert "pump-1" in body["error"]
    assert audit_rows(app) == []


@pytest.mark.parametrize("asset", ["pump-9", "../pump-1", "", "x" * 500])
def test_unknown_asset_is_404(client, key, asset):
    body = assert_error(post(client, {"asset": asset, "readings": normal_readings(1)}, key),
                        404, "unknown asset")
    assert "pump-1" in body["error"]
    assert body["details"] == [{"index": None, "field": "asset", "message": "unknown asset"}]


def test_body_over_the_limit_is_413_json(client, app, key):
    app.config["API_MAX_BODY"] = 2000
    body = assert_error(post(client, {"readings": normal_readings(20)}, key), 413,
                        "larger than 2000 bytes")
    assert body["details"] == []
    assert audit_rows(app) == []


def test_chunked_body_over_the_limit_is_413_not_a_cut_body(client, app, key):
    app.config["API_MAX_BODY"] = 2000
    body = json.dumps({"readings": normal_readings(20)}).encode()
    # A chunked request has no Content-Length; gunicorn marks its stream as terminated.
    response = client.post("/api/v1/predict", input_stream=io.BytesIO(body),
                           content_type="application/json", headers={"X-API-Key": key},
                           environ_overrides={"wsgi.input_terminated": True})
    assert_error(response, 413, "larger than 2000 bytes")


def test_body_of_exactly_the_limit_is_accepted(client, app, key):
    body = json.dumps({"readings": normal_readings(3)}).encode()
    app.config["API_MAX_BODY"] = len(body)
    assert post(client, body, key).status_code == 200
    app.config["API_MAX_BODY"] = len(body) - 1
    assert_error(post(client, body, key), 413, f"larger than {len(body) - 1} bytes")


def test_api_limit_is_its_own_and_leaves_the_app_limit_alone(client, app, key):
    app.config["MAX_CONTENT_LENGTH"] = 500  # e.g. another area's smaller limit
    assert post(client, {"readings": normal_readings(20)}, key).status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
def test_content_type_other_than_json_is_415(client, key, content_type):
    body = json.dumps({"readings": normal_readings(1)})
    response = client.post("/api/v1/predict", data=body, content_type=content_type or None,
                           headers={"X-API-Key": key})
    assert_error(response, 415, "application/json")


@pytest.mark.parametrize("body, text", [
    (b"", "not valid JSON"),
    (b"{\"readings\": [", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"readings": [{"Current": 1' + b"0" * 5000 + b"}]}", "reasonable size"),
    (b"[]", "must be a JSON object"),
    (b"null", "must be a JSON object"),
    (b'"readings"', "must be a JSON object"),
    (b"{}", "readings must be a list of 1 to 10000 objects (found missing)"),
    (b'{"readings": []}', "readings must be a list of 1 to 10000 objects (found 0 items)"),
    (b'{"readings": {"Current": 1}}', "(found an object)"),
    (b'{"readings": "1,2,3"}', "(found a string)"),
    (b'{"readings": [1, [2], null]}', "readings must be a list"),
    (b'{"asset": 7, "readings": [{}]}', "asset must be a string"),
    (b'{"asset": "pump-1", "readings": [{}], "mode": "fast"}', "unknown fields"),
])
def test_malformed_body_is_400_with_what_is_wrong(client, app, key, body, text):
    assert_error(post(client, body, key), 400, text)
    assert audit_rows(app) == []


def test_non_object_readings_are_listed_by_index(client, key):
    body = assert_error(post(client, b'{"readings": [{}, 1, [2], null]}', key), 400,
                        "readings must be a list")
    assert [(d["index"], d["message"]) for d in body["details"]] == [
        (1, "reading 1 is a number, not an object"), (2, "reading 2 is an array, not an object"),
        (3, "reading 3 is null, not an object")]


def test_too_many_readings_is_400(client, app, key):
    app.config["API_MAX_READINGS"] = 3
    assert_error(post(client, {"readings": normal_readings(4)}, key), 400,
                 "readings must be a list of 1 to 3 objects (found 4 items)")


@pytest.mark.parametrize("raw_value, message", [
    ('"0.25"', "Current must be a JSON number, not a string"),
    ("true", "Current must be a number"),
    ("null", "Current is required"),
    ("NaN", "Current must be a finite number (not NaN or infinity)"),
    ("-Infinity", "Current must be a finite number"),
    ("1e999", "Current must be a finite number"),
    ("1" + "0" * 400, "Current must be a finite number"),
    ("[1]", "Current must be a number"),
    ('{"v": 1}', "Current must be a number"),
    ("51", "Current must be between 0 and 50 A"),
    ("-0.5", "Current must be between 0 and 50 A"),
])
def test_invalid_value_is_422_with_index_and_field(client, app, key, raw_value, message):
    reading = json.dumps(normal_readings(1)[0])
    bad = re.sub(r'"Current": [^,]+', f'"Current": {raw_value}', reading)
    body = f'{{"readings": [{reading}, {bad}]}}'.encode()
    result = assert_error(post(client, body, key), 422, "1 of 2 readings have invalid values")
    (detail,) = result["details"]
    assert (detail["index"], detail["field"]) == (1, "Current")
    assert detail["message"].startswith(message)
    assert audit_rows(app) == []


def test_every_invalid_reading_is_reported_and_nothing_is_scored(client, app, key):
    readings = normal_readings(6)
    del readings[1]["Pressure"]
    readings[3]["Presure"] = readings[3].pop("Pressure")  # a typo in a sensor name
    readings[4]["timestamp"] = 1700000000
    readings[5]["Voltage"] = 900.0
    body = assert_error(post(client, {"readings": readings}, key), 422,
                        "4 of 6 readings have invalid values; nothing was scored")
    found = {(d["index"], d["field"]) for d in body["details"]}
    assert found == {(1, "Pressure"), (3, "Pressure"), (3, "Presure"), (4, "timestamp"),
                     (5, "Voltage")}
    typo = next(d for d in body["details"] if d["field"] == "Presure")
    assert "unknown field 'Presure'" in typo["message"]
    assert audit_rows(app) == []


def test_audit_failure_is_503_and_no_result_is_given(client, app, key):
    shutil.rmtree(app.config["AUDIT_DIR"], ignore_errors=True)
    with open(app.config["AUDIT_DIR"], "w") as handle:  # a file where the folder should be
        handle.write("not a folder")
    response = post(client, {"readings": normal_readings(3)}, key)
    body = assert_error(response, 503, "audit")
    assert "results" not in body


def test_corrupted_model_is_503_json(client, app, key):
    with open(os.path.join(app.config["MODEL_STORE"], "pump-1", "v1", "model.pkl"), "ab") as fh:
        fh.write(b"tampered")
    assert_error(post(client, {"readings": normal_readings(1)}, key), 503,
                 "does not match its manifest")


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["asset", "readings", "Current", "timestamp", "x"]),
                      children, max_size=4),
    max_leaves=30), wrap=st.booleans())
def test_random_bodies_never_get_a_500(client, key, body, wrap):
    response = post(client, json.dumps({"readings": body} if wrap else body), key)
    assert response.status_code in (200, 400, 404, 422), response.get_data(as_text=True)
    assert response.is_json


# --- models/active ---------------------------------------------------------------------------

def test_models_active_lists_version_sha_features_and_threshold(client, app, key):
    response = client.get("/api/v1/models/active", headers={"X-API-Key": key})
    assert response.status_code == 200
    manifest = ModelRegistry(app.config["MODEL_STORE"]).manifest("pump-1", "v1")
    (entry,) = response.get_json()["assets"]
    assert entry["asset"] == "pump-1" and entry["version"] == "v1"
    assert entry["sha256"] == manifest["model_sha256"]
    assert entry["threshold"] == manifest["threshold"]
    assert [f["name"] for f in entry["features"]] == list(SENSOR_COLUMNS)


def test_models_active_names_both_thresholds_so_a_client_can_check_a_verdict(client, key):
    entry = client.get("/api/v1/models/active", headers={"X-API-Key": key}).get_json()[
        "assets"][0]
    thresholds = entry["thresholds"]
    assert thresholds["sequence"] == entry["threshold"]
    assert thresholds["single_reading"] != thresholds["sequence"]
    one = post(client, {"asset": "pump-1", "readings": normal_readings(1)}, key).get_json()[
        "results"][0]
    assert one["threshold"] == pytest.approx(thresholds["single_reading"])


def test_models_active_accepts_any_role_and_refuses_no_key(client, app):
    for role in ("operator", "analyst", "admin"):
        key = apikeys.create_key(app.config["DATABASE"], f"k-{role}", role, "tests")[1]
        assert client.get("/api/v1/models/active", headers={"X-API-Key": key}).status_code == 200
    assert_error(client.get("/api/v1/models/active"), 401, "missing API key")


def test_models_active_refuses_a_revoked_key(client, app, key):
    apikeys.revoke_key(app.config["DATABASE"], "gateway-1")
    assert_error(client.get("/api/v1/models/active", headers={"X-API-Key": key}), 403,
                 "revoked")


def test_models_active_says_why_an_asset_cannot_be_scored(client, app, key):
    os.remove(os.path.join(app.config["MODEL_STORE"], "pump-1", "ACTIVE"))
    (entry,) = client.get("/api/v1/models/active", headers={"X-API-Key": key}).get_json()[
        "assets"]
    assert entry["version"] is None and "no active version" in entry["error"]


# --- OpenAPI ---------------------------------------------------------------------------------

def api_routes(app):
    """{(openapi path, method)} of every API route the app serves."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule[len("/api/v1"):])
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_openapi_is_served_without_a_key_and_matches_the_routes(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    documented = {(path, method) for path, operations in document["paths"].items()
                  for method in operations}
    assert documented == api_routes(app)


def test_openapi_references_resolve(client):
    document = client.get("/api/v1/openapi.json").get_json()
    references = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert references and references <= set(document["components"]["schemas"])


JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool,
              "number": (int, float), "integer": int}


def schema_problems(value, schema, components, where="body"):
    """Where `value` breaks the OpenAPI `schema` (the subset this document uses)."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    if value is None:
        return [] if schema.get("nullable") else [f"{where} is null"]
    expected = JSON_TYPES.get(schema.get("type"))
    if expected and (not isinstance(value, expected)
                     or (isinstance(value, bool) and schema["type"] != "boolean")):
        return [f"{where} is not {schema['type']}"]
    problems = []
    if isinstance(value, dict):
        problems += [f"{where}.{name} missing" for name in schema.get("required", [])
                     if name not in value]
        for name, item in value.items():
            sub = schema.get("properties", {}).get(name, schema.get("additionalProperties"))
            if sub is False:
                problems.append(f"{where}.{name} is not documented")
            elif isinstance(sub, dict):
                problems += schema_problems(item, sub, components, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += schema_problems(item, schema["items"], components, f"{where}[{index}]")
    return problems


@pytest.mark.parametrize("make_request, status", [
    (lambda c, k: post(c, {"readings": normal_readings(3)}, k), "200"),
    (lambda c, k: post(c, b"[", k), "400"),
    (lambda c, k: post(c, {"readings": normal_readings(1)}, None), "401"),
    (lambda c, k: post(c, {"asset": "nope", "readings": normal_readings(1)}, k), "404"),
    (lambda c, k: post(c, {"readings": [{"Current": "x"}]}, k), "422"),
    (lambda c, k: c.get("/api/v1/models/active", headers={"X-API-Key": k}), "200"),
])
def test_answers_match_their_documented_schema(client, key, make_request, status):
    document = client.get("/api/v1/openapi.json").get_json()
    response = make_request(client, key)
    assert str(response.status_code) == status
    path = "/models/active" if response.request.path.endswith("active") else "/predict"
    operation = document["paths"][path]["get" if path == "/models/active" else "post"]
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    assert schema_problems(response.get_json(), schema,
                           document["components"]["schemas"]) == []


# Each status documented for predict, and a test above that produces it with its JSON body.
PREDICT_STATUS_TESTS = {
    "200": test_predict_scores_readings_in_order_and_audits_each,
    "400": test_malformed_body_is_400_with_what_is_wrong,
    "401": test_missing_key_is_401,
    "403": test_revoked_key_is_403_and_scores_nothing,
    "404": test_unknown_asset_is_404,
    "413": test_body_over_the_limit_is_413_json,
    "415": test_content_type_other_than_json_is_415,
    "422": test_invalid_value_is_422_with_index_and_field,
    "503": test_audit_failure_is_503_and_no_result_is_given,
}


def test_documented_predict_statuses_are_the_tested_ones(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert set(document["paths"]["/predict"]["post"]["responses"]) == set(PREDICT_STATUS_TESTS)


def test_a_request_from_another_operating_point_is_flagged_out_of_calibration(client, key):
    normal = normal_readings(30)
    # The bundled valve1/3.csv: the rig at about 32 L/min, the model calibrated at about 125.
    other = read_table(os.path.join(TESTS_DIR, "..", "data", "skab", "valve1", "3.csv")).iloc[:30]
    shifted = [{name: float(row[name]) for name in SENSOR_COLUMNS} for _, row in other.iterrows()]
    calm = post(client, {"asset": "pump-1", "readings": normal}, key).get_json()
    odd = post(client, {"asset": "pump-1", "readings": shifted}, key).get_json()
    assert calm["calibration"]["out_of_calibration"] is False
    assert odd["calibration"]["out_of_calibration"] is True
    assert odd["calibration"]["readings"] == 30
    assert "Volume Flow RateRMS" in [s["sensor"] for s in odd["calibration"]["sensors"]]
