"""Monitoring figures without Flask: drift statistics, day summaries and their cache, status."""

import json
import os
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from features.validation import FieldError
from tests.conftest import NORMAL_CSV
from tests.support.monitoring_fixtures import (normal_pool, synthetic_rows, write_audit_day,
                                               write_history)
from webapp.services.alarms import AlarmLog
from webapp.services.feedback import record_feedback
from webapp.services.monitoring import drift
from webapp.services.monitoring.daycache import SummaryCache
from webapp.services.monitoring.report import (MonitoringSources, QueryError, monitoring_report,
                                               report_for, resolve_window)
from webapp.services.registry import ModelRegistry
from webapp.services.rejections import record_rejections

NOW = datetime(2026, 3, 20, 15, 30, tzinfo=timezone.utc)


def training_stats(values):
    """Statistics as training.sensor_statistics writes them, for a plain array."""
    counts, edges = np.histogram(values, bins=20)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)),
            "min": float(values.min()), "max": float(values.max()),
            "quantiles": {str(q): float(np.quantile(values, q))
                          for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)},
            "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
            "cdf_quantiles": np.quantile(values, np.linspace(0, 1, 101)).tolist(),
            "count": len(values)}


@pytest.fixture(scope="module")
def normal_stats():
    return training_stats(np.random.default_rng(7).normal(10.0, 2.0, 5000))


@pytest.mark.parametrize("seed", range(5))
def test_an_unchanged_sensor_is_stable(normal_stats, seed):
    recent = np.random.default_rng(100 + seed).normal(10.0, 2.0, 2400)
    result = drift.sensor_drift(recent, normal_stats)
    assert result["status"] == "stable"
    assert result["psi"] < drift.PSI_WARNING


@pytest.mark.parametrize("shift, expected", [(0.5, "drift"), (1.0, "drift"), (-2.0, "drift")])
def test_a_shifted_sensor_is_flagged(normal_stats, shift, expected):
    recent = np.random.default_rng(3).normal(10.0 + shift * 2.0, 2.0, 2400)
    result = drift.sensor_drift(recent, normal_stats)
    assert result["status"] == expected
    assert result["psi"] >= drift.PSI_DRIFT and result["ks_p_value"] < drift.KS_P_VALUE


def test_a_wider_spread_is_seen_by_both_measures(normal_stats):
    recent = np.random.default_rng(4).normal(10.0, 4.0, 2400)
    result = drift.sensor_drift(recent, normal_stats)
    assert result["status"] in ("warning", "drift")
    assert result["ks_p_value"] < drift.KS_P_VALUE


def test_few_readings_are_not_judged(normal_stats):
    result = drift.sensor_drift(np.full(10, 50.0), normal_stats)
    assert result["status"] == "insufficient"


def test_a_discrete_sensor_resampled_from_training_is_stable():
    levels = np.random.default_rng(5).choice([-0.6, 0.05, 0.38, 0.71], 400, p=[.1, .6, .25, .05])
    recent = np.random.default_rng(6).choice(levels, 2400)
    assert drift.sensor_drift(recent, training_stats(levels))["status"] == "stable"


def test_older_manifests_without_the_quantile_grid_still_work(normal_stats):
    older = {k: v for k, v in normal_stats.items() if k not in ("cdf_quantiles", "count")}
    shifted = drift.sensor_drift(np.random.default_rng(8).normal(13, 2, 2400), older)
    same = drift.sensor_drift(np.random.default_rng(9).normal(10, 2, 2400), older)
    assert shifted["status"] == "drift"
    assert same["status"] in ("stable", "warning")


