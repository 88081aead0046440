"""The explanation check: faults injected into normal readings; how often the top sensors name them.

Normal readings (e.g. data/anomaly-free.csv) are cut into blocks of `block` readings; even
blocks calibrate a model with `fit_model`, odd blocks receive the faults, so the faulty
readings are normal readings the model never saw, apart from the fault.  A fault shifts one
sensor, or two, by 3 to 10 robust standard deviations (IQR / 1.349 of that sensor in the
calibration readings, random sign) and is judged:

* as a single reading, as the reading form scores it (no trailing window);
* as a sequence: the last `segment` readings of a stretch carry a step fault, scored with
  the earlier readings as context, and the reading explained is the highest-scoring one,
  as an alarm's peak reading is.

A one-sensor case is right when that sensor ranks first; a two-sensor case is right when
both rank in the top two.  Cases are explained whether or not they cross the threshold (the
share that did is reported beside).
"""

import numpy as np
import pandas as pd

from features.pipeline import fit_model
from features.validation import validate_frame
from webapp.services.csvfiles import CsvFormatError, read_table

class ExplanationCheckError(ValueError):
    """The normal readings cannot be used for the check; the message says why."""


ROBUST_STD = 1.349  # IQR of a normal distribution, in standard deviations
LOW, HIGH = 3.0, 10.0
LABELS = {1: "one_sensor", 2: "two_sensors", 3: "three_sensors"}


def split_blocks(frame, block):
    """(calibration, test) readings: even blocks of `block` rows, then odd blocks."""
    index = np.arange(len(frame)) // block
    calibration = frame[index % 2 == 0].reset_index(drop=True)
    test = frame[index % 2 == 1].reset_index(drop=True)
    if len(calibration) < 2 * block or len(test) < block:
        raise ExplanationCheckError(f"the explanation check needs at least {4 * block} normal "
                                    f"readings, not {len(frame)}")
    return calibration, test


def _fault(rng, n_sensors, count, spread):
    """(sensor indices, shifts in raw units) of one injected fault."""
    sensors = rng.choice(n_sensors, count, replace=False)
    shifts = rng.uniform(LOW, HIGH, count) * rng.choice([-1.0, 1.0], count) * spread[sensors]
    return sensors, shifts


def _right(parts, sensors):
    """Whether the sensors hold the top len(sensors) contributions."""
    top = np.argsort(-np.asarray(parts), kind="stable")[:len(sensors)]
    return set(top.tolist()) == set(np.asarray(sensors).tolist())


def _single_case(model, test, rng, sensors, shifts):
    reading = test.iloc[[rng.integers(len(test))]].copy()
    reading.iloc[0, sensors] += shifts
    scores = model.score(reading, single=True)
    return _right(scores.contributions.iloc[0], sensors), bool(scores.anomaly[0])


def _sequence_case(model, test, rng, sensors, shifts, segment):
    context_size = max(model.context_size, 1)
    start = int(rng.integers(context_size, len(test) - segment))
    context = test.iloc[start - context_size:start]
    faulty = test.iloc[start:start + segment].copy()
    faulty.iloc[:, sensors] += shifts
    scores = model.score(faulty, context=context)
    peak = int(np.argmax(scores.scores))
    return _right(scores.contributions.iloc[peak], sensors), bool(scores.anomaly.any())


def explanation_check(frame, cases=200, seed=0, block=500, segment=60, settings=None,
                      faulty=(1, 2)):
    """Shares of injected faults whose top sensors are right, for the form and for sequences.

    `frame` holds normal readings in time order, sensor columns only; `faulty` lists how
    many sensors a fault shifts (1 to 3).  Returns {"single": {...}, "sequence": {...}},
    each with the share right per kind ("one_sensor", "two_sensors", "three_sensors"),
    "flagged" (share of cases over the threshold) and "cases" per kind.
    """
    calibration, test = split_blocks(frame, block)
    model, _ = fit_model(calibration, settings)
    columns = list(model.columns)
    calibration, test = calibration[columns], test[columns]
    q75, q25 = np.percentile(calibration.to_numpy(dtype=float), [75, 25], axis=0)
    spread = np.maximum((q75 - q25) / ROBUST_STD, 1e-9)
    rng = np.random.default_rng(seed)
    report = {}
    for mode in ("single", "sequence"):
        shares, flagged = {}, []
        for count in faulty:
            right = []
            for _ in range(cases):
                sensors, shifts = _fault(rng, len(columns), count, spread)
                if mode == "single":
                    outcome = _single_case(model, test, rng, sensors, shifts)
                else:
                    outcome = _sequence_case(model, test, rng, sensors, shifts, segment)
                right.append(outcome[0])
                flagged.append(outcome[1])
            shares[LABELS[count]] = float(np.mean(right))
        report[mode] = {**shares, "flagged": float(np.mean(flagged)), "cases": cases}
    return report


def normal_readings(path):
    """The sensor columns of a normal-operation file, validated (raises on invalid values)."""
    try:
        numbers, _, errors = validate_frame(read_table(path))
    except (OSError, CsvFormatError, ValueError) as exc:
        raise ExplanationCheckError(f"{path}: {exc}") from exc
    if errors:
        raise ExplanationCheckError(f"{len(errors)} invalid values in {path}")
    return pd.DataFrame(numbers)
