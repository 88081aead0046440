"""Data drift of one sensor: recent inputs against the training statistics of a manifest.

Two measures, because each misses what the other sees:
- the population stability index (PSI) over the manifest's training histogram bins says how
  much the shape moved (conventional reading: below 0.1 stable, 0.1 to 0.25 moderate shift,
  0.25 and above a large shift), but it is noisy on small samples;
- a two-sample Kolmogorov-Smirnov test against the training CDF (rebuilt from the manifest's
  quantile grid) says whether the move is more than chance, given both sample sizes.
The status follows the PSI legend the page shows, so that a badge never contradicts it:
`stable` below 0.1, `warning` from 0.1 (or a large PSI that could still be chance, KS p >= 0.01),
`drift` for a large shift that is more than chance (PSI >= 0.25 and KS p < 0.01), and
`insufficient`, with no verdict at all, while the window holds fewer than MIN_DRIFT_SAMPLE
readings: one small upload is one operating point, not the plant's recent behaviour.

The monitoring summaries keep a bounded sample per hour, so each sampled reading carries a
weight (the hour's readings / the hour's sample): a busy hour counts for what it holds, not
for the same as a quiet one.
"""

import math

import numpy as np
from scipy.stats import kstwobign

PSI_WARNING = 0.1
PSI_DRIFT = 0.25
KS_P_VALUE = 0.01
MIN_DRIFT_SAMPLE = 500  # readings in the window; below it a 20-bin PSI of an unchanged sensor
# often exceeds 0.25 and a single upload would decide the verdict
FINE_GRID = 51  # a quantile grid at least this fine is read as a step function
PSI_FLOOR = 1e-4  # stands in for an empty bin so that the logarithm stays finite
STATUSES = ("stable", "warning", "drift", "insufficient")


def population_stability_index(expected_counts, actual_counts):
    """PSI between two histograms on the same bins (counts, not shares)."""
    expected = np.asarray(expected_counts, dtype=float)
    actual = np.asarray(actual_counts, dtype=float)
    if expected.sum() == 0 or actual.sum() == 0:
        return float("nan")
    expected = np.maximum(expected / expected.sum(), PSI_FLOOR)
    actual = np.maximum(actual / actual.sum(), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def histogram_on_edges(values, edges, weights=None):
    """(Weighted) counts of `values` on the training bins; values beyond the training range go
    to the first or last bin, where a shift past the range shows up as a large PSI."""
    edges = np.asarray(edges, dtype=float)
    clipped = np.clip(np.asarray(values, dtype=float), edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges, weights=weights)
    return counts


def training_cdf(stats):
    """(values, probabilities) of the training CDF: the 101-point quantile grid when the
    manifest has it, else min, the stored quantiles and max (older manifests, coarser)."""
    grid = stats.get("cdf_quantiles")
    if grid:
        return np.asarray(grid, dtype=float), np.linspace(0.0, 1.0, len(grid))
    quantiles = sorted((float(q), float(v)) for q, v in stats.get("quantiles", {}).items())
    probabilities = [0.0] + [q for q, _ in quantiles] + [1.0]
    values = [stats["min"]] + [v for _, v in quantiles] + [stats["max"]]
    return np.maximum.accumulate(np.asarray(values, dtype=float)), np.asarray(probabilities)


def training_count(stats):
    """How many readings the training statistics were computed on."""
    if stats.get("count"):
        return int(stats["count"])
    return int(sum(stats.get("histogram", {}).get("counts", [])))


def ks_statistic(sample, cdf_values, cdf_probabilities, weights=None):
    """Largest gap between the sample's (weighted) empirical CDF and the training CDF, checked
    at every sample value and every grid value.

    A fine grid (the 101 quantiles) is read as a step function, which stays exact for sensors
    with a few discrete levels; the coarse grid of older manifests is interpolated instead.
    """
    sample = np.asarray(sample, dtype=float)
    weights = np.ones(len(sample)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(sample, kind="stable")
    x = sample[order]
    cumulative = np.concatenate([[0.0], np.cumsum(weights[order])]) / weights.sum()
    points = np.concatenate([x, cdf_values])
    sample_cdf = cumulative[np.searchsorted(x, points, side="right")]
    if len(cdf_values) >= FINE_GRID:
        steps = np.searchsorted(cdf_values, points, side="right") - 1
        train_cdf = np.where(steps >= 0, cdf_probabilities[np.clip(steps, 0, None)], 0.0)
    else:
        train_cdf = np.interp(points, cdf_values, cdf_probabilities, left=0.0, right=1.0)
    return float(np.max(np.abs(sample_cdf - train_cdf)))


def ks_p_value(statistic, n_recent, n_training):
    """Asymptotic two-sample KS p-value (with Stephens' small-sample correction)."""
    effective = n_recent * n_training / (n_recent + n_training)
    root = math.sqrt(effective)
    return float(kstwobign.sf((root + 0.12 + 0.11 / root) * statistic))


def psi_level(psi):
    """The legend's words for a PSI: stable (< 0.1), moderate (< 0.25) or large."""
    if psi is None or math.isnan(psi):
        return None
    return "large" if psi >= PSI_DRIFT else "moderate" if psi >= PSI_WARNING else "stable"


def sensor_status(psi, p_value, volume):
    """stable / warning / drift / insufficient, by the rules in the module docstring."""
    if volume < MIN_DRIFT_SAMPLE or math.isnan(psi):
        return "insufficient"
    if psi >= PSI_DRIFT and p_value < KS_P_VALUE:
        return "drift"
    if psi >= PSI_WARNING:
        return "warning"
    return "stable"


def effective_size(weights):
    """Kish's effective sample size: what unequal weights are worth in independent readings."""
    return float(weights.sum() ** 2 / np.square(weights).sum())


def sensor_drift(sample, stats, weights=None):
    """Drift figures of one sensor: PSI, KS statistic and p-value, status, both histograms.

    `weights` (one per sampled value, default 1) say how many readings each value stands for.
    """
    sample = np.asarray(sample, dtype=float)
    weights = np.ones(len(sample)) if weights is None else np.asarray(weights, dtype=float)
    finite = np.isfinite(sample)
    sample, weights = sample[finite], weights[finite]
    edges = stats["histogram"]["edges"]
    training_counts = stats["histogram"]["counts"]
    result = {"n": int(len(sample)), "volume": int(round(weights.sum())), "psi": None,
              "psi_level": None, "ks_statistic": None, "ks_p_value": None, "edges": edges,
              "training_counts": training_counts, "recent_counts": [0] * len(training_counts),
              "minimum": MIN_DRIFT_SAMPLE}
    if len(sample) == 0:
        result["status"] = "insufficient"
        return result
    recent_counts = histogram_on_edges(sample, edges, weights)
    psi = population_stability_index(training_counts, recent_counts)
    values, probabilities = training_cdf(stats)
    statistic = ks_statistic(sample, values, probabilities, weights)
    p_value = ks_p_value(statistic, effective_size(weights), max(training_count(stats), 1))
    result.update(psi=round(psi, 4), psi_level=psi_level(psi), ks_statistic=round(statistic, 4),
                  ks_p_value=float(f"{p_value:.3g}"),
                  recent_counts=[round(float(c), 3) for c in recent_counts],
                  status=sensor_status(psi, p_value, weights.sum()))
    return result


def outside_training_share(sample, stats):
    """Share of recent values outside the training [min, max] range."""
    sample = np.asarray(sample, dtype=float)
    if len(sample) == 0:
        return None
    outside = (sample < stats["min"]) | (sample > stats["max"])
    return float(outside.mean())
