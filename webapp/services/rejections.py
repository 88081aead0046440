"""Rejected inputs: one row per invalid value, so monitoring can count what was refused.

Rejected readings never reach the audit (they were not scored), so every channel that refuses
a reading calls record_rejections(); the rows go to logs/rejections-YYYY-MM-DD.csv, or to the
`rejections` table when the database is shared (services/record_log.py).
"""

import logging

import sqlalchemy as sa

from webapp.services.record_log import RecordKind, logs_at
from webapp.services.storage import utc_now_iso

REJECTION_COLUMNS = ("timestamp_utc", "request_id", "channel", "principal", "asset",
                     "reading", "field", "code", "message")
REJECTIONS = RecordKind("rejections", REJECTION_COLUMNS, "rejections-{day}.csv")
log = logging.getLogger("vigie.rejections")


def rejection_log(logs):
    """The rejection log of `logs` (a Logs, or a log folder)."""
    return logs_at(logs).log(REJECTIONS)


def rejection_fields(error):
    """The row of one refused value: every channel hands a features.validation.FieldError
    (index = the reading's index in a request, or its line in a file)."""
    return {"reading": error.index, "field": error.field, "code": error.code,
            "message": error.message}


def record_rejections(logs, channel, principal, asset, errors, request_id=""):
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
        rejection_log(logs).append(rows)
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        log.error("could not record %d rejected values: %s", len(rows), exc)
        return 0
    return len(rows)
