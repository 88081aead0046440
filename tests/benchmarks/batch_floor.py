"""The batch floor: read a whole CSV, predict, write results and an audit with JSON inputs.

What a bare script does with pandas and the anchor's PCA-T² pipeline (tests/benchmarks/bare_app)
in one pass over the whole file in memory; `flask score` is measured beside it. Run as
`python -m tests.benchmarks.batch_floor MODEL.pkl SOURCE.csv OUT_DIR`.
"""

import os
import pickle
import sys
from datetime import datetime, timezone

import pandas as pd

from features.schema import SENSOR_COLUMNS
from tests.benchmarks.bare_app import t_squared


def main(model_path, source, out_dir):
    with open(model_path, "rb") as handle:
        pipeline, threshold = pickle.load(handle)
    frame = pd.read_csv(source, sep=";")
    sensors = frame[list(SENSOR_COLUMNS)]
    scores = t_squared(pipeline, sensors)
    results = pd.DataFrame({"score": scores, "anomaly": scores > threshold})
    results.to_csv(os.path.join(out_dir, "floor-results.csv"), index=False)
    audit = pd.DataFrame({
        "timestamp_utc": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "inputs": sensors.to_json(orient="records", lines=True).splitlines(),
        "score": scores, "anomaly": results["anomaly"].astype(int)})
    audit.to_csv(os.path.join(out_dir, "floor-audit.csv"), index=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
