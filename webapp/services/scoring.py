"""Scoring service: validated readings in, verdicts and audit rows out, for every channel."""

import logging
import time
import uuid

import numpy as np
import pandas as pd

from webapp.services.audit import write_block
from webapp.services.audit_block import AuditBlock, float_cells, render_inputs
from webapp.services.storage import utc_now_iso
from webapp.version import APP_VERSION

TOP_SENSORS = 3
log = logging.getLogger("vigie.scoring")


def new_request_id():
    """A short unique id that users can quote to support."""
    return uuid.uuid4().hex[:16]


class Result:
    """The verdict on one reading; its contributions are ranked only when asked for.

    A file of a million readings builds a million results, so ranking and dict building are
    deferred to the few callers that show contributions (the form, the API).
    """

    __slots__ = ("score", "threshold", "anomaly", "_names", "_parts", "_order")

    def __init__(self, score, threshold, anomaly, names, parts, order):
        self.score = score
        self.threshold = threshold
        self.anomaly = anomaly
        self._names = names
        self._parts = parts
        self._order = order

    @property
    def contributions(self):
        """Sensor -> contribution to the score, largest first."""
        parts, names = self._parts, self._names
        return {names[i]: parts[i] for i in self._order}

    @property
    def top_sensors(self):
        """The sensors that weigh most in the score, largest first."""
        names = self._names
        return [names[i] for i in self._order[:TOP_SENSORS]]

    def as_dict(self):
        return {"score": self.score, "threshold": self.threshold, "anomaly": self.anomaly,
                "contributions": self.contributions}


class Verdicts:
    """The verdicts on ordered readings as columns: what a file of a million readings needs,
    without a Result per reading (`results()` builds them for the channels that show them)."""

    def __init__(self, scores, threshold, names, parts):
        self.scores = np.asarray(scores, dtype=float)
        self.threshold = float(threshold)
        self.anomaly = self.scores > self.threshold
        self.names = list(names)
        self.parts = parts
        self.order = np.argsort(-parts, axis=1, kind="stable")
        self._rounded = self._score_cells = self._top = None

    def __len__(self):
        return len(self.scores)

    def results(self):
        """One Result per reading, as score_frame returns them."""
        names, threshold = self.names, self.threshold
        # Rows as tuples built from columns converted once: indexing numpy rows one by one is
        # slow, and tuples of numbers, unlike lists, are soon left alone by the garbage
        # collector.
        return [Result(score, threshold, score > threshold, names, row_parts, row_order)
                for score, row_parts, row_order in zip(self.scores.tolist(), rows_of(self.parts),
                                                       rows_of(self.order), strict=True)]

    def rounded_scores(self):
        """round(score, 6) of each reading, as Python floats (as the audit writes them)."""
        if self._rounded is None:
            self._rounded = round6(self.scores)
        return self._rounded

    def score_cells(self):
        """The CSV cell of each rounded score (repr, as the audit and the results write it)."""
        if self._score_cells is None:
            self._score_cells = float_cells(self.rounded_scores())
        return self._score_cells

    def anomaly_cells(self):
        """The CSV cell of each verdict: 1 anomalous, 0 normal."""
        return np.where(self.anomaly, "1", "0").tolist()

    def top_sensors_of(self, position):
        """The sensors that weigh most in one reading's score, largest first."""
        return [self.names[i] for i in self.order[position, :TOP_SENSORS].tolist()]

    def top_sensors(self):
        """";".join(Result.top_sensors) of each reading, joined once per distinct ranking."""
        if self._top is None:
            self._top = self._top_sensors()
        return self._top

    def _top_sensors(self):
        top = self.order[:, :TOP_SENSORS]
        if not len(top):
            return []
        if not top.shape[1]:
            return [""] * len(top)
        # One number per ranking (its sensor indices as digits in base len(names)).
        codes = np.zeros(len(top), dtype=np.int64)
        for column in range(top.shape[1]):
            codes = codes * len(self.names) + top[:, column]
        distinct, which = np.unique(codes, return_inverse=True)
        first = np.zeros(len(distinct), dtype=np.int64)
        first[which[::-1]] = np.arange(len(which))[::-1]
        texts = np.empty(len(distinct), dtype=object)
        texts[:] = [";".join(self.names[i] for i in ranking) for ranking in top[first].tolist()]
        return texts[which].tolist()

    @classmethod
    def joined(cls, parts):
        """One Verdicts for consecutive parts scored apart (same threshold and sensors)."""
        if len(parts) == 1:
            return parts[0]
        return cls(np.concatenate([part.scores for part in parts]), parts[0].threshold,
                   parts[0].names, np.concatenate([part.parts for part in parts]))


