"""Reconstruction-based contributions: which sensors, once corrected, remove most of the score.

The detector's score of a centred, scaled reading z is a quadratic form z' Phi z (the
combined T-squared + Q index, Alcala and Qin 2009).  The reconstruction-based contribution
(RBC) of sensor j is how much the score falls when sensor j is replaced by the value that
best fits the model:

    RBC_j = (Phi z)_j ** 2 / Phi_jj

Unlike the partial decomposition sum_j z_j (Phi z)_j, which smears a fault over every
correlated sensor, the largest RBC points at a faulty sensor (for a fault in one sensor, the
faulty sensor has the largest RBC when the fault is large enough).  For faults in several
sensors at once this module reconstructs greedily: it takes the sensor with the largest RBC,
reconstructs it (the score left is then a quadratic form in a smaller metric, the Schur
complement of Phi), and looks again.  So:

* the first `picks` sensors get the fall in score their reconstruction caused, in the order
  they were picked;
* the score left after those reconstructions is shared among the other sensors in
  proportion to their RBC at that point.

Every contribution is non-negative and they add up to the score; the top sensors are the
ones whose correction explains most of it.
"""

import numpy as np

_TINY = 1e-12
# Rows processed at once: each holds its own (n_features x n_features) metric.
_CHUNK = 8192


def _rbc(metric, centred):
    """(Phi z, RBC) per row, for a stack of per-row metrics Phi of shape (n, m, m)."""
    projected = np.matmul(metric, centred[:, :, None])[:, :, 0]
    diagonal = np.einsum("nii->ni", metric)
    usable = diagonal > _TINY
    rbc = np.where(usable, projected ** 2 / np.where(usable, diagonal, 1.0), 0.0)
    return projected, rbc


def _chunk_contributions(metric, centred, picks):
    n, m = centred.shape
    rows = np.arange(n)
    stack = np.broadcast_to(metric, (n, m, m)).copy()
    total = np.einsum("ni,ni->n", centred @ metric, centred)
    parts = np.zeros((n, m))
    for _ in range(min(picks, m - 1)):
        _, rbc = _rbc(stack, centred)
        chosen = np.argmax(rbc, axis=1)
        parts[rows, chosen] += rbc[rows, chosen]
        column = stack[rows, :, chosen]
        pivot = np.maximum(stack[rows, chosen, chosen], _TINY)
        # Schur complement: the metric of the score once sensor `chosen` is reconstructed.
        column = column / np.sqrt(pivot)[:, None]
        stack -= column[:, :, None] * column[:, None, :]
        stack[rows, chosen, :] = 0.0
        stack[rows, :, chosen] = 0.0
    _, rbc = _rbc(stack, centred)
    left = np.maximum(total - parts.sum(axis=1), 0.0)
    weights = rbc.sum(axis=1)
    share = np.where(weights[:, None] > _TINY, rbc / np.maximum(weights, _TINY)[:, None], 1.0 / m)
    return parts + share * left[:, None]


def reconstruction_contributions(centred, metric, picks=2):
    """Per-sensor contributions of shape (n, m) to the scores z' Phi z of the rows of `centred`.

    `metric` is the symmetric positive semi-definite Phi; `picks` sensors are reconstructed
    greedily before the rest of the score is shared by RBC (see the module docstring).
    """
    centred = np.atleast_2d(np.asarray(centred, dtype=float))
    metric = np.asarray(metric, dtype=float)
    if len(centred) == 0:
        return np.zeros((0, metric.shape[0]))
    return np.concatenate([_chunk_contributions(metric, centred[start:start + _CHUNK], picks)
                           for start in range(0, len(centred), _CHUNK)])
