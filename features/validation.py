"""Input validation: every reading is checked against the sensor schema before it is scored."""

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.schema import SENSORS


class SchemaError(ValueError):
    """The input lacks sensor columns that the model needs."""

    def __init__(self, missing):
        self.missing = list(missing)
        super().__init__("missing sensor columns: " + ", ".join(self.missing))


@dataclass
class FieldError:
    """One invalid value: where it is (`index`: reading index or file line), which field, why.

    `code` is stable for programs and translation; `message` is plain English for people.
    """

    index: int
    field: str
    code: str
    message: str
    params: dict = field(default_factory=dict)

    def as_dict(self):
        """The error as the JSON API reports it."""
        return {"index": self.index, "field": self.field, "message": self.message}


def _range_message(sensor):
    return f"must be between {sensor.low:g} and {sensor.high:g} {sensor.unit}"


MESSAGES = {
    "missing": "is required",
    "not_a_number": "must be a number",
    "not_finite": "must be a finite number (not NaN or infinity)",
}


def _error(index, sensor, code, value=None):
    message = _range_message(sensor) if code == "out_of_range" else MESSAGES[code]
    params = {"low": sensor.low, "high": sensor.high, "unit": sensor.unit, "value": value}
    return FieldError(index, sensor.name, code, f"{sensor.name} {message}", params)


def parse_number(value):
    """Turn a form or JSON value into a float; raise ValueError with a code otherwise.

    A decimal comma is accepted because French plant exports and keyboards produce it.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("missing")
    if isinstance(value, bool):
        raise ValueError("not_a_number")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            raise ValueError("not_a_number") from None
    else:
        raise ValueError("not_a_number")
    if not math.isfinite(number):
        raise ValueError("not_finite")
    return number


def validate_reading(raw, sensors=SENSORS, index=0):
    """Check one reading (a mapping of sensor name to value).

    Returns (values, errors): `values` maps every valid sensor to a float, `errors` lists
    every problem found, so that a user can fix them all at once.
    """
    values, errors = {}, []
    for sensor in sensors:
        try:
            number = parse_number(raw.get(sensor.name))
        except ValueError as exc:
            errors.append(_error(index, sensor, str(exc)))
            continue
        except OverflowError:
            errors.append(_error(index, sensor, "not_finite"))
            continue
        if not sensor.low <= number <= sensor.high:
            errors.append(_error(index, sensor, "out_of_range", number))
            continue
        values[sensor.name] = number
    return values, errors


NUMBER_TYPES = (float, int)  # exact types: a JSON true is a bool, never a number here


def _number_column(values, sensor):
    """(floats, clean) for one sensor's values: clean marks finite in-range int or float values."""
    kinds = set(map(type, values))
    try:
        if kinds.issubset(NUMBER_TYPES):
            numbers = np.array(values, dtype=float)
        else:
            numbers = np.array([value if type(value) in NUMBER_TYPES else np.nan
                                for value in values], dtype=float)
    except OverflowError:  # an integer too large for a float: the reading-by-reading check names it
        return np.full(len(values), np.nan), np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        clean = np.isfinite(numbers) & (numbers >= sensor.low) & (numbers <= sensor.high)
    return numbers, clean


def _plain_number_rows(readings, sensors):
    """number_columns in one conversion when every value is an int or a float (nearly every
    request: a column at a time cost more than scoring a reading); None otherwise."""
    names = [sensor.name for sensor in sensors]
    rows = [[reading.get(name) for name in names] for reading in readings]
    if not {type(value) for row in rows for value in row}.issubset(NUMBER_TYPES):
        return None
    try:
        matrix = np.array(rows, dtype=float).reshape(len(rows), len(names))
    except OverflowError:
        return None
    low, high = _limits(tuple(sensors))
    with np.errstate(invalid="ignore"):
        clean = (np.isfinite(matrix) & (matrix >= low) & (matrix <= high)).all(axis=1)
    return {name: matrix[:, j] for j, name in enumerate(names)}, clean


@functools.lru_cache(maxsize=16)
def _limits(sensors):
    return (np.array([sensor.low for sensor in sensors], dtype=float),
            np.array([sensor.high for sensor in sensors], dtype=float))


