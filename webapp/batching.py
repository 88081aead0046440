"""Batch scoring of sensor CSV files, shared by the upload page, `flask score` and the watch folder.

A file is an ordered sequence of readings of one asset. It is read in chunks so memory stays
bounded whatever its size; each chunk is validated, its valid rows are scored in file order
with the trailing context of the rows before them (so chunked results equal whole-file
results), its results and rejected rows are appended to temporary files published atomically
at the end, and its audit rows are written with one sink write per chunk.
"""

import csv
import hashlib
import io
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.schema import DATETIME_COLUMN, LABEL_COLUMN, sensors_from_records
from features.validation import SchemaError, check_columns, validate_frame
from webapp.audit import neutralise_formula, utc_now_iso
from webapp.csvfiles import sniff_separator
from webapp.evaluation import metrics_from_counts
from webapp.rejections import record_rejections
from webapp.scoring import predict_and_audit, score_frame

RESULT_COLUMNS = ("score", "threshold", "predicted_anomaly", "top_sensors", "asset",
                  "model_version")
ERROR_COLUMNS = ("line", "column", "code", "reason", "value")
DEFAULT_CHUNK_ROWS = 20_000
CHART_POINTS = 1_000  # points drawn on the result page, whatever the file's length
ANOMALIES_KEPT = 1_000  # anomalous rows listed on the result page (the CSV has them all)
ERRORS_KEPT = 500  # rejected cells listed on the result page (the error report has them all)
MAX_LINE_BYTES = 1 << 20  # a longer "line" is binary junk or a broken export, not a reading
BOM = b"\xef\xbb\xbf"
BATCH_ID_LENGTH = 16
log = logging.getLogger("vigie.batch")


class BatchFileError(ValueError):
    """The file as a whole cannot be scored; nothing is scored.

    `code` and `params` let each page say it in the user's language; the message is English.
    """

    def __init__(self, code, message, **params):
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass
class RowProblem:
    """Why one row (or one cell of it) was rejected; `line` counts the header as line 1."""

    line: int
    column: str
    code: str
    reason: str
    value: str = ""
    params: dict = field(default_factory=dict)

    def as_row(self):
        """The problem as a row of the error report, safe to open in a spreadsheet."""
        return [self.line, neutralise_formula(self.column), self.code, self.reason,
                neutralise_formula(self.value)]


def new_batch_id():
    """A short unique batch id, also used as the audit request id of its rows."""
    return uuid.uuid4().hex[:BATCH_ID_LENGTH]


# ---------------------------------------------------------------------------------------------
# Reading: header first, then chunks of rows with their line numbers.


