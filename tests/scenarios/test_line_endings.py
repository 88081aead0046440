"""Every line ending works: LF, CRLF and CR alone, in the upload, `flask score`, the watch folder
and the stream follower; a bad line is a rejected row, an unreadable file goes to rejected/."""

import io
import os

import pandas as pd
import pytest

from tests.conftest import NORMAL_CSV, csrf_token, read_audit_table
from tests.services.stream.test_follower import drain, error_rows, make_follower
from tests.services.batch.test_watch import files
from tests.services.batch.test_watch import watcher as watcher  # noqa: F401 - a fixture used below
from webapp.services.batch import watch as watch_module
from webapp.services.csvfiles import CrLines, lf_lines, split_bare_cr

ENDINGS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}


def export(count=40, ending="\n", edit=None):
    """The first `count` readings of the test export, lines ended with `ending`."""
    lines = open(NORMAL_CSV, encoding="utf-8").read().splitlines()[:count + 1]
    if edit:
        edit(lines)
    return (ending.join(lines) + ending).encode("utf-8")


def test_cr_lines_reads_like_lf_and_keeps_byte_positions():
    data = b"a;b\rc;d\r\re;f\r"
    reader = lf_lines(io.BytesIO(data))
    assert isinstance(reader, CrLines)
    assert [reader.readline() for _ in range(5)] == [b"a;b\n", b"c;d\n", b"\n", b"e;f\n", b""]
    assert reader.tell() == len(data)
    assert not isinstance(lf_lines(io.BytesIO(b"a;b\r\nc;d\r\n")), CrLines)
    assert split_bare_cr(b"a\rb\r\n") == [b"a\r", b"b\r\n"]


@pytest.mark.parametrize("ending", ENDINGS.values(), ids=ENDINGS.keys())
def test_flask_score_reads_every_line_ending_the_same(app, runner, tmp_path, ending):
    source = tmp_path / "export.csv"
    source.write_bytes(export(40, ending))
    out = str(tmp_path / "results.csv")
    result = runner.invoke(args=["score", str(source), "--asset", "pump-1", "--out", out])
    assert result.exit_code == 0, result.output
    assert "40 rows read, 40 scored, 0 rejected" in result.stderr
    assert len(pd.read_csv(out, dtype=str)) == 40
    assert len(read_audit_table(app.config["AUDIT_DIR"])) == 40


def upload(client, content, name="export.csv"):
    return client.post("/batch/", data={
        "asset": "pump-1", "file": (io.BytesIO(content), name),
        "csrf_token": csrf_token(client, "/batch/")}, content_type="multipart/form-data")


def test_a_cr_only_upload_is_accepted_and_a_cr_in_the_header_is_a_form_error(client, login):
    login("operator")
    assert upload(client, export(20, "\r")).status_code == 303

    def break_header(lines):
        lines[0] = lines[0].replace("Current", '"Cur\rrent"')
    # A CR alone ends a line, as in universal newlines: the header stops at "Cur".
    response = upload(client, export(20, "\n", break_header))
    assert response.status_code == 422
    assert "Current" in response.get_data(as_text=True).split('id="file"')[1]


def test_the_watch_folder_scores_a_cr_only_file(watcher):
    path = os.path.join(watcher.folder("incoming", "pump-1"), "old-logger.csv")
    with open(path, "wb") as handle:
        handle.write(export(30, "\r"))
    outcomes = watcher.run_once()
    assert [outcome.state for outcome in outcomes] == ["scored"]
    assert "30 rows read, 30 scored" in outcomes[0].message


def test_an_unreadable_file_goes_to_rejected_with_a_report_and_the_next_is_scored(
        watcher, monkeypatch):
    incoming = watcher.folder("incoming", "pump-1")
    for name in ("a-broken.csv", "b-good.csv"):
        with open(os.path.join(incoming, name), "wb") as handle:
            handle.write(export(10))
    real = watch_module.score_file

    def fail_on_first(binary, *args, **kwargs):
        if not getattr(fail_on_first, "failed", False):
            fail_on_first.failed = True
            raise UnicodeError("a reader bug no one foresaw")
        return real(binary, *args, **kwargs)
    monkeypatch.setattr(watch_module, "score_file", fail_on_first)
    outcomes = watcher.run_once()
    assert [(o.name, o.state) for o in outcomes] == [("a-broken.csv", "rejected"),
                                                     ("b-good.csv", "scored")]
    report = files(watcher.root, "rejected", "a-broken*.errors.csv")
    assert report and "could not be read" in open(report[0], encoding="utf-8").read()
    assert files(watcher.root, "processing") == []
    assert watcher.run_once() == []  # nothing left to retry in a loop


def test_the_follower_reads_cr_only_lines_and_rejects_a_bad_line_without_stopping(
        paths, tmp_path):
    lines = open(NORMAL_CSV, encoding="utf-8").read().splitlines()[:21]
    lines[5] = lines[5].replace(";", ";\x00", 1)
    path = tmp_path / "stream.csv"
    path.write_bytes(("\r".join(lines) + "\r").encode("utf-8"))
    follower = make_follower(paths, path)
    drain(follower)
    # The last line's CR may be the first half of a CRLF: it waits for what comes next.
    assert (follower.totals.scored, follower.totals.rejected) == (18, 1)
    with open(path, "ab") as handle:
        handle.write(lines[1].encode("utf-8") + b"\r\n")
    drain(follower)
    assert follower.totals.scored == 20
    assert [row["line"] for row in error_rows(paths, path)] == ["6"]
