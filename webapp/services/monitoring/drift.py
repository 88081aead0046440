"""Data drift of one sensor: recent inputs against the training statistics of a manifest.

Two measures, because each misses what the other sees:
- the population stability index (PSI) over the manifest's training histogram bins says how
  much the shape moved (conventional reading: below 0.1 stable, 0.1 to 0.25 moderate shift,
  0.25 and above a large shift), but it is noisy on small samples;
- a two-sample Kolmogorov-Smirnov test against the training CDF (rebuilt from the manifest's
  quantile grid) says whether the move is more than chance, given both sample sizes.
A sensor is marked `drift` when both agree on a large shift (PSI >= 0.25 and KS p < 0.01),
`warning` on a moderate significant shift (PSI >= 0.1 and KS p < 0.01) or on a large PSI alone
once the sample is big enough for PSI to be trusted (PSI_RELIABLE_SAMPLE), `stable` otherwise,
and `insufficient` below MIN_DRIFT_SAMPLE recent readings.
"""

import math

import numpy as np
from scipy.stats import kstwobign

PSI_WARNING = 0.1
PSI_DRIFT = 0.25
KS_P_VALUE = 0.01
MIN_DRIFT_SAMPLE = 50
PSI_RELIABLE_SAMPLE = 500  # below it a 20-bin PSI of an unchanged sensor often exceeds 0.25
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


def histogram_on_edges(values, edges):
    """Counts of `values` on the training bins; values beyond the training range go to the
    first or last bin, where a shift past the range shows up as a large PSI."""
    edges = np.asarray(edges, dtype=float)
    clipped = np.clip(np.asarray(values, dtype=float), edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
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


def ks_statistic(sample, cdf_values, cdf_probabilities):
    """Largest gap between the sample's empirical CDF and the training CDF, checked at every
    sample value and every grid value.

    A fine grid (the 101 quantiles) is read as a step function, which stays exact for sensors
    with a few discrete levels; the coarse grid of older manifests is interpolated instead.
    """
    x = np.sort(np.asarray(sample, dtype=float))
    points = np.concatenate([x, cdf_values])
    sample_cdf = np.searchsorted(x, points, side="right") / len(x)
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


def sensor_status(psi, p_value, n_recent):
    """stable / warning / drift / insufficient, by the thresholds in the module docstring."""
    if n_recent < MIN_DRIFT_SAMPLE or math.isnan(psi):
        return "insufficient"
    significant = p_value < KS_P_VALUE
    if psi >= PSI_DRIFT and significant:
        return "drift"
    if psi >= PSI_WARNING and significant:
        return "warning"
    if psi >= PSI_DRIFT and n_recent >= PSI_RELIABLE_SAMPLE:
        return "warning"
    return "stable"


def sensor_drift(sample, stats):
    """Drift figures of one sensor: PSI, KS statistic and p-value, status, both histograms."""
    sample = np.asarray(sample, dtype=float)
    sample = sample[np.isfinite(sample)]
    edges = stats["histogram"]["edges"]
    training_counts = stats["histogram"]["counts"]
    result = {"n": int(len(sample)), "psi": None, "ks_statistic": None, "ks_p_value": None,
              "edges": edges, "training_counts": training_counts,
              "recent_counts": [0] * len(training_counts)}
    if len(sample) == 0:
        result["status"] = "insufficient"
        return result
    recent_counts = histogram_on_edges(sample, edges)
    psi = population_stability_index(training_counts, recent_counts)
    values, probabilities = training_cdf(stats)
    statistic = ks_statistic(sample, values, probabilities)
    p_value = ks_p_value(statistic, len(sample), max(training_count(stats), 1))
    result.update(psi=round(psi, 4), ks_statistic=round(statistic, 4),
                  ks_p_value=float(f"{p_value:.3g}"), recent_counts=recent_counts.tolist(),
                  status=sensor_status(psi, p_value, len(sample)))
    return result


def outside_training_share(sample, stats):
    """Share of recent values outside the training [min, max] range."""
    sample = np.asarray(sample, dtype=float)
    if len(sample) == 0:
        return None
    outside = (sample < stats["min"]) | (sample > stats["max"])
    return float(outside.mean())
