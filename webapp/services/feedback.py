"""Feedback from the floor: what the technician found behind a flagged reading or an alarm.

Rows go to logs/feedback.csv (formula-safe, one locked write), or to the `feedback` table when
the database is shared by several hosts (services/record_log.py).
Besides the issue's columns (timestamp_utc, principal, request_id or alarm_id, verdict,
comment), a row keeps the reading's position in its request, its asset, model version and
prediction time, so precision per version and labelled readings need no search.
"""

from webapp.services.audit import request_rows
from webapp.services.record_log import RecordKind, logs_at
from webapp.services.storage import utc_now_iso
from webapp.services.text import UnsafeText, check_text

FEEDBACK_COLUMNS = ("timestamp_utc", "principal", "request_id", "reading", "alarm_id",
                    "verdict", "comment", "asset", "model_version", "prediction_time")
VERDICTS = ("confirmed_fault", "false_alarm", "unsure")
LABELS = {"confirmed_fault": 1, "false_alarm": 0}
FEEDBACK = RecordKind("feedback", FEEDBACK_COLUMNS, "feedback.csv")
MAX_COMMENT = 500


class FeedbackError(ValueError):
    """The feedback cannot be recorded as given; the message says what to fix.

    `character` is set (escaped) when the comment holds a control character, for pages that
    say it in the user's language.
    """

    def __init__(self, message, character=""):
        super().__init__(message)
        self.character = character


def feedback_path(log_dir):
    """logs/feedback.csv (the file store)."""
    return logs_at(log_dir).log(FEEDBACK).path()


def record_feedback(logs, principal, verdict, comment="", *, request_id="", reading="",
                    alarm_id="", asset="", model_version="", prediction_time=""):
    """Validate and append one feedback row; returns the row written."""
    if verdict not in VERDICTS:
        raise FeedbackError(f"verdict must be one of {', '.join(VERDICTS)}")
    if bool(request_id) == bool(alarm_id):
        raise FeedbackError("give either a request id (a reading) or an alarm id, not both")
    comment = " ".join((comment or "").split())
    if len(comment) > MAX_COMMENT:
        raise FeedbackError(f"the comment has {len(comment)} characters; keep it under "
                            f"{MAX_COMMENT}")
    try:
        check_text(comment, "the comment")
    except UnsafeText as exc:
        raise FeedbackError(str(exc), exc.character) from None
    row = {"timestamp_utc": utc_now_iso(), "principal": principal, "request_id": request_id,
           "reading": reading, "alarm_id": alarm_id, "verdict": verdict, "comment": comment,
           "asset": asset, "model_version": model_version, "prediction_time": prediction_time}
    logs_at(logs).log(FEEDBACK).append([row])
    return row


def read_feedback(logs, **filters):
    """Feedback rows, oldest first ([] before the first one); `filters` as RecordLog.rows."""
    return logs_at(logs).log(FEEDBACK).rows(**filters)


def feedback_by_reading(logs):
    """{(request_id, reading): [rows]} for feedback on readings, oldest first."""
    found = {}
    for row in read_feedback(logs):
        if row.get("request_id"):
            found.setdefault((row["request_id"], row.get("reading", "")), []).append(row)
    return found


def feedback_by_alarm(logs):
    """{alarm_id: [rows]} for feedback on alarms, oldest first."""
    found = {}
    for row in read_feedback(logs):
        if row.get("alarm_id"):
            found.setdefault(row["alarm_id"], []).append(row)
    return found


def labelled_readings(logs, audit_dir, asset=None):
    """Readings labelled by feedback, as a DataFrame of their inputs plus `anomaly`
    (confirmed fault = 1, false alarm = 0); the latest feedback on a reading wins and
    'unsure' readings are left out. Columns also give request_id, reading and model_version.
    For evaluating a candidate version on what the plant actually saw.
    """
    import pandas as pd

    latest = {}
    for (request_id, reading), rows in feedback_by_reading(logs).items():
        verdict = rows[-1]["verdict"]
        if verdict in LABELS and (asset is None or rows[-1].get("asset") == asset):
            latest[(request_id, reading)] = (LABELS[verdict], rows[-1])
    records = []
    for (request_id, reading), (label, row) in latest.items():
        day = (row.get("prediction_time") or "")[:10] or None
        for audited in request_rows(audit_dir, request_id, day=day):
            if str(audited["reading"]) == str(reading):
                records.append({**audited["inputs"], "anomaly": label, "request_id": request_id,
                                "reading": audited["reading"],
                                "model_version": audited["model_version"]})
    return pd.DataFrame.from_records(records)
