"""Monitoring figures from the audit, rejection, log, alarm and feedback files, cached per day.

Each day file is summarised once into counts per asset and UTC hour (volume by channel,
verdicts by model version, latency and score/threshold histograms, rejected values) plus a
bounded reservoir sample of input readings per hour for drift. Summaries are kept as JSON
under LOG_DIR/cache/ with the byte offset they cover and the file's size and mtime: a view
re-reads nothing for an unchanged file and only the appended bytes for a grown one (today).
"""

import base64
import io
import json
import logging
import os
import re
import zlib
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from webapp import drift
from webapp.alarms import alarm_log_path, list_alarms
from webapp.feedback import read_feedback

CACHE_FORMAT = 4
RESERVOIR_PER_HOUR = 200
MEMORY_DAYS = 70  # day summaries a worker keeps in memory (about 0.3 MB each)
LATENCY_EDGES = np.logspace(-2, 5, 71)  # 0.01 ms to 100 s
RATIO_EDGES = np.logspace(-2, 2, 41)  # score / threshold from 0.01 to 100; 1 is the threshold
AUDIT_FILE = re.compile(r"^predictions-(\d{4}-\d{2}-\d{2})\.csv$")
REJECTION_FILE = re.compile(r"^rejections-(\d{4}-\d{2}-\d{2})\.csv$")
AUDIT_USED_COLUMNS = ("timestamp_utc", "channel", "asset", "model_version", "inputs", "score",
                      "threshold", "anomaly", "latency_ms")
LOG_ERROR_LINE = re.compile(
    rb"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),\d+ (?:ERROR|CRITICAL) \[([^\]]*)\] ([^:]+): (.*)$",
    re.MULTILINE)
LAST_ERRORS = 10
ANOMALY_RATE_WARNING = 0.2
REJECTED_SHARE_WARNING = 0.05
ERROR_SHARE_ALERT = 0.01
PRECISION_WARNING = 0.5
MIN_FEEDBACK_FOR_PRECISION = 5
log = logging.getLogger("vigie.monitoring")


# --- day files and their cached summaries -------------------------------------------------

def day_files(directory, pattern):
    """{day: path} of the files in `directory` whose name matches `pattern`."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    return {m.group(1): os.path.join(directory, name)
            for name in names if (m := pattern.match(name))}


def merge_counts(into, extra):
    """Add the counts of `extra` ({key: int}) to `into`."""
    for key, value in extra.items():
        into[key] = into.get(key, 0) + value


def read_new_bytes(path, offset):
    """(header columns, complete lines after `offset`, new offset); a partly written last line
    is left for the next read."""
    with open(path, "rb") as handle:
        header = handle.readline()
        start = max(offset, len(header))
        handle.seek(start)
        data = handle.read()
    end = data.rfind(b"\n") + 1
    columns = header.decode("utf-8-sig").strip().split(",")
    return columns, data[:end], start + end


def parse_lines(columns, data, wanted, numeric=()):
    """The wanted columns of CSV lines, as text except `numeric` ones when they all parse
    (missing columns come back empty)."""
    present = [c for c in wanted if c in columns]
    options = {"header": None, "names": columns, "usecols": present,
               "keep_default_na": False, "na_filter": False}
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype={c: (float if c in numeric else str)
                                                     for c in present}, **options)
    except ValueError:  # a damaged number somewhere: read text, the caller coerces
        frame = pd.read_csv(io.BytesIO(data), dtype=str, **options)
    for column in wanted:
        if column not in frame.columns:
            frame[column] = ""
    return frame


class SummaryCache:
    """Day summaries on disk (shared by every worker) and in this process's memory."""

    def __init__(self, cache_dir):
        self.cache_dir = cache_dir
        self.memory = {}

    def summary(self, kind, path, summarise, merge):
        """The summary of `path`, recomputed only for the bytes it gained since last time."""
        stat = os.stat(path)
        key = (stat.st_size, stat.st_mtime_ns)
        held = self.memory.get(path)
        if held and held["source"] == list(key):
            return held
        cache_path = os.path.join(self.cache_dir, f"{kind}-{os.path.basename(path)}.json")
        cached = held or self._load(cache_path)
        if cached and cached["source"] == list(key):
            self.remember(path, cached)
            return cached
        if not cached or cached["offset"] > stat.st_size:
            cached = {"format": CACHE_FORMAT, "offset": 0, "summary": {}}
        columns, data, offset = read_new_bytes(path, cached["offset"])
        if data:
            merge(cached["summary"], summarise(columns, data, cached["summary"]))
        cached.update(offset=offset, source=list(key) if offset == stat.st_size else None)
        self._store(cache_path, cached)
        self.remember(path, cached)
        return cached

    def remember(self, path, cached):
        """Keep a summary in memory; the oldest kept go first beyond MEMORY_DAYS files."""
        self.memory.pop(path, None)
        self.memory[path] = cached
        while len(self.memory) > MEMORY_DAYS:
            self.memory.pop(next(iter(self.memory)))

    def _load(self, cache_path):
        try:
            with open(cache_path, encoding="utf-8") as handle:
                cached = json.load(handle)
        except (OSError, ValueError):
            return None
        return cached if cached.get("format") == CACHE_FORMAT else None

    def _store(self, cache_path, cached):
        """Write atomically; a read-only log folder only costs speed, never an answer."""
        try:
            os.makedirs(self.cache_dir, exist_ok=True)
            temporary = f"{cache_path}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(cached, separators=(",", ":")))
            os.replace(temporary, cache_path)
        except OSError as exc:
            log.warning("monitoring cache not written (%s): views will be slower", exc)


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


