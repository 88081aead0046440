"""Detection quality: confusion metrics and the SKAB protocol run through Vigie's own code.

The protocol, per labelled file: calibrate on its first `normal_rows` readings with
`fit_model` (the code path of training), score the remaining readings in time order with
`AnomalyModel.score`, passing the calibration readings as past context (a verdict uses only
that reading and earlier ones), and pool the confusion counts over all scored readings of
all files.  The labels of the calibration readings are not used, only counted.
"""

import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.pipeline import fit_model
from features.schema import LABEL_COLUMN
from features.validation import SchemaError, validate_frame
from webapp.services.csvfiles import CsvFormatError, read_table
from webapp.services.events import event_counts, pool_counts, summarise

# Fewer calibration readings than this cannot fill the trailing windows and fit the PCA.
MIN_NORMAL_ROWS = 20
ERRORS_SHOWN = 5


class EvaluationError(ValueError):
    """A labelled file cannot be evaluated; the message says what to fix."""


def metrics_from_counts(tp, fp, fn, tn):
    """Precision, recall, F1, FAR and MAR from confusion counts.

    FAR is the share of normal readings flagged, MAR the share of anomalous readings missed:
    F1 alone flatters a detector that flags everything when anomalies are common.
    """
    tp, fp, fn, tn = int(tp), int(fp), int(fn), int(tn)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "rows": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "far": round(fp / (fp + tn), 4) if fp + tn else 0.0,
        "mar": round(fn / (fn + tp), 4) if fn + tp else 0.0,
    }


