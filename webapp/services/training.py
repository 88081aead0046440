"""Training service: a sensor CSV of normal operation in, a new verified model version out."""

import hashlib
import os
import platform
import subprocess

import numpy as np
import pandas as pd
import sklearn

from features.calibration import compare_calibration
from features.pipeline import DETECTOR_NAME, fit_model
from features.schema import LABEL_COLUMN, SENSOR_COLUMNS, schema_as_records
from features.validation import validate_frame
from webapp.services.csvfiles import read_table
from webapp.services.evaluation import confusion_metrics
from webapp.services.registry import RegistryError
from webapp.services.storage import utc_now_iso

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
HISTOGRAM_BINS = 20
CDF_POINTS = 101  # quantiles 0, 0.01, ..., 1: the training CDF that drift's KS test compares with
MIN_TRAINING_ROWS = 20
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TrainingError(ValueError):
    """The training data cannot give a trustworthy model; the message says what to fix."""

    def __init__(self, message, errors=(), code="training", **params):
        super().__init__(message)
        self.errors = list(errors)
        self.code = code
        self.params = params


def git_commit():
    """The code's git commit, from the environment (containers) or the work tree."""
    if os.environ.get("VIGIE_GIT_COMMIT"):
        return os.environ["VIGIE_GIT_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, check=True,
                              capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def sensor_statistics(frame):
    """Per-sensor statistics of the training data, kept for drift monitoring."""
    stats = {}
    for column in SENSOR_COLUMNS:
        values = frame[column].to_numpy(dtype=float)
        counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
        stats[column] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max()),
            "quantiles": {str(q): float(np.quantile(values, q)) for q in QUANTILES},
            "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
            "cdf_quantiles": [float(v) for v in np.quantile(values, np.linspace(0, 1, CDF_POINTS))],
            "count": int(len(values)),
        }
    return stats


def load_training_frame(path):
    """Read and validate a training file; every invalid cell stops training with its line."""
    table = read_table(path)
    numbers, valid, errors = validate_frame(table)
    if errors:
        shown = "; ".join(f"line {e.index}: {e.message}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise TrainingError(f"{len(errors)} invalid values in the training data: {shown}{more}",
                            errors)
    if LABEL_COLUMN in table.columns:
        numbers[LABEL_COLUMN] = pd.to_numeric(table[LABEL_COLUMN], errors="coerce").to_numpy()
    return numbers


def split_normal_rows(frame, normal_rows):
    """The first `normal_rows` readings train; the rest (if labelled) evaluate."""
    if normal_rows is not None:
        if normal_rows < MIN_TRAINING_ROWS:
            raise TrainingError(f"--normal-rows must be at least {MIN_TRAINING_ROWS}")
        if normal_rows > len(frame):
            raise TrainingError(f"--normal-rows is {normal_rows} but the file has only "
                                f"{len(frame)} readings", code="normal_rows_too_many",
                                asked=normal_rows, rows=len(frame))
        return frame.iloc[:normal_rows], frame.iloc[normal_rows:]
    if len(frame) < MIN_TRAINING_ROWS:
        raise TrainingError(f"the file has {len(frame)} readings; at least "
                            f"{MIN_TRAINING_ROWS} readings of normal operation are needed",
                            code="too_few_rows", rows=len(frame), minimum=MIN_TRAINING_ROWS)
    return frame, frame.iloc[0:0]


def evaluate_holdout(model, holdout):
    """Metrics on the labelled readings after the training rows, when there are any."""
    if LABEL_COLUMN not in holdout.columns or holdout.empty:
        return None
    labelled = holdout[holdout[LABEL_COLUMN].isin([0, 1])]
    if labelled.empty:
        return None
    scores = model.score(labelled)
    return confusion_metrics(labelled[LABEL_COLUMN].to_numpy(), scores.anomaly)


def threshold_method(settings):
    """How the thresholds were calibrated, in words an auditor can check against the code."""
    return (f"sequence: {settings['threshold_factor']:g} x the quantile "
            f"{settings['threshold_quantile']:g} of the calibration scores (trailing windows "
            f"{settings['input_window']} / hold {settings.get('hold_window', 1)}, warm-up "
            f"readings left out); single reading: {settings['single_threshold_factor']:g} x the "
            f"quantile {settings['single_threshold_quantile']:g} of the unsmoothed calibration "
            "scores")


def compare_with_active(registry, asset, train):
    """The new calibration readings seen by the asset's active version (None without one).

    Returns the comparison of features.calibration.compare_calibration plus the version.
    """
    try:
        version = registry.active_version(asset)
        if version is None:
            return None
        previous = registry.load(asset, version).model
    except RegistryError:
        return None  # an unloadable active version is reported elsewhere; nothing to compare
    return {"version": version, **compare_calibration(previous, train)}


def comparison_warning(comparison):
    """A calibration warning when the new data is unlike the active version, else None."""
    if not comparison or not comparison["unlike"]:
        return None
    sensors = ", ".join(comparison["sensors"])
    return (f"The calibration data is unlike the active version {comparison['version']}: it "
            f"flags {comparison['share_flagged']:.0%} of these readings as anomalous, mostly "
            f"through {sensors}. Unless the machine changed on purpose (overhaul, new operating "
            "point), an anomaly may have been under way during calibration: check the data "
            "before activating this version.")


def build_manifest(path, frame, train, model, warnings, metrics, created_by, comparison=None):
    """Everything an auditor needs to know about how a version was made."""
    with open(path, "rb") as handle:
        data_sha = hashlib.sha256(handle.read()).hexdigest()
    return {
        "created_at": utc_now_iso(), "created_by": created_by, "git_commit": git_commit(),
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "pandas": pd.__version__, "numpy": np.__version__},
        "training_data": {"file_name": os.path.basename(path), "sha256": data_sha,
                          "rows_in_file": len(frame), "rows_used": len(train)},
        "detector": DETECTOR_NAME, "settings": model.settings,
        "features": schema_as_records(), "threshold": model.threshold,
        "single_threshold": model.single_threshold,
        "threshold_method": threshold_method(model.settings),
        "training_stats": sensor_statistics(train), "calibration_warnings": warnings,
        "calibration_ranges": model.calibration_ranges,
        "calibration_comparison": comparison,
        "evaluation": metrics,
    }


def train_version(registry, asset, path, normal_rows=None, created_by="cli"):
    """Train, calibrate and store a new version of `asset`; returns (version, manifest)."""
    registry.versions(asset)  # validates the asset name before any work
    frame = load_training_frame(path)
    train, holdout = split_normal_rows(frame, normal_rows)
    model, warnings = fit_model(train[list(SENSOR_COLUMNS)])
    comparison = compare_with_active(registry, asset, train[list(SENSOR_COLUMNS)])
    if comparison_warning(comparison):
        warnings = [*warnings, comparison_warning(comparison)]
    metrics = evaluate_holdout(model, holdout)
    manifest = build_manifest(path, frame, train, model, warnings, metrics, created_by,
                              comparison)
    version = registry.write_version(asset, model, manifest)
    return version, registry.manifest(asset, version)