def read_header(binary):
    """(separator, column names) from the first line; BatchFileError when it is not a header."""
    raw = binary.readline(MAX_LINE_BYTES)
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    if not raw.strip():
        raise BatchFileError("empty", "the file is empty: the first line must be a header "
                                      "naming the sensor columns")
    if b"\0" in raw or (len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n")):
        raise BatchFileError("not_text", "the file is not a CSV text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BatchFileError("not_text", "the file is not a CSV text file encoded in UTF-8 "
                                         "(save it as 'CSV UTF-8')") from None
    separator = sniff_separator(text)
    columns = [name.strip() for name in next(csv.reader([text.rstrip("\r\n")],
                                                        delimiter=separator))]
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise BatchFileError("duplicate_columns", "columns named more than once in the header: "
                             + ", ".join(duplicated), columns=duplicated)
    return separator, columns


def check_header(columns, sensors):
    """Raise BatchFileError listing every sensor column missing from the header, by name."""
    try:
        check_columns(columns, sensors)
    except SchemaError as exc:
        hint = ""
        if len(columns) == 1:
            hint = (" (the header has a single column: separate the columns with ';' or ',')")
        raise BatchFileError("missing_columns", f"missing sensor columns: "
                             f"{', '.join(exc.missing)}{hint}; nothing was scored",
                             missing=exc.missing, single_column=len(columns) == 1) from None


def _text_lines(binary, flagged):
    """Decoded lines after the header; unreadable ones become blank and are noted in `flagged`.

    `flagged` maps a line number (header = 1) to the reason its content could not be read.
    """
    number = 1
    while True:
        raw = binary.readline(MAX_LINE_BYTES)
        if not raw:
            return
        number += 1
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = binary.readline(MAX_LINE_BYTES)
            flagged[number] = ("line_too_long", "the line is longer than "
                               f"{MAX_LINE_BYTES // 1024} KiB: not a sensor reading")
            yield "\n"
            continue
        if b"\0" in raw:
            flagged[number] = ("not_text", "the line holds binary data, not text")
            yield "\n"
            continue
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            flagged[number] = ("not_text", "the line is not UTF-8 text")
            yield "\n"


@dataclass
class Chunk:
    """Rows read from the file: text cells with their line numbers, and rows rejected whole."""

    table: pd.DataFrame
    lines: np.ndarray
    problems: list
    rejected_rows: int
    position: int  # bytes of the file read so far


def read_chunks(binary, columns, separator, chunk_rows):
    """Yield Chunk objects of at most `chunk_rows` well-formed rows each.

    A line with another number of fields than the header, or that is not text, is a rejected
    row of the chunk, never an error of the whole file. Blank lines are not readings.
    """
    flagged = {}
    reader = csv.reader(_text_lines(binary, flagged), delimiter=separator)
    width = len(columns)
    rows, lines, problems, rejected = [], [], [], 0
    last = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(RowProblem(last + 2, "", "unreadable", f"unreadable CSV line ({exc})"))
            rejected += 1
            last = reader.line_num
            continue
        line = last + 2
        last = reader.line_num
        if line in flagged:
            code, reason = flagged.pop(line)
            problems.append(RowProblem(line, "", code, reason))
            rejected += 1
        elif len(fields) == width:
            rows.append(fields)
            lines.append(line)
        elif fields and any(cell.strip() for cell in fields):
            problems.append(RowProblem(line, "", "field_count",
                                       f"the line has {len(fields)} fields, the header has "
                                       f"{width}", separator.join(fields)[:200],
                                       {"fields": len(fields), "expected": width}))
            rejected += 1
        if len(rows) >= chunk_rows:
            yield _chunk(rows, lines, problems, rejected, columns, binary)
            rows, lines, problems, rejected = [], [], [], 0
    if rows or problems:
        yield _chunk(rows, lines, problems, rejected, columns, binary)


def _chunk(rows, lines, problems, rejected, columns, binary):
    table = pd.DataFrame(rows, columns=columns, dtype=object) if rows else \
        pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    return Chunk(table, np.asarray(lines, dtype=np.int64), problems, rejected, binary.tell())


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


def results_frame(text, results, loaded, sensor_names):
    """The results rows: input columns as given (text made spreadsheet-safe), then verdicts."""
    out = text.reset_index(drop=True).copy()
    for column in out.columns:
        if column not in sensor_names:
            out[column] = neutralise_text_column(out[column])
    out["score"] = [round(r.score, 6) for r in results]
    out["threshold"] = [round(r.threshold, 6) for r in results]
    out["predicted_anomaly"] = [int(r.anomaly) for r in results]
    out["top_sensors"] = [";".join(r.top_sensors) for r in results]
    out["asset"] = loaded.asset
    out["model_version"] = loaded.version
    return out


def neutralise_text_column(column):
    """neutralise_formula on each cell, except plain numbers such as -0.5 that stay numbers."""
    text = column.astype(str)
    risky = text.str.contains(r"(?:^|;)[=+\-@\t\r]")  # ';': French spreadsheets split there
    if not risky.any():
        return column
    numeric = pd.to_numeric(text.where(risky), errors="coerce").notna()
    fix = risky & ~numeric
    return text.where(~fix, text[fix].map(neutralise_formula))


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
        self.sensors = sensors_from_records(loaded.manifest["features"])
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
        """Validate, score and audit one chunk; returns (results frame, problems)."""
        numbers, valid, errors = validate_frame(chunk.table, self.sensors, first_line=0)
        problems = list(chunk.problems)
        for error in errors:
            value = str(chunk.table[error.field].iat[error.index])
            problems.append(RowProblem(int(chunk.lines[error.index]), error.field, error.code,
                                       error.message, value))
        problems.sort(key=lambda problem: problem.line)
        if self.rejections_dir:
            record_rejections(self.rejections_dir, self.channel, self.principal,
                              self.loaded.asset, problems, request_id=self.batch_id)
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
        results = self._score(frame, text)
        self._account(results, text, chunk.lines[valid])
        self.context = pd.concat([self.context, frame]) if self.context is not None else frame
        self.context = self.context.iloc[-max(self.loaded.model.context_size, 1):]
        return results_frame(text, results, self.loaded, self.sensor_names), problems

    def _score(self, frame, text):
        """Score in file order; rows audited before a crash are scored again, not re-audited."""
        skip = min(max(self.already_audited - self.summary.scored, 0), len(frame))
        results = []
        if skip:
            results = score_frame(self.loaded, frame.iloc[:skip], context=self.context,
                                  single=False)
        if skip < len(frame):
            context = pd.concat([self.context, frame.iloc[:skip]]) if self.context is not None \
                else frame.iloc[:skip]
            timestamps = None
            if DATETIME_COLUMN in text.columns:
                timestamps = text[DATETIME_COLUMN].iloc[skip:].tolist()
            rest = frame.iloc[skip:].reset_index(drop=True)
            _, fresh = predict_and_audit(
                self.loaded, rest, self.sink, channel=self.channel, principal=self.principal,
                request_id=self.batch_id, batch_id=self.batch_id, reading_timestamps=timestamps,
                context=context if len(context) else None, single=False)
            results = list(results) + list(fresh)
            self.summary.audited += len(fresh)
        return results

    def _account(self, results, text, lines):
        summary = self.summary
        verdicts = np.fromiter((r.anomaly for r in results), dtype=bool, count=len(results))
        scores = np.fromiter((r.score for r in results), dtype=float, count=len(results))
        dates = text[DATETIME_COLUMN].tolist() if summary.has_datetime else None
        labels = dates if dates is not None else lines.tolist()
        self.outline.add(summary.scored, scores, labels)
        for position in np.flatnonzero(verdicts)[:max(ANOMALIES_KEPT -
                                                       len(summary.first_anomalies), 0)]:
            summary.first_anomalies.append({
                "line": int(lines[position]), "datetime": dates[position] if dates else "",
                "score": round(float(scores[position]), 6),
                "top_sensors": list(results[position].top_sensors)})
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
    separator, columns = read_header(binary)
    sensors = sensors_from_records(loaded.manifest["features"])
    check_header(columns, sensors)
    scorer = FileScorer(loaded, sink, batch_id=batch_id, channel=channel, principal=principal,
                        columns=columns, already_audited=already_audited,
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
                frame, problems = scorer.score_chunk(chunk)
                errors_writer.writerows(problem.as_row() for problem in problems)
                if frame is not None:
                    frame.to_csv(results_file, header=False, index=False, lineterminator="\n")
                if progress:
                    progress(scorer.summary, chunk.position)
        if scorer.summary.rows_read == 0:
            raise BatchFileError("no_readings", "the file has a header but no readings")
        os.replace(results_tmp, results_path)
        os.replace(errors_tmp, errors_path)
    finally:
        for path in (results_tmp, errors_tmp):
            if os.path.exists(path):
                os.remove(path)
    return scorer.summary


def render_header(columns):
    """The results CSV header line: the input's columns (formula-safe), then the verdicts."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [neutralise_formula(c) for c in columns] + list(RESULT_COLUMNS))
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
    line = 1 if error.code in ("missing_columns", "duplicate_columns", "empty", "not_text") else 0
    return RowProblem(line, ", ".join(error.params.get("missing", [])), error.code, str(error))


def write_atomic(path, write):
    """Call write(text handle) on a temporary file, then rename it to `path`."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomic(path, data):
    """Replace a small JSON file at once: readers in other processes never see half of it."""
    write_atomic(path, lambda handle: json.dump(data, handle, ensure_ascii=False))


def read_json(path, default=None):
    """A JSON file's content, or `default` when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


def count_audited(audit_dir, batch_id, since_day):
    """Audit rows already written for `batch_id` in the day files from `since_day` on.

    The audit file is the truth about what was audited: a run interrupted between two chunks
    resumes from this count, so no reading is audited twice.
    """
    total = 0
    if not os.path.isdir(audit_dir):
        return 0
    for name in sorted(os.listdir(audit_dir)):
        if not (name.startswith("predictions-") and name.endswith(".csv")):
            continue
        if name[len("predictions-"):-4] < since_day:
            continue
        column = pd.read_csv(os.path.join(audit_dir, name), usecols=["batch_id"], dtype=str,
                             keep_default_na=False, on_bad_lines="skip")["batch_id"]
        total += int((column == batch_id).sum())
    return total


# ---------------------------------------------------------------------------------------------
# Batches of the upload page: logs/batches/<batch_id>/ holds meta.json (who, what, sha256),
# status.json (progress, polled by any worker), summary.json, results.csv and errors.csv.
# State lives in these files, never in one worker's memory.

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class BatchStore:
    """The folder of uploaded batches."""

    def __init__(self, root, stale_seconds=120):
        self.root = root
        self.stale_seconds = stale_seconds

    def folder(self, batch_id):
        """The folder of one batch (the id is checked: it reaches the file system)."""
        if not (isinstance(batch_id, str) and len(batch_id) == BATCH_ID_LENGTH
                and all(c in "0123456789abcdef" for c in batch_id)):
            raise KeyError(batch_id)
        return os.path.join(self.root, batch_id)

    def path(self, batch_id, name):
        """A file of one batch: meta.json, status.json, summary.json, results.csv, ..."""
        return os.path.join(self.folder(batch_id), name)

    def create(self, meta):
        """A new batch folder with its meta.json; returns the batch id."""
        batch_id = new_batch_id()
        os.makedirs(self.folder(batch_id))
        write_json_atomic(self.path(batch_id, "meta.json"), {"batch_id": batch_id, **meta,
                                                             "created_at": utc_now_iso()})
        self.set_status(batch_id, QUEUED)
        return batch_id

    def meta(self, batch_id):
        """meta.json of a batch; KeyError when there is no such batch."""
        meta = read_json(self.path(batch_id, "meta.json"))
        if meta is None:
            raise KeyError(batch_id)
        return meta

    def update_meta(self, batch_id, **values):
        """Add values to meta.json (replaced at once)."""
        write_json_atomic(self.path(batch_id, "meta.json"), {**self.meta(batch_id), **values})

    def set_status(self, batch_id, state, **values):
        """Replace status.json, stamped with this process so a dead worker can be noticed."""
        write_json_atomic(self.path(batch_id, "status.json"), {
            "state": state, "updated_at": time.time(), "pid": os.getpid(),
            "host": socket.gethostname(), **values})

    def status(self, batch_id):
        """status.json, with a batch whose process died reported as failed."""
        status = read_json(self.path(batch_id, "status.json"), {"state": FAILED})
        if status["state"] in (QUEUED, RUNNING) and self._abandoned(status):
            status = {**status, "state": FAILED, "code": "stopped",
                      "message": "processing stopped unexpectedly (the server process ended); "
                                 "upload the file again"}
        return status

    def _abandoned(self, status):
        if time.time() - status.get("updated_at", 0) > self.stale_seconds:
            return True
        if status.get("host") == socket.gethostname():
            try:
                os.kill(int(status["pid"]), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, KeyError, ValueError):
                pass
        return False

    def summary(self, batch_id):
        """summary.json of a finished batch (None before)."""
        return read_json(self.path(batch_id, "summary.json"))

    def list(self, principal=None, limit=20):
        """The latest batches (of `principal` only, when given), newest first."""
        if not os.path.isdir(self.root):
            return []
        found = []
        for name in os.listdir(self.root):
            try:
                meta = self.meta(name)
            except (KeyError, ValueError):
                continue
            if principal is None or meta.get("principal") == principal:
                found.append(meta)
        found.sort(key=lambda meta: meta.get("created_at", ""), reverse=True)
        return found[:limit]


def save_upload(stream, path, block=1 << 20):
    """Copy an uploaded file to `path` while hashing it; returns (sha256 hex, size in bytes)."""
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as target:
        while True:
            data = stream.read(block)
            if not data:
                break
            digest.update(data)
            target.write(data)
            size += len(data)
    return digest.hexdigest(), size


def process_stored_batch(store, batch_id, loaded, sink, chunk_rows=DEFAULT_CHUNK_ROWS,
                         rejections_dir=None):
    """Score the input saved in a batch folder, keeping status.json current; never raises.

    Runs in a background thread of the worker that received the upload; any worker can read
    its progress. The input is removed once scored: its sha256 stays in meta.json.
    """
    meta = store.meta(batch_id)
    input_path = store.path(batch_id, "input.csv")
    total = os.path.getsize(input_path)

    def progress(summary, position):
        store.set_status(batch_id, RUNNING, bytes_read=position, bytes_total=total,
                         rows_read=summary.rows_read, scored=summary.scored,
                         rejected=summary.rejected, anomalies=summary.anomalies)

    store.set_status(batch_id, RUNNING, bytes_read=0, bytes_total=total)
    try:
        with open(input_path, "rb") as binary:
            summary = score_file(binary, loaded, sink, batch_id=batch_id, channel="batch",
                                 principal=meta["principal"],
                                 results_path=store.path(batch_id, "results.csv"),
                                 errors_path=store.path(batch_id, "errors.csv"),
                                 chunk_rows=chunk_rows, progress=progress,
                                 rejections_dir=rejections_dir)
    except BatchFileError as error:
        store.set_status(batch_id, FAILED, code=error.code, params=error.params,
                         message=str(error))
        return None
    except Exception as error:  # noqa: BLE001 - the page must say it failed, whatever it was
        log.exception("batch %s failed", batch_id)
        store.set_status(batch_id, FAILED, code="internal",
                         message=f"{type(error).__name__}: {error}")
        return None
    finally:
        if os.path.exists(input_path):
            os.remove(input_path)
    write_json_atomic(store.path(batch_id, "summary.json"), summary.as_dict())
    store.set_status(batch_id, DONE, rows_read=summary.rows_read, scored=summary.scored,
                     rejected=summary.rejected, anomalies=summary.anomalies,
                     bytes_read=total, bytes_total=total)
    return summary
