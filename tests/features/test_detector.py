"""Tests of the PCA T2+Q detector: exact contributions, causality, robustness and warnings."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler

from features.detector import (PcaT2QDetector, TrailingMean, calibrate_threshold,
                               calibration_warnings, smooth_contributions, trailing_argmax,
                               trailing_mean)
from features.pipeline import fit_model
from features.schema import SENSOR_COLUMNS

NAMES = ["a1", "a2", "current", "pressure", "temp", "thermo", "voltage", "flow"]


def normal_readings(n, seed=0):
    """Correlated synthetic readings of 8 sensors around different levels."""
    mixing = np.random.default_rng(42).normal(size=(3, 8))
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 3))
    noise = 0.3 * rng.normal(size=(n, 8))
    levels = np.array([0.2, 0.27, 2.4, 0.1, 89.0, 28.0, 230.0, 125.0])
    scales = np.array([0.01, 0.01, 0.3, 0.2, 0.5, 0.3, 5.0, 2.0])
    return levels + scales * (latent @ mixing + noise)


def make_pipeline(input_window=5, trim_fraction=0.1):
    return Pipeline([("smooth", TrailingMean(input_window)), ("scale", RobustScaler()),
                     ("detector", PcaT2QDetector(variance=0.9, trim_fraction=trim_fraction))])


def test_trailing_mean_is_causal_mean_of_last_rows():
    values = np.arange(10, dtype=float).reshape(-1, 1)
    smoothed = trailing_mean(values, 3)
    assert smoothed[0, 0] == 0 and smoothed[1, 0] == 0.5
    assert np.allclose(smoothed[2:, 0], np.arange(1, 9))
    assert np.allclose(trailing_mean(values[:, 0], 3), smoothed[:, 0])


def test_contributions_sum_exactly_to_scores():
    X = normal_readings(500)
    pipeline = make_pipeline().fit(X[:300])
    features = pipeline[:-1].transform(X)
    parts = pipeline[-1].contributions(features)
    assert parts.shape == (500, 8)
    assert np.allclose(parts.sum(axis=1), pipeline[-1].score_samples(features), rtol=1e-12)
    assert np.allclose(parts.sum(axis=1), pipeline.score_samples(X), rtol=1e-12)
    smoothed, scores = smooth_contributions(parts, 7)
    assert np.allclose(smoothed.sum(axis=1), scores, rtol=1e-12)
    assert np.allclose(scores, trailing_mean(pipeline.score_samples(X), 7), rtol=1e-9)


def test_shifted_sensor_is_top_contributor():
    X = normal_readings(400)
    pipeline = make_pipeline(input_window=1).fit(X)
    spread = X.std(axis=0)
    for sensor in range(8):
        reading = np.median(X, axis=0)
        reading[sensor] += 12 * spread[sensor]
        parts = pipeline[-1].contributions(pipeline[:-1].transform(reading[None, :]))[0]
        assert np.argmax(parts) == sensor
        assert pipeline.score_samples(reading[None, :])[0] > 1


def test_normal_scores_are_near_calibration_limits():
    X = normal_readings(2000, seed=1)
    pipeline = make_pipeline().fit(X[:400])
    scores = pipeline.score_samples(X[400:])
    assert np.quantile(scores, 0.5) < 1.0
    assert np.mean(scores > 3.0) < 0.02


def test_scores_of_earlier_rows_do_not_change_when_rows_are_appended():
    X = normal_readings(600)
    pipeline = make_pipeline(input_window=10).fit(X[:300])
    full = trailing_mean(pipeline.score_samples(X), 5)
    for k in (1, 50, 450):
        head = trailing_mean(pipeline.score_samples(X[:k]), 5)
        assert np.allclose(head, full[:k], rtol=1e-9, atol=1e-12)


def test_trimmed_fit_resists_contaminated_calibration():
    X = normal_readings(400, seed=2)
    contaminated = X.copy()
    contaminated[100:140, 3] += 8 * X[:, 3].std()  # a 10% stretch of abnormal pressure
    test = normal_readings(400, seed=3)
    test[:, 3] += 8 * X[:, 3].std()
    robust = make_pipeline(input_window=1, trim_fraction=0.15).fit(contaminated)
    naive = make_pipeline(input_window=1, trim_fraction=0.0).fit(contaminated)
    assert robust[-1].inlier_mask_[100:140].mean() < 0.2
    assert np.median(robust.score_samples(test)) > 5 * np.median(naive.score_samples(test))
    assert np.median(robust.score_samples(test)) > 10


def test_threshold_is_a_number_from_calibration_scores():
    scores = np.r_[np.linspace(0, 1, 99), 50.0]
    assert calibrate_threshold(scores, quantile=0.99, factor=1.0) < 2.0
    assert calibrate_threshold(scores, quantile=1.0, factor=2.0) == pytest.approx(100.0)
    assert isinstance(calibrate_threshold(scores), float)
    with pytest.raises(ValueError):
        calibrate_threshold([np.nan])


def test_no_warning_on_clean_calibration():
    frame = pd.DataFrame(normal_readings(400), columns=NAMES)
    pipeline = make_pipeline().fit(frame.to_numpy())
    scores = trailing_mean(pipeline.score_samples(frame.to_numpy()), 5)[8:]
    assert calibration_warnings(frame, scores, threshold=calibrate_threshold(scores)) == []


def test_warning_on_short_calibration():
    frame = pd.DataFrame(normal_readings(50), columns=NAMES)
    warnings = calibration_warnings(frame)
    assert any("Only 50 calibration readings" in w for w in warnings)


def test_warning_on_contaminated_calibration():
    X = normal_readings(400)
    X[200:, 2] += 20 * X[:, 2].std()  # the current steps half-way through calibration
    frame = pd.DataFrame(X, columns=NAMES)
    warnings = calibration_warnings(frame)
    assert any("steps during calibration" in w and "current" in w for w in warnings)


def test_warning_on_abnormal_calibration_scores():
    scores = np.r_[np.full(300, 0.5), np.full(60, 5.0), np.full(40, 0.5)]
    warnings = calibration_warnings(pd.DataFrame(normal_readings(400), columns=NAMES), scores)
    assert any("consecutive" in w for w in warnings)
    assert any("15%" in w for w in warnings)


def test_warning_on_constant_sensor_and_missing_values():
    X = normal_readings(400)
    X[:, 6] = 230.0
    assert any("voltage" in w for w in calibration_warnings(pd.DataFrame(X, columns=NAMES)))
    X[5, 0] = np.nan
    assert any("missing" in w for w in calibration_warnings(pd.DataFrame(X, columns=NAMES)))


def sensor_frame(n, seed=0):
    return pd.DataFrame(normal_readings(n, seed), columns=list(SENSOR_COLUMNS))


def test_single_threshold_comes_from_unsmoothed_calibration_scores():
    frame = sensor_frame(400)
    model, _ = fit_model(frame)
    alone = model.score(frame, single=True).scores
    assert model.single_threshold == pytest.approx(1.25 * np.quantile(alone, 0.99))
    assert model.single_threshold != model.threshold
    one_by_one = [model.score(frame.iloc[[i]]).scores[0] for i in (0, 57, 399)]
    assert np.allclose(one_by_one, alone[[0, 57, 399]])


def test_one_reading_without_context_is_judged_as_a_single_reading():
    frame = sensor_frame(400)
    model, _ = fit_model(frame)
    reading = frame.iloc[[200]].reset_index(drop=True)
    assert model.score(reading).threshold == model.single_threshold
    assert model.score(reading, context=frame.iloc[:200]).threshold == model.threshold
    assert model.score(frame.iloc[:2]).threshold == model.threshold
    # The sequence path keeps its windows: the same reading scores differently with context.
    smoothed = model.score(reading, context=frame.iloc[:200]).scores[0]
    assert smoothed != pytest.approx(model.score(reading).scores[0])


def test_single_readings_of_normal_operation_are_rarely_flagged():
    model, _ = fit_model(sensor_frame(2000, seed=1))
    held_out = sensor_frame(300, seed=2)
    flagged = [model.score(held_out.iloc[[i]]).anomaly[0] for i in range(len(held_out))]
    assert np.mean(flagged) < 0.02
    shifted = held_out.iloc[[0]].copy()
    shifted["Pressure"] += 30 * held_out["Pressure"].std()
    assert model.score(shifted).anomaly[0]


def test_a_version_pickled_without_single_threshold_uses_its_threshold():
    model, _ = fit_model(sensor_frame(400))
    del model.__dict__["single_threshold"]
    assert model.score(sensor_frame(1, seed=3)).threshold == model.threshold


def test_trailing_argmax_points_to_the_largest_of_the_last_values():
    values = np.array([1.0, 5.0, 2.0, 3.0, 0.0, 4.0, 1.0])
    assert trailing_argmax(values, 3).tolist() == [0, 1, 1, 1, 3, 5, 5]
    assert trailing_argmax(values, 1).tolist() == list(range(7))


def test_hold_keeps_a_spike_flagged_for_the_hold_window_then_releases():
    frame = sensor_frame(600)
    model, _ = fit_model(frame.iloc[:400])
    hold = model.hold_window
    spiked = frame.iloc[400:].reset_index(drop=True)
    spiked.loc[100, "Pressure"] += 3000 * frame["Pressure"].std()
    scores = model.score(spiked, context=frame.iloc[:400])
    flagged = np.flatnonzero(scores.anomaly)
    last = 100 + model.settings["input_window"] - 1 + hold - 1
    assert flagged.tolist() == list(range(100, last + 1))
    # The input window carries the spike for 20 readings, the hold for 40 more.
    assert np.allclose(scores.contributions.sum(axis=1), scores.scores)
    assert scores.top_sensors(int(flagged[-1]))[0] == "Pressure"


def test_a_version_pickled_without_hold_scores_without_it():
    model, _ = fit_model(sensor_frame(400))
    del model.settings["hold_window"]
    assert model.hold_window == 1
    assert model.context_size == (model.settings["input_window"] - 1
                                  + model.settings["score_window"] - 1)


@pytest.mark.parametrize("window", [2, 3, 7, 8, 40, 41])
def test_trailing_argmax_matches_a_plain_search_with_ties_to_the_earliest(window):
    values = np.random.default_rng(window).integers(0, 4, 300).astype(float)
    expected = [max(range(max(0, t - window + 1), t + 1), key=lambda i: (values[i], -i))
                for t in range(len(values))]
    assert trailing_argmax(values, window).tolist() == expected
