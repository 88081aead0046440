"""Monitoring's calibration check: the share of a window's readings far outside calibration."""

import os
from datetime import datetime, timezone

import pytest

from tests.conftest import NORMAL_CSV
from tests.support.monitoring_fixtures import normal_pool, write_history
from webapp.services.monitoring.report import MonitoringSources, report_for
from webapp.services.registry import ModelRegistry

NOW = datetime(2026, 3, 20, 15, 30, tzinfo=timezone.utc)
FAR = {"Current": 40.0, "Pressure": 40.0, "Voltage": 40.0, "Temperature": 40.0}


@pytest.fixture
def sources(paths):
    os.makedirs(paths["LOG_DIR"], exist_ok=True)
    return MonitoringSources(paths["LOG_DIR"], ModelRegistry(paths["MODEL_STORE"]))


def day_report(sources, rows_per_day=400, **options):
    threshold = sources.registry.manifest("pump-1", "v1")["threshold"]
    write_history(sources.audit_dir, normal_pool(NORMAL_CSV), threshold, days=1,
                  rows_per_day=rows_per_day, end_day=NOW.date(), **options)
    return report_for(sources, "pump-1", "dates", "2026-03-20", "2026-03-20")


def test_readings_like_the_calibration_data_are_not_flagged(sources):
    report = day_report(sources)
    section = report["calibration"][0]
    assert section["checked"] and section["volume"] == 400
    assert section["share_outside"] < 0.05 and not section["out_of_calibration"]
    assert "calibration" not in {r["code"] for r in report["reason_details"]}


def test_readings_from_another_operating_point_are_flagged_with_their_sensors(sources):
    report = day_report(sources, shift=FAR)
    section = report["calibration"][0]
    assert section["out_of_calibration"] and section["share_outside"] > 0.95
    assert {s["sensor"] for s in section["sensors"]} >= {"Current", "Pressure"}
    assert "pump-1: 100% of the readings lie far outside the calibration data" in \
        report["reasons"]
    assert report["status"] in ("warning", "alert")


def test_a_version_without_calibration_ranges_is_not_checked(sources, paths):
    import json
    manifest = os.path.join(paths["MODEL_STORE"], "pump-1", "v1", "manifest.json")
    with open(manifest, encoding="utf-8") as handle:
        content = json.load(handle)
    content.pop("calibration_ranges", None)
    sources.registry = type(sources.registry)(paths["MODEL_STORE"])
    sources.registry.manifest = lambda asset, version: content
    section = day_report(sources, shift=FAR)["calibration"][0]
    assert not section["checked"] and section["share_outside"] is None
