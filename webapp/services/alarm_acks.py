"""Alarm acknowledgements: who took an open alarm in hand, when, and what they wrote.

Kept in logs/alarm_acks.csv beside the alarm log (which the stream followers alone write), so
that a person acknowledging never races a follower on the same file.
"""

import csv
import os

from webapp.services.storage import append_csv, utc_now_iso

ACK_COLUMNS = ("timestamp_utc", "principal", "alarm_id", "comment")
MAX_COMMENT = 500


class AckError(ValueError):
    """The acknowledgement cannot be recorded as given; `code` says why."""

    def __init__(self, message, code, **params):
        super().__init__(message)
        self.code = code
        self.params = params


def acks_path(log_dir):
    """logs/alarm_acks.csv."""
    return os.path.join(log_dir, "alarm_acks.csv")


def acknowledge(log_dir, alarm_id, principal, comment=""):
    """Append one acknowledgement (one locked write); returns the row written."""
    comment = " ".join((comment or "").split())
    if len(comment) > MAX_COMMENT:
        raise AckError(f"the comment has {len(comment)} characters; keep it under "
                       f"{MAX_COMMENT}", "comment_too_long", length=len(comment),
                       maximum=MAX_COMMENT)
    row = {"timestamp_utc": utc_now_iso(), "principal": principal, "alarm_id": alarm_id,
           "comment": comment}
    append_csv(acks_path(log_dir), [row], ACK_COLUMNS)
    return row


def acknowledgements(log_dir):
    """{alarm_id: [rows, oldest first]} ({} before the first acknowledgement)."""
    found = {}
    try:
        with open(acks_path(log_dir), newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                found.setdefault(row["alarm_id"], []).append(row)
    except FileNotFoundError:
        pass
    return found
