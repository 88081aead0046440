"""Synthetic audit history for monitoring and history tests and the monitoring benchmark."""

import json
import os
from datetime import datetime, timedelta, timezone

import numpy as np

from features.schema import SENSOR_COLUMNS
from webapp.services.audit import audit_header, render_audit_rows


def normal_pool(path):
    """The readings of a normal-operation CSV, as a DataFrame of sensor columns."""
    from webapp.services.training import load_training_frame
    return load_training_frame(path)[list(SENSOR_COLUMNS)]


def training_like(pool, size, rng, shift=None):
    """`size` readings resampled from `pool` (shift: {sensor: standard deviations added})."""
    shift = shift or {}
    picked = pool.iloc[rng.integers(0, len(pool), size)]
    return {name: picked[name].to_numpy() + shift.get(name, 0.0) * pool[name].std()
            for name in SENSOR_COLUMNS}


def synthetic_rows(day, count, pool, threshold, rng, *, asset="pump-1", version="v1", shift=None,
                   principals=("operator", "analyst", "apikey:line-3"),
                   channels=("form", "batch", "api", "stream"), anomaly_rate=0.05):
    """`count` audit rows spread over one UTC day ('YYYY-MM-DD'), in time order."""
    start = datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
    seconds = np.sort(rng.integers(0, 86400, count))
    values = training_like(pool, count, rng, shift)
    anomalies = rng.random(count) < anomaly_rate
    scores = np.where(anomalies, threshold * rng.uniform(1.05, 4, count),
                      threshold * rng.uniform(0.05, 0.95, count))
    rows = []
    for i in range(count):
        at = start + timedelta(seconds=int(seconds[i]))
        inputs = {name: float(values[name][i]) for name in SENSOR_COLUMNS}
        rows.append({
            "timestamp_utc": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "request_id": f"{day.replace('-', '')}{i:08d}", "channel": channels[i % len(channels)],
            "principal": principals[i % len(principals)], "asset": asset,
            "model_version": version, "model_sha256": "0" * 64,
            "inputs": json.dumps(inputs, separators=(",", ":")), "reading_timestamp": "",
            "batch_id": "", "score": round(float(scores[i]), 6), "threshold": threshold,
            "anomaly": bool(anomalies[i]), "top_sensors": "Current;Pressure;Voltage",
            "latency_ms": round(float(rng.uniform(0.5, 8.0)), 3), "app_version": "test",
        })
    return rows


def write_audit_day(audit_dir, day, rows):
    """Write (or append to) one audit day file the way the CSV sink lays it out."""
    os.makedirs(audit_dir, exist_ok=True)
    path = os.path.join(audit_dir, f"predictions-{day}.csv")
    new = not os.path.exists(path)
    with open(path, "a", encoding="utf-8") as handle:
        if new:
            handle.write(audit_header())
        handle.write(render_audit_rows(rows))
    return path


def write_history(audit_dir, pool, threshold, *, days, rows_per_day, end_day, seed=0,
                  **options):
    """`days` day files ending on `end_day` (a date), `rows_per_day` rows each."""
    rng = np.random.default_rng(seed)
    paths = []
    for back in range(days - 1, -1, -1):
        day = (end_day - timedelta(days=back)).isoformat()
        paths.append(write_audit_day(audit_dir, day,
                                     synthetic_rows(day, rows_per_day, pool, threshold, rng,
                                                    **options)))
    return paths