def sample_inputs(frame, previous):
    """Update each (asset, hour) reservoir of input readings with the rows of `frame`.

    A reservoir is {"count": rows seen, "columns": sensor names, "rows": base64 matrix}; the
    columns are those of the first reading sampled in that hour.
    """
    samples = {}
    inputs = frame["inputs"].to_numpy()
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
    for asset, samples in sample_inputs(frame, previous).items():
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


# --- windows --------------------------------------------------------------------------------

WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}


class QueryError(ValueError):
    """The requested asset or window is not understood; the message says how to write it.

    `code` and `params` let a page say it in the reader's language.
    """

    def __init__(self, message, code, **params):
        super().__init__(message)
        self.code = code
        self.params = params


def resolve_window(name, date_from=None, date_to=None, now=None):
    """(start, end) UTC datetimes, hour-aligned: a named window or whole days from..to."""
    now = now or datetime.now(timezone.utc)
    if name == "dates":
        try:
            start = datetime.strptime(date_from or "", "%Y-%m-%d").replace(tzinfo=timezone.utc)
            end = datetime.strptime(date_to or "", "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            raise QueryError("dates must be written YYYY-MM-DD (for example 2026-03-01)",
                             "bad_dates") from None
        if end < start:
            raise QueryError("the end date is before the start date", "dates_reversed")
        return start, end + timedelta(days=1)
    if name not in WINDOWS:
        raise QueryError(f"unknown window {name!r}: choose one of "
                         f"{', '.join(WINDOWS)} or dates", "unknown_window", name=str(name))
    # the whole hour buckets that cover [now - window, now]
    start = (now - WINDOWS[name]).replace(minute=0, second=0, microsecond=0)
    return start, now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def hours_between(start, end):
    """Every hour bucket start in [start, end)."""
    hours, hour = [], start
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def days_between(start, end):
    """'YYYY-MM-DD' of every day touched by [start, end)."""
    day, days = start.date(), []
    while datetime.combine(day, datetime.min.time(), timezone.utc) < end:
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


# --- the report ---------------------------------------------------------------------------

