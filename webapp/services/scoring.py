"""Scoring service: validated readings in, verdicts and audit rows out, for every channel."""

import json
import logging
import time
import uuid

import numpy as np
import pandas as pd

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


def score_frame(loaded, frame, context=None, single=None):
    """Score ordered readings of one asset with one model version; returns a list of Result.

    `single` is passed to the model when given: a batch file passes False so that a chunk
    holding one reading is still scored as part of the file's sequence.
    """
    options = {} if single is None else {"single": single}
    scores = loaded.model.score(frame, context=context, **options)
    names = list(scores.contributions.columns)
    parts = scores.contributions.to_numpy().round(6)
    order = np.argsort(-parts, axis=1, kind="stable")
    threshold = float(scores.threshold)
    values = np.asarray(scores.scores, dtype=float).tolist()
    # Rows as tuples built from columns converted once: indexing numpy rows one by one is
    # slow, and tuples of numbers, unlike lists, are soon left alone by the garbage collector.
    return [Result(score, threshold, score > threshold, names, row_parts, row_order)
            for score, row_parts, row_order in zip(values, rows_of(parts), rows_of(order),
                                                   strict=True)]


def calibration_of(loaded, frame):
    """Whether these readings lie far outside the version's calibration data (plain data), or
    None for versions trained before calibration ranges were recorded."""
    check = getattr(loaded.model, "calibration_check", None)
    return check(frame) if check is not None else None


def rows_of(matrix):
    """The rows of a 2-D array as tuples of Python numbers."""
    return zip(*matrix.T.tolist(), strict=True) if matrix.shape[1] else [()] * len(matrix)


def inputs_json(frame, columns):
    """One compact JSON object of sensor: value per row, as json.dumps writes it.

    Built column by column (repr of a float is its shortest exact form, as in JSON) because
    a per-row json.dumps dominates the cost of auditing large files.
    """
    template = "{" + ",".join(json.dumps(column).replace("%", "%%") + ":%r"
                              for column in columns) + "}"
    return [template % values
            for values in zip(*(frame[column].tolist() for column in columns), strict=True)]


def audit_rows(loaded, frame, results, *, channel, principal, request_id, latency_ms,
               batch_id="", reading_timestamps=None, client_request_id=""):
    """One audit row per scored reading, all stamped with the version that scored them."""
    timestamps = reading_timestamps if reading_timestamps is not None else [""] * len(results)
    records = inputs_json(frame, list(loaded.model.columns))
    common = {"timestamp_utc": utc_now_iso(), "request_id": request_id, "channel": channel,
              "principal": principal, "asset": loaded.asset, "model_version": loaded.version,
              "model_sha256": loaded.sha256, "batch_id": batch_id or "",
              "latency_ms": latency_ms, "app_version": APP_VERSION,
              "client_request_id": client_request_id or ""}
    return [{
        **common, "inputs": inputs, "reading_timestamp": timestamp or "",
        "score": round(result.score, 6), "threshold": round(result.threshold, 6),
        "anomaly": result.anomaly, "top_sensors": ";".join(result.top_sensors),
    } for inputs, result, timestamp in zip(records, results, timestamps, strict=True)]


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
    try:
        shadow_results = score_frame(shadow, frame, context=context, single=single)
    except Exception:  # any failure of a candidate model must leave the answer untouched
        log.exception("shadow %s %s failed to score", shadow.asset, shadow.version)
        shadow_results = [None] * len(rows)
    for row, result in zip(rows, shadow_results, strict=True):
        row["shadow_version"] = shadow.version
        row["shadow_score"] = round(result.score, 6) if result else ""
        row["shadow_anomaly"] = result.anomaly if result else ""


def frame_from_values(values, columns):
    """A one-row DataFrame from a validated reading."""
    return pd.DataFrame([values], columns=list(columns))
