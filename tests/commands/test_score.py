"""`flask --app webapp score INPUT.csv --asset NAME [--version vN] --out RESULTS.csv`."""

import os

import pandas as pd
import pytest

from tests.conftest import NORMAL_CSV, read_audit_table
from webapp.services.registry import ModelRegistry
from webapp.services.training import train_version


def audit_rows(app):
    return read_audit_table(app.config["AUDIT_DIR"])


@pytest.fixture
def broken_input(tmp_path):
    """40 real readings with two rejected rows, ',' separated with CRLF and a BOM."""
    lines = open(NORMAL_CSV, encoding="utf-8").read().splitlines()[:41]
    lines[3] = lines[3].replace(";", ";x", 1)
    lines[7] = "2020-02-08 13:31:00;0.2;0.3"
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).replace(";", ",").encode() + b"\r\n")
    return str(path)


def test_score_writes_results_errors_audit_and_a_summary(app, runner, broken_input, tmp_path):
    out = str(tmp_path / "results.csv")
    result = runner.invoke(args=["score", broken_input, "--asset", "pump-1", "--out", out])
    assert result.exit_code == 0, result.output
    batch_id = result.stdout.strip().splitlines()[-1]
    assert "40 rows read, 38 scored, 2 rejected" in result.stderr
    results = pd.read_csv(out, dtype=str)
    assert len(results) == 38 and results["model_version"].unique().tolist() == ["v1"]
    errors = pd.read_csv(str(tmp_path / "results.errors.csv"), dtype=str)
    assert errors["line"].tolist() == ["4", "8"]
    audit = audit_rows(app)
    assert len(audit) == 38 and set(audit["channel"]) == {"cli"}
    assert set(audit["batch_id"]) == {batch_id} and audit["principal"].iloc[0].startswith("cli:")


def test_version_scores_with_a_version_that_is_not_active(app, runner, paths, tmp_path):
    version, _ = train_version(ModelRegistry(paths["MODEL_STORE"]), "pump-1", NORMAL_CSV,
                               normal_rows=300, created_by="tests")
    assert version == "v2" and ModelRegistry(paths["MODEL_STORE"]).active_version("pump-1") == "v1"
    for asked, expected in ((["--version", "v2"], "v2"), ([], "v1")):
        out = str(tmp_path / f"out-{expected}.csv")
        result = runner.invoke(args=["score", NORMAL_CSV, "--asset", "pump-1", "--out", out,
                                     *asked])
        assert result.exit_code == 0, result.output
        assert pd.read_csv(out, dtype=str)["model_version"].unique().tolist() == [expected]
    audit = audit_rows(app)
    assert audit["model_version"].value_counts().to_dict() == {"v2": 400, "v1": 400}


@pytest.mark.parametrize("args, words", [
    (["--asset", "pump-1", "--version", "v9"], "v9"),
    (["--asset", "nope"], "nope"),
    ([], "--asset"),
])
def test_bad_options_are_clear_errors(runner, tmp_path, args, words):
    result = runner.invoke(args=["score", NORMAL_CSV, "--out", str(tmp_path / "o.csv"), *args])
    assert result.exit_code == 1 and words in result.stderr
    assert not os.path.exists(tmp_path / "o.csv")


def test_missing_columns_stop_the_file_with_their_names(app, runner, tmp_path):
    source = tmp_path / "in.csv"
    pd.read_csv(NORMAL_CSV, sep=";", dtype=str).drop(columns=["Thermocouple"]).to_csv(
        source, sep=";", index=False)
    out = tmp_path / "o.csv"
    result = runner.invoke(args=["score", str(source), "--asset", "pump-1", "--out", str(out)])
    assert result.exit_code == 1 and "missing sensor columns: Thermocouple" in result.stderr
    assert not out.exists() and audit_rows(app).empty


def test_labels_in_the_file_are_compared_on_stderr(runner, tmp_path):
    frame = pd.read_csv(NORMAL_CSV, sep=";", dtype=str)
    frame["anomaly"] = "0"
    source = tmp_path / "labelled.csv"
    frame.to_csv(source, sep=";", index=False)
    result = runner.invoke(args=["score", str(source), "--asset", "pump-1",
                                 "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 0 and "against the anomaly column: F1" in result.stderr
