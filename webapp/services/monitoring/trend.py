"""An asset's trend: each sensor and the anomaly score over a time window, bucket by bucket.

The audit rows of the window are folded one at a time into fixed time buckets (never held in
memory), so a week of one-reading-a-second stream costs the same memory as six hours: each
bucket keeps, per sensor and for the score, the lowest, the highest, the sum and the count.
A page draws the mean of each bucket as a line and the lowest-highest range as a band; for
the score the line is the highest score of the bucket, so that a short spike is never
averaged away. The threshold of a bucket is the one its last reading was judged against.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import orjson

from features.schema import SENSOR_COLUMNS
from webapp.services.alarms import list_alarms, parse_utc
from webapp.services.audit import iter_asset_rows
from webapp.services.monitoring.chart import time_chart
from webapp.services.monitoring.report import QueryError

# window name -> (length, bucket): 72, 96 and 168 points, whatever the readings' volume.
TREND_WINDOWS = {"6h": (timedelta(hours=6), timedelta(minutes=5)),
                 "24h": (timedelta(hours=24), timedelta(minutes=15)),
                 "7d": (timedelta(days=7), timedelta(hours=1))}
DEFAULT_WINDOW = "24h"
MAX_BUCKETS = 180  # an alarm's chart spans any length; it is cut in at most this many buckets
MAX_ALARM_SPAN = timedelta(days=7)  # what an alarm's page reads at most (a week of audit)


@dataclass(slots=True)
class Bucket:
    """Lowest, highest, sum and count of one series in one time bucket."""

    low: float = math.inf
    high: float = -math.inf
    total: float = 0.0
    count: int = 0

    def add(self, value):
        self.low, self.high = min(self.low, value), max(self.high, value)
        self.total += value
        self.count += 1

    @property
    def mean(self):
        return self.total / self.count


@dataclass
class Trend:
    """The buckets of one asset over [start, end): per sensor, the score and the verdicts."""

    asset: str
    start: datetime
    end: datetime
    step: timedelta
    sensors: dict = field(default_factory=dict)  # sensor -> [Bucket or None]
    score: list = field(default_factory=list)  # [Bucket or None]
    thresholds: list = field(default_factory=list)  # [float or None]
    anomalies: list = field(default_factory=list)  # [int]
    readings: int = 0
    alarms: list = field(default_factory=list)
    clipped: bool = False  # an alarm longer than MAX_ALARM_SPAN: only its last part is drawn


def window_bounds(name, now=None):
    """(start, end, step) of a named window: whole buckets, the last one holding `now`."""
    if name not in TREND_WINDOWS:
        raise QueryError(f"unknown window {name!r}: choose one of {', '.join(TREND_WINDOWS)}",
                         "unknown_window", name=str(name))
    length, step = TREND_WINDOWS[name]
    now = now or datetime.now(timezone.utc)
    epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
    end = epoch + ((now - epoch) // step + 1) * step
    return end - length, end, step


def asset_trend(audit, logs, asset, window, assets, now=None):
    """The trend of `asset` (one of `assets`) over the named window; QueryError if unclear."""
    if asset not in assets:
        raise QueryError(f"unknown asset {asset!r}", "unknown_asset", asset=str(asset))
    start, end, step = window_bounds(window, now)
    return trend_between(audit, logs, asset, start, end, step)


def alarm_span(alarm, now=None):
    """(start, end, step) around an alarm: from before it opened to after it closed (or now),
    a margin of half its length on each side (at least ten minutes, never past now), in at most
    MAX_BUCKETS; at most MAX_ALARM_SPAN, the last part of a longer alarm."""
    now = now or datetime.now(timezone.utc)
    opened = parse_utc(alarm.opened_at)
    closed = parse_utc(alarm.closed_at) if alarm.closed_at else now
    margin = max((closed - opened) / 2, timedelta(minutes=10))
    end = max(min(closed + margin, now + timedelta(seconds=1)), closed)  # nothing after now
    start = max(opened - margin, end - MAX_ALARM_SPAN)
    seconds = max(1, math.ceil((end - start).total_seconds() / MAX_BUCKETS))
    start = start.replace(microsecond=0)
    step = timedelta(seconds=seconds)
    return start, start + math.ceil((end - start) / step) * step, step


def trend_between(audit, logs, asset, start, end, step, sensors=None):
    """Fold the asset's audit rows of [start, end) into buckets of `step`; `sensors` limits
    the sensors kept, in its order (all the readings' sensors by default, in schema order)."""
    count = math.ceil((end - start) / step)
    trend = Trend(asset, start, end, step, score=[None] * count, thresholds=[None] * count,
                  anomalies=[0] * count)
    for row in iter_asset_rows(audit, asset, start, end):
        try:
            moment = parse_utc(str(row.get("timestamp_utc", "")))
        except ValueError:  # not a timestamp: the row cannot be placed in time
            continue
        index = min(count - 1, max(0, int((moment - start) / step)))
        trend.readings += 1
        _fold_reading(trend, index, row, sensors)
    order = {name: i for i, name in enumerate(sensors or SENSOR_COLUMNS)}
    trend.sensors = {name: trend.sensors[name]
                     for name in sorted(trend.sensors, key=lambda n: (order.get(n, len(order)), n))}
    trend.alarms = [a for a in list_alarms(logs, asset, limit=10**6)
                    if a.opened_at < _stamp(end)
                    and (not a.closed_at or a.closed_at >= _stamp(start))]
    return trend


def alarm_trend(audit, logs, alarm, now=None, sensors=3):
    """The trend around an alarm: its score and its `sensors` top sensors (all when it names
    none), from before it opened to after it closed."""
    start, end, step = alarm_span(alarm, now)
    chosen = alarm.top_sensors[:sensors] or None
    trend = trend_between(audit, logs, alarm.asset, start, end, step, chosen)
    trend.clipped = start > parse_utc(alarm.opened_at)
    return trend


def trend_charts(trend, tz):
    """The charts of a trend: {'score': Chart, 'sensors': [(sensor, Chart, buckets)]}."""
    common = (trend.start, trend.end, trend.step)
    score = time_chart(*common, trend.score, tz, line="high", thresholds=trend.thresholds,
                       anomalies=trend.anomalies, alarms=trend.alarms)
    return {"score": score,
            "sensors": [(name, time_chart(*common, buckets, tz, alarms=trend.alarms), buckets)
                        for name, buckets in trend.sensors.items()]}


def _fold_reading(trend, index, row, sensors):
    score = _number(row.get("score"))
    if score is not None:
        _add(trend.score, index, score)
    threshold = _number(row.get("threshold"))
    if threshold is not None:
        trend.thresholds[index] = threshold
    if str(row.get("anomaly", "")).strip().lower() in ("true", "1"):
        trend.anomalies[index] += 1
    inputs = row.get("inputs") or "{}"
    try:
        values = orjson.loads(inputs) if isinstance(inputs, str) else dict(inputs)
    except orjson.JSONDecodeError:
        return
    for name, value in values.items():
        if type(value) is not float or not math.isfinite(value):  # JSON numbers are floats
            value = _number(value)
            if value is None:
                continue
        if sensors is not None and name not in sensors:
            continue
        series = trend.sensors.get(name)
        if series is None:
            series = trend.sensors[name] = [None] * len(trend.score)
        _add(series, index, value)


def _add(series, index, value):
    """Bucket.add, inlined: the fold runs it once per sensor and reading (a week of one
    reading a second is 5 million calls)."""
    bucket = series[index]
    if bucket is None:
        series[index] = Bucket(value, value, value, 1)
        return
    if value < bucket.low:
        bucket.low = value
    elif value > bucket.high:
        bucket.high = value
    bucket.total += value
    bucket.count += 1


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _stamp(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
