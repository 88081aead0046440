"""Strict text at every door: control characters and lone surrogates are refused, never a 500."""

import io
import json

import pytest

from tests.conftest import NORMAL_CSV, read_audit
from tests.api.test_predict import normal_readings, post
from webapp.services import apikeys, feedback, lifecycle
from webapp.services.audit import CsvAuditSink
from webapp.services.batch.reader import BatchFileError
from webapp.services.batch.scorer import score_file
from webapp.services.history import FilterError, HistoryFilter
from webapp.services.registry import ModelRegistry
from webapp.services.text import UnsafeText, check_text, shown, unsafe_in_json

UNSAFE = ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\ud800", "\udfff"]


@pytest.fixture
def key(app):
    """A valid operator key named gateway-1."""
    return apikeys.create_key(app.config["DATABASE"], "gateway-1", "operator", "tests")[1]


@pytest.mark.parametrize("character", UNSAFE)
def test_check_text_refuses_control_characters_and_lone_surrogates(character):
    with pytest.raises(UnsafeText) as caught:
        check_text(f"2026-12-05{character}T16:06Z", "timestamp")
    assert caught.value.position == 11
    assert "timestamp" in str(caught.value)
    str(caught.value).encode("utf-8")  # the message itself is always printable


@pytest.mark.parametrize("text", ["2026-12-05T16:06:00Z", "pompe à eau", "débit 😀", ""])
def test_check_text_keeps_printable_text(text):
    assert check_text(text, "field") == text


def test_json_check_names_the_field_and_escapes_a_bad_key():
    problem = unsafe_in_json(json.loads('{"readings": [{"a": 1}, {"\\ud800": 1}]}'))
    assert problem.field == "the field name \\ud800 in readings[1]"
    problem = unsafe_in_json({"readings": [{"timestamp": "x\ny"}]})
    assert problem.field == "readings[0].timestamp" and problem.character == "\\n"
    assert shown("a\nb") == "a\\nb"


# --- the API ---------------------------------------------------------------------------------

FORGED = "\n2026-12-05T16:06Z,fapi01,api,apikey:k-admin,pump-1,v1,,,,,9,1,1"


def test_a_timestamp_holding_a_forged_audit_line_is_refused(client, app, key):
    reading = {**normal_readings(1)[0], "timestamp": FORGED}
    response = post(client, {"asset": "pump-1", "readings": [reading]}, key)
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert "control character" in body["error"]
    assert body["details"][0]["field"] == "readings[0].timestamp"
    assert read_audit(app.config["AUDIT_DIR"]) == []


@pytest.mark.parametrize("body", [
    '{"asset": "pump-1", "readings": [{"\\ud800": 1}]}',
    '{"\\udfff": 1, "readings": [{"Current": 1}]}',
    '{"asset": "pump\\u0000", "readings": [{"Current": 1}]}',
    '{"asset": "pump-1", "readings": [{"timestamp": "\\u007f"}]}',
    '{"asset": "pump-1", "readings": [{"timestamp": "a\\tb"}]}',
])
def test_control_characters_and_surrogates_in_the_body_are_400_not_500(client, app, key, body):
    response = post(client, body, key)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "control character or an unpaired surrogate" in response.get_json()["error"]
    assert read_audit(app.config["AUDIT_DIR"]) == []


def test_a_pretty_printed_body_is_still_accepted(client, app, key):
    body = json.dumps({"asset": "pump-1", "readings": normal_readings(2)}, indent=2)
    assert post(client, body, key).status_code == 200


# --- files, reasons, comments, filters -------------------------------------------------------

@pytest.fixture
def loaded(paths):
    return ModelRegistry(paths["MODEL_STORE"]).load_active("pump-1")


def score_text(text, loaded, tmp_path):
    sink = CsvAuditSink(str(tmp_path / "audit"))
    summary = score_file(io.BytesIO(text.encode("utf-8")), loaded, sink, batch_id="b1",
                         channel="batch", principal="tester",
                         results_path=str(tmp_path / "r.csv"), errors_path=str(tmp_path / "e.csv"))
    return summary, read_audit(str(tmp_path / "audit"))


def test_a_datetime_cell_with_a_control_character_is_a_rejected_row(loaded, tmp_path):
    lines = open(NORMAL_CSV, encoding="utf-8").read().splitlines()[:11]
    first = lines[1].split(";")
    first[0] = '"' + first[0] + '\rforged"'
    lines[1] = ";".join(first)
    lines[2] = lines[2].replace(";", "\x7f;", 1)
    summary, audit = score_text("\n".join(lines) + "\n", loaded, tmp_path)
    assert (summary.rows_read, summary.scored, summary.rejected) == (10, 8, 2)
    problems = [(p["line"], p["column"], p["code"]) for p in summary.first_problems]
    assert problems == [(2, "datetime", "unsafe_text"), (3, "datetime", "unsafe_text")]
    assert len(audit) == 8
    assert not any("forged" in row["reading_timestamp"] for row in audit)


def test_a_header_name_with_a_control_character_refuses_the_file(loaded, tmp_path):
    lines = open(NORMAL_CSV, encoding="utf-8").read().splitlines()[:3]
    lines[0] = lines[0].replace("Current", "Cur\x01rent")
    with pytest.raises(BatchFileError) as caught:
        score_text("\n".join(lines) + "\n", loaded, tmp_path)
    assert caught.value.code == "unsafe_header"


def test_a_reason_with_a_control_character_is_refused():
    with pytest.raises(lifecycle.ReasonRequired, match="control character"):
        lifecycle.clean_reason("rollback\x00 after alarm")
    assert lifecycle.clean_reason("rollback\nafter alarm") == "rollback after alarm"


def test_a_comment_with_a_control_character_is_refused(tmp_path):
    with pytest.raises(feedback.FeedbackError, match="control character"):
        feedback.record_feedback(str(tmp_path), "user:a", "unsure", "bell\x07",
                                 request_id="r1", reading="1")
    assert feedback.read_feedback(str(tmp_path)) == []


def test_a_history_filter_with_a_control_character_is_a_filter_error():
    with pytest.raises(FilterError, match="control character"):
        HistoryFilter.from_mapping({"request_id": "abc\x1b[2J"})


def test_a_batch_upload_whose_file_name_holds_a_control_character_is_a_form_error(client, login):
    login("operator")
    data = {"asset": "pump-1",
            "file": (io.BytesIO(open(NORMAL_CSV, "rb").read()), "pump\x1b.csv")}
    from tests.conftest import csrf_token
    data["csrf_token"] = csrf_token(client, "/batch/")
    response = client.post("/batch/", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Le nom du fichier contient un caractère de contrôle" in \
        response.get_data(as_text=True)
