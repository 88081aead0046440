"""Tests of the out-of-calibration verdict (features/calibration.py) and its place in training."""

import os
import pickle

import pandas as pd
import pytest

from features.calibration import calibration_check, calibration_ranges
from features.pipeline import fit_model
from features.schema import SENSOR_COLUMNS
from tests.conftest import NORMAL_CSV
from webapp.services.evaluation import evaluate_file
from webapp.services.registry import ModelRegistry
from webapp.services.training import train_version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKAB = os.path.join(ROOT, "data", "skab")
COLUMNS = list(SENSOR_COLUMNS)


@pytest.fixture(scope="module")
def normal():
    return pd.read_csv(os.path.join(ROOT, "data", "anomaly-free.csv"), sep=";")[COLUMNS]


@pytest.fixture(scope="module")
def model(normal):
    return fit_model(normal.iloc[:2000])[0]


def test_a_normal_file_is_within_calibration(model, normal):
    check = model.calibration_check(normal.iloc[2000:4000])
    assert check["out_of_calibration"] is False
    assert check["readings"] == 2000 and check["sensors"] == []


def test_a_shifted_copy_of_a_normal_file_is_out_of_calibration(model, normal):
    shifted = normal.iloc[2000:4000].copy()
    shifted["Volume Flow RateRMS"] *= 0.25
    shifted["Temperature"] -= 20
    shifted["Accelerometer1RMS"] *= 0.2
    check = model.calibration_check(shifted)
    assert check["out_of_calibration"] is True
    assert check["readings_outside"] == 2000
    named = {sensor["sensor"]: sensor for sensor in check["sensors"]}
    assert set(named) == {"Volume Flow RateRMS", "Temperature", "Accelerometer1RMS"}
    flow = named["Volume Flow RateRMS"]
    assert flow["value"] < flow["usual_low"] and flow["factor"] == pytest.approx(0.25, abs=0.01)


def test_a_unit_error_on_one_sensor_is_out_of_calibration(model, normal):
    per_second = normal.iloc[2000:2100].copy()
    per_second["Volume Flow RateRMS"] /= 60.0  # L/s sent instead of L/min
    check = model.calibration_check(per_second)
    assert check["out_of_calibration"] is True
    assert [s["sensor"] for s in check["sensors"]] == ["Volume Flow RateRMS"]


def test_one_far_sensor_or_a_minority_of_far_readings_is_not(model, normal):
    vibrating = normal.iloc[2000:2100].copy()
    vibrating["Accelerometer1RMS"] *= 2.7  # rotor imbalance: an anomaly, same operating point
    assert model.calibration_check(vibrating)["out_of_calibration"] is False
    mixed = normal.iloc[2000:2100].copy()
    mixed.iloc[:40, :] = mixed.iloc[:40, :] * 0.2
    check = model.calibration_check(mixed)
    assert check["out_of_calibration"] is False and check["readings_outside"] == 40


def test_valve1_against_the_anomaly_free_model_is_out_of_calibration(normal):
    model = fit_model(normal)[0]
    valve = pd.read_csv(os.path.join(SKAB, "valve1", "3.csv"), sep=";")[COLUMNS]
    check = model.calibration_check(valve)
    assert check["out_of_calibration"] and check["readings_outside"] == len(valve) == 1148
    assert "Volume Flow RateRMS" in [sensor["sensor"] for sensor in check["sensors"]]


def test_versions_without_ranges_have_no_check(model, normal):
    old = pickle.loads(pickle.dumps(model))
    del old.__dict__["calibration_ranges"]  # as pickled before the ranges were recorded
    assert old.calibration_check(normal.iloc[:10]) is None
    assert calibration_check(normal, None) is None


def test_training_saves_the_ranges_in_the_manifest(tmp_path):
    registry = ModelRegistry(str(tmp_path))
    version, manifest = train_version(registry, "pump-9", NORMAL_CSV)
    frame = pd.read_csv(NORMAL_CSV, sep=";")
    expected = calibration_ranges(frame, COLUMNS)
    assert set(manifest["calibration_ranges"]) == set(COLUMNS)
    for column in COLUMNS:
        assert manifest["calibration_ranges"][column] == pytest.approx(expected[column])
    loaded = registry.load("pump-9", version).model
    assert loaded.calibration_check(frame)["out_of_calibration"] is False


def test_evaluation_reports_the_verdict_on_the_scored_readings():
    result = evaluate_file(os.path.join(SKAB, "other", "5.csv"), 400)
    assert result.calibration["out_of_calibration"] is False
    assert result.calibration["readings"] == result.rows_scored


def test_contaminated_calibration_is_unlike_the_active_version(tmp_path):
    # other/2: 296 of its first 400 readings are labelled anomalous; other/1 (same rig,
    # earlier experiment) calibrates cleanly.
    registry = ModelRegistry(str(tmp_path))
    first, _ = train_version(registry, "rig", os.path.join(SKAB, "other", "1.csv"), 400)
    assert registry.manifest("rig", first)["calibration_comparison"] is None
    second, manifest = train_version(registry, "rig", os.path.join(SKAB, "other", "2.csv"), 400)
    comparison = manifest["calibration_comparison"]
    assert comparison["version"] == first and comparison["unlike"] is True
    assert comparison["share_flagged"] > 0.9 and len(comparison["sensors"]) == 3
    warning = [w for w in manifest["calibration_warnings"] if "unlike the active version" in w]
    assert len(warning) == 1 and f"unlike the active version {first}" in warning[0]
    assert registry.active_version("rig") == first  # a warning, not an activation


def test_calibration_like_the_active_version_gives_no_warning(tmp_path):
    registry = ModelRegistry(str(tmp_path))
    train_version(registry, "pump", NORMAL_CSV)
    _, manifest = train_version(registry, "pump", NORMAL_CSV)
    assert manifest["calibration_comparison"]["unlike"] is False
    assert not any("unlike" in w for w in manifest["calibration_warnings"])
