"""Shared file writes: one atomic replace for every JSON or pointer file, one locked append."""

import json
import os
import random
import re

import pytest

from webapp.services import storage


def test_a_replace_leaves_the_new_content_and_no_temporary_file(tmp_path):
    path = tmp_path / "status.json"
    storage.write_json_atomic(str(path), {"state": "queued"})
    storage.write_json_atomic(str(path), {"state": "done", "name": "été"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"state": "done", "name": "été"}
    assert os.listdir(tmp_path) == ["status.json"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path):
    path = tmp_path / "ACTIVE"
    storage.write_text_atomic(str(path), "v1\n")

    def broken(handle):
        handle.write("v2")
        raise OSError("disk full")

    with pytest.raises(OSError):
        storage.write_atomic(str(path), broken)
    assert path.read_text() == "v1\n" and os.listdir(tmp_path) == ["ACTIVE"]


def test_every_replace_syncs_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    storage.write_json_atomic(str(tmp_path / "checkpoint.json"), {"line": 3})
    assert len(synced) == 2  # the temporary file, then the folder holding the new name


def test_append_writes_the_header_once_and_guards_formulas(tmp_path):
    path = str(tmp_path / "events.csv")
    storage.append_csv(path, [{"a": "=1+1", "b": 2.5}], ("a", "b"))
    storage.append_csv(path, [{"a": "x", "b": None}], ("a", "b"))
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == "a,b\n'=1+1,2.5\nx,\n"


def test_day_files_lists_only_names_of_a_day(tmp_path):
    pattern = re.compile(r"^predictions-(\d{4}-\d{2}-\d{2})\.csv$")
    for name in ("predictions-2026-03-01.csv", "predictions-x.csv", "notes.txt"):
        (tmp_path / name).write_text("")
    found = storage.day_files(str(tmp_path), pattern)
    assert found == {"2026-03-01": str(tmp_path / "predictions-2026-03-01.csv")}
    assert storage.day_files(str(tmp_path / "missing"), pattern) == {}


AWKWARD = ["plain", "a,b", 'say "hi"', "=cmd", "-2", "+1", "@x", "", "é;=1", "\tx", "x'y",
           "two\nlines", "cr\rhere", 0.1, 1e-05, -0.0, 12345678901234567.0, float("nan"), 7,
           True, False, None]


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5, 9, 40])
def test_rows_are_rendered_as_csv_writer_writes_them_whatever_their_number(count):
    rng = random.Random(count)
    columns = ["a", "b", "c", "d", "e"]
    for _ in range(30):
        rows = [{column: rng.choice(AWKWARD) for column in columns} for _ in range(count)]
        if count > 2:  # a column that repeats one value (request ids, assets)
            for row in rows:
                row["e"] = "=same"
        assert storage.render_rows(rows, columns) == storage._csv_rows(rows, columns)
