"""The injected-fault check of explanations (webapp/services/explanation_check.py)."""

import os

import pandas as pd
import pytest

from webapp.services.explanation_check import (
    ExplanationCheckError,
    explanation_check,
    normal_readings,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NORMAL = os.path.join(ROOT, "data", "anomaly-free.csv")


@pytest.fixture(scope="module")
def normal():
    return normal_readings(NORMAL)


def test_injected_faults_are_blamed_on_the_right_sensors(normal):
    report = explanation_check(normal, cases=40, seed=3)
    for mode in ("single", "sequence"):
        assert report[mode]["one_sensor"] >= 0.90, report
        assert report[mode]["two_sensors"] >= 0.80, report


def test_the_check_refuses_too_few_readings(normal, tmp_path):
    with pytest.raises(ExplanationCheckError, match="at least"):
        explanation_check(normal.iloc[:1000])
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"x": [1]}).to_csv(bad, index=False)
    with pytest.raises(ExplanationCheckError):
        normal_readings(str(bad))
