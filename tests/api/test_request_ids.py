"""Request ids: the audit's id is always the server's; a client's X-Request-ID is kept beside it."""

import pytest

from tests.conftest import read_audit
from tests.api.test_predict import normal_readings, post
from webapp.services import apikeys
from webapp.services.audit import request_rows
from webapp.services.history import HistoryFilter, search


@pytest.fixture
def key(app):
    """A valid operator key named gateway-1."""
    return apikeys.create_key(app.config["DATABASE"], "gateway-1", "operator", "tests")[1]


def test_a_client_id_equal_to_another_callers_never_joins_their_record(client, app, key):
    other = apikeys.create_key(app.config["DATABASE"], "other", "operator", "tests")[1]
    first = post(client, {"asset": "pump-1", "readings": normal_readings(2)}, key,
                 headers={"X-Request-ID": "victim-0001"}).get_json()
    second = post(client, {"asset": "pump-1", "readings": normal_readings(1)}, other,
                  headers={"X-Request-ID": "victim-0001"}).get_json()
    assert first["request_id"] != second["request_id"]
    audit_dir = app.config["AUDIT_DIR"]
    assert {r["principal"] for r in request_rows(audit_dir, first["request_id"])} == \
        {"apikey:gateway-1"}
    assert len(request_rows(audit_dir, first["request_id"])) == 2
    assert request_rows(audit_dir, "victim-0001") == []


def test_the_client_id_is_kept_in_its_own_column_and_can_be_searched(client, app, key):
    body = post(client, {"asset": "pump-1", "readings": normal_readings(3)}, key,
                headers={"X-Request-ID": "gw-42"}).get_json()
    post(client, {"asset": "pump-1", "readings": normal_readings(1)}, key)
    rows = read_audit(app.config["AUDIT_DIR"])
    assert [r["client_request_id"] for r in rows] == ["gw-42"] * 3 + [""]
    found, more = search(app.config["AUDIT_DIR"], HistoryFilter(client_request_id="gw-42"))
    assert {r["request_id"] for r in found} == {body["request_id"]} and len(found) == 3
    assert not more


def test_the_response_header_carries_the_servers_id(client, key):
    response = post(client, {"asset": "pump-1", "readings": normal_readings(1)}, key,
                    headers={"X-Request-ID": "gw-43"})
    assert response.headers["X-Request-ID"] == response.get_json()["request_id"]


@pytest.mark.parametrize("supplied", ["a b", "x" * 65, "id\x7f", "é"])
def test_an_x_request_id_that_is_not_a_plain_token_is_refused(client, app, key, supplied):
    response = post(client, {"asset": "pump-1", "readings": normal_readings(1)}, key,
                    headers={"X-Request-ID": supplied.encode("utf-8").decode("latin-1")})
    assert response.status_code == 400
    assert "X-Request-ID" in response.get_json()["error"]
    assert read_audit(app.config["AUDIT_DIR"]) == []
