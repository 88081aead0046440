"""The sensor schema: column names, units, labels and physically plausible ranges."""

import re
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Sensor:
    """One sensor column of the pump test bed.

    `low`/`high` bound what the instrument can physically report; a value outside is a
    broken sensor or a typing error and is rejected, which is not the same as anomalous.
    """

    name: str
    unit: str
    label_fr: str
    label_en: str
    low: float
    high: float
    example: float

    def label(self, language):
        """The human label in `language` ('fr' or 'en')."""
        return self.label_fr if language == "fr" else self.label_en


SENSORS = (
    Sensor("Accelerometer1RMS", "g", "Vibration, accéléromètre 1 (RMS)",
           "Vibration, accelerometer 1 (RMS)", 0.0, 10.0, 0.2024),
    Sensor("Accelerometer2RMS", "g", "Vibration, accéléromètre 2 (RMS)",
           "Vibration, accelerometer 2 (RMS)", 0.0, 10.0, 0.2752),
    Sensor("Current", "A", "Courant moteur", "Motor current", 0.0, 50.0, 2.17),
    Sensor("Pressure", "bar", "Pression en sortie de pompe", "Pressure after the pump",
           -5.0, 25.0, 0.3826),
    Sensor("Temperature", "°C", "Température du corps moteur", "Motor body temperature",
           -40.0, 200.0, 90.65),
    Sensor("Thermocouple", "°C", "Température du fluide", "Fluid temperature",
           -20.0, 150.0, 26.85),
    Sensor("Voltage", "V", "Tension moteur", "Motor voltage", 0.0, 500.0, 238.85),
    Sensor("Volume Flow RateRMS", "L/min", "Débit de circulation", "Circulation flow rate",
           0.0, 1000.0, 122.66),
)

SENSOR_COLUMNS = tuple(sensor.name for sensor in SENSORS)
SENSORS_BY_NAME = {sensor.name: sensor for sensor in SENSORS}

# Columns with a meaning of their own in sensor files; never used as features.
DATETIME_COLUMN = "datetime"
LABEL_COLUMN = "anomaly"

ASSET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # \Z: "$" lets a newline in


def sensor_values(frame, columns):
    """The float values of `columns` of a DataFrame, as an (n, m) array in that order.

    A frame whose columns are already those, in that order (as the API and batch build
    them), is converted as it is: selecting a list of columns costs more than scoring a
    reading.
    """
    columns = list(columns)
    if list(frame.columns) == columns:
        return frame.to_numpy(dtype=float)  # np.asarray(frame) takes 30 times as long
    return frame[columns].to_numpy(dtype=float)


def is_valid_asset_name(name):
    """True when `name` is a short asset name (letters, digits, '-', '_')."""
    return isinstance(name, str) and bool(ASSET_NAME_PATTERN.fullmatch(name))


def schema_as_records(sensors=SENSORS):
    """The schema as plain dicts, as stored in a model manifest."""
    return [asdict(sensor) for sensor in sensors]


def sensors_from_records(records):
    """Rebuild Sensor objects from a manifest's schema records."""
    return tuple(Sensor(**record) for record in records)
