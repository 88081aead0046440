"""Numbers, shares and times on pages, written the way the reader's locale reads them."""

import math
import os
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import format_datetime, format_decimal, format_percent, get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from features.schema import SENSORS_BY_NAME
from webapp.views.calibration_text import calibration_warning

# Locale formatting: every number, share and time on a page goes through these filters, so
# French pages read "2 281,5" and "12,3 %" and times are the plant's, with UTC on hover.

def plant_zone():
    """The plant's time zone (VIGIE_TIMEZONE): charts put their ticks on its round hours."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def parse_utc(value):
    """An audit timestamp ('2026-11-28T00:08:04.196Z', naive = UTC) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def local_time(value, with_seconds=True):
    """A <time> element in plant local time (VIGIE_TIMEZONE), the UTC time in its title."""
    moment = parse_utc(value) if value else None
    if moment is None:
        return value or "—"
    utc = moment.astimezone(timezone.utc)
    shown = format_datetime(moment, "medium" if with_seconds else "short")
    return Markup('<time datetime="{iso}" title="{utc} UTC">{shown}</time>').format(
        iso=utc.strftime("%Y-%m-%dT%H:%M:%SZ"), utc=utc.strftime("%Y-%m-%d %H:%M:%S"),
        shown=shown)


def clock(value, pattern="HH:mm"):
    """A time as plain text in plant local time, in a babel pattern ('HH:mm', 'EEE d')."""
    moment = parse_utc(value) if value else None
    return format_datetime(moment, pattern) if moment else "—"


def utc_clock(value):
    """A time as plain text in UTC ('2026-11-28 00:08:04'), for what hovers over local times."""
    moment = parse_utc(value) if value else None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def number(value, decimals=None):
    """A number in the reader's locale; by default as many decimals as its size deserves."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return value if value not in (None, "") else "—"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if decimals is None:
        decimals = 3 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(round(value, decimals), format=pattern)


def reading(value, significant=4):
    """A sensor value with `significant` digits in the reader's locale (0,2025 · 26,85 · 238,9)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return value if value not in (None, "") else "—"
    if value == 0 or math.isnan(value) or math.isinf(value):
        return number(value, 0) if value == 0 else str(value)
    decimals = max(0, min(6, significant - 1 - math.floor(math.log10(abs(value)))))
    return number(value, decimals)


def percent(share, decimals=1):
    """A share (0.123) as a percentage in the reader's locale ('12,3 %', '12.3%')."""
    try:
        share = float(share)
    except (TypeError, ValueError):
        return "—"
    pattern = get_locale().percent_formats[None].pattern
    if decimals:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * decimals, 1)
    return format_percent(share, format=pattern)


def severity(score, threshold):
    """How far a score lies from its threshold, in words and as 'N x the threshold'."""
    try:
        ratio = float(score) / float(threshold)
    except (TypeError, ValueError, ZeroDivisionError):
        return ""
    times = number(ratio, 1 if ratio < 10 else 0)
    if ratio <= 1:
        return _("below the threshold (%(times)s × the threshold)", times=times)
    if ratio < 2:
        return _("just above the threshold (%(times)s × the threshold)", times=times)
    if ratio < 10:
        return _("well above the threshold (%(times)s × the threshold)", times=times)
    return _("far above the threshold (%(times)s × the threshold)", times=times)


def basename(path):
    """The file name alone: operators need the name, not where it lies on the server."""
    return os.path.basename(str(path or "").rstrip("/\\")) or path


def sensor_label(name):
    """A sensor column's label in the reader's language ('Courant moteur'); unknown names as is."""
    sensor = SENSORS_BY_NAME.get(name)
    return sensor.label(get_locale().language) if sensor else name


def sensor_unit(name):
    """A sensor column's unit ('A'), '' for unknown names."""
    sensor = SENSORS_BY_NAME.get(name)
    return sensor.unit if sensor else ""


def sensor_labels(names):
    """Sensor columns (a list or a 'A;B' string) as their labels, comma-separated."""
    if isinstance(names, str):
        names = [name for name in names.split(";") if name]
    return ", ".join(sensor_label(name) for name in names)


def register_filters(app):
    """Make the formatting filters available to every template."""
    app.jinja_env.filters.update(local_time=local_time, clock=clock, utc_clock=utc_clock,
                                 number=number, percent=percent,
                                 reading=reading, severity=severity, basename=basename,
                                 sensor_label=sensor_label, sensor_unit=sensor_unit,
                                 sensor_labels=sensor_labels,
                                 calibration_warning=calibration_warning)