class MonitoringSources:
    """Where the figures come from: the log folder, the model store, one summary cache."""

    def __init__(self, log_dir, registry, cache=None):
        self.log_dir = log_dir
        self.audit_dir = os.path.join(log_dir, "audit")
        self.registry = registry
        self.cache = cache or SummaryCache(os.path.join(log_dir, "cache"))

    def day_summaries(self, days):
        """[(day, audit summary, rejection summary)] for the days that have files."""
        audits = day_files(self.audit_dir, AUDIT_FILE)
        rejections = day_files(self.log_dir, REJECTION_FILE)
        result = []
        for day in days:
            audit = (self.cache.summary("audit", audits[day], summarise_audit, merge_audit)
                     ["summary"] if day in audits else {})
            rejected = (self.cache.summary("rejections", rejections[day], summarise_rejections,
                                           merge_rejections)["summary"]
                        if day in rejections else {})
            result.append((day, audit, rejected))
        return result


class WindowTotals:
    """Counts of one window, summed from the day summaries hour by hour."""

    def __init__(self, hours):
        self.index = {hour.strftime("%Y-%m-%d %H"): i for i, hour in enumerate(hours)}
        size = len(hours)
        self.size = size
        self.volume = {}
        self.readings = {}
        self.anomalies = {}
        self.latency = np.zeros((size, len(LATENCY_EDGES) - 1), dtype=np.int64)
        self.ratio = np.zeros(len(RATIO_EDGES) - 1, dtype=np.int64)
        self.rejected = {}
        self.rejected_values = {}
        self.samples = {}

    def series(self, table, name):
        """The per-hour list of `name` in `table`, created on first use."""
        return table.setdefault(name, np.zeros(self.size, dtype=np.int64))

    def add_audit(self, day, asset, parts, label):
        """Add one asset's day summary; `label` names model versions (asset-qualified for all)."""
        for kind, table in (("volume", self.volume), ("readings", self.readings),
                            ("anomalies", self.anomalies)):
            for key, count in parts.get(kind, {}).items():
                hour, name = key.split("|", 1)
                slot = self.index.get(f"{day} {int(hour):02d}")
                if slot is not None:
                    self.series(table, name if kind == "volume" else label(name))[slot] += count
        for key, count in parts.get("latency", {}).items():
            hour, position = key.split("|")
            slot = self.index.get(f"{day} {int(hour):02d}")
            if slot is not None:
                self.latency[slot, int(position)] += count
        for key, count in parts.get("ratio", {}).items():
            hour, position = key.split("|")
            if f"{day} {int(hour):02d}" in self.index:
                self.ratio[int(position)] += count
        for hour, sample in parts.get("samples", {}).items():
            if f"{day} {hour}" in self.index and sample["rows"]:
                self.samples.setdefault(label(None), []).append(sample)

    def add_rejections(self, day, parts):
        """Add one asset's rejected readings and values."""
        for key, count in parts.get("rejected", {}).items():
            hour, _channel = key.split("|", 1)
            slot = self.index.get(f"{day} {hour}")
            if slot is not None:
                self.series(self.rejected, "all")[slot] += count
        for key, count in parts.get("values", {}).items():
            hour, field, code = key.split("|", 2)
            if f"{day} {hour}" in self.index:
                entry = self.rejected_values.setdefault(field, {})
                entry[code] = entry.get(code, 0) + count


def histogram_quantile(counts, edges, q):
    """The q-quantile of a histogram, interpolated inside its bin (None when empty)."""
    total = counts.sum()
    if total == 0:
        return None
    cumulative = np.cumsum(counts)
    position = int(np.searchsorted(cumulative, q * total))
    before = cumulative[position - 1] if position else 0
    inside = (q * total - before) / counts[position] if counts[position] else 0
    low, high = edges[position], edges[position + 1]
    return float(low * (high / low) ** inside)  # bins are log-spaced


def totals_for(sources, assets, start, end):
    """WindowTotals of `assets` over [start, end)."""
    hours = hours_between(start, end)
    totals = WindowTotals(hours)
    several = len(assets) > 1
    for day, audit, rejected in sources.day_summaries(days_between(start, end)):
        for asset in assets:
            def label(version, asset=asset):
                if version is None:
                    return asset
                return f"{asset} {version}" if several else version
            if asset in audit:
                totals.add_audit(day, asset, audit[asset], label)
            if asset in rejected:
                totals.add_rejections(day, rejected[asset])
    return hours, totals


