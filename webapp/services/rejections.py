"""Rejected inputs: one CSV row per invalid value, so monitoring can count what was refused.

Rejected readings never reach the audit (they were not scored), so every channel that refuses
a reading calls record_rejections(); the files are logs/rejections-YYYY-MM-DD.csv.
"""

import logging
import os
import re

from webapp.services.storage import append_csv, utc_now_iso
from webapp.services.storage import day_files as storage_day_files

REJECTION_COLUMNS = ("timestamp_utc", "request_id", "channel", "principal", "asset",
                     "reading", "field", "code", "message")
REJECTION_FILE = re.compile(r"^rejections-(\d{4}-\d{2}-\d{2})\.csv$")
log = logging.getLogger("vigie.rejections")


def day_files(log_dir):
    """{day: path} of the rejection files in `log_dir`."""
    return storage_day_files(log_dir, REJECTION_FILE)


def rejection_path(log_dir, day):
    """The rejection file of a UTC day ('YYYY-MM-DD')."""
    return os.path.join(log_dir, f"rejections-{day}.csv")


def rejection_fields(error):
    """The row of one refused value: every channel hands a features.validation.FieldError
    (index = the reading's index in a request, or its line in a file)."""
    return {"reading": error.index, "field": error.field, "code": error.code,
            "message": error.message}


def record_rejections(log_dir, channel, principal, asset, errors, request_id=""):
    """Append one row per FieldError (index = reading or file line); returns rows written.

    Counting rejections is monitoring, not the audit: a failure here is logged and does not
    hide the user's real answer (the list of values to fix).
    """
    if not errors:
        return 0
    now = utc_now_iso()
    rows = [{"timestamp_utc": now, "request_id": request_id, "channel": channel,
             "principal": principal, "asset": asset or "", **rejection_fields(error)}
            for error in errors]
    try:
        os.makedirs(log_dir, exist_ok=True)
        append_csv(rejection_path(log_dir, now[:10]), rows, REJECTION_COLUMNS)
    except OSError as exc:
        log.error("could not record %d rejected values: %s", len(rows), exc)
        return 0
    return len(rows)