def confusion_metrics(actual, predicted):
    """Metrics of predicted verdicts against 0/1 labels (see metrics_from_counts)."""
    actual = np.asarray(actual, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    return metrics_from_counts(np.sum(actual & predicted), np.sum(~actual & predicted),
                               np.sum(actual & ~predicted), np.sum(~actual & ~predicted))


@dataclass
class FileEvaluation:
    """The protocol's outcome on one labelled file."""

    name: str
    rows: int
    calibration_rows: int
    calibration_anomalies: int
    threshold: float
    metrics: dict
    warnings: list = field(default_factory=list)
    verdicts: np.ndarray = field(default=None, repr=False)
    # Raw event-level counts (webapp/services/events.py): episodes, alarms, delays.
    event_counts: dict = field(default=None, repr=False)
    # The out-of-calibration verdict on the scored readings (features/calibration.py).
    calibration: dict = field(default=None, repr=False)

    @property
    def rows_scored(self):
        return self.metrics["rows"]

    @property
    def events(self):
        """Event-level figures: episodes detected, delays, false alarms per hour, overruns."""
        return summarise(self.event_counts)


@dataclass
class Evaluation:
    """Per-file outcomes, the files that could not be evaluated, and the pooled metrics."""

    files: list
    failures: list
    normal_rows: int

    @property
    def pooled(self):
        """Metrics over all scored readings of all evaluated files (counts summed, not averaged)."""
        return metrics_from_counts(*(sum(f.metrics[key] for f in self.files)
                                     for key in ("tp", "fp", "fn", "tn")))

    def by_folder(self):
        """One Evaluation per first folder of the file names (e.g. valve1, other), in order."""
        folders = {}
        for result in self.files:
            name = result.name.replace(os.sep, "/")
            folder = name.split("/")[0] if "/" in name else ""
            folders.setdefault(folder, []).append(result)
        return {folder: Evaluation(files, [], self.normal_rows)
                for folder, files in folders.items()}

    @property
    def pooled_events(self):
        """Event-level figures over all evaluated files (counts summed, delays pooled)."""
        return summarise(pool_counts(f.event_counts for f in self.files))


def _summarise(errors):
    shown = "; ".join(f"line {e.index}: {e.message}" for e in errors[:ERRORS_SHOWN])
    more = f" (and {len(errors) - ERRORS_SHOWN} more)" if len(errors) > ERRORS_SHOWN else ""
    return shown + more


def parse_labels(text_column, first_line=2):
    """The label column as a 0/1 integer array; raise EvaluationError naming bad lines."""
    labels = pd.to_numeric(text_column.astype("string").str.strip(), errors="coerce")
    bad = ~labels.isin([0, 1]).to_numpy()
    if bad.any():
        lines = [str(first_line + int(i)) for i in np.flatnonzero(bad)[:ERRORS_SHOWN]]
        more = f" (and {int(bad.sum()) - ERRORS_SHOWN} more)" if bad.sum() > ERRORS_SHOWN else ""
        raise EvaluationError(f"the '{LABEL_COLUMN}' column must hold 0 (normal) or 1 "
                              f"(anomalous) on every line; fix line(s) {', '.join(lines)}{more}")
    return labels.to_numpy(dtype=int)


def load_labelled_frame(source):
    """Read and validate a labelled sensor file (path or binary file object).

    Returns (sensor numbers, labels).  Invalid readings stop the evaluation with their lines:
    dropping them would silently change the sequence the trailing windows see.
    """
    try:
        table = read_table(source)
    except (OSError, CsvFormatError) as exc:
        raise EvaluationError(str(exc)) from exc
    if LABEL_COLUMN not in table.columns:
        raise EvaluationError(f"no '{LABEL_COLUMN}' column: an evaluation file needs a label "
                              "column named anomaly (0 normal, 1 anomalous) beside the sensors")
    try:
        numbers, _, errors = validate_frame(table)
    except SchemaError as exc:
        raise EvaluationError(str(exc)) from exc
    if errors:
        raise EvaluationError(f"{len(errors)} invalid values in the file: {_summarise(errors)}")
    return numbers, parse_labels(table[LABEL_COLUMN])


def _check_normal_rows(normal_rows, n_rows):
    if normal_rows < MIN_NORMAL_ROWS:
        raise EvaluationError(f"calibrate on at least {MIN_NORMAL_ROWS} readings, "
                              f"not {normal_rows}")
    if normal_rows >= n_rows:
        raise EvaluationError(f"the file has {n_rows} readings: nothing is left to score after "
                              f"the first {normal_rows} calibration readings")


def evaluate_model(model, frame, labels, context=None, single=False):
    """(metrics, verdicts) of a fitted model on labelled readings scored in time order.

    `context` holds the readings just before `frame` (same asset), as the stream passes them.
    `single=True` judges each reading on its own, as the reading form does.
    """
    scores = model.score(frame, context=None if single else context, single=single)
    verdicts = np.asarray(scores.anomaly, dtype=bool)
    return confusion_metrics(labels, verdicts), verdicts


def evaluate_frame(frame, labels, normal_rows, settings=None, name="", single=False,
                   policy=None):
    """The protocol on one file already read: calibrate on the first rows, score the rest.

    `single=True` scores each remaining reading on its own instead of as a sequence.
    `policy` is the alarm policy (K of N, M) the event-level figures use.
    """
    labels = np.asarray(labels, dtype=int)
    _check_normal_rows(normal_rows, len(frame))
    columns = list(frame.columns)
    calibration = frame.iloc[:normal_rows].reset_index(drop=True)
    scored = frame.iloc[normal_rows:].reset_index(drop=True)
    model, warnings = fit_model(calibration, settings)
    metrics, verdicts = evaluate_model(model, scored[columns], labels[normal_rows:],
                                       context=calibration, single=single)
    events = event_counts(labels[normal_rows:], verdicts, policy)
    return FileEvaluation(name, len(frame), normal_rows, int(labels[:normal_rows].sum()),
                          model.threshold, metrics, list(warnings), verdicts, events,
                          model.calibration_check(scored[columns]))


def evaluate_file(source, normal_rows=400, settings=None, name=None, single=False, policy=None):
    """The protocol on one labelled file (path or binary file object); returns FileEvaluation.

    Raises EvaluationError when the file cannot be read, has no anomaly column, holds
    invalid values or is too short for `normal_rows`.
    """
    if name is None:
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "uploaded file"
    frame, labels = load_labelled_frame(source)
    return evaluate_frame(frame, labels, normal_rows, settings, name, single, policy)


def _natural_key(path):
    """Sort key putting valve1/2.csv before valve1/10.csv."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def labelled_csv_paths(path):
    """The CSV file `path`, or every *.csv under the folder `path` (recursive, natural order)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise EvaluationError(f"no such file or folder: {path}")
    found = [os.path.join(folder, name) for folder, _, names in os.walk(path)
             for name in names if name.lower().endswith(".csv")]
    if not found:
        raise EvaluationError(f"no .csv file under {path}")
    return sorted(found, key=_natural_key)


def evaluate_paths(paths, normal_rows=400, settings=None, root=None, single=False,
                   policy=None):
    """The protocol on several files; one bad file is reported, not fatal to the others.

    Returns an Evaluation whose `failures` lists (name, message) of the files that could not
    be evaluated; file names are relative to `root` when given.
    """
    files, failures = [], []
    for path in paths:
        name = os.path.relpath(path, root) if root else path
        try:
            files.append(evaluate_file(path, normal_rows, settings, name=name, single=single,
                                       policy=policy))
        except EvaluationError as exc:
            failures.append((name, str(exc)))
    return Evaluation(files, failures, normal_rows)


def out_of_calibration_files(normal_frame, paths, root=None):
    """(name, calibration check) of each readable file against one model fitted on
    `normal_frame`: how often the out-of-calibration verdict fires on other recordings."""
    model, _ = fit_model(normal_frame)
    checks = []
    for path in paths:
        name = os.path.relpath(path, root) if root else path
        try:
            frame, _ = load_labelled_frame(path)
        except EvaluationError:
            continue
        checks.append((name, model.calibration_check(frame)))
    return checks