def operations_section(hours, totals, errors):
    """Volume by channel, latency percentiles, rejected readings and errors, per hour."""
    latency_all = totals.latency.sum(axis=0)
    error_index = {hour.strftime("%Y-%m-%d %H"): i for i, hour in enumerate(hours)}
    errors_by_hour = [0] * len(hours)
    for entry in errors:
        slot = error_index.get(entry["time"][:13].replace("T", " "))
        if slot is not None:
            errors_by_hour[slot] += 1
    return {
        "predictions_by_channel": {c: s.tolist() for c, s in sorted(totals.volume.items())},
        "predictions": int(sum(s.sum() for s in totals.volume.values())),
        "latency_ms": {
            "p50": histogram_quantile(latency_all, LATENCY_EDGES, 0.5),
            "p95": histogram_quantile(latency_all, LATENCY_EDGES, 0.95),
            "p50_by_hour": [histogram_quantile(r, LATENCY_EDGES, 0.5) for r in totals.latency],
            "p95_by_hour": [histogram_quantile(r, LATENCY_EDGES, 0.95) for r in totals.latency],
        },
        "rejected_readings": int(sum(s.sum() for s in totals.rejected.values())),
        "rejected_by_hour": totals.rejected.get("all", np.zeros(len(hours), int)).tolist(),
        "errors": len(errors), "errors_by_hour": errors_by_hour,
        "last_errors": errors[-LAST_ERRORS:][::-1],
    }


def anomaly_section(totals):
    """Anomaly rate per hour by model version and the score / threshold distribution."""
    by_version = {}
    for version, readings in sorted(totals.readings.items()):
        anomalies = totals.anomalies.get(version, np.zeros_like(readings))
        by_version[version] = [round(float(a) / r, 4) if r else None
                               for a, r in zip(anomalies, readings, strict=True)]
    readings = int(sum(s.sum() for s in totals.readings.values()))
    anomalies = int(sum(s.sum() for s in totals.anomalies.values()))
    return {"readings": readings, "anomalies": anomalies,
            "anomaly_rate": round(anomalies / readings, 4) if readings else None,
            "anomaly_rate_by_version": by_version,
            "score_ratio": {"edges": [float(e) for e in RATIO_EDGES],
                            "counts": totals.ratio.tolist(),
                            "above_threshold": int(totals.ratio[RATIO_EDGES[:-1] >= 1].sum())}}


def sample_matrices(blocks):
    """[(columns, matrix)] of the hourly reservoirs of a window, each decoded once."""
    return [(block["columns"], decode_matrix(block["rows"], block["columns"]),
             block.get("count", 0)) for block in blocks]


def sensor_samples(matrices, sensor):
    """One sensor's sampled values across the hourly reservoirs of a window, with the weight of
    each (the readings of its hour / the readings sampled in that hour)."""
    parts = [(matrix[:, columns.index(sensor)], count / max(len(matrix), 1))
             for columns, matrix, count in matrices if sensor in columns]
    if not parts:
        return np.zeros(0), np.zeros(0)
    return (np.concatenate([values for values, _ in parts]),
            np.concatenate([np.full(len(values), weight) for values, weight in parts]))


def drift_section(sources, assets, totals):
    """Per asset: each sensor's drift against its active version's training statistics."""
    sections = []
    for asset in assets:
        version = sources.registry.active_version(asset)
        stats = sources.registry.manifest(asset, version).get("training_stats", {}) if version \
            else {}
        matrices = sample_matrices(totals.samples.get(asset, []))
        sensors = []
        for sensor, sensor_stats in stats.items():
            sample, weights = sensor_samples(matrices, sensor)
            figures = drift.sensor_drift(sample, sensor_stats, weights)
            figures["outside_training_share"] = drift.outside_training_share(sample, sensor_stats)
            sensors.append({"sensor": sensor, **figures})
        drifted = sum(1 for s in sensors if s["status"] == "drift")
        sections.append({"asset": asset, "version": version, "sensors": sensors,
                         "drifted": drifted, "total": len(sensors),
                         "warnings": sum(1 for s in sensors if s["status"] == "warning"),
                         "sample_size": sum(len(matrix) for _, matrix, _ in matrices),
                         "volume": sum(count for _, _, count in matrices),
                         "minimum": drift.MIN_DRIFT_SAMPLE})
    return sections


