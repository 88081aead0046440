"""Batch scoring of sensor CSV files, shared by the upload page, `flask score` and the watch folder.

A file is an ordered sequence of readings of one asset. It is read in chunks so memory stays
bounded whatever its size; each chunk is validated, its valid rows are scored in file order
with the trailing context of the rows before them (so chunked results equal whole-file
results), its results and rejected rows are appended to temporary files published atomically
at the end, and its audit rows are written with one sink write per chunk.
"""

import csv
import io
import logging
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.calibration import MOST
from features.schema import DATETIME_COLUMN, LABEL_COLUMN
from features.validation import validate_frame
from webapp.services.batch.reader import (BatchFileError, RowProblem, check_header, read_chunks,
                                          read_header)
from webapp.services.audit import write_block
from webapp.services.evaluation import metrics_from_counts
from webapp.services.rejections import record_rejections
from webapp.services.batch.results import RESULT_COLUMNS, result_lines
from webapp.services.scoring import (Verdicts, calibration_of, predict_and_audit_columns,
                                     score_columns)
from webapp.services.storage import neutralise_formula_parts, write_atomic
from webapp.services.csvfiles import lf_lines
from webapp.services.text import shown, unsafe_rows

ERROR_COLUMNS = ("line", "column", "code", "reason", "value")
DEFAULT_CHUNK_ROWS = 20_000
CHART_POINTS = 1_000  # points drawn on the result page, whatever the file's length
ANOMALIES_KEPT = 1_000  # anomalous rows listed on the result page (the CSV has them all)
ERRORS_KEPT = 500  # rejected cells listed on the result page (the error report has them all)
BATCH_ID_LENGTH = 16
log = logging.getLogger("vigie.batch")


def new_batch_id():
    """A short unique batch id, also used as the audit request id of its rows."""
    return uuid.uuid4().hex[:BATCH_ID_LENGTH]


# ---------------------------------------------------------------------------------------------
# The score outline drawn on the result page: at most CHART_POINTS points, the maximum score of
# each bucket of consecutive rows, so a spike is never averaged away.


class ScoreOutline:
    """Bounded outline of the scores of a file, built chunk by chunk."""

    def __init__(self, max_points=CHART_POINTS):
        self.max_points = max_points
        self.width = 1
        self.index = np.empty(0, dtype=np.int64)
        self.scores = np.empty(0)
        self.labels = np.empty(0, dtype=object)

    def add(self, first_index, scores, labels):
        """Add the scores of consecutive scored rows; `labels` name them on the x axis."""
        self.index = np.concatenate([self.index, first_index + np.arange(len(scores))])
        self.scores = np.concatenate([self.scores, np.asarray(scores, dtype=float)])
        self.labels = np.concatenate([self.labels, np.asarray(labels, dtype=object)])
        self._reduce()

    def _reduce(self):
        keys = self.index // self.width
        while len(np.unique(keys)) > self.max_points:
            self.width *= 2
            keys = self.index // self.width
        order = np.lexsort((-self.scores, keys))
        keys = keys[order]
        first = np.concatenate([[True], keys[1:] != keys[:-1]]) if len(keys) else keys.astype(bool)
        keep = np.sort(order[first])
        self.index, self.scores, self.labels = self.index[keep], self.scores[keep], \
            self.labels[keep]

    def as_dict(self):
        """Plain lists for JSON: x labels and y scores."""
        return {"labels": [str(label) for label in self.labels],
                "scores": [round(float(s), 6) for s in self.scores], "bucket_rows": self.width}


# ---------------------------------------------------------------------------------------------
# Scoring a whole file.


