"""Out of calibration: readings from another operating point, a wrong asset or a unit error.

A model only knows the range its calibration data covered.  When most readings of a request
or a file lie far outside that range, "anomaly" is the wrong word for every one of them:
the verdict the caller needs is "these readings are not from the situation this model was
calibrated on", with the sensors and how far.

Training records, per sensor, the calibration range (1% and 99% quantiles) and median
(`calibration_ranges`).  A sensor of a reading is *far* when it lies beyond that range by
more than `FAR_WIDTHS` times the range's width.  A reading is out of calibration when
`MIN_SENSORS` sensors or more are far (another operating point moves several sensors at
once; a fault in the rig usually moves one or two), or when one far sensor differs from its
calibration median by a factor of `UNIT_FACTOR` or more (a unit error).  The request is out
of calibration when more than half of its readings are.

On SKAB, rotor imbalance moves both accelerometers far (about 2.7 times their calibration
level) and stays an anomaly; a valve1 recording against a model calibrated on
anomaly-free.csv moves four sensors far (flow about 32 against 121-128 L/min) and is out of
calibration on every reading.  A pump that stops would also move several sensors far and
be reported out of calibration, with the sensors: the message says what changed, not why.
"""

import numpy as np

from features.schema import sensor_values

# Share of new calibration readings the previous version flags above which the two
# calibrations are called unlike (docs/detector.md, contamination check).
UNLIKE_SHARE = 0.5
TOP_SENSORS = 3
FAR_WIDTHS = 3.0
MIN_SENSORS = 3
UNIT_FACTOR = 5.0
MOST = 0.5
_TINY = 1e-12


def calibration_ranges(frame, columns):
    """Per sensor: the 1% / 99% quantiles and the median of the calibration readings."""
    ranges = {}
    for column in columns:
        values = np.asarray(frame[column], dtype=float)
        low, median, high = np.quantile(values, [0.01, 0.5, 0.99])
        ranges[column] = {"low": float(low), "median": float(median), "high": float(high)}
    return ranges


def _factor(value, median):
    """value / median when both have the same sign and the median is not about zero."""
    if abs(median) <= _TINY or value * median <= 0:
        return None
    return value / median


def _far_sensors(values, ranges, columns):
    """(n, m) boolean: sensors beyond their range by more than FAR_WIDTHS widths; widths."""
    low = np.array([ranges[c]["low"] for c in columns])
    high = np.array([ranges[c]["high"] for c in columns])
    width = np.maximum(high - low, np.maximum(np.abs(high), np.abs(low)) * 1e-6 + _TINY)
    beyond = np.maximum(low - values, values - high).clip(min=0) / width
    return beyond > FAR_WIDTHS, beyond


def _unit_error(values, ranges, columns, far):
    """(n, m) boolean: far sensors whose ratio to the calibration median is >= UNIT_FACTOR."""
    medians = np.array([ranges[c]["median"] for c in columns])
    usable = (np.abs(medians) > _TINY) & (values * medians > 0)
    ratio = np.where(usable, values / np.where(usable, medians, 1.0), 1.0)
    ratio = np.maximum(ratio, 1.0 / np.maximum(ratio, _TINY))
    return far & usable & (ratio >= UNIT_FACTOR)


def calibration_check(frame, ranges):
    """Whether most readings of `frame` lie far outside the calibration ranges, and where.

    Returns None when `ranges` is None (versions trained before the ranges were recorded),
    else {"out_of_calibration": bool, "readings": n, "readings_outside": k,
    "sensors": [{"sensor", "value" (median over the readings), "usual_low", "usual_high",
    "usual_median", "factor" (value / usual median, None near zero), "widths" (how many
    range widths beyond the range), "share_far"}]}; sensors are those far in more than half
    the readings, furthest first.
    """
    if ranges is None:
        return None
    columns = [column for column in ranges if column in getattr(frame, "columns", ())]
    values = sensor_values(frame, columns).reshape(-1, len(columns))
    far, beyond = _far_sensors(values, ranges, columns)
    outside = (far.sum(axis=1) >= MIN_SENSORS) | _unit_error(values, ranges, columns,
                                                              far).any(axis=1)
    count = len(values)
    verdict = bool(count and outside.sum() > MOST * count)
    share = far.mean(axis=0) if count else np.zeros(len(columns))
    sensors = []
    # Most requests have no sensor far in most readings: then no median is needed.
    furthest_first = np.argsort(-np.median(beyond, axis=0), kind="stable") \
        if (share > MOST).any() else []
    for j in furthest_first:
        if share[j] <= MOST:
            continue
        usual = ranges[columns[j]]
        value = float(np.median(values[:, j]))
        sensors.append({
            "sensor": columns[j], "value": value, "usual_low": usual["low"],
            "usual_high": usual["high"], "usual_median": usual["median"],
            "factor": _factor(value, usual["median"]),
            "widths": float(np.median(beyond[:, j])), "share_far": float(share[j]),
        })
    return {"out_of_calibration": verdict, "readings": count,
            "readings_outside": int(outside.sum()), "sensors": sensors}


def compare_calibration(previous_model, frame):
    """How new calibration readings look to an earlier version of the same asset.

    Contaminated calibration data (an anomaly under way while calibrating) often looks like
    steady operation on its own, but not to the version calibrated before it.  Scores
    `frame` (sensor columns, time order) as a sequence with `previous_model` and returns
    {"share_flagged", "sensors" (the sensors weighing most in the flagged readings),
    "unlike" (share_flagged > UNLIKE_SHARE)}.  A genuine change of machine state (an
    overhaul, another operating point) is also unlike: the caller warns, it does not refuse.
    """
    scores = previous_model.score(frame)
    start = min(previous_model.context_size, len(frame) - 1)
    flagged = np.asarray(scores.anomaly[start:], dtype=bool)
    share = float(flagged.mean()) if len(flagged) else 0.0
    sensors = []
    if flagged.any():
        weights = scores.contributions.iloc[start:][flagged].mean(axis=0)
        sensors = weights.sort_values(ascending=False).index[:TOP_SENSORS].tolist()
    return {"share_flagged": share, "sensors": sensors, "unlike": share > UNLIKE_SHARE}
