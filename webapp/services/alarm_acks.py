"""Alarm acknowledgements: who took an open alarm in hand, when, and what they wrote.

Kept in logs/alarm_acks.csv beside the alarm log (which the stream followers alone write), so
that a person acknowledging never races a follower on the same file; in the `alarm_acks` table
when the database is shared by several hosts (services/record_log.py).
"""

from webapp.services.record_log import RecordKind, logs_at
from webapp.services.storage import utc_now_iso

ACK_COLUMNS = ("timestamp_utc", "principal", "alarm_id", "comment")
ACKS = RecordKind("alarm_acks", ACK_COLUMNS, "alarm_acks.csv")
MAX_COMMENT = 500


class AckError(ValueError):
    """The acknowledgement cannot be recorded as given; `code` says why."""

    def __init__(self, message, code, **params):
        super().__init__(message)
        self.code = code
        self.params = params


def acknowledge(logs, alarm_id, principal, comment=""):
    """Append one acknowledgement (one locked write); returns the row written."""
    comment = " ".join((comment or "").split())
    if len(comment) > MAX_COMMENT:
        raise AckError(f"the comment has {len(comment)} characters; keep it under "
                       f"{MAX_COMMENT}", "comment_too_long", length=len(comment),
                       maximum=MAX_COMMENT)
    row = {"timestamp_utc": utc_now_iso(), "principal": principal, "alarm_id": alarm_id,
           "comment": comment}
    logs_at(logs).log(ACKS).append([row])
    return row


def acknowledgements(logs):
    """{alarm_id: [rows, oldest first]} ({} before the first acknowledgement)."""
    found = {}
    for row in logs_at(logs).log(ACKS).rows():
        found.setdefault(row["alarm_id"], []).append(row)
    return found
