"""Top sensors in a technician's words: the label, the value against its usual range, the share.

The usual range is the calibration range the model recorded (1 % and 99 % quantiles of the
readings it was calibrated on); versions trained before that record fall back on the same
quantiles of their training statistics.
"""

from features.schema import SENSORS_BY_NAME


def usual_range(manifest, name):
    """(low, high) of a sensor's calibration readings, or None when the manifest lacks both."""
    ranges = (manifest.get("calibration_ranges") or {}).get(name)
    if ranges:
        return ranges["low"], ranges["high"]
    quantiles = (manifest.get("training_stats") or {}).get(name, {}).get("quantiles", {})
    if "0.01" in quantiles and "0.99" in quantiles:
        return quantiles["0.01"], quantiles["0.99"]
    return None


def sensor_rows(contributions, values, manifest, language, top_sensors=()):
    """One row per sensor, largest share first: name, label, unit, value, usual range, share.

    A share is the sensor's part of the positive contributions, so it is never negative and
    the shares add up to 100 %.
    """
    positive = {name: max(float(part), 0.0) for name, part in contributions.items()}
    total = sum(positive.values())
    rows = []
    for name in sorted(positive, key=lambda n: -positive[n]):
        sensor = SENSORS_BY_NAME.get(name)
        span = usual_range(manifest, name)
        value = values.get(name)
        rows.append({
            "name": name, "label": sensor.label(language) if sensor else name,
            "unit": sensor.unit if sensor else "", "value": value,
            "usual_low": span[0] if span else None, "usual_high": span[1] if span else None,
            "outside": bool(span and value is not None and not span[0] <= value <= span[1]),
            "share": positive[name] / total if total else 0.0, "top": name in top_sensors,
        })
    return rows
