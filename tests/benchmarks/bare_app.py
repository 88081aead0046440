"""The bare anchor: a tiny Flask scoring service that Vigie's API is measured beside.

It parses JSON, predicts with a PCA-T² scikit-learn pipeline on the same sensors and answers,
nothing else. With BARE_AUDIT set to a file path it also appends one CSV line per reading
(time, inputs as JSON, score, verdict) with one write under flock. Served by gunicorn:
`gunicorn "tests.benchmarks.bare_app:create_app()"`, model from BARE_MODEL (a pickle).
"""

import csv
import fcntl
import io
import json
import os
import pickle
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from flask import Flask, jsonify, request
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from features.schema import SENSOR_COLUMNS


def fit_anchor(frame, quantile=0.99):
    """A PCA-T² pipeline fitted on `frame`; returns (pipeline, threshold)."""
    pipeline = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=0.9))])
    pipeline.fit(frame[list(SENSOR_COLUMNS)])
    return pipeline, float(np.quantile(t_squared(pipeline, frame), quantile))


def t_squared(pipeline, frame):
    """Hotelling's T² of each row: squared principal scores over their variances."""
    scores = pipeline.transform(frame[list(SENSOR_COLUMNS)])
    return (scores ** 2 / pipeline[-1].explained_variance_).sum(axis=1)


def append_audit(path, readings, scores, anomalies):
    """One CSV line per reading, all appended with one write under an exclusive lock."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([now, json.dumps(reading), score, int(anomaly)]
                     for reading, score, anomaly in zip(readings, scores.tolist(),
                                                        anomalies.tolist(), strict=True))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, buffer.getvalue().encode("utf-8"))
    finally:
        os.close(fd)


def create_app():
    """The anchor service: POST /predict {"readings": [{sensor: value, ...}, ...]}."""
    app = Flask(__name__)
    with open(os.environ["BARE_MODEL"], "rb") as handle:
        pipeline, threshold = pickle.load(handle)
    audit_path = os.environ.get("BARE_AUDIT", "")

    @app.post("/predict")
    def predict():
        readings = request.get_json()["readings"]
        frame = pd.DataFrame(readings, columns=list(SENSOR_COLUMNS))
        scores = t_squared(pipeline, frame)
        anomalies = scores > threshold
        if audit_path:
            append_audit(audit_path, readings, scores, anomalies)
        return jsonify({"results": [{"score": float(score), "anomaly": bool(anomaly)}
                                    for score, anomaly in zip(scores, anomalies, strict=True)]})

    @app.get("/readyz")
    def ready():
        return "ok"

    return app