def quality_section(operations, anomalies, totals):
    """Share of rejected readings and rejected values by sensor and reason."""
    scored = anomalies["readings"]
    rejected = operations["rejected_readings"]
    seen = scored + rejected
    return {"readings_received": seen, "rejected_readings": rejected,
            "rejected_share": round(rejected / seen, 4) if seen else None,
            "rejected_values_by_sensor": {field: dict(sorted(codes.items())) for field, codes
                                          in sorted(totals.rejected_values.items())}}


# --- application log errors -------------------------------------------------------------------

_LOG_MEMO = {}


def log_errors(log_dir, start, end):
    """ERROR and CRITICAL lines of logs/app.log* inside [start, end), oldest first."""
    entries = []
    for path in sorted(p for p in (os.path.join(log_dir, n) for n in _list(log_dir))
                       if os.path.basename(p).startswith("app.log")):
        entries.extend(e for e in _errors_of(path) if start <= e["at"] < end)
    entries.sort(key=lambda e: e["at"])
    return [{k: v for k, v in e.items() if k != "at"} for e in entries]


def _list(directory):
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


def _errors_of(path):
    """Error lines of one log file, memoised on its size and mtime."""
    stat = os.stat(path)
    key = (stat.st_size, stat.st_mtime_ns)
    held = _LOG_MEMO.get(path)
    if held and held[0] == key:
        return held[1]
    with open(path, "rb") as handle:
        text = handle.read()
    entries = []
    for match in LOG_ERROR_LINE.finditer(text):
        # asctime is the server's local time: convert to UTC like everything else here
        at = datetime.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S").astimezone(
            timezone.utc)
        entries.append({"at": at, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "request_id": match.group(2).decode(errors="replace"),
                        "logger": match.group(3).decode(errors="replace"),
                        "message": match.group(4).decode(errors="replace")[:300]})
    _LOG_MEMO[path] = (key, entries)
    return entries


# --- alarms and feedback --------------------------------------------------------------------

def alarm_record(alarm):
    """One alarm as plain values for the page and the JSON."""
    return {"alarm_id": alarm.alarm_id, "asset": alarm.asset, "opened_at": alarm.opened_at,
            "closed_at": alarm.closed_at, "peak_score": alarm.peak_score,
            "top_sensors": alarm.top_sensors, "model_version": alarm.model_version,
            "duration_seconds": round(alarm.duration_seconds(), 1)}


def alarms_section(log_dir, assets, start, end):
    """Open alarms and the alarms opened inside the window, for the assets shown."""
    begin, finish = start.strftime("%Y-%m-%dT%H:%M:%S"), end.strftime("%Y-%m-%dT%H:%M:%S")
    alarms = [a for a in list_alarms(log_dir) if a.asset in assets]
    return {"available": os.path.exists(alarm_log_path(log_dir)),
            "open": [alarm_record(a) for a in alarms if a.is_open],
            "recent": [alarm_record(a) for a in alarms
                       if begin <= a.opened_at[:19] < finish][:50]}


def precision_section(log_dir, assets):
    """Alarm precision per model version from all feedback so far: confirmed faults over
    confirmed faults plus false alarms ('unsure' is counted but left out of the ratio)."""
    counts = {}
    for row in read_feedback(log_dir):
        if row.get("asset") not in assets:
            continue
        label = row.get("model_version") or "?"
        if len(assets) > 1:
            label = f"{row['asset']} {label}"
        entry = counts.setdefault(label, {"version": label, "confirmed_fault": 0,
                                          "false_alarm": 0, "unsure": 0})
        if row.get("verdict") in ("confirmed_fault", "false_alarm", "unsure"):
            entry[row["verdict"]] += 1
    for entry in counts.values():
        judged = entry["confirmed_fault"] + entry["false_alarm"]
        entry["precision"] = round(entry["confirmed_fault"] / judged, 4) if judged else None
    return [counts[k] for k in sorted(counts)]


