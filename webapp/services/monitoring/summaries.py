"""Summaries of one audit or rejection day file: counts per asset and hour, and a sample."""

import base64
import csv
import json
import zlib

import numpy as np
import pandas as pd

from webapp.services.monitoring.daycache import merge_counts, parse_lines

RESERVOIR_PER_HOUR = 200
LATENCY_EDGES = np.logspace(-2, 5, 71)  # 0.01 ms to 100 s
RATIO_EDGES = np.logspace(-2, 2, 41)  # score / threshold from 0.01 to 100; 1 is the threshold
# The inputs of the few rows a sample keeps are read apart (inputs_reader).
AUDIT_USED_COLUMNS = ("timestamp_utc", "channel", "asset", "model_version", "score",
                      "threshold", "anomaly", "latency_ms")


# --- audit day summaries --------------------------------------------------------------------

def bin_index(values, edges):
    """Histogram bin of each value (values past the ends go to the first or last bin)."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def grouped_counts(frame, keys):
    """{'k1|k2': count} of the rows grouped by `keys`."""
    counts = frame.groupby(list(keys), sort=False).size()
    return {"|".join(str(k) for k in (index if isinstance(index, tuple) else (index,))): int(n)
            for index, n in counts.items()}


def reservoir_slots(already_seen, held, new_rows, capacity, rng):
    """Algorithm R over new rows: [(row index, slot)], slot == -1 meaning append."""
    if already_seen == 0 and new_rows > capacity:  # a fresh reservoir: a plain draw is uniform
        return [(int(i), -1) for i in np.sort(rng.choice(new_rows, capacity, replace=False))]
    picks = []
    fill = max(0, min(capacity - held, new_rows))
    picks.extend((i, -1) for i in range(fill))
    if new_rows > fill:
        positions = already_seen + np.arange(fill, new_rows) + 1
        draws = rng.integers(0, positions)
        picks.extend((fill + int(i), int(draws[i])) for i in np.flatnonzero(draws < capacity))
    return picks


def encode_matrix(matrix):
    """A float64 matrix as base64 text: the cache stays JSON and loads without parsing floats."""
    return base64.b64encode(np.ascontiguousarray(matrix, dtype="<f8").tobytes()).decode("ascii")


def decode_matrix(text, columns):
    """The matrix written by encode_matrix, with `columns` columns."""
    values = np.frombuffer(base64.b64decode(text), dtype="<f8")
    return values.reshape(-1, max(len(columns), 1))


def reading_values(text, columns):
    """The values of one audit `inputs` JSON in `columns` order (NaN where absent)."""
    reading = json.loads(text)
    return [float(reading[name]) if isinstance(reading.get(name), (int, float)) else np.nan
            for name in columns]


class _Inputs:
    """The inputs text of the rows of a frame, looked up only for the rows sampled."""

    def __init__(self, records, inputs_of):
        self.records = records
        self.inputs_of = inputs_of

    def __getitem__(self, row):
        return self.inputs_of(int(self.records[row]))


def inputs_reader(columns, data, records):
    """inputs_of(i): the inputs cell of record i of the audit lines `data` (`records` of them).

    Only the few rows a sample keeps need it: parsing every reading's JSON text with the other
    columns took most of a summary's time and memory. When a quoted cell holds a line feed
    (records are not lines), the column is parsed whole.
    """
    if "inputs" not in columns:
        return lambda record: ""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    if len(ends) != records or (len(data) and not data.endswith(b"\n")):
        column = parse_lines(columns, data, ("inputs",))["inputs"].to_numpy()
        return lambda record: column[record]
    starts = np.concatenate([[0], ends[:-1] + 1])
    position = columns.index("inputs")

    def inputs_of(record):
        line = data[starts[record]:ends[record]].decode("utf-8", errors="replace")
        cells = next(csv.reader([line.rstrip("\r")]), [])
        return cells[position] if position < len(cells) else ""
    return inputs_of


def sample_inputs(frame, previous, inputs_of):
    """Update each (asset, hour) reservoir of input readings with the rows of `frame`.

    A reservoir is {"count": rows seen, "columns": sensor names, "rows": base64 matrix}; the
    columns are those of the first reading sampled in that hour.
    """
    samples = {}
    inputs = _Inputs(frame["record"].to_numpy(), inputs_of)
    for (asset, hour), rows in frame.groupby(["asset", "hour"], sort=False).indices.items():
        old = previous.get(asset, {}).get("samples", {}).get(f"{hour:02d}")
        count = old["count"] if old else 0
        columns = old["columns"] if old else sorted(json.loads(inputs[rows[0]]))
        kept = list(decode_matrix(old["rows"], columns)) if old else []
        seed = zlib.crc32(f"{asset}|{hour}|{count}".encode())
        picks = reservoir_slots(count, len(kept), len(rows), RESERVOIR_PER_HOUR,
                                np.random.default_rng(seed))
        for row, slot in picks:
            values = reading_values(inputs[rows[row]], columns)
            if slot < 0:
                kept.append(values)
            else:
                kept[slot] = values
        samples.setdefault(asset, {})[f"{hour:02d}"] = {
            "count": count + len(rows), "columns": columns,
            "rows": encode_matrix(np.asarray(kept, dtype=float).reshape(-1, len(columns)))}
    return samples


def summarise_audit(columns, data, previous):
    """Counts per asset and hour of new audit lines; samples replace the previous ones."""
    frame = parse_lines(columns, data, AUDIT_USED_COLUMNS,
                        numeric=("score", "threshold", "latency_ms"))
    inputs_of = inputs_reader(columns, data, len(frame))
    frame["record"] = np.arange(len(frame))
    frame["hour"] = pd.to_numeric(frame["timestamp_utc"].str.slice(11, 13), errors="coerce")
    frame = frame.dropna(subset=["hour"]).astype({"hour": int})
    score = pd.to_numeric(frame["score"], errors="coerce").to_numpy()
    threshold = pd.to_numeric(frame["threshold"], errors="coerce").to_numpy()
    latency = pd.to_numeric(frame["latency_ms"], errors="coerce").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ratio_bin"] = bin_index(np.nan_to_num(score / threshold, nan=0.0), RATIO_EDGES)
    frame["latency_bin"] = bin_index(np.nan_to_num(latency, nan=0.0), LATENCY_EDGES)
    frame["is_anomaly"] = (frame["anomaly"] == "1").astype(int)
    summary = {}
    for asset, rows in frame.groupby("asset", sort=False):
        summary[asset] = {
            "volume": grouped_counts(rows, ("hour", "channel")),
            "readings": grouped_counts(rows, ("hour", "model_version")),
            "anomalies": grouped_counts(rows[rows["is_anomaly"] == 1], ("hour", "model_version")),
            "latency": grouped_counts(rows, ("hour", "latency_bin")),
            "ratio": grouped_counts(rows, ("hour", "ratio_bin")),
        }
    for asset, samples in sample_inputs(frame, previous, inputs_of).items():
        summary[asset]["samples"] = samples
    return summary


def merge_audit(into, extra):
    """Fold a chunk's summary into a day's summary (samples are already merged)."""
    for asset, parts in extra.items():
        held = into.setdefault(asset, {})
        for name, counts in parts.items():
            if name == "samples":
                held.setdefault("samples", {}).update(counts)
            else:
                merge_counts(held.setdefault(name, {}), counts)


def summarise_rejections(columns, data, _previous):
    """Rejected readings (distinct request and reading) and values by sensor and error code."""
    frame = parse_lines(columns, data, ("timestamp_utc", "request_id", "channel", "asset",
                                        "reading", "field", "code"))
    frame["hour"] = frame["timestamp_utc"].str.slice(11, 13)
    summary = {}
    for asset, rows in frame.groupby("asset", sort=False):
        readings = rows.drop_duplicates(["request_id", "reading", "timestamp_utc"])
        summary[asset] = {"rejected": grouped_counts(readings, ("hour", "channel")),
                          "values": grouped_counts(rows, ("hour", "field", "code"))}
    return summary


def merge_rejections(into, extra):
    """Fold a chunk's rejection counts into a day's."""
    for asset, parts in extra.items():
        for name, counts in parts.items():
            merge_counts(into.setdefault(asset, {}).setdefault(name, {}), counts)


def block_summariser(block):
    """summarise_audit for the rows of an AuditBlock, from its columns instead of its lines:
    a function of the previous summary (samples depend on it), or None when the block's text
    cells would not read back as written (then its lines are read as any others)."""
    common = block.common
    texts = [_cell_text(common.get(name)) for name in ("asset", "channel", "model_version")]
    if any(text is None for text in texts) or "score" not in block.varying or not block.count:
        return None
    asset, channel, version = texts
    hour = int(common["timestamp_utc"][11:13])
    scores = np.asarray(block.varying["score"], dtype=float)
    anomalies = int(np.count_nonzero(block.varying["anomaly"]))
    latency = bin_index(np.nan_to_num(np.asarray([float(common["latency_ms"])])), LATENCY_EDGES)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = bin_index(np.nan_to_num(scores / float(common["threshold"]), nan=0.0),
                           RATIO_EDGES)
    bins, counts = np.unique(ratios, return_counts=True)
    values = dict(zip(block.names, block.values, strict=True))
    count = block.count

    def summarise(previous):
        summary = {
            "volume": {f"{hour}|{channel}": count},
            "readings": {f"{hour}|{version}": count},
            "anomalies": {f"{hour}|{version}": anomalies} if anomalies else {},
            "latency": {f"{hour}|{int(latency[0])}": count},
            "ratio": {f"{hour}|{int(b)}": int(n) for b, n in zip(bins, counts, strict=True)},
        }
        old = previous.get(asset, {}).get("samples", {}).get(f"{hour:02d}")
        seen = old["count"] if old else 0
        columns = old["columns"] if old else sorted(values)
        kept = list(decode_matrix(old["rows"], columns)) if old else []
        picks = reservoir_slots(seen, len(kept), count, RESERVOIR_PER_HOUR,
                                np.random.default_rng(zlib.crc32(f"{asset}|{hour}|{seen}".encode())))
        for row, slot in picks:
            reading = [float(values[name][row]) if name in values else np.nan
                       for name in columns]
            if slot < 0:
                kept.append(reading)
            else:
                kept[slot] = reading
        summary["samples"] = {f"{hour:02d}": {
            "count": seen + count, "columns": columns,
            "rows": encode_matrix(np.asarray(kept, dtype=float).reshape(-1, len(columns)))}}
        return {asset: summary}
    return summarise


def _cell_text(value):
    """A common cell's text as it reads back from the audit file, or None when it is not
    plain text that reads back unchanged."""
    if not isinstance(value, str) or any(c in value for c in ',"\n\r'):
        return None
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