def round6(values):
    """[round(value, 6) for value in values], a column at a time.

    numpy's rounding (scale, rint, unscale) gives Python's correctly rounded result unless
    the scaled value lies within its own rounding error of a half: those values, and large
    or non-finite ones, go through round() itself.
    """
    values = np.asarray(values, dtype=float)
    scaled = values * 1e6
    with np.errstate(invalid="ignore"):
        fraction = scaled - np.floor(scaled)
        doubtful = ~(np.abs(values) < 1e3) | (np.abs(fraction - 0.5) < 1e-6)
    rounded = (np.rint(scaled) / 1e6).tolist()
    for position in np.flatnonzero(doubtful).tolist():
        rounded[position] = round(float(values[position]), 6)
    return rounded


def score_columns(loaded, frame, context=None, single=None):
    """Score ordered readings of one asset with one model version; returns Verdicts.

    `single` is passed to the model when given: a batch file passes False so that a chunk
    holding one reading is still scored as part of the file's sequence.
    """
    parts, threshold = loaded.model.score_parts(frame, context=context, single=single)
    return Verdicts(parts.sum(axis=1), threshold, loaded.model.columns, parts.round(6))


def score_frame(loaded, frame, context=None, single=None):
    """score_columns as a list of Result, one per reading."""
    return score_columns(loaded, frame, context=context, single=single).results()


def calibration_of(loaded, frame):
    """Whether these readings lie far outside the version's calibration data (plain data), or
    None for versions trained before calibration ranges were recorded."""
    check = getattr(loaded.model, "calibration_check", None)
    return check(frame) if check is not None else None


def rows_of(matrix):
    """The rows of a 2-D array as tuples of Python numbers."""
    return zip(*matrix.T.tolist(), strict=True) if matrix.shape[1] else [()] * len(matrix)


def inputs_json(frame, columns):
    """One compact JSON object of sensor: value per row, as json.dumps writes it."""
    return render_inputs(columns, column_lists(frame, columns))


def column_lists(frame, columns):
    """The values of each of `columns` as a Python list (ints stay ints, floats floats).

    One conversion of the whole frame: selecting its columns one by one cost more than
    scoring a reading.
    """
    if list(frame.columns) != list(columns):
        frame = frame[list(columns)]
    return frame.to_numpy(dtype=object).T.tolist()


def shared_cells(loaded, *, channel, principal, request_id, latency_ms, batch_id,
                 client_request_id):
    """The audit cells every row of one write shares: when, who, which version."""
    return {"timestamp_utc": utc_now_iso(), "request_id": request_id, "channel": channel,
            "principal": principal, "asset": loaded.asset, "model_version": loaded.version,
            "model_sha256": loaded.sha256, "batch_id": batch_id or "",
            "latency_ms": latency_ms, "app_version": APP_VERSION,
            "client_request_id": client_request_id or ""}


def audit_rows(loaded, frame, results, *, channel, principal, request_id, latency_ms,
               batch_id="", reading_timestamps=None, client_request_id=""):
    """One audit row per scored reading, all stamped with the version that scored them."""
    timestamps = reading_timestamps if reading_timestamps is not None else [""] * len(results)
    records = inputs_json(frame, list(loaded.model.columns))
    common = shared_cells(loaded, channel=channel, principal=principal, request_id=request_id,
                          latency_ms=latency_ms, batch_id=batch_id,
                          client_request_id=client_request_id)
    return [{
        **common, "inputs": inputs, "reading_timestamp": timestamp or "",
        "score": round(result.score, 6), "threshold": round(result.threshold, 6),
        "anomaly": result.anomaly, "top_sensors": ";".join(result.top_sensors),
    } for inputs, result, timestamp in zip(records, results, timestamps, strict=True)]


