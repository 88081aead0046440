"""Anomaly detector: robust PCA T-squared + Q (squared prediction error), exact per-sensor parts.

The product pipeline is

    raw sensors -> TrailingMean(input_window) -> RobustScaler -> PcaT2QDetector

followed, in the model wrapper, by a trailing mean of the per-sensor contributions over
`score_window` readings (see `smooth_contributions`).  Everything is causal: the verdict on
a reading uses only that reading and earlier ones.

Score of a reading (after scaling and centring, vector z):

    T2 = sum_j z_j (M z)_j        with M = P diag(1/lambda) P^T   (principal subspace)
    Q  = sum_j r_j^2              with r = z - P P^T z             (residual subspace)
    score = 0.5 * (T2 / t2_limit + Q / q_limit)

so a reading at both calibration limits scores 1.  The score is the quadratic form z' Phi z
with Phi = 0.5 * (M / t2_limit + (I - P P^T) / q_limit).

Contributions (per sensor, adding up to the score) come in two kinds, chosen by the
`explanation` parameter:

* "reconstruction" (versions trained since issue 16): reconstruction-based contributions,
  features/explain.py; non-negative, and the top sensor is the one whose correction removes
  most of the score.
* "partial" (older pickles, which lack the parameter): 0.5 * (z_j (M z)_j / t2_limit +
  r_j^2 / q_limit), which smears a fault over correlated sensors and can be negative.

The fit resists contaminated calibration data: the PCA is refitted on the
(1 - trim_fraction) share of calibration readings that score lowest (a few C-steps as in
the minimum covariance determinant), and the limits are quantiles of those readings.
"""

import numpy as np
from features.explain import reconstruction_contributions
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

# Smallest eigenvalue kept, relative to the largest: stops a near-constant direction from
# turning rounding noise into huge T-squared values.
_MIN_EIGEN_RATIO = 1e-6
_TINY = 1e-12


def trailing_mean(values, window):
    """Causal moving average along axis 0 over the last `window` rows.

    The first `window - 1` rows average the rows available so far.  Works on 1-D and
    2-D arrays and is vectorised (cumulative sums), so a million rows take milliseconds.
    Columns are centred before summing to keep the cumulative sums small and precise.
    """
    values = np.asarray(values, dtype=float)
    window = int(window)
    if window <= 1 or len(values) == 0:
        return values.copy()
    offset = values.mean(axis=0)
    sums = np.cumsum(values - offset, axis=0)
    shifted = np.zeros_like(sums)
    shifted[window:] = sums[:-window]
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    if values.ndim > 1:
        counts = counts.reshape((-1,) + (1,) * (values.ndim - 1))
    return (sums - shifted) / counts + offset


def smooth_contributions(contributions, window):
    """Trailing mean of per-sensor contributions over `window` readings.

    Returns (smoothed_contributions, smoothed_scores); the smoothed score of a reading is
    the row sum of its smoothed contributions, so the decomposition stays exact.
    """
    smoothed = trailing_mean(contributions, window)
    return smoothed, smoothed.sum(axis=1)


def trailing_argmax(values, window):
    """Index of the largest of the last `window` values, for each position (causal).

    The first `window - 1` positions look at the values available so far; ties go to the
    earliest.  Used for the hold (alarm off-delay): a reading takes the score and the
    contributions of the highest-scoring reading among the last `window`.  Spans doubling in
    length (a sparse table) keep it to about log2(window) vectorised passes.
    """
    values = np.asarray(values, dtype=float)
    window = int(window)
    positions = np.arange(len(values))
    if window <= 1 or len(values) == 0:
        return positions
    best, span = positions, 1
    while span * 2 <= window:
        earlier = best.copy()
        earlier[span:] = best[:-span]
        best = np.where(values[earlier] >= values[best], earlier, best)
        span *= 2
    # Two spans of length `span` cover the window: [t - window + 1, ...] and [..., t].
    other = best[np.maximum(positions - window + span, 0)]
    return np.where(values[other] >= values[best], other, best)


