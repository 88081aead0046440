"""Calibration warnings written in English in a manifest are shown in the reader's language."""

import numpy as np
import pandas as pd
import pytest
from flask_babel import force_locale

from features.detector import _score_warnings, calibration_warnings
from webapp.services.training import comparison_warning
from webapp.views.calibration_text import PATTERNS, calibration_warning


def every_warning():
    """One sentence of each kind, as the detector and the training service write them."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"Current": np.r_[rng.normal(2, .1, 60), rng.normal(9, .1, 60)],
                          "Voltage": np.full(120, 230.0)})
    frame.loc[3, "Current"] = np.nan
    written = calibration_warnings(frame)
    written += calibration_warnings(frame.fillna(2.0))
    written += _score_warnings(np.r_[np.zeros(50), np.full(50, 5.0)], None, 0.10)
    written.append(comparison_warning({"unlike": True, "version": "v3", "share_flagged": 0.97,
                                       "sensors": ["Current", "Pressure"]}))
    return written


def test_every_sentence_the_pages_know_is_one_the_code_writes():
    written = every_warning()
    for pattern, _say in PATTERNS:
        assert any(pattern.match(sentence) for sentence in written), pattern.pattern


@pytest.mark.parametrize("sentence", every_warning())
def test_each_warning_is_said_in_french(app, sentence):
    with app.test_request_context(), force_locale("fr"):
        french = calibration_warning(sentence)
    assert french != sentence
    for english in ("calibration readings", "the calibration data", "sensors", "unlike"):
        assert english not in french, (english, french)
    for number in [word for word in sentence.replace("%", " ").split() if word.isdigit()]:
        assert number in french


def test_an_unknown_sentence_is_shown_as_written(app):
    with app.test_request_context(), force_locale("fr"):
        assert calibration_warning("Something new.") == "Something new."
