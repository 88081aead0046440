"""Schema validation of single readings and of tables read from files."""

import math
import random

import numpy as np
import pandas as pd
import pytest

from features import validation
from features.schema import SENSOR_COLUMNS, SENSORS
from features.validation import SchemaError, check_columns, validate_frame, validate_reading

GOOD = {sensor.name: sensor.example for sensor in SENSORS}


def test_valid_reading_gives_floats_and_no_error():
    values, errors = validate_reading({**GOOD, "Current": "2,5"})
    assert errors == []
    assert values["Current"] == 2.5
    assert set(values) == set(SENSOR_COLUMNS)


@pytest.mark.parametrize("value, code", [
    (None, "missing"), ("", "missing"), ("   ", "missing"),
    ("abc", "not_a_number"), ("1.2.3", "not_a_number"), (True, "not_a_number"),
    ([1], "not_a_number"), ({"a": 1}, "not_a_number"),
    ("nan", "not_finite"), (float("nan"), "not_finite"), ("inf", "not_finite"),
    (math.inf, "not_finite"), ("-Infinity", "not_finite"),
    (-1.0, "out_of_range"), ("1e9", "out_of_range"),
])
def test_each_bad_value_is_reported_on_its_field(value, code):
    values, errors = validate_reading({**GOOD, "Current": value})
    assert [(e.field, e.code) for e in errors] == [("Current", code)]
    assert "Current" not in values
    assert errors[0].message.startswith("Current ")


def test_every_missing_field_is_reported_at_once():
    _, errors = validate_reading({})
    assert [e.field for e in errors] == list(SENSOR_COLUMNS)


def test_out_of_range_message_names_the_range_and_unit():
    _, errors = validate_reading({**GOOD, "Voltage": 900})
    assert errors[0].message == "Voltage must be between 0 and 500 V"


def test_missing_columns_are_all_named():
    with pytest.raises(SchemaError) as caught:
        check_columns(["datetime", "Current", "Voltage"])
    assert "Volume Flow RateRMS" in caught.value.missing
    assert "Current" not in caught.value.missing
    assert len(caught.value.missing) == 6


def test_frame_validation_names_each_bad_cell_by_file_line():
    rows = [dict(GOOD) for _ in range(5)]
    rows[1]["Pressure"] = "x"
    rows[2]["Voltage"] = ""
    rows[3]["Temperature"] = "NaN"
    rows[4]["Current"] = "-3"
    table = pd.DataFrame(rows).astype(str)
    numbers, valid, errors = validate_frame(table)
    assert valid.tolist() == [True, False, False, False, False]
    assert [(e.index, e.field, e.code) for e in errors] == [
        (3, "Pressure", "not_a_number"), (4, "Voltage", "missing"),
        (5, "Temperature", "not_finite"), (6, "Current", "out_of_range")]
    assert numbers.loc[0, "Current"] == pytest.approx(GOOD["Current"])


@pytest.mark.parametrize("seed", range(4))
def test_number_columns_in_one_conversion_agree_with_the_column_by_column_check(
        seed, monkeypatch):
    rng = random.Random(seed)
    odd = [0, -1, 10**400, 1e308, float("inf"), float("nan"), 1e-300, 3, 2.5, -0.0]
    readings = [{sensor.name: rng.choice(odd) if rng.random() < 0.2 else
                 rng.uniform(sensor.low - 5, sensor.high + 5) for sensor in SENSORS}
                for _ in range(rng.choice([1, 2, 50]))]
    if seed == 3:  # a bool, a string and a missing value send the whole request column-wise
        readings[0]["Current"], readings[-1]["Voltage"] = True, "1"
        del readings[0]["Pressure"]
    numbers, clean = validation.number_columns(readings)
    with monkeypatch.context() as patch:
        patch.setattr(validation, "_plain_number_rows", lambda *_: None)
        expected_numbers, expected_clean = validation.number_columns(readings)
    assert clean.tolist() == expected_clean.tolist()
    for name in SENSOR_COLUMNS:
        np.testing.assert_array_equal(numbers[name], expected_numbers[name])
    for reading, fine in zip(readings, clean.tolist(), strict=True):
        if fine:
            assert validate_reading(reading)[1] == []
