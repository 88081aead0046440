"""The trend of an asset: audit rows folded into time buckets, window bounds, alarms, charts."""

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.services.test_alarms import write_alarm
from tests.support.monitoring_fixtures import write_audit_day
from webapp.services.alarms import list_alarms
from webapp.services.audit import asset_rows_since, iter_asset_rows
from webapp.services.monitoring.chart import time_chart, time_ticks
from webapp.services.monitoring.report import QueryError
from webapp.services.monitoring.trend import (MAX_BUCKETS, TREND_WINDOWS, Bucket, alarm_span,
                                              alarm_trend, asset_trend, trend_between,
                                              trend_charts, window_bounds)

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2026, 12, 5, 10, 0, tzinfo=timezone.utc)


def row(at, current, score, *, asset="pump-1", anomaly=False, threshold=6.7):
    return {"timestamp_utc": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "asset": asset,
            "request_id": at.isoformat(), "inputs": json.dumps({"Current": current,
                                                                "Pressure": 1.0}),
            "score": score, "threshold": threshold, "anomaly": anomaly}


def audit(tmp_path, rows):
    folder = tmp_path / "audit"
    for day in sorted({r["timestamp_utc"][:10] for r in rows}):
        write_audit_day(str(folder), day, [r for r in rows if r["timestamp_utc"][:10] == day])
    return str(folder)


def test_each_bucket_keeps_lowest_highest_mean_and_count_of_each_series(tmp_path):
    minute = timedelta(minutes=1)
    folder = audit(tmp_path, [
        row(START, 2.0, 1.0), row(START + minute, 4.0, 9.0, anomaly=True, threshold=7.0),
        row(START + 6 * minute, 3.0, 2.0), row(START, 99.0, 99.0, asset="pump-2")])
    trend = trend_between(folder, str(tmp_path), "pump-1", START, START + 15 * minute,
                          timedelta(minutes=5))
    first, second, third = trend.sensors["Current"]
    assert (first.low, first.high, first.mean, first.count) == (2.0, 4.0, 3.0, 2)
    assert (second.low, second.high, second.count) == (3.0, 3.0, 1) and third is None
    assert trend.score[0].high == 9.0 and trend.score[0].mean == 5.0
    assert trend.anomalies == [1, 0, 0] and trend.thresholds == [7.0, 6.7, None]
    assert trend.readings == 3 and list(trend.sensors) == ["Current", "Pressure"]


def test_rows_outside_the_window_are_left_out_start_included_end_excluded(tmp_path):
    end = START + timedelta(hours=1)
    folder = audit(tmp_path, [row(START - timedelta(milliseconds=1), 1.0, 1.0),
                              row(START, 2.0, 1.0), row(end - timedelta(milliseconds=1), 3.0, 1.0),
                              row(end, 4.0, 1.0), row(end + timedelta(days=1), 5.0, 1.0)])
    trend = trend_between(folder, str(tmp_path), "pump-1", START, end, timedelta(minutes=30))
    assert trend.readings == 2
    assert [b.mean for b in trend.sensors["Current"]] == [2.0, 3.0]
    assert [r["inputs"] for r in iter_asset_rows(folder, "pump-1", START, end)] == [
        json.dumps({"Current": v, "Pressure": 1.0}) for v in (2.0, 3.0)]


def test_the_newest_rows_reader_still_reads_the_whole_day_of_until(tmp_path):
    folder = audit(tmp_path, [row(START + timedelta(hours=h), float(h), 1.0) for h in range(5)])
    rows = asset_rows_since(folder, "pump-1", START, START, limit=3)
    assert [json.loads(r["inputs"])["Current"] for r in rows] == [2.0, 3.0, 4.0]


@pytest.mark.parametrize("name,points", [("6h", 72), ("24h", 96), ("7d", 168)])
def test_a_window_has_a_bounded_number_of_whole_buckets_ending_after_now(name, points):
    now = datetime(2026, 12, 5, 10, 7, 30, tzinfo=timezone.utc)
    start, end, step = window_bounds(name, now)
    assert (end - start) / step == points and end - step <= now < end
    assert end - start == TREND_WINDOWS[name][0]


@pytest.mark.parametrize("asset,window,code", [("pump-1", "1h", "unknown_window"),
                                               ("pump-1", "", "unknown_window"),
                                               ("../etc", "24h", "unknown_asset")])
def test_an_unknown_window_or_asset_is_refused_with_a_code(tmp_path, asset, window, code):
    with pytest.raises(QueryError) as refused:
        asset_trend(str(tmp_path / "audit"), str(tmp_path), asset, window, ["pump-1"])
    assert refused.value.code == code


def test_a_week_of_readings_every_second_is_still_168_points(tmp_path):
    now = START + timedelta(days=7)
    rows = [row(START + timedelta(seconds=s), 2.0 + (s % 7) / 10, 1.0)
            for s in range(0, 7 * 86400, 97)]
    trend = asset_trend(audit(tmp_path, rows), str(tmp_path), "pump-1", "7d", ["pump-1"], now)
    assert len(trend.score) == 168 and trend.readings > 6000
    assert sum(b.count for b in trend.sensors["Current"] if b) == trend.readings