class TrailingMean(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Causal moving average over the last `window` rows (rows are readings in time order).

    Stateless: fit only records the number of features.  To score a stream as if it never
    stopped, prepend the previous `window - 1` raw readings and drop their outputs.
    """

    def __init__(self, window=1):
        self.window = window

    def fit(self, X, y=None):
        """Record the input shape; nothing is learned."""
        validate_data(self, X, reset=True, ensure_min_samples=1)
        return self

    def transform(self, X):
        """Replace each row by the mean of itself and the `window - 1` rows before it."""
        check_is_fitted(self, "n_features_in_")
        values = validate_data(self, X, reset=False, ensure_min_samples=0)
        return trailing_mean(values, self.window)


def _principal_axes(Z, variance):
    """Mean, components (columns) and eigenvalues of the PCA of Z.

    `variance` < 1 keeps the fewest components explaining that share of the variance;
    an integer >= 1 keeps that many.
    """
    mean = Z.mean(axis=0)
    covariance = np.atleast_2d(np.cov(Z - mean, rowvar=False))
    eigenvalues, vectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = np.maximum(eigenvalues[order], 0.0), vectors[:, order]
    n_features = Z.shape[1]
    if variance >= 1:
        k = int(variance)
    else:
        share = np.cumsum(eigenvalues) / max(eigenvalues.sum(), _TINY)
        k = int(np.searchsorted(share, variance - 1e-12) + 1)
    k = max(1, min(k, n_features))
    floor = max(eigenvalues[0] * _MIN_EIGEN_RATIO, _TINY)
    return mean, vectors[:, :k], np.maximum(eigenvalues[:k], floor)


def is_finite_rows(X, width):
    """True when X is a finite float64 array of rows of `width` values: what scikit-learn's
    input validation would pass unchanged. Serving hands such arrays from step to step, and
    the validation costs more than scoring one reading, so it is skipped for them."""
    return (type(X) is np.ndarray and X.dtype == np.float64 and X.ndim == 2
            and X.shape[1] == width and bool(np.isfinite(X).all()))


class PcaT2QDetector(BaseEstimator):
    """Hotelling T-squared in the principal subspace plus Q in the residual subspace.

    Parameters
    ----------
    variance : float in (0, 1) or int
        Share of calibration variance the principal subspace keeps (or its dimension).
    limit_quantile : float
        Quantile of the (trimmed) calibration T-squared and Q values used as their limits.
    trim_fraction : float in [0, 0.5)
        Share of calibration readings discarded as suspected anomalies before the final fit.
    n_trim_steps : int
        How many times the trimmed refit is repeated (0 = plain PCA on all readings).
    explanation : "reconstruction" or "partial"
        How `contributions` shares a score among sensors (module docstring); it does not
        change the scores.

    Attributes set by fit: mean_, components_ (n_features, k), eigenvalues_ (k,),
    t2_limit_, q_limit_, n_components_, inlier_mask_ (calibration readings kept).
    """

    # Pickles made before the parameter existed read this class default and keep explaining
    # their verdicts as they did when they were audited.
    explanation = "partial"

    def __init__(self, variance=0.99, limit_quantile=0.99, trim_fraction=0.1, n_trim_steps=2,
                 explanation="reconstruction"):
        self.variance = variance
        self.limit_quantile = limit_quantile
        self.trim_fraction = trim_fraction
        self.n_trim_steps = n_trim_steps
        self.explanation = explanation

    def fit(self, X, y=None):
        """Fit the principal subspace and the T-squared / Q limits on calibration rows."""
        Z = validate_data(self, X, reset=True, ensure_min_samples=2)
        keep = np.ones(len(Z), dtype=bool)
        for step in range(int(self.n_trim_steps) + 1):
            self._fit_subset(Z, keep)
            if step == int(self.n_trim_steps) or self.trim_fraction <= 0:
                break
            keep = self._least_abnormal(Z, self.trim_fraction)
        self.inlier_mask_ = keep
        return self

    def _fit_subset(self, Z, keep):
        """Fit mean, axes and limits on the rows of Z where `keep` is true."""
        self.mean_, self.components_, self.eigenvalues_ = _principal_axes(Z[keep], self.variance)
        self.n_components_ = self.components_.shape[1]
        t2, q = self._statistics(Z[keep])
        self.t2_limit_ = max(float(np.quantile(t2.sum(axis=1), self.limit_quantile)), _TINY)
        has_residual = self.n_components_ < Z.shape[1]
        q_limit = float(np.quantile(q.sum(axis=1), self.limit_quantile)) if has_residual else 1.0
        self.q_limit_ = max(q_limit, _TINY)

    def _least_abnormal(self, Z, trim_fraction):
        """Mask of the (1 - trim_fraction) share of rows with the lowest current score."""
        scores = self.score_samples(Z)
        cutoff = np.quantile(scores, 1.0 - trim_fraction)
        return scores <= cutoff

    def _statistics(self, X):
        """Per-feature T-squared and Q terms (unnormalised), each of shape (n, n_features)."""
        centred = np.asarray(X, dtype=float) - self.mean_
        weights = (self.components_ / self.eigenvalues_) @ self.components_.T
        t2 = centred * (centred @ weights)
        residual = centred - (centred @ self.components_) @ self.components_.T
        return t2, residual ** 2

    def _partial_contributions(self, values):
        t2, q = self._statistics(values)
        return 0.5 * (t2 / self.t2_limit_ + q / self.q_limit_)

    def score_metric(self):
        """Phi such that the score of a centred reading z is z' Phi z."""
        weights = (self.components_ / self.eigenvalues_) @ self.components_.T
        residual = np.eye(len(self.components_)) - self.components_ @ self.components_.T
        return 0.5 * (weights / self.t2_limit_ + residual / self.q_limit_)

    def contributions(self, X):
        """Per-feature terms of shape (n, n_features) whose row sums equal score_samples(X)."""
        check_is_fitted(self, "components_")
        values = X if is_finite_rows(X, self.n_features_in_) else validate_data(
            self, X, reset=False, ensure_min_samples=0)
        if self.explanation == "reconstruction":
            return reconstruction_contributions(values - self.mean_, self.score_metric())
        return self._partial_contributions(values)

    def score_samples(self, X):
        """Anomaly score of each row, higher is more abnormal; about 1 at the calibration limits."""
        check_is_fitted(self, "components_")
        values = validate_data(self, X, reset=False, ensure_min_samples=0)
        return self._partial_contributions(values).sum(axis=1)


def calibrate_threshold(scores, quantile=1.0, factor=6.0):
    """Decision threshold from (smoothed) calibration scores: `factor` times a high quantile.

    Pass the calibration scores without the warm-up rows whose trailing windows are
    incomplete.  The defaults (6 times the largest calibration score) were chosen by
    leave-files-out cross-validation on SKAB (docs/research/RESULTS.md).  A quantile below
    1 ignores the top (1 - quantile) share of calibration readings; the factor leaves a
    margin because calibration readings are scored by a model fitted on them.  The
    contamination resistance comes mainly from the trimmed fit of PcaT2QDetector, whose
    normalisation makes the scores of abnormal calibration readings stand out.
    """
    scores = np.asarray(scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    if len(scores) == 0:
        raise ValueError("no finite calibration scores to calibrate a threshold")
    return float(factor * np.quantile(scores, quantile))


def _longest_run(mask):
    """Length of the longest run of consecutive True values."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return int((edges[1::2] - edges[::2]).max())


def _level_shifts(values, n_blocks=4, limit=6.0):
    """Indices of columns whose median moves by more than `limit` robust spreads between blocks."""
    values = np.asarray(values, dtype=float)
    if len(values) < 4 * n_blocks:
        return []
    blocks = np.array_split(values, n_blocks)
    medians = np.array([np.median(block, axis=0) for block in blocks])
    spreads = np.array([np.subtract(*np.percentile(block, [75, 25], axis=0)) for block in blocks])
    noise = np.maximum(np.median(spreads, axis=0), _TINY)
    jumps = (medians.max(axis=0) - medians.min(axis=0)) / noise
    return [j for j in range(values.shape[1]) if jumps[j] > limit]


def calibration_warnings(frame, scores=None, min_rows=300, threshold=None,
                         max_flagged_share=0.10, shift_limit=10.0):
    """Plain-English warnings about calibration data that looks too short or abnormal.

    `frame` holds the calibration readings (DataFrame or array, time order); `scores` are
    their normalised (smoothed) anomaly scores without the warm-up rows, and `threshold`
    the calibrated threshold, when known.  Checks: too few readings, missing or constant
    sensors, a sensor whose level steps within the calibration period (a change of
    regime, e.g. an anomaly under way), and a large or contiguous share of readings
    scoring far above the calibration limits.  An empty list means nothing was noticed,
    not that the data is certainly normal: contamination that looks like steady
    operation cannot be told apart from it.
    """
    warnings = []
    names = list(frame.columns) if hasattr(frame, "columns") else None
    values = np.asarray(frame, dtype=float)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    if names is None:
        names = [f"column {j}" for j in range(values.shape[1])]
    n_rows = len(values)
    if n_rows < min_rows:
        warnings.append(f"Only {n_rows} calibration readings; at least {min_rows} (about "
                        f"{max(1, min_rows // 60)} minutes at one reading a second) are advised "
                        "for a reliable threshold.")
    finite = np.isfinite(values).all()
    if n_rows and not finite:
        warnings.append("The calibration data contains missing or non-numeric values.")
    if n_rows >= 2 and finite:
        constant = [names[j] for j in range(values.shape[1]) if not np.std(values[:, j]) > 0]
        if constant:
            warnings.append("These sensors do not vary during calibration, so any change in "
                            "them will look abnormal: " + ", ".join(constant) + ".")
        shifted = [names[j] for j in _level_shifts(values, limit=shift_limit)]
        if shifted:
            warnings.append("The level of these sensors steps during calibration, which "
                            "suggests the calibration data is not steady normal operation: "
                            + ", ".join(shifted) + ".")
    if scores is not None and len(scores):
        warnings.extend(_score_warnings(np.asarray(scores, dtype=float), threshold,
                                        max_flagged_share))
    return warnings


def _score_warnings(scores, threshold, max_flagged_share):
    """Warnings from normalised calibration scores: a heavy upper tail or a long abnormal stretch.

    A normalised score of 1 is the calibration limit; readings above twice that (or above
    the threshold, when given and lower) count as far above the others.
    """
    warnings = []
    level = 2.0 if threshold is None else min(2.0, float(threshold))
    far = scores > level
    share = float(far.mean())
    if share > max_flagged_share:
        warnings.append(f"{share:.0%} of calibration readings score far above the calibration "
                        "limits; the calibration data may contain abnormal operation.")
    run = _longest_run(far)
    if run >= max(30, int(0.10 * len(scores))):
        warnings.append(f"{run} consecutive calibration readings score far above the "
                        "calibration limits; an anomaly may have been under way during "
                        "calibration.")
    return warnings
