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


def rejection_fields(problem):
    """reading, field, code and message of a FieldError, a batch RowProblem, an API detail
    or a stream's rejected-line tuple."""
    if isinstance(problem, tuple):  # a stream's rejected line: (line, field, code, message)
        return dict(zip(("reading", "field", "code", "message"), problem, strict=True))
    if isinstance(problem, dict):  # the JSON API's error details
        return {"reading": problem["index"], "field": problem["field"],
                "code": problem.get("code", "invalid"), "message": problem["message"]}
    if hasattr(problem, "line"):  # a batch file's rejected row: its line in the file
        return {"reading": problem.line, "field": problem.column, "code": problem.code,
                "message": problem.reason}
    return {"reading": problem.index, "field": problem.field, "code": problem.code,
            "message": problem.message}


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
