"""Training and serving share one pipeline: the same rows give the same features and scores."""

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import RobustScaler

from features import detector as detector_module
from features import pipeline as pipeline_module
from features.pipeline import fit_model
from features.schema import SENSOR_COLUMNS
from tests.conftest import NORMAL_CSV
from webapp.services.csvfiles import read_table
from webapp.services.registry import LoadedModel
from webapp.services.scoring import score_frame


def normal_frame():
    return pd.read_csv(NORMAL_CSV, sep=";")[list(SENSOR_COLUMNS)]


def test_serving_a_pickled_model_gives_the_training_features_and_scores(tmp_path):
    frame = normal_frame()
    model, _ = fit_model(frame)
    trained_features = model.pipeline[:-1].transform(frame)
    trained_scores = model.score(frame).scores
    joblib.dump(model, tmp_path / "model.pkl")
    served = joblib.load(tmp_path / "model.pkl")
    # Serving reads the file as text and may see columns in another order.
    shuffled = read_table(NORMAL_CSV)[list(reversed(SENSOR_COLUMNS))].astype(float)
    np.testing.assert_array_equal(served.pipeline[:-1].transform(shuffled), trained_features)
    np.testing.assert_array_equal(served.score(shuffled).scores, trained_scores)


def test_contributions_sum_to_the_score_and_rank_a_shifted_sensor_first():
    frame = normal_frame()
    model, _ = fit_model(frame)
    shifted = frame.iloc[[-1]].copy()
    shifted["Pressure"] += 20 * frame["Pressure"].std()
    loaded = LoadedModel("pump-1", "v1", model, {"model_sha256": "x"})
    result = score_frame(loaded, shifted)[0]
    assert result.anomaly
    assert result.top_sensors[0] == "Pressure"
    assert sum(result.contributions.values()) == pytest.approx(result.score, rel=1e-4, abs=1e-4)


def refuse(*_args, **_kwargs):
    raise AssertionError("scikit-learn's validation was called")


def validated_single_contributions(model, frame, monkeypatch):
    """single_contributions with scikit-learn's input validation at every step, as before."""
    with monkeypatch.context() as patch:
        for module in (pipeline_module, detector_module):
            patch.setattr(module, "is_finite_rows", lambda *_: False)
        return model.single_contributions(frame)


@pytest.mark.parametrize("layout", ["frame", "shuffled frame", "one row", "fortran"])
def test_single_readings_skip_sklearns_checks_with_the_same_values_to_the_last_bit(
        layout, monkeypatch):
    frame = normal_frame()
    model, _ = fit_model(frame)
    rng = np.random.default_rng(7)
    readings = frame.sample(300, random_state=3).reset_index(drop=True)
    readings = readings * rng.uniform(0.2, 3.0, size=readings.shape)  # far and near values
    if layout == "shuffled frame":
        readings = readings[list(reversed(SENSOR_COLUMNS))]
    elif layout == "one row":
        readings = readings.iloc[[5]]
    elif layout == "fortran":
        readings = pd.DataFrame(np.asfortranarray(readings.to_numpy()), columns=SENSOR_COLUMNS)
    with monkeypatch.context() as patch:  # the fast path really is taken
        patch.setattr(detector_module, "validate_data", refuse)
        patch.setattr(RobustScaler, "transform", refuse)
        fast = model.single_contributions(readings)
    validated = validated_single_contributions(model, readings, monkeypatch)
    np.testing.assert_array_equal(fast, validated)
    scores = model.score(readings, single=True)
    np.testing.assert_array_equal(scores.scores, fast.sum(axis=1))


def test_a_reading_sklearn_would_refuse_is_still_refused_by_sklearn():
    model, _ = fit_model(normal_frame())
    bad = pd.DataFrame([[np.nan] * len(SENSOR_COLUMNS)], columns=SENSOR_COLUMNS)
    with pytest.raises(ValueError, match="NaN"):
        model.single_contributions(bad)