@dataclass
class BatchSummary:
    """What happened to a file: counts, verdict comparison, outline and the first anomalies."""

    batch_id: str
    asset: str
    model_version: str
    threshold: float
    rows_read: int = 0
    scored: int = 0
    rejected: int = 0
    anomalies: int = 0
    problems: int = 0
    has_datetime: bool = False
    has_labels: bool = False
    labels_ignored: int = 0
    counts: dict = field(default_factory=lambda: {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
    first_anomalies: list = field(default_factory=list)
    first_problems: list = field(default_factory=list)
    outline: dict = field(default_factory=dict)
    audited: int = 0
    # features.calibration.calibration_check summed over the chunks; None for versions
    # trained before calibration ranges were recorded.
    calibration: dict = None

    def add_calibration(self, check):
        """Fold one chunk's calibration check in; the file is out of calibration when more
        than half of all its readings are, with the sensors of its most-outside chunk."""
        if check is None:
            return
        held = self.calibration or {"readings": 0, "readings_outside": 0, "sensors": [],
                                    "most_outside": -1}
        held["readings"] += check["readings"]
        held["readings_outside"] += check["readings_outside"]
        if check["readings_outside"] > held["most_outside"]:
            held.update(sensors=check["sensors"], most_outside=check["readings_outside"])
        held["out_of_calibration"] = held["readings_outside"] > MOST * held["readings"]
        self.calibration = held

    @property
    def anomaly_share(self):
        """Share of the scored rows judged anomalous."""
        return self.anomalies / self.scored if self.scored else 0.0

    @property
    def metrics(self):
        """Confusion counts, F1 and false alarms against the file's labels (None without)."""
        if not self.has_labels:
            return None
        return metrics_from_counts(**self.counts)

    def as_dict(self):
        """The summary as plain JSON values, with its share and metrics."""
        data = asdict(self)
        data.update(anomaly_share=round(self.anomaly_share, 6), metrics=self.metrics)
        return data

    def line(self):
        """One summary line for people (CLI, logs)."""
        return (f"batch {self.batch_id}: {self.rows_read} rows read, {self.scored} scored, "
                f"{self.rejected} rejected, {self.anomalies} anomalies "
                f"({100 * self.anomaly_share:.1f}%) with {self.asset} {self.model_version}")


class FileScorer:
    """Scores one file's chunks in order and writes results, error report and audit rows."""

    def __init__(self, loaded, sink, *, batch_id, channel, principal, columns,
                 already_audited=0, rejections_dir=None):
        self.loaded = loaded
        self.sink = sink
        self.batch_id = batch_id
        self.channel = channel
        self.principal = principal
        self.columns = columns
        self.sensors = loaded.sensors
        self.sensor_names = {sensor.name for sensor in self.sensors}
        self.model_columns = list(loaded.model.columns)
        self.already_audited = already_audited
        self.rejections_dir = rejections_dir
        self.context = None
        self.outline = ScoreOutline()
        self.summary = BatchSummary(batch_id, loaded.asset, loaded.version,
                                    float(loaded.model.threshold),
                                    has_datetime=DATETIME_COLUMN in columns,
                                    has_labels=LABEL_COLUMN in columns)

    def score_chunk(self, chunk):
        """Validate, score and audit one chunk; returns (results CSV lines, problems)."""
        numbers, valid, errors = validate_frame(chunk.table, self.sensors, first_line=0)
        problems = list(chunk.problems)
        for position, unsafe in unsafe_rows(chunk.table, DATETIME_COLUMN):
            valid[position] = False
            problems.append(RowProblem(int(chunk.lines[position]), DATETIME_COLUMN, unsafe.code,
                                       unsafe.reason, shown(chunk.table[DATETIME_COLUMN]
                                                            .iat[position]),
                                       {"character": unsafe.character,
                                        "position": unsafe.position}))
        for error in errors:
            value = str(chunk.table[error.field].iat[error.index])
            problems.append(RowProblem(int(chunk.lines[error.index]), error.field, error.code,
                                       error.message, value))
        problems.sort(key=lambda problem: problem.line)
        if self.rejections_dir:
            record_rejections(self.rejections_dir, self.channel, self.principal,
                              self.loaded.asset, [p.as_field_error() for p in problems],
                              request_id=self.batch_id)
        summary = self.summary
        summary.rows_read += len(chunk.table) + chunk.rejected_rows
        summary.rejected += int((~valid).sum()) + chunk.rejected_rows
        summary.problems += len(problems)
        room = ERRORS_KEPT - len(summary.first_problems)
        summary.first_problems.extend(asdict(p) for p in problems[:max(room, 0)])
        if not valid.any():
            return None, problems
        frame = numbers.loc[valid, self.model_columns].reset_index(drop=True)
        text = chunk.table.loc[valid]
        check = calibration_of(self.loaded, frame)
        if check is not None:
            summary.add_calibration(check)
        verdicts = self._score(frame, text)
        self._account(verdicts, text, chunk.lines[valid])
        self.context = pd.concat([self.context, frame]) if self.context is not None else frame
        self.context = self.context.iloc[-max(self.loaded.model.context_size, 1):]
        comma_lines = chunk.comma_lines
        if comma_lines is not None and not valid.all():
            comma_lines = np.array(comma_lines, dtype=object)[valid].tolist()
        return result_lines(text, verdicts, self.loaded, self.sensor_names,
                            verdicts.score_cells(), comma_lines), problems

    def _score(self, frame, text):
        """Score in file order; rows audited before a crash are scored again, not re-audited."""
        skip = min(max(self.already_audited - self.summary.scored, 0), len(frame))
        parts = []
        if skip:
            parts.append(score_columns(self.loaded, frame.iloc[:skip], context=self.context,
                                       single=False))
        if skip < len(frame):
            context = pd.concat([self.context, frame.iloc[:skip]]) if self.context is not None \
                else frame.iloc[:skip]
            timestamps = None
            if DATETIME_COLUMN in text.columns:
                timestamps = text[DATETIME_COLUMN].iloc[skip:].tolist()
            rest = frame.iloc[skip:].reset_index(drop=True)
            fresh = predict_and_audit_columns(
                self.loaded, rest, self.sink, channel=self.channel, principal=self.principal,
                request_id=self.batch_id, batch_id=self.batch_id, reading_timestamps=timestamps,
                context=context if len(context) else None, single=False)
            parts.append(fresh)
            self.summary.audited += len(fresh)
        return Verdicts.joined(parts)

    def _account(self, results, text, lines):
        summary = self.summary
        verdicts, scores = results.anomaly, results.scores
        dates = text[DATETIME_COLUMN].tolist() if summary.has_datetime else None
        labels = dates if dates is not None else lines.tolist()
        self.outline.add(summary.scored, scores, labels)
        for position in np.flatnonzero(verdicts)[:max(ANOMALIES_KEPT -
                                                       len(summary.first_anomalies), 0)]:
            summary.first_anomalies.append({
                "line": int(lines[position]), "datetime": dates[position] if dates else "",
                "score": round(float(scores[position]), 6),
                "top_sensors": results.top_sensors_of(position)})
        summary.scored += len(results)
        summary.anomalies += int(verdicts.sum())
        if summary.has_labels:
            self._compare(text[LABEL_COLUMN], verdicts)
        summary.outline = self.outline.as_dict()

    def _compare(self, label_text, verdicts):
        labels = pd.to_numeric(label_text.astype(str).str.strip(), errors="coerce").to_numpy()
        known = np.isin(labels, (0, 1))
        actual = labels == 1
        counts = self.summary.counts
        counts["tp"] += int(np.sum(known & actual & verdicts))
        counts["fp"] += int(np.sum(known & ~actual & verdicts))
        counts["fn"] += int(np.sum(known & actual & ~verdicts))
        counts["tn"] += int(np.sum(known & ~actual & ~verdicts))
        self.summary.labels_ignored += int(np.sum(~known))


def score_file(binary, loaded, sink, *, batch_id, channel, principal, results_path,
               errors_path, chunk_rows=DEFAULT_CHUNK_ROWS, progress=None, already_audited=0,
               rejections_dir=None):
    """Score a CSV file (binary stream) with one model version; returns a BatchSummary.

    Results and the error report are written next to their final paths and renamed into
    place at the end, so a reader never sees half a file. `progress(summary, bytes_read)` is
    called after each chunk. `already_audited` rows (from an interrupted run of the same
    batch) are scored again for the results but not audited twice. Rejected rows are also
    counted for monitoring in `rejections_dir` (the log folder) when it is given. Raises
    BatchFileError when the file as a whole cannot be scored (nothing is scored then).
    """
    binary = lf_lines(binary)
    separator, columns = read_header(binary)
    sensors = loaded.sensors
    check_header(columns, sensors)
    auditor = AuditInBackground(sink)
    scorer = FileScorer(loaded, auditor, batch_id=batch_id, channel=channel,
                        principal=principal, columns=columns, already_audited=already_audited,
                        rejections_dir=rejections_dir)
    results_tmp, errors_tmp = results_path + ".tmp", errors_path + ".tmp"
    try:
        with open(results_tmp, "w", encoding="utf-8", newline="") as results_file, \
                open(errors_tmp, "w", encoding="utf-8", newline="") as errors_file:
            errors_writer = csv.writer(errors_file, lineterminator="\n")
            errors_writer.writerow(ERROR_COLUMNS)
            # Our header, not pandas': the input's column names are made formula-safe too.
            results_file.write(render_header(columns))
            for chunk in read_chunks(binary, columns, separator, chunk_rows):
                lines, problems = scorer.score_chunk(chunk)
                errors_writer.writerows(problem.as_row() for problem in problems)
                if lines:
                    results_file.write(lines)
                if progress:
                    progress(scorer.summary, chunk.position)
                del chunk, lines, problems  # not held while the next chunk is read
        auditor.close()  # every chunk audited (or AuditError) before results are published
        if scorer.summary.rows_read == 0:
            raise BatchFileError("no_readings", "the file has a header but no readings")
        os.replace(results_tmp, results_path)
        os.replace(errors_tmp, errors_path)
    finally:
        auditor.close(raising=False)
        for path in (results_tmp, errors_tmp):
            if os.path.exists(path):
                os.remove(path)
    return scorer.summary


class AuditInBackground:
    """A sink whose writes are made by one thread, in order and one at a time, while the
    file's next chunk is read and scored (two cores: scoring overlaps the audit's rendering,
    chain and write). A write that fails raises AuditError at the next write or at close(),
    which score_file calls before it publishes any result."""

    def __init__(self, sink):
        self.sink = sink
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigie-audit")
        self.pending = None

    def write_block(self, block):
        self._wait()
        self.pending = self.pool.submit(write_block, self.sink, block)

    def write(self, rows):
        self._wait()
        self.sink.write(rows)

    def _wait(self):
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self, raising=True):
        """Wait for the last write; raise its error unless `raising` is False."""
        try:
            self._wait()
        except Exception:
            if raising:
                raise
            log.exception("an audit write failed while the file was given up")
        finally:
            self.pool.shutdown(wait=True)


def render_header(columns):
    """The results CSV header line: the input's columns (formula-safe), then the verdicts."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [neutralise_formula_parts(c) for c in columns] + list(RESULT_COLUMNS))
    return buffer.getvalue()


def write_error_report(path, problems):
    """An error report with the given problems (a file-level error is one line-1 problem)."""
    write_atomic(path, lambda handle: _write_problems(handle, problems))


def _write_problems(handle, problems):
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(ERROR_COLUMNS)
    writer.writerows(problem.as_row() for problem in problems)


def file_problem(error):
    """A BatchFileError as a problem of the error report (line 1 is the header)."""
    line = 1 if error.code in ("missing_columns", "duplicate_columns", "empty", "not_text",
                               "unsafe_header") else 0
    return RowProblem(line, ", ".join(error.params.get("missing", [])), error.code, str(error))
