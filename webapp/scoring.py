"""Scoring service: validated readings in, verdicts and audit rows out, for every channel."""

import json
import logging
import time
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd

from webapp.audit import utc_now_iso
from webapp.version import APP_VERSION

TOP_SENSORS = 3
log = logging.getLogger("vigie.scoring")


def new_request_id():
    """A short unique id that users can quote to support."""
    return uuid.uuid4().hex[:16]


@dataclass
class Result:
    """The verdict on one reading."""

    score: float
    threshold: float
    anomaly: bool
    contributions: dict
    top_sensors: list

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
    order = np.argsort(-parts, axis=1)
    results = []
    for row, score in enumerate(scores.scores):
        ranked = [names[i] for i in order[row]]
        results.append(Result(float(score), scores.threshold, bool(score > scores.threshold),
                              {name: float(parts[row, i]) for name, i in zip(ranked, order[row])},
                              ranked[:TOP_SENSORS]))
    return results


def audit_rows(loaded, frame, results, *, channel, principal, request_id, latency_ms,
               batch_id="", reading_timestamps=None):
    """One audit row per scored reading, all stamped with the version that scored them."""
    now = utc_now_iso()
    timestamps = reading_timestamps if reading_timestamps is not None else [""] * len(results)
    records = frame[list(loaded.model.columns)].to_dict("records")
    return [{
        "timestamp_utc": now, "request_id": request_id, "channel": channel,
        "principal": principal, "asset": loaded.asset, "model_version": loaded.version,
        "model_sha256": loaded.sha256,
        "inputs": json.dumps(inputs, separators=(",", ":")),
        "reading_timestamp": timestamp or "", "batch_id": batch_id or "",
        "score": round(result.score, 6), "threshold": round(result.threshold, 6),
        "anomaly": result.anomaly, "top_sensors": ";".join(result.top_sensors),
        "latency_ms": latency_ms, "app_version": APP_VERSION,
    } for inputs, result, timestamp in zip(records, results, timestamps)]


def predict_and_audit(loaded, frame, sink, *, channel, principal, request_id=None,
                      batch_id="", reading_timestamps=None, context=None, single=None):
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
                      reading_timestamps=reading_timestamps)
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
