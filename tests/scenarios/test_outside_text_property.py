"""Property: any text, control characters and lone surrogates included, into every outside field
of every channel gives no 5xx, exactly one audit row per scored reading, and a verified chain."""

import io
import json
import os
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import NORMAL_CSV, csrf_token, read_audit
from tests.api.test_predict import normal_readings, post
from tests.services.stream.test_follower import drain, make_follower
from webapp.services import apikeys
from webapp.services.audit import CsvAuditSink, verify_audit
from webapp.services.batch.reader import BatchFileError
from webapp.services.batch.scorer import score_file
from webapp.services.registry import ModelRegistry

# Any code point, surrogates included, with the dangerous ones drawn often.
NASTY = st.sampled_from(["\n", "\r", "\r\n", "\t", "\x00", "\x1b", "\x7f", "\ud800", "\udfff",
                         ",", '"', ";", "=", "é", "😀"])
TEXT = st.lists(st.one_of(NASTY, st.characters(blacklist_categories=())), max_size=12) \
    .map("".join)
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
LINES = open(NORMAL_CSV, encoding="utf-8").read().splitlines()


def assert_chain_verified(app):
    reports = verify_audit(app.config["AUDIT_DIR"], app.config["LOG_DIR"])
    assert all(report.status == "ok" for report in reports), \
        [report.line_for_people() for report in reports]


@SETTINGS
@given(name=TEXT, timestamp=TEXT, asset=TEXT, request_id=TEXT, where=st.integers(0, 3))
def test_api_fields_names_and_headers(app, client, name, timestamp, asset, request_id, where):
    key = apikeys.create_key(app.config["DATABASE"], f"k{os.urandom(4).hex()}", "operator",
                             "t")[1]
    reading = {**normal_readings(1)[0], "timestamp": timestamp}
    body = {"asset": "pump-1", "readings": [reading]}
    if where == 1:
        reading[name] = 1.0
    elif where == 2:
        body["asset"] = asset
    headers = {}
    if where == 3:
        # HTTP cannot carry CR or LF in a header value: every other byte is tried.
        raw = request_id.encode("utf-8", "surrogatepass").decode("latin-1")
        headers["X-Request-ID"] = raw.replace("\r", "").replace("\n", "")
    before = len(read_audit(app.config["AUDIT_DIR"]))
    response = post(client, json.dumps(body), key, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    after = len(read_audit(app.config["AUDIT_DIR"]))
    assert after - before == (1 if response.status_code == 200 else 0)
    assert_chain_verified(app)


@SETTINGS
@given(sensor_text=TEXT)
def test_form_fields(app, client, login, sensor_text):
    if not getattr(client, "_logged_in", False):
        login("operator")
        client._logged_in = True
    values = dict(zip(LINES[0].split(";"), LINES[1].split(";"), strict=True))
    data = {**{k: v for k, v in values.items() if k != "datetime"}, "Current": sensor_text,
            "asset": "pump-1", "csrf_token": csrf_token(client, "/")}
    before = len(read_audit(app.config["AUDIT_DIR"]))
    # Sent as a browser would: bytes, a lone surrogate as its (invalid) UTF-8 bytes.
    body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in data.items()})
    response = client.post("/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500
    after = len(read_audit(app.config["AUDIT_DIR"]))
    assert after - before in (0, 1)
    assert_chain_verified(app)


@SETTINGS
@given(cells=st.lists(TEXT, min_size=1, max_size=6), column=TEXT)
def test_batch_file_cells_and_header_names(app, paths, tmp_path, cells, column):
    loaded = ModelRegistry(paths["MODEL_STORE"]).load_active("pump-1")
    header = LINES[0] + ";" + column.replace(";", "").replace("\n", "").replace("\r", "")
    rows = [f"{cell.replace(';', '')};" + ";".join(line.split(";")[1:]) + ";x"
            for cell, line in zip(cells, LINES[1:], strict=False)]
    data = ("\n".join([header, *rows]) + "\n").encode("utf-8", "surrogatepass")
    before = len(read_audit(app.config["AUDIT_DIR"]))
    try:
        summary = score_file(io.BytesIO(data), loaded, CsvAuditSink(app.config["AUDIT_DIR"]),
                             batch_id="b", channel="batch", principal="t",
                             results_path=str(tmp_path / "r.csv"),
                             errors_path=str(tmp_path / "e.csv"))
    except BatchFileError:
        assert len(read_audit(app.config["AUDIT_DIR"])) == before
    else:
        assert len(read_audit(app.config["AUDIT_DIR"])) - before == summary.scored
        assert summary.scored + summary.rejected == summary.rows_read
    assert_chain_verified(app)


@SETTINGS
@given(cells=st.lists(TEXT, min_size=1, max_size=5))
def test_stream_lines(app, paths, tmp_path, cells):
    path = tmp_path / f"stream-{os.urandom(4).hex()}.csv"
    rows = [cell.replace(";", "") + ";" + ";".join(line.split(";")[1:])
            for cell, line in zip(cells, LINES[1:], strict=False)]
    path.write_bytes(("\n".join([LINES[0], *rows]) + "\n").encode("utf-8", "surrogatepass"))
    before = len(read_audit(app.config["AUDIT_DIR"]))
    follower = make_follower(paths, path)
    drain(follower)
    follower.stop()
    audited = len(read_audit(app.config["AUDIT_DIR"])) - before
    assert audited == follower.totals.scored
    assert follower.totals.scored + follower.totals.rejected <= follower.totals.lines
    assert_chain_verified(app)
