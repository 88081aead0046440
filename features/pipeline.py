"""The feature pipeline and model wrapper: the one code path used by training and by serving."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler

from features.calibration import calibration_check, calibration_ranges
from features.detector import (
    PcaT2QDetector,
    TrailingMean,
    calibrate_threshold,
    calibration_warnings,
    is_finite_rows,
    trailing_argmax,
    trailing_mean,
)
from features.schema import SENSOR_COLUMNS, sensor_values

DETECTOR_NAME = "pca-t2-q"

# Chosen by leave-files-out cross-validation on SKAB: docs/research/RESULTS.md.
DEFAULT_SETTINGS = {
    "input_window": 20,
    "score_window": 1,
    # Alarm off-delay: a reading's score is the highest smoothed score of the last
    # `hold_window` readings, so a verdict stays abnormal that long after the last crossing.
    "hold_window": 40,
    "variance": 0.99,
    "trim_fraction": 0.1,
    "threshold_quantile": 1.0,
    "threshold_factor": 8.0,
    # A reading scored on its own has no trailing window to average its noise away, so it
    # gets its own threshold, from the unsmoothed scores of the calibration readings
    # (docs/research/threshold_study.py, section 3).
    "single_threshold_quantile": 0.99,
    "single_threshold_factor": 1.25,
    # How a score is shared among sensors (features/explain.py); it does not change scores.
    "explanation": "reconstruction",
}


class SensorSelector(BaseEstimator, TransformerMixin):
    """Pick the sensor columns in the schema's order, so column order in a file never matters."""

    def __init__(self, columns=SENSOR_COLUMNS):
        self.columns = columns

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return sensor_values(X, self.columns)


def transform_step(step, values):
    """step.transform(values), with a RobustScaler's own arithmetic done here on finite float
    rows: its input validation cost more than the rest of a one-reading request's scoring.
    The operations are the scaler's (subtract the centre, divide by the scale), so the
    values are the same to the last bit (tests/features/test_pipeline.py checks it)."""
    if type(step) is RobustScaler and is_finite_rows(values, step.n_features_in_):
        if step.with_centering:
            values = values - step.center_
        if step.with_scaling:
            values = values / step.scale_
        return values
    return step.transform(values)


def build_pipeline(settings, columns=SENSOR_COLUMNS):
    """The scikit-learn Pipeline from raw sensor columns to the detector."""
    return Pipeline([
        ("select", SensorSelector(tuple(columns))),
        ("smooth", TrailingMean(settings["input_window"])),
        ("scale", RobustScaler()),
        ("detector", PcaT2QDetector(variance=settings["variance"],
                                    trim_fraction=settings["trim_fraction"],
                                    explanation=settings.get("explanation", "reconstruction"))),
    ])


@dataclass
class Scores:
    """Scores of an ordered sequence of readings."""

    scores: np.ndarray
    contributions: pd.DataFrame
    threshold: float

    @property
    def anomaly(self):
        return self.scores > self.threshold

    def top_sensors(self, row, count=3):
        """The sensors that weigh most in the score of `row`, largest first."""
        return self.contributions.iloc[row].sort_values(ascending=False).index[:count].tolist()