def audit_block(loaded, frame, verdicts, *, channel, principal, request_id, latency_ms,
                batch_id="", reading_timestamps=None, client_request_id=""):
    """audit_rows as an AuditBlock: the same rows carried as columns (one write per chunk)."""
    count = len(verdicts)
    timestamps = reading_timestamps if reading_timestamps is not None else [""] * count
    common = {**shared_cells(loaded, channel=channel, principal=principal,
                             request_id=request_id, latency_ms=latency_ms, batch_id=batch_id,
                             client_request_id=client_request_id),
              "threshold": round(verdicts.threshold, 6)}
    varying = {"reading_timestamp": [timestamp or "" for timestamp in timestamps],
               "score": verdicts.rounded_scores(), "anomaly": verdicts.anomaly.tolist(),
               "top_sensors": verdicts.top_sensors()}
    columns = list(loaded.model.columns)
    cells = {"anomaly": verdicts.anomaly_cells(), "score": verdicts.score_cells()}
    return AuditBlock(count, common, varying, (columns, [frame[c].to_numpy() for c in columns]),
                      cells)


def predict_and_audit_columns(loaded, frame, sink, *, channel, principal, request_id,
                              batch_id="", reading_timestamps=None, context=None, single=None):
    """predict_and_audit for large files: Verdicts, and the audit rows as one AuditBlock.

    The audit write happens before anything is returned, as in predict_and_audit.
    """
    started = time.perf_counter()
    verdicts = score_columns(loaded, frame, context=context, single=single)
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    block = audit_block(loaded, frame, verdicts, channel=channel, principal=principal,
                        request_id=request_id, latency_ms=latency_ms, batch_id=batch_id,
                        reading_timestamps=reading_timestamps)
    if getattr(loaded, "shadow", None) is not None:
        add_shadow_columns(block, loaded.shadow, frame, context, single)
    write_block(sink, block)
    return verdicts


def add_shadow_columns(block, shadow, frame, context=None, single=None):
    """add_shadow_scores for an AuditBlock."""
    shadow_verdicts = verdicts_of_shadow(shadow, frame, context, single)
    block.common["shadow_version"] = shadow.version
    if shadow_verdicts is None:
        block.common.update(shadow_score="", shadow_anomaly="")
    else:
        block.varying["shadow_score"] = shadow_verdicts.rounded_scores()
        block.varying["shadow_anomaly"] = shadow_verdicts.anomaly.tolist()


def predict_and_audit(loaded, frame, sink, *, channel, principal, request_id=None,
                      batch_id="", reading_timestamps=None, context=None, single=None,
                      client_request_id=""):
    """Score readings and write their audit rows in one append; return (request_id, results).

    The audit write happens before anything is returned: a prediction that could not be
    audited raises AuditError and is never shown as an answer.
    """
    request_id = request_id or new_request_id()
    started = time.perf_counter()
    results = score_frame(loaded, frame, context=context, single=single)
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    rows = audit_rows(loaded, frame, results, channel=channel, principal=principal,
                      request_id=request_id, latency_ms=latency_ms, batch_id=batch_id,
                      reading_timestamps=reading_timestamps,
                      client_request_id=client_request_id)
    if getattr(loaded, "shadow", None) is not None:
        add_shadow_scores(rows, loaded.shadow, frame, context, single)
    sink.write(rows)
    return request_id, results


def add_shadow_scores(rows, shadow, frame, context=None, single=None):
    """Fill the shadow columns of audit rows with a candidate's verdicts on the same readings.

    The caller's answer never depends on the shadow: if it fails, the rows name it with empty
    scores and the failure goes to app.log.
    """
    verdicts = verdicts_of_shadow(shadow, frame, context, single)
    failed = [""] * len(rows)
    scores = failed if verdicts is None else verdicts.rounded_scores()
    anomalies = failed if verdicts is None else verdicts.anomaly.tolist()
    for row, score, anomaly in zip(rows, scores, anomalies, strict=True):
        row.update(shadow_version=shadow.version, shadow_score=score, shadow_anomaly=anomaly)


def verdicts_of_shadow(shadow, frame, context=None, single=None):
    """A candidate's Verdicts on the readings, or None when it fails to score them (logged):
    any failure of a candidate model must leave the answer untouched."""
    try:
        return score_columns(shadow, frame, context=context, single=single)
    except Exception:
        log.exception("shadow %s %s failed to score", shadow.asset, shadow.version)
        return None


def frame_from_values(values, columns):
    """A one-row DataFrame from a validated reading."""
    return pd.DataFrame([values], columns=list(columns))
