"""Reconstruction-based contributions (features/explain.py) and how the detector uses them."""

import os
import pickle

import numpy as np
import pytest

from features.explain import reconstruction_contributions
from features.pipeline import fit_model
from webapp.services.explanation_check import normal_readings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NORMAL = os.path.join(ROOT, "data", "anomaly-free.csv")


@pytest.fixture(scope="module")
def normal():
    return normal_readings(NORMAL)


def test_contributions_are_non_negative_and_add_up_to_the_score():
    rng = np.random.default_rng(1)
    factor = rng.normal(size=(5, 5))
    metric = factor @ factor.T
    centred = rng.normal(size=(300, 5))
    parts = reconstruction_contributions(centred, metric)
    assert parts.shape == (300, 5)
    assert parts.min() >= 0
    np.testing.assert_allclose(parts.sum(axis=1), np.einsum("ni,ij,nj->n", centred, metric,
                                                            centred), rtol=1e-9)
    assert reconstruction_contributions(np.zeros((0, 5)), metric).shape == (0, 5)


def test_a_fault_on_one_of_two_correlated_sensors_is_blamed_on_it():
    # Two sensors that normally move together: the inverse covariance as the metric.
    metric = np.linalg.inv(np.array([[1.0, 0.95], [0.95, 1.0]]))
    reading = np.array([[3.0, 0.0]])  # sensor 0 moved alone
    parts = reconstruction_contributions(reading, metric)[0]
    # Plain RBC gives sensor 1 0.95^2 of sensor 0's share; reconstructing sensor 0 first
    # removes the whole score, so nothing is left for sensor 1.
    assert parts[0] > 10 * parts[1]
    assert parts.sum() == pytest.approx(reading[0] @ metric @ reading[0])


def test_scores_do_not_depend_on_the_explanation(normal):
    frame = normal.iloc[:1200]
    new, _ = fit_model(frame.iloc[:400])
    old, _ = fit_model(frame.iloc[:400], {"explanation": "partial"})
    shifted = frame.iloc[400:].copy()
    shifted["Current"] += 2.0
    np.testing.assert_allclose(new.score(shifted).scores, old.score(shifted).scores, rtol=1e-9)
    assert new.threshold == pytest.approx(old.threshold)


def test_pickles_without_the_parameter_keep_the_partial_explanation(normal):
    model, _ = fit_model(normal.iloc[:400])
    detector = model.pipeline[-1]
    del detector.__dict__["explanation"]  # as pickled before issue 16
    restored = pickle.loads(pickle.dumps(model))
    reading = normal.iloc[[500]]
    assert restored.pipeline[-1].explanation == "partial"
    parts = restored.score(reading).contributions.iloc[0].to_numpy()
    values = restored.pipeline[1:-1].transform(restored.pipeline[0].transform(reading))
    t2, q = restored.pipeline[-1]._statistics(values)
    expected = 0.5 * (t2 / detector.t2_limit_ + q / detector.q_limit_)
    np.testing.assert_allclose(parts, expected[0])