# --- status -----------------------------------------------------------------------------------

REASON_TEXTS = {
    "drift": "{asset}: {count} of {total} sensors have drifted since training: consider "
             "retraining",
    "shift": "{asset}: {count} of {total} sensors show a moderate shift from training",
    "errors": "{count} errors in the application log",
    "rejected": "{share:.1%} of the readings received were rejected",
    "anomaly_rate": "anomaly rate {rate:.1%} is above {limit:.0%}",
    "open_alarms": "{count} alarms are open",
    "precision": "alarm precision of {version} is {precision:.0%} by the operators' feedback",
}


def status_reasons(report):
    """[{level: alert|warning, code, params}] from the figures, by the thresholds at the top."""
    reasons = []

    def add(level, code, **params):
        reasons.append({"level": level, "code": code, "params": params})
    for section in report["drift"]:
        if section["drifted"]:
            add("alert", "drift", asset=section["asset"], count=section["drifted"],
                total=section["total"])
        elif section["warnings"]:
            add("warning", "shift", asset=section["asset"], count=section["warnings"],
                total=section["total"])
    operations, model = report["operations"], report["model"]
    if operations["errors"]:
        handled = max(operations["predictions"] + operations["rejected_readings"], 1)
        add("alert" if operations["errors"] / handled > ERROR_SHARE_ALERT else "warning",
            "errors", count=operations["errors"])
    share = report["quality"]["rejected_share"]
    if share is not None and share > REJECTED_SHARE_WARNING:
        add("warning", "rejected", share=share)
    if model["anomaly_rate"] is not None and model["anomaly_rate"] > ANOMALY_RATE_WARNING:
        add("warning", "anomaly_rate", rate=model["anomaly_rate"], limit=ANOMALY_RATE_WARNING)
    if model["alarms"]["open"]:
        add("warning", "open_alarms", count=len(model["alarms"]["open"]))
    for entry in model["precision"]:
        judged = entry["confirmed_fault"] + entry["false_alarm"]
        if judged >= MIN_FEEDBACK_FOR_PRECISION and entry["precision"] < PRECISION_WARNING:
            add("warning", "precision", version=entry["version"], precision=entry["precision"])
    return sorted(reasons, key=lambda r: r["level"] != "alert")


def overall_status(reasons):
    """ok, warning or alert: the worst level among the reasons."""
    levels = {reason["level"] for reason in reasons}
    return "alert" if "alert" in levels else ("warning" if levels else "ok")


def report_for(sources, asset, window, date_from=None, date_to=None, now=None):
    """The report of a request's asset ('' or 'all' for every asset) and window."""
    asset = None if asset in (None, "", "all") else asset
    if asset is not None and asset not in sources.registry.assets():
        raise QueryError(f"unknown asset {asset!r}: choose one of "
                         f"{', '.join(sources.registry.assets()) or 'none yet'} or all",
                         "unknown_asset", asset=str(asset))
    start, end = resolve_window(window or "day", date_from, date_to, now)
    return monitoring_report(sources, asset, start, end)


def monitoring_report(sources, asset=None, start=None, end=None):
    """Every monitoring figure for one asset (or all, when `asset` is None) over [start, end)."""
    assets = [asset] if asset else sources.registry.assets()
    hours, totals = totals_for(sources, assets, start, end)
    operations = operations_section(hours, totals, log_errors(sources.log_dir, start, end))
    model = anomaly_section(totals)
    model["alarms"] = alarms_section(sources.log_dir, assets, start, end)
    model["precision"] = precision_section(sources.log_dir, assets)
    report = {"asset": asset or "all", "assets": assets,
              "window": {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "end": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
              "hours": [hour.strftime("%Y-%m-%dT%H:00Z") for hour in hours],
              "operations": operations, "model": model,
              "drift": drift_section(sources, assets, totals),
              "quality": quality_section(operations, model, totals)}
    details = status_reasons(report)
    report["status"] = overall_status(details)
    report["reasons"] = [REASON_TEXTS[r["code"]].format(**r["params"]) for r in details]
    report["reason_details"] = details
    return report