def test_psi_of_identical_histograms_is_zero():
    assert drift.population_stability_index([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)


@pytest.fixture
def sources(paths):
    log_dir = paths["LOG_DIR"]
    os.makedirs(log_dir, exist_ok=True)
    return MonitoringSources(log_dir, ModelRegistry(paths["MODEL_STORE"]))


@pytest.fixture
def both_sources(paths, record_logs):
    """The audit in day files; rejections, alarms and feedback in files or in the tables."""
    os.makedirs(paths["LOG_DIR"], exist_ok=True)
    return MonitoringSources(paths["LOG_DIR"], ModelRegistry(paths["MODEL_STORE"]),
                             logs=record_logs)


@pytest.fixture(scope="module")
def pool():
    return normal_pool(NORMAL_CSV)


def threshold_of(sources):
    return sources.registry.manifest("pump-1", "v1")["threshold"]


def write_days(sources, pool, days=3, rows=600, end_day=None, **options):
    return write_history(sources.audit_dir, pool, threshold_of(sources), days=days,
                         rows_per_day=rows, end_day=end_day or NOW.date(), **options)


def today_report(sources):
    """The report of NOW's whole day, so that every synthetic row of the day counts."""
    return report_for(sources, "pump-1", "dates", "2026-03-20", "2026-03-20")


def test_report_on_a_synthetic_history(sources, pool):
    write_days(sources, pool, end_day=NOW.date() - timedelta(days=1),
               shift={"Current": 3.0, "Pressure": 3.0})
    report = report_for(sources, "pump-1", "7d", now=NOW)
    assert report["model"]["readings"] == 1800
    assert report["operations"]["predictions"] == 1800
    assert set(report["operations"]["predictions_by_channel"]) == {"form", "batch", "api", "stream"}
    assert 0.02 < report["model"]["anomaly_rate"] < 0.09
    assert 0.5 <= report["operations"]["latency_ms"]["p50"] <= 8.0
    drifted = {s["sensor"] for s in report["drift"][0]["sensors"] if s["status"] == "drift"}
    assert drifted == {"Current", "Pressure"}
    assert report["status"] == "alert"
    assert report["reasons"][0] == ("pump-1: 2 of 8 sensors have drifted since training: "
                                    "consider retraining")
    json.dumps(report)  # the API returns it as is


def test_an_unshifted_history_is_ok(sources, pool):
    write_days(sources, pool, end_day=NOW.date() - timedelta(days=1))
    report = report_for(sources, None, "30d", now=NOW)
    assert [s["status"] for s in report["drift"][0]["sensors"]] == ["stable"] * 8
    assert report["status"] == "ok" and report["reasons"] == []


def test_window_bounds_the_figures(sources, pool):
    write_days(sources, pool, days=3, rows=240)
    start, end = resolve_window("dates", "2026-03-19", "2026-03-19")
    report = monitoring_report(sources, "pump-1", start, end)
    assert report["model"]["readings"] == 240
    assert len(report["hours"]) == 24
    hour = report_for(sources, "pump-1", "hour", now=NOW)
    assert hour["hours"][0] == "2026-03-20T14:00Z" and len(hour["hours"]) == 2


@pytest.mark.parametrize("window, date_from, date_to", [
    ("fortnight", None, None), ("dates", "2026-13-01", "2026-12-31"),
    ("dates", "2026-03-10", "2026-03-01")])
def test_bad_windows_say_how_to_write_them(window, date_from, date_to):
    with pytest.raises(QueryError):
        resolve_window(window, date_from, date_to)


def test_unknown_asset_is_refused(sources):
    with pytest.raises(QueryError, match="unknown asset"):
        report_for(sources, "pump-9", "day")


def test_empty_history_gives_empty_figures(sources):
    report = report_for(sources, None, "day", now=NOW)
    assert report["model"]["readings"] == 0 and report["model"]["anomaly_rate"] is None
    assert report["drift"][0]["sensors"][0]["status"] == "insufficient"
    assert report["status"] == "ok"


def test_cache_is_reused_then_extended_when_the_file_grows(sources, pool):
    path = write_days(sources, pool, days=1, rows=500)[0]
    first = today_report(sources)
    cache_file = os.path.join(sources.log_dir, "cache", "audit-" + os.path.basename(path) + ".json")
    assert json.load(open(cache_file))["offset"] == os.path.getsize(path)
    fresh = MonitoringSources(sources.log_dir, sources.registry)  # another worker
    assert today_report(fresh)["model"] == first["model"]
    rng = np.random.default_rng(1)
    write_audit_day(sources.audit_dir, NOW.date().isoformat(),
                    synthetic_rows(NOW.date().isoformat(), 100, pool, threshold_of(sources), rng))
    grown = today_report(sources)
    assert grown["model"]["readings"] == 600
    rebuilt = MonitoringSources(sources.log_dir, sources.registry,
                                SummaryCache(os.path.join(sources.log_dir, "other-cache")))
    assert today_report(rebuilt)["model"] == grown["model"]
    assert today_report(rebuilt)["operations"] == grown["operations"]


def test_a_replaced_shorter_file_is_recomputed(sources, pool):
    path = write_days(sources, pool, days=1, rows=500)[0]
    today_report(sources)
    os.remove(path)
    write_days(sources, pool, days=1, rows=50)
    assert today_report(sources)["model"]["readings"] == 50


def test_rejections_are_counted_by_sensor(both_sources, pool, monkeypatch):
    sources = both_sources
    write_days(sources, pool, days=1, rows=90)
    errors = [FieldError(1, "Pressure", "out_of_range", "too high", {}),
              FieldError(1, "Current", "missing", "required", {}),
              FieldError(2, "Pressure", "out_of_range", "too high", {})]
    monkeypatch.setattr("webapp.services.rejections.utc_now_iso",
                        lambda: "2026-03-20T12:00:00.000Z")
    assert record_rejections(sources.logs, "batch", "operator", "pump-1", errors, "r1") == 3
    report = today_report(sources)
    quality = report["quality"]
    assert quality["rejected_readings"] == 2 and quality["readings_received"] == 92
    assert quality["rejected_values_by_sensor"] == {"Current": {"missing": 1},
                                                    "Pressure": {"out_of_range": 2}}
    assert report["operations"]["rejected_by_hour"][12] == 2


def test_errors_come_from_the_application_log(sources):
    local = (NOW - timedelta(minutes=10)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    with open(os.path.join(sources.log_dir, "app.log"), "w") as handle:
        handle.write(f"{local},123 INFO [-] vigie: started\n"
                     f"{local},456 ERROR [abc123] vigie.errors: unhandled error on GET /x\n"
                     "Traceback (most recent call last):\n  boom\n")
    report = report_for(sources, "pump-1", "day", now=NOW)
    assert report["operations"]["errors"] == 1
    assert report["operations"]["last_errors"][0]["request_id"] == "abc123"
    assert report["status"] == "alert"  # one error and no prediction: more than 1 %


def test_alarms_and_precision_per_version(both_sources):
    sources = both_sources
    assert report_for(sources, "pump-1", "day", now=NOW)["model"]["alarms"]["available"] is False
    event = {"event": "open", "alarm_id": "s1:0:10", "asset": "pump-1",
             "opened_at": "2026-03-20T14:00:00.000Z", "peak_score": 9.0,
             "top_sensors": "Current", "model_version": "v1", "source": "s1"}
    AlarmLog(sources.logs, "s1").append([event])
    for verdict in ("confirmed_fault", "false_alarm", "false_alarm", "unsure"):
        record_feedback(sources.logs, "operator", verdict, request_id="r", reading=1,
                        asset="pump-1", model_version="v1")
    model = report_for(sources, "pump-1", "day", now=NOW)["model"]
    assert [a["alarm_id"] for a in model["alarms"]["open"]] == ["s1:0:10"]
    assert model["alarms"]["recent"][0]["alarm_id"] == "s1:0:10"
    assert model["precision"] == [{"version": "v1", "confirmed_fault": 1, "false_alarm": 2,
                                   "unsure": 1, "precision": pytest.approx(1 / 3, abs=1e-3)}]


def test_day_boundaries(sources, pool):
    write_days(sources, pool, days=2, rows=48)
    start, end = resolve_window("dates", "2026-03-20", "2026-03-20")
    assert (start, end) == (datetime(2026, 3, 20, tzinfo=timezone.utc),
                            datetime(2026, 3, 21, tzinfo=timezone.utc))
    assert monitoring_report(sources, "pump-1", start, end)["model"]["readings"] == 48


def test_memory_keeps_a_bounded_number_of_days(sources, pool, monkeypatch):
    monkeypatch.setattr("webapp.services.monitoring.daycache.MEMORY_DAYS", 2)
    write_days(sources, pool, days=4, rows=24, end_day=NOW.date() - timedelta(days=1))
    report = report_for(sources, "pump-1", "30d", now=NOW)
    assert report["model"]["readings"] == 4 * 24
    assert len(sources.cache.memory) == 2


def test_a_damaged_number_does_not_stop_the_summary(sources, pool):
    path = write_days(sources, pool, days=1, rows=10)[0]
    with open(path) as handle:
        lines = handle.read().splitlines(keepends=True)
    cells = lines[3].split(",")
    lines[3] = lines[3].replace(f",{cells[-6]},", ",,", 1)  # an empty latency_ms
    with open(path, "w") as handle:
        handle.writelines(lines)
    assert today_report(sources)["model"]["readings"] == 10


def test_one_small_upload_gives_no_drift_verdict_however_shifted(normal_stats):
    result = drift.sensor_drift(np.random.default_rng(11).normal(20.0, 2.0, 300), normal_stats)
    assert result["status"] == "insufficient" and result["psi_level"] == "large"


def test_each_hour_weighs_what_it_holds(normal_stats):
    busy = np.random.default_rng(12).normal(10.0, 2.0, 200)  # sample of a 10,000-reading hour
    quiet = np.random.default_rng(13).normal(16.0, 2.0, 50)  # every reading of a quiet hour
    sample = np.concatenate([busy, quiet])
    weights = np.concatenate([np.full(200, 10_000 / 200), np.ones(50)])
    unweighted = drift.sensor_drift(np.repeat(sample, 4), normal_stats)
    weighted = drift.sensor_drift(sample, normal_stats, weights)
    assert unweighted["status"] in ("warning", "drift")  # 20 % of the values look shifted
    assert weighted["status"] == "stable" and weighted["volume"] == 10_050


@pytest.mark.parametrize("seed", range(5))
def test_a_badge_never_contradicts_the_psi_legend(normal_stats, seed):
    rng = np.random.default_rng(200 + seed)
    sample = rng.normal(10.0 + rng.uniform(0, 4), 2.0, 40)
    result = drift.sensor_drift(sample, normal_stats, np.full(40, 20.0))  # 800 readings
    expected = {"stable": {"stable"}, "moderate": {"warning"}, "large": {"warning", "drift"}}
    assert result["status"] in expected[result["psi_level"]]
