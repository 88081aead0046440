"""The geometry of a time chart drawn as inline SVG: lines, bands, axes, marks, in plain numbers.

A page draws these coordinates in a fixed viewBox that scales with the width of its card
(390 px phones included), so charts need no script and no charting library. Times on the
x axis are placed linearly; the tick marks fall on round times of the plant's clock.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from webapp.services.alarms import parse_utc

WIDTH, HEIGHT = 400, 150
LEFT, RIGHT, TOP, BOTTOM = 50, 8, 10, 22  # the top margin holds the alarm marks
TICK_SECONDS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600,
                12 * 3600, 86400, 2 * 86400)
MAX_X_TICKS = 7
LOG_ABOVE = 10  # a score beyond ten times the threshold switches the score chart to a log scale


@dataclass
class Chart:
    """Coordinates in the WIDTH x HEIGHT viewBox; values already placed on the chosen scale."""

    line: str = ""  # SVG path of the line (broken where a bucket holds no reading)
    band: str = ""  # SVG path of the lowest-highest band
    threshold: str = ""  # SVG path of the threshold (score chart)
    dots: list = field(default_factory=list)  # [(x, y)] buckets holding a flagged reading
    lone: list = field(default_factory=list)  # [(x, y)] buckets with no neighbour: a line
    # cannot show them, a point does
    y_ticks: list = field(default_factory=list)  # [(y, value, decimals, power of ten or None)]
    x_ticks: list = field(default_factory=list)  # [(x, aware datetime, text-anchor)]
    columns: list = field(default_factory=list)  # [(x, width, bucket index)] hover areas
    spans: list = field(default_factory=list)  # [(x, width, alarm)] alarm marks
    log: bool = False
    empty: bool = True
    tick_format: str = "time"  # "seconds", "time" or "day": how the page writes the x ticks


class Scale:
    """Values to y coordinates, linear or logarithmic, with round tick values."""

    def __init__(self, low, high, log=False):
        self.log = log
        if log:
            low, high = math.log10(max(low, 1e-9)), math.log10(max(high, 1e-9))
        if high - low < 1e-12:
            low, high = low - 1, high + 1
        if not log:
            step = nice_step((high - low) / 3)
            low, high = math.floor(low / step) * step, math.ceil(high / step) * step
            self.ticks = [low + i * step for i in range(round((high - low) / step) + 1)]
            decimals = max(0, -math.floor(math.log10(step)))
            self.labels = [(round(v, decimals), decimals, None) for v in self.ticks]
        else:
            low, high = math.floor(low), math.ceil(high)
            self.ticks = [10.0 ** p for p in range(int(low), int(high) + 1)]
            # 0.1, 1, 10, 100, then 10³, 10⁴...: a power of ten stays short beside the axis
            self.labels = [(round(10.0 ** p, max(0, -p)), max(0, -p), p if p >= 3 else None)
                           for p in range(int(low), int(high) + 1)]
        self.low, self.high = low, high

    def y(self, value):
        value = math.log10(max(value, 1e-9)) if self.log else value
        share = (self.high - value) / (self.high - self.low)
        return round(TOP + (HEIGHT - TOP - BOTTOM) * share, 1)


def nice_step(raw):
    """1, 2 or 5 times a power of ten, the first at least `raw`."""
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))


def time_chart(start, end, step, buckets, tz, *, line="mean", thresholds=None, anomalies=None,
               alarms=()):
    """The chart of one series of buckets (None where empty) over [start, end)."""
    chart = Chart()
    filled = [b for b in buckets if b is not None]
    x = _x_axis(start, end)
    chart.x_ticks = [(round(x(t), 1), t, _anchor(x(t))) for t in time_ticks(start, end, tz)]
    every = tick_seconds(start, end)
    chart.tick_format = "seconds" if every < 60 else "day" if every >= 86400 else "time"
    chart.columns = [(round(x(start + i * step), 1),
                      round(x(start + (i + 1) * step) - x(start + i * step), 2), i)
                     for i, b in enumerate(buckets) if b is not None]
    chart.spans = [_span(x, start, end, alarm) for alarm in alarms]
    if not filled:
        return chart
    chart.empty = False
    low, high = min(b.low for b in filled), max(b.high for b in filled)
    limits = [t for t in (thresholds or []) if t is not None]
    if limits:  # the score: from zero (or the lowest tenth of the threshold on a log scale)
        high = max(high, max(limits))
        chart.log = low > 0 and high > LOG_ABOVE * min(limits)
        low = min(low, min(limits) / 10) if chart.log else min(low, 0.0)
    scale = Scale(low, high, chart.log)
    chart.y_ticks = [(scale.y(v), *label) for v, label in zip(scale.ticks, scale.labels,
                                                               strict=True)]
    middle = [round(x(start + (i + 0.5) * step), 1) for i in range(len(buckets))]
    value = (lambda b: b.high) if line == "high" else (lambda b: b.mean)
    chart.line = _path([(middle[i], scale.y(value(b))) if b else None
                        for i, b in enumerate(buckets)])
    chart.lone = [(middle[i], scale.y(value(b))) for i, b in enumerate(buckets)
                  if b and (i == 0 or not buckets[i - 1])
                  and (i == len(buckets) - 1 or not buckets[i + 1])]
    chart.band = _band([(middle[i], scale.y(b.low), scale.y(b.high)) if b else None
                        for i, b in enumerate(buckets)])
    if thresholds:
        chart.threshold = _steps(x, start, step, thresholds, scale)
    if anomalies:
        chart.dots = [(middle[i], scale.y(buckets[i].high)) for i, n in enumerate(anomalies)
                      if n and buckets[i] is not None]
    return chart


def time_ticks(start, end, tz):
    """Round times of the plant's clock between start and end, at most MAX_X_TICKS."""
    every = tick_seconds(start, end)
    local = start.astimezone(tz)
    midnight = datetime(local.year, local.month, local.day, tzinfo=tz)
    since = (local.replace(tzinfo=None) - midnight.replace(tzinfo=None)).total_seconds()
    tick = midnight.replace(tzinfo=None) + timedelta(seconds=math.ceil(since / every) * every)
    ticks = []
    while True:
        moment = tick.replace(tzinfo=tz).astimezone(timezone.utc)
        if moment >= end:
            return ticks
        if moment >= start:
            ticks.append(moment)
        tick += timedelta(seconds=every)


