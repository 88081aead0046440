"""Schema validation of single readings and of tables read from files."""

import math

import pandas as pd
import pytest

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