def number_columns(readings, sensors=SENSORS):
    """Check readings (mappings of sensor name to a number) column by column, without messages.

    Returns (numbers, clean): `numbers` maps each sensor to a float array, and `clean` marks
    the readings whose every sensor is an int or a float, finite and within its range, exactly
    the readings for which validate_reading finds no problem when given numbers. The others
    are few in practice: validate_reading names their problems one reading at a time.
    """
    quick = _plain_number_rows(readings, sensors)
    if quick is not None:
        return quick
    numbers, clean = {}, np.ones(len(readings), dtype=bool)
    for sensor in sensors:
        column, column_clean = _number_column([reading.get(sensor.name) for reading in readings],
                                              sensor)
        numbers[sensor.name] = column
        clean &= column_clean
    return numbers, clean


def check_columns(columns, sensors=SENSORS):
    """Raise SchemaError naming every sensor column absent from `columns`."""
    present = set(columns)
    missing = [sensor.name for sensor in sensors if sensor.name not in present]
    if missing:
        raise SchemaError(missing)


# A cell made only of these characters is a plain decimal number or is not a number at all.
PLAIN_BYTES = b"0123456789.eE+-"


def _plain_numbers(raw, sensor):
    """The column as floats when every cell is a plain number within range, else None.

    Nearly every cell of a plant export is one: numpy converts them in one pass, and only a
    column holding anything else (blanks, decimal commas, text, values out of range) goes
    through the cell rules of _column_errors, which give the same numbers for plain ones.
    """
    cells = raw.to_numpy(dtype=object)
    try:
        # Deleting the characters of plain numbers leaves nothing (non-ASCII reads as '?').
        if "".join(cells).encode("ascii", "replace").translate(None, PLAIN_BYTES):
            return None
        numbers = cells.astype(np.float64)
    except (TypeError, ValueError):  # a cell that is not text, or not a number after all
        return None
    if not ((numbers >= sensor.low) & (numbers <= sensor.high)).all():
        return None
    return numbers


def _column_errors(raw, sensor, first_line):
    """Vectorised check of one column of text cells; returns (numbers, errors)."""
    text = raw.astype("string").str.strip()
    empty = text.isna() | (text == "")
    numbers = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
    numbers = numbers.astype("float64")
    not_number = numbers.isna() & ~empty & ~text.str.lower().isin(["nan", "-nan", "+nan"])
    not_finite = ~empty & ~not_number & ~np.isfinite(numbers.to_numpy(na_value=np.nan))
    finite = numbers.where(~not_finite)
    out_of_range = finite.notna() & ((finite < sensor.low) | (finite > sensor.high))
    errors = []
    for code, mask in (("missing", empty), ("not_a_number", not_number),
                       ("not_finite", not_finite), ("out_of_range", out_of_range)):
        for position in np.flatnonzero(mask.to_numpy(dtype=bool)):
            value = numbers.iat[position] if code == "out_of_range" else None
            errors.append(_error(first_line + int(position), sensor, code, value))
    bad = (empty | not_number | not_finite | out_of_range).to_numpy(dtype=bool)
    return numbers, bad, errors


def validate_frame(frame, sensors=SENSORS, first_line=2):
    """Check every sensor cell of a table read as text.

    Returns (numbers, valid, errors): `numbers` holds the sensor columns as floats, `valid`
    is a boolean array of the rows with no problem, and `errors` names each bad cell by its
    line in the file (`first_line` is the line of the first row; the header is line 1).
    """
    check_columns(frame.columns, sensors)
    numbers = pd.DataFrame(index=frame.index)
    valid = np.ones(len(frame), dtype=bool)
    errors = []
    for sensor in sensors:
        plain = _plain_numbers(frame[sensor.name], sensor)
        if plain is not None:
            numbers[sensor.name] = plain
            continue
        column, bad, column_errors = _column_errors(frame[sensor.name], sensor, first_line)
        numbers[sensor.name] = column.to_numpy()
        valid &= ~bad
        errors.extend(column_errors)
    errors.sort(key=lambda error: error.index)
    return numbers, valid, errors