class AnomalyModel:
    """What model.pkl holds: the fitted pipeline, its thresholds and its settings.

    `threshold` judges readings scored in a sequence (trailing windows); `single_threshold`
    judges a reading scored on its own.  Versions pickled before single readings had their
    own threshold read the class default None and use `threshold` for both.
    """

    single_threshold = None
    # Per-sensor calibration ranges (features/calibration.py); None for older versions.
    calibration_ranges = None

    def __init__(self, pipeline, threshold, settings, columns, single_threshold=None):
        self.pipeline = pipeline
        self.threshold = float(threshold)
        self.settings = dict(settings)
        self.columns = tuple(columns)
        if single_threshold is not None:
            self.single_threshold = float(single_threshold)

    @property
    def context_size(self):
        """How many earlier readings a sequence needs to be scored as if it never stopped."""
        return (self.settings["input_window"] - 1 + self.settings["score_window"] - 1
                + self.hold_window - 1)

    @property
    def hold_window(self):
        """Readings over which the highest score is held (1 for versions without a hold)."""
        return int(self.settings.get("hold_window", 1))

    def threshold_for(self, single):
        """The threshold that judges a single reading (True) or a sequence (False)."""
        if single and self.single_threshold is not None:
            return self.single_threshold
        return self.threshold

    def score(self, frame, context=None, single=None):
        """Score readings in time order; `context` holds earlier readings of the same asset.

        `single=True` scores each reading on its own (no trailing window) against
        `single_threshold`.  By default (None) that happens for one reading without context,
        as from the reading form; anything else is scored as a sequence.
        """
        parts, threshold = self.score_parts(frame, context, single)
        return Scores(parts.sum(axis=1), pd.DataFrame(parts, columns=list(self.columns)),
                      threshold)

    def score_parts(self, frame, context=None, single=None):
        """`score` as plain arrays: (per-sensor contributions of shape (n, m) in the order of
        `columns`, the threshold that judges them); a reading's score is its row's sum."""
        has_context = context is not None and len(context) > 0
        if single is None:
            single = len(frame) == 1 and not has_context
        if single:
            return self.single_contributions(frame), self.threshold_for(True)
        if has_context and self.context_size:
            context = context[list(self.columns)].iloc[-self.context_size:]
            frame = pd.concat([context, frame[list(self.columns)]], ignore_index=True)
            skip = len(context)
        else:
            skip = 0
        parts = self.smoothed_contributions(frame)
        return parts[trailing_argmax(parts.sum(axis=1), self.hold_window)][skip:], self.threshold

    def smoothed_contributions(self, frame):
        """Per-sensor contributions of a sequence after the trailing windows, before the hold."""
        parts = self.pipeline[-1].contributions(self.pipeline[:-1].transform(frame))
        return trailing_mean(parts, self.settings["score_window"])

    def single_contributions(self, frame):
        """Per-sensor contributions of each reading on its own: every step but the windows."""
        values = frame
        for _, step in self.pipeline.steps[:-1]:
            if not isinstance(step, TrailingMean):
                values = transform_step(step, values)
        return self.pipeline[-1].contributions(values)

    def calibration_check(self, frame):
        """Whether most readings of `frame` lie far outside the calibration data's range.

        Plain data for the API, batch files and pages (features/calibration.py), or None
        for versions trained before the ranges were recorded: no check then.
        """
        return calibration_check(frame, self.calibration_ranges)

    def score_one(self, values):
        """Score a single reading on its own (no earlier readings are known)."""
        return self.score(pd.DataFrame([values], columns=list(self.columns)))


def fit_model(frame, settings=None):
    """Fit the pipeline on normal-operation readings and calibrate its threshold.

    Returns (model, warnings) where warnings say when the calibration data looks too short
    or abnormal.
    """
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    pipeline = build_pipeline(settings)
    pipeline.fit(frame)
    model = AnomalyModel(pipeline, 0.0, settings, SENSOR_COLUMNS)
    model.calibration_ranges = calibration_ranges(frame, model.columns)
    scores = model.score(frame).scores
    # Warm-up readings have incomplete trailing windows: leave them out of the threshold.
    scores = scores[min(model.context_size, len(scores) - 1):]
    model.threshold = calibrate_threshold(scores, settings["threshold_quantile"],
                                          settings["threshold_factor"])
    # The warnings look for abnormal stretches: the hold would stretch every spike.
    smoothed = model.smoothed_contributions(frame).sum(axis=1)
    smoothed = smoothed[min(model.context_size - model.hold_window + 1, len(smoothed) - 1):]
    single_scores = model.single_contributions(frame).sum(axis=1)
    model.single_threshold = calibrate_threshold(single_scores,
                                                 settings["single_threshold_quantile"],
                                                 settings["single_threshold_factor"])
    warnings = calibration_warnings(frame[list(model.columns)], smoothed,
                                    threshold=model.threshold)
    return model, warnings
