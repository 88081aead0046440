"""The SKAB protocol service (webapp/services/evaluation.py) and `flask --app webapp evaluate`."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from features.pipeline import fit_model
from features.schema import SENSOR_COLUMNS
from webapp.services.evaluation import (EvaluationError, evaluate_file, evaluate_frame,
                                        evaluate_paths, labelled_csv_paths, load_labelled_frame)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKAB = os.path.join(ROOT, "data", "skab")
FILES = [os.path.join(SKAB, "valve1", "1.csv"), os.path.join(SKAB, "other", "9.csv")]
CALIBRATION = 400


def write_head(source, target, lines):
    """Copy the header and the first `lines` readings of a SKAB file."""
    with open(source, encoding="utf-8") as handle:
        head = [next(handle) for _ in range(lines + 1)]
    target.write_text("".join(head), encoding="utf-8")
    return str(target)


def by_hand_counts(path):
    """TP, FP, FN, TN of the protocol computed without webapp.services.evaluation.

    Scores the whole file in one call (no context argument): the verdicts of the readings
    after the calibration must be the same as when they are scored with the calibration
    readings as context.
    """
    frame = pd.read_csv(path, sep=";")
    model, _ = fit_model(frame[list(SENSOR_COLUMNS)].iloc[:CALIBRATION])
    flags = model.score(frame[list(SENSOR_COLUMNS)]).anomaly[CALIBRATION:]
    labels = frame["anomaly"].to_numpy()[CALIBRATION:] == 1
    return np.array([np.sum(flags & labels), np.sum(flags & ~labels),
                     np.sum(~flags & labels), np.sum(~flags & ~labels)])


def test_pooled_metrics_equal_a_computation_by_hand():
    evaluation = evaluate_paths(FILES, CALIBRATION)
    assert not evaluation.failures
    counts = [by_hand_counts(path) for path in FILES]
    for result, expected in zip(evaluation.files, counts, strict=True):
        got = [result.metrics[key] for key in ("tp", "fp", "fn", "tn")]
        assert got == expected.tolist()
    tp, fp, fn, tn = np.sum(counts, axis=0)
    pooled = evaluation.pooled
    assert pooled["rows"] == tp + fp + fn + tn == sum(len(pd.read_csv(p, sep=";")) - CALIBRATION
                                                      for p in FILES)
    assert pooled["f1"] == round(2 * tp / (2 * tp + fp + fn), 4)
    assert pooled["far"] == round(fp / (fp + tn), 4)
    assert pooled["mar"] == round(fn / (fn + tp), 4)
    # Pooling sums counts: it is not the mean of the per-file F1.
    assert 0 < tp and 0 < tn


def test_verdicts_are_causal():
    frame, labels = load_labelled_frame(FILES[0])
    full = evaluate_frame(frame, labels, CALIBRATION)
    cut = 600
    tampered = frame.copy()
    tampered.iloc[cut:] = tampered.iloc[cut:] * 3 + 50
    changed = evaluate_frame(tampered, labels, CALIBRATION)
    truncated = evaluate_frame(frame.iloc[:cut], labels[:cut], CALIBRATION)
    scored_before_cut = cut - CALIBRATION
    assert np.array_equal(full.verdicts[:scored_before_cut], changed.verdicts[:scored_before_cut])
    assert np.array_equal(full.verdicts[:scored_before_cut], truncated.verdicts)
    assert changed.verdicts[scored_before_cut + 30:].all()


def test_file_evaluation_reports_rows_threshold_and_labelled_calibration_anomalies():
    result = evaluate_file(os.path.join(SKAB, "other", "2.csv"), CALIBRATION, name="other/2")
    assert result.name == "other/2"
    assert result.calibration_rows == CALIBRATION
    assert result.rows_scored == result.rows - CALIBRATION == len(result.verdicts)
    assert result.calibration_anomalies == 296
    assert result.threshold > 0


def test_file_without_label_column_is_refused(tmp_path):
    frame = pd.read_csv(FILES[0], sep=";").drop(columns=["anomaly"]).head(500)
    path = tmp_path / "unlabelled.csv"
    frame.to_csv(path, sep=";", index=False)
    with pytest.raises(EvaluationError, match="no 'anomaly' column"):
        evaluate_file(str(path), CALIBRATION)


@pytest.mark.parametrize("column, value, message", [
    ("Current", "abc", r"1 invalid values in the file: line 452: Current must be a number"),
    ("Pressure", "", r"line 452: Pressure is required"),
    ("anomaly", "2", r"'anomaly' column must hold 0 \(normal\) or 1 .*line\(s\) 452"),
    ("anomaly", "", r"'anomaly' column must hold 0 \(normal\) or 1 .*line\(s\) 452"),
])
def test_invalid_values_name_their_line(tmp_path, column, value, message):
    frame = pd.read_csv(FILES[0], sep=";", dtype=str).head(500)
    frame.loc[450, column] = value
    path = tmp_path / "bad.csv"
    frame.to_csv(path, sep=";", index=False)
    with pytest.raises(EvaluationError, match=message):
        evaluate_file(str(path), CALIBRATION)


def test_too_short_file_and_too_few_calibration_rows_are_refused(tmp_path):
    path = write_head(FILES[0], tmp_path / "short.csv", 300)
    with pytest.raises(EvaluationError, match="nothing is left to score"):
        evaluate_file(path, CALIBRATION)
    with pytest.raises(EvaluationError, match="at least 20 readings"):
        evaluate_file(path, 10)


def test_folder_is_searched_recursively_in_natural_order(tmp_path):
    for name in ("b/10.csv", "b/2.csv", "a/1.csv"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x\n")
    (tmp_path / "a" / "notes.txt").write_text("not a table")
    found = [os.path.relpath(p, tmp_path) for p in labelled_csv_paths(str(tmp_path))]
    assert found == ["a/1.csv", "b/2.csv", "b/10.csv"]
    with pytest.raises(EvaluationError, match="no such file or folder"):
        labelled_csv_paths(str(tmp_path / "missing"))


def make_folder(tmp_path):
    folder = tmp_path / "labelled"
    (folder / "valve1").mkdir(parents=True)
    (folder / "other").mkdir()
    write_head(FILES[0], folder / "valve1" / "1.csv", 700)
    write_head(FILES[1], folder / "other" / "9.csv", 700)
    return folder


def test_cli_prints_a_line_per_file_and_the_pooled_line(runner, tmp_path):
    folder = make_folder(tmp_path)
    result = runner.invoke(args=["evaluate", "--data", str(folder), "--normal-rows", "400"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["file", "rows", "scored", "F1", "FAR", "MAR", "warnings"]
    assert lines[1].split()[:2] == ["other/9.csv", "300"]
    assert lines[2].split()[:2] == ["valve1/1.csv", "300"]
    pooled = evaluate_paths(labelled_csv_paths(str(folder)), 400).pooled
    assert lines[3].split() == ["pooled", "(2", "files)", "600", f"{pooled['f1']:.3f}",
                                f"{pooled['far']:.1%}", f"{pooled['mar']:.1%}", "0"]


def test_cli_fails_clearly_on_missing_path(runner, tmp_path):
    result = runner.invoke(args=["evaluate", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "error: no such file or folder" in result.output


def test_cli_reports_file_without_label_column_and_evaluates_the_others(runner, tmp_path):
    folder = make_folder(tmp_path)
    shutil.copy(os.path.join(ROOT, "tests", "data", "normal_400.csv"), folder / "unlabelled.csv")
    result = runner.invoke(args=["evaluate", "--data", str(folder)])
    assert result.exit_code == 1
    assert "unlabelled.csv" in result.output and "no 'anomaly' column" in result.output
    assert "pooled (2 files)" in result.output
    assert "1 of 3 files could not be evaluated" in result.output
    single = runner.invoke(args=["evaluate", "--data", str(folder / "unlabelled.csv")])
    assert single.exit_code == 1
    assert single.output.strip().startswith("error: no 'anomaly' column")


def test_single_readings_are_judged_on_their_own_against_the_single_threshold():
    frame, labels = load_labelled_frame(FILES[0])
    result = evaluate_frame(frame, labels, CALIBRATION, single=True)
    model, _ = fit_model(frame.iloc[:CALIBRATION])
    alone = [model.score(frame.iloc[[i]]).anomaly[0] for i in range(CALIBRATION, len(frame))]
    assert np.array_equal(result.verdicts, alone)
    sequence = evaluate_frame(frame, labels, CALIBRATION)
    assert not np.array_equal(result.verdicts, sequence.verdicts)


def test_files_are_pooled_per_folder_too():
    evaluation = evaluate_paths(FILES, CALIBRATION, root=SKAB)
    folders = evaluation.by_folder()
    assert list(folders) == ["valve1", "other"]
    assert folders["valve1"].pooled == evaluation.files[0].metrics