def test_only_the_alarms_that_overlap_the_window_are_marked(tmp_path):
    stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
    write_alarm(tmp_path, "before", "pump-1", stamp(START - timedelta(hours=3)),
                stamp(START - timedelta(hours=2)))
    write_alarm(tmp_path, "during", "pump-1", stamp(START - timedelta(minutes=5)),
                stamp(START + timedelta(minutes=5)))
    write_alarm(tmp_path, "open", "pump-1", stamp(START + timedelta(minutes=50)))
    write_alarm(tmp_path, "other", "pump-2", stamp(START))
    trend = trend_between(audit(tmp_path, [row(START, 2.0, 1.0)]), str(tmp_path), "pump-1",
                          START, START + timedelta(hours=1), timedelta(minutes=5))
    assert sorted(a.alarm_id for a in trend.alarms) == ["during", "open"]


def test_an_alarms_chart_spans_before_its_opening_to_after_its_closing(tmp_path):
    write_alarm(tmp_path, "a1", "pump-1", "2026-12-05T10:00:00.000Z", "2026-12-05T12:00:00.000Z")
    alarm = list_alarms(tmp_path)[0]
    start, end, step = alarm_span(alarm, now=START + timedelta(days=1))
    assert start == START - timedelta(hours=1) and end >= START + timedelta(hours=3)
    assert (end - start) / step <= MAX_BUCKETS
    folder = audit(tmp_path, [row(START, 2.0, 9.0, anomaly=True)])
    trend = alarm_trend(folder, str(tmp_path), alarm, now=START + timedelta(days=1))
    assert list(trend.sensors) == ["Current", "Pressure"]  # the alarm's top sensors only
    alarm.top_sensors.reverse()
    assert list(alarm_trend(folder, str(tmp_path), alarm, now=START + timedelta(days=1))
                .sensors) == ["Pressure", "Current"]


def test_a_short_alarm_gets_ten_minutes_on_each_side():
    write = datetime(2026, 12, 5, 10, 0, 30, tzinfo=timezone.utc)
    alarm = type("A", (), {"opened_at": "2026-12-05T10:00:00.000Z",
                           "closed_at": "2026-12-05T10:00:30.000Z"})()
    start, end, _ = alarm_span(alarm, now=START + timedelta(hours=1))
    assert start == START - timedelta(minutes=10) and end >= write + timedelta(minutes=10)
    start, end, _ = alarm_span(alarm, now=write)  # just closed: nothing after now is read
    assert end - write < timedelta(seconds=5)


def test_a_score_far_above_its_threshold_is_drawn_on_a_log_scale():
    step = timedelta(minutes=5)
    low, high = Bucket(), Bucket()
    low.add(1.0)
    high.add(2281.0)
    chart = time_chart(START, START + 3 * step, step, [low, None, high], PARIS, line="high",
                       thresholds=[6.7, None, 6.7], anomalies=[0, 0, 1])
    assert chart.log and [v for _, v, _, _ in chart.y_ticks] == [0.1, 1, 10, 100, 1000, 10000]
    assert [p for *_, p in chart.y_ticks] == [None, None, None, None, 3, 4]
    assert chart.line.count("M") == 2  # the empty bucket breaks the line
    assert len(chart.lone) == 2  # ...and each lone bucket is drawn as a point
    assert len(chart.dots) == 1 and chart.threshold.count("M") == 1
    near = time_chart(START, START + 3 * step, step, [low, None, low], PARIS, line="high",
                      thresholds=[6.7, None, 6.7])
    assert not near.log and near.y_ticks[0][1] == 0


def test_ticks_fall_on_round_hours_of_the_plants_clock():
    start = datetime(2026, 12, 4, 10, 45, tzinfo=timezone.utc)
    ticks = time_ticks(start, start + timedelta(days=7), PARIS)
    assert len(ticks) == 7
    assert all(t.astimezone(PARIS).hour == 0 and t.astimezone(PARIS).minute == 0 for t in ticks)


def test_every_chart_of_a_trend_fits_the_same_viewbox(tmp_path):
    folder = audit(tmp_path, [row(START + timedelta(minutes=m), 2.0 + m / 100, 1.0)
                              for m in range(60)])
    trend = trend_between(folder, str(tmp_path), "pump-1", START, START + timedelta(hours=1),
                          timedelta(minutes=5))
    charts = trend_charts(trend, PARIS)
    numbers = [float(n) for name, chart, _ in charts["sensors"]
               for n in chart.line.replace("M", " ").replace("L", " ").split()]
    assert numbers and all(0 <= n <= 400 for n in numbers)
    assert len(charts["score"].columns) == 12
    assert charts["score"].x_ticks[0][2] == "start"  # a label at the left edge hangs inside


def test_an_alarm_open_for_a_month_reads_its_last_week_only(tmp_path):
    write_alarm(tmp_path, "long", "pump-1", "2026-11-01T00:00:00.000Z")
    alarm = list_alarms(tmp_path)[0]
    start, end, step = alarm_span(alarm, now=START)
    assert end - start <= timedelta(days=7) + step and START <= end < START + step
    trend = alarm_trend(audit(tmp_path, [row(START, 2.0, 1.0)]), str(tmp_path), alarm, now=START)
    assert trend.clipped and trend.readings == 1


def test_a_row_with_an_unreadable_time_is_left_out(tmp_path):
    bad = row(START, 2.0, 1.0)
    bad["timestamp_utc"] = "2026-12-05T10:00:0x.000Z"
    folder = audit(tmp_path, [bad, row(START, 3.0, 1.0)])
    trend = trend_between(folder, str(tmp_path), "pump-1", START, START + timedelta(hours=1),
                          timedelta(minutes=5))
    assert trend.readings == 1 and trend.sensors["Current"][0].mean == 3.0
