"""Training and serving share one pipeline: the same rows give the same features and scores."""

import joblib
import numpy as np
import pandas as pd
import pytest

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
