"""Monitoring figures from the audit, rejection, log, alarm and feedback files, cached per day.

Each day file is summarised once into counts per asset and UTC hour (volume by channel,
verdicts by model version, latency and score/threshold histograms, rejected values) plus a
bounded reservoir sample of input readings per hour for drift. Summaries are kept as JSON
under LOG_DIR/cache/ with the byte offset they cover and the file's size and mtime: a view
re-reads nothing for an unchanged file and only the appended bytes for a grown one (today).
"""

import logging
import os
from datetime import datetime, timedelta, timezone

import numpy as np

from webapp.services.alarms import alarm_log, list_alarms
from webapp.services.audit import day_files as audit_day_files
from webapp.services.feedback import read_feedback
from webapp.services.monitoring import drift
from webapp.services.monitoring.app_log import LAST_ERRORS, log_errors
from webapp.services.monitoring.calibration import calibration_section
from webapp.services.monitoring.database_days import DatabaseDaySummaries
from webapp.services.monitoring.daycache import SummaryCache
from webapp.services.monitoring.rejection_days import RejectionDays
from webapp.services.monitoring.summaries import (LATENCY_EDGES, RATIO_EDGES, decode_matrix,
                                                  merge_audit, summarise_audit)
from webapp.services.record_log import logs_at

ANOMALY_RATE_WARNING = 0.2
REJECTED_SHARE_WARNING = 0.05
ERROR_SHARE_ALERT = 0.01
PRECISION_WARNING = 0.5
MIN_FEEDBACK_FOR_PRECISION = 5
log = logging.getLogger("vigie.monitoring")


# --- windows --------------------------------------------------------------------------------

WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}
# Longest dates window: the answer grows with its hours (1970-2026 took 12.8 s and 16.7 MB of
# JSON; 0001-9999 overflowed), so a quarter is the most one request may ask for.
MAX_WINDOW_DAYS = 92


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
        if (end - start).days + 1 > MAX_WINDOW_DAYS:
            raise QueryError(f"a window is at most {MAX_WINDOW_DAYS} days: ask for a shorter "
                             "one, or several", "window_too_long", days=MAX_WINDOW_DAYS)
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

    def __init__(self, log_dir, registry, cache=None, audit_store=None, logs=None):
        self.log_dir = log_dir
        self.audit_dir = os.path.join(log_dir, "audit")
        self.registry = registry
        self.cache = cache or SummaryCache(os.path.join(log_dir, "cache"))
        # Rejections, alarms and feedback: the folder's CSV files, or the shared tables.
        self.logs = logs_at(logs or log_dir)
        self.rejections = RejectionDays(self.logs, self.cache)
        # The shared audit table of several hosts, when it is the store (else the day files).
        self.audit_days = DatabaseDaySummaries(audit_store) if audit_store else None

    def audit_summary(self, day, audits):
        """The audit summary of one day ({} when nothing was audited that day)."""
        if self.audit_days is not None:
            return self.audit_days.summary(day)
        if day not in audits:
            return {}
        return self.cache.summary("audit", audits[day], summarise_audit, merge_audit)["summary"]

    def day_summaries(self, days):
        """[(day, audit summary, rejection summary)] for the days that have files."""
        audits = {} if self.audit_days is not None else audit_day_files(self.audit_dir)
        return [(day, self.audit_summary(day, audits), self.rejections.summary(day))
                for day in days]


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
        stats = (sources.registry.manifest(asset, version) if version else {}).get(
            "training_stats", {})
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


# --- alarms and feedback --------------------------------------------------------------------

def alarm_record(alarm):
    """One alarm as plain values for the page and the JSON."""
    return {"alarm_id": alarm.alarm_id, "asset": alarm.asset, "opened_at": alarm.opened_at,
            "closed_at": alarm.closed_at, "peak_score": alarm.peak_score,
            "top_sensors": alarm.top_sensors, "model_version": alarm.model_version,
            "duration_seconds": round(alarm.duration_seconds(), 1)}


def alarms_section(logs, assets, start, end):
    """Open alarms and the alarms opened inside the window, for the assets shown."""
    begin, finish = start.strftime("%Y-%m-%dT%H:%M:%S"), end.strftime("%Y-%m-%dT%H:%M:%S")
    alarms = [a for a in list_alarms(logs) if a.asset in assets]
    return {"available": alarm_log(logs).marker() is not None,
            "open": [alarm_record(a) for a in alarms if a.is_open],
            "recent": [alarm_record(a) for a in alarms
                       if begin <= a.opened_at[:19] < finish][:50]}


def precision_section(logs, assets):
    """Alarm precision per model version from all feedback so far: confirmed faults over
    confirmed faults plus false alarms ('unsure' is counted but left out of the ratio)."""
    counts = {}
    for row in read_feedback(logs):
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
    "calibration": "{asset}: {share:.0%} of the readings lie far outside the calibration data",
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
    for section in report["calibration"]:
        if section["out_of_calibration"]:
            add("warning", "calibration", asset=section["asset"], share=section["share_outside"])
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


def report_from_args(sources, args):
    """The report of the asset and window named in query arguments (any mapping with .get:
    asset, window, from, to), for the page and the API alike; QueryError if unclear."""
    return report_for(sources, args.get("asset"), args.get("window", "day"), args.get("from"),
                      args.get("to"))


def monitoring_report(sources, asset=None, start=None, end=None):
    """Every monitoring figure for one asset (or all, when `asset` is None) over [start, end)."""
    assets = [asset] if asset else sources.registry.assets()
    hours, totals = totals_for(sources, assets, start, end)
    operations = operations_section(hours, totals, log_errors(sources.log_dir, start, end))
    model = anomaly_section(totals)
    model["alarms"] = alarms_section(sources.logs, assets, start, end)
    model["precision"] = precision_section(sources.logs, assets)
    report = {"asset": asset or "all", "assets": assets,
              "window": {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "end": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
              "hours": [hour.strftime("%Y-%m-%dT%H:00Z") for hour in hours],
              "operations": operations, "model": model,
              "drift": drift_section(sources, assets, totals),
              "calibration": calibration_section(sources.registry, assets, totals.samples),
              "quality": quality_section(operations, model, totals)}
    details = status_reasons(report)
    report["status"] = overall_status(details)
    report["reasons"] = [REASON_TEXTS[r["code"]].format(**r["params"]) for r in details]
    report["reason_details"] = details
    return report