def tick_seconds(start, end):
    """Seconds between two x ticks: the first round interval giving at most MAX_X_TICKS."""
    span = (end - start).total_seconds()
    return next((s for s in TICK_SECONDS if span / s <= MAX_X_TICKS), TICK_SECONDS[-1])


def _anchor(x):
    """Where a tick's label hangs: inside the chart near its edges, centred elsewhere."""
    return "end" if x > WIDTH - RIGHT - 16 else "start" if x < LEFT + 16 else "middle"


def _x_axis(start, end):
    seconds = (end - start).total_seconds()
    return lambda t: LEFT + (WIDTH - LEFT - RIGHT) * (t - start).total_seconds() / seconds


def _span(x, start, end, alarm):
    opened = max(parse_utc(alarm.opened_at), start)
    closed = min(parse_utc(alarm.closed_at) if alarm.closed_at else end, end)
    left = round(x(opened), 1)
    return left, max(1.5, round(x(closed) - left, 1)), alarm


def _path(points):
    parts, pen_down = [], False
    for point in points:
        if point is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{point[0]} {point[1]}")
        pen_down = True
    return " ".join(parts)


def _band(points):
    runs, run = [], []
    for point in points + [None]:
        if point is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append(point)
    shapes = []
    for run in runs:
        if len(run) == 1:  # a lone bucket: a thin vertical bar from its lowest to its highest
            x, low, high = run[0]
            run = [(x - 1, low, high), (x + 1, low, high)]
        top = " L".join(f"{x} {high}" for x, _, high in run)
        bottom = " L".join(f"{x} {low}" for x, low, _ in reversed(run))
        shapes.append(f"M{top} L{bottom} Z")
    return " ".join(shapes)


def _steps(x, start, step, thresholds, scale):
    """The threshold as flat segments, one per run of buckets judged against the same value."""
    runs, last = [], None  # [value, first bucket, bucket after the last]
    for i, value in enumerate(thresholds):
        if value is None:
            continue
        if runs and value == last:
            runs[-1][2] = i + 1
        else:
            runs.append([value, i, i + 1])
        last = value
    return " ".join(f"M{round(x(start + first * step), 1)} {scale.y(value)} "
                    f"L{round(x(start + after * step), 1)} {scale.y(value)}"
                    for value, first, after in runs)
