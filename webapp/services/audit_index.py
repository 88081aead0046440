"""The request index of the audit: one row per request and audit write, kept beside the day files.

logs/audit-index/requests-YYYY-MM-DD.csv holds, for each request (or chunk of a batch) written to
that day's audit file: when, the request id, channel, principal, asset, model version, batch
id, client request id, how many readings and how many anomalies. The history lists requests
from it, and "which version answered request X" looks the id up there (a file a tenth of the
audit's size) before opening the one day file that holds its readings. A day written before
the index existed gets its index built from its audit file the first time it is listed.
"""

import os

import pandas as pd

from webapp.services.audit_records import parse_records, split_header
from webapp.services.storage import append_csv, render_rows, write_text_atomic

REQUEST_COLUMNS = ("timestamp_utc", "request_id", "channel", "principal", "asset",
                   "model_version", "batch_id", "client_request_id", "readings", "anomalies")
FROM_AUDIT = ("timestamp_utc", "request_id", "channel", "principal", "asset", "model_version",
              "batch_id", "client_request_id", "anomaly")


def index_path(directory, day):
    """The request index of a UTC day, in the folder beside the audit folder `directory`
    (logs/audit-index/), so that the audit folder holds the audit day files only."""
    parent, name = os.path.split(os.path.abspath(directory))
    return os.path.join(parent, f"{name}-index", f"requests-{day}.csv")


def index_entries(rows):
    """One index row per request among audit rows (dicts), in the order first written."""
    if rows and len({row.get("request_id") for row in rows}) == 1:
        # The usual write: one request, or one chunk of a batch.
        return [{**{name: rows[0].get(name, "") for name in REQUEST_COLUMNS[:8]},
                 "readings": len(rows),
                 "anomalies": sum(row.get("anomaly") in (True, "1", 1) for row in rows)}]
    entries = {}
    for row in rows:
        entry = entries.get(row.get("request_id"))
        if entry is None:
            entry = entries[row.get("request_id")] = {
                **{name: row.get(name, "") for name in REQUEST_COLUMNS[:8]},
                "readings": 0, "anomalies": 0}
        entry["readings"] += 1
        entry["anomalies"] += row.get("anomaly") in (True, "1", 1)
    return list(entries.values())


def block_index_entry(block):
    """The index row of an AuditBlock (services/audit_block.py): one request's rows."""
    return {**{name: block.common.get(name, "") for name in REQUEST_COLUMNS[:8]},
            "readings": block.count, "anomalies": block.anomalies()}


def append_index(directory, day, rows, entries=None):
    """Add the index rows of audit rows just appended to the day's file (or `entries`)."""
    path = index_path(directory, day)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    append_csv(path, index_entries(rows) if entries is None else entries, REQUEST_COLUMNS)


def build_index(directory, day, audit_path):
    """Write the index of a day file from its audit rows (a day from before the index)."""
    frame = pd.read_csv(audit_path, dtype=str, keep_default_na=False,
                        usecols=lambda name: name in FROM_AUDIT)
    for name in FROM_AUDIT:
        if name not in frame.columns:
            frame[name] = ""
    frame["anomalies"] = (frame["anomaly"] == "1").astype(int)
    entries = frame.groupby("request_id", sort=False).agg(
        **{name: (name, "first") for name in REQUEST_COLUMNS[:8] if name != "request_id"},
        readings=("anomalies", "size"), anomalies=("anomalies", "sum")).reset_index()
    header = render_rows([dict(zip(REQUEST_COLUMNS, REQUEST_COLUMNS, strict=True))],
                         REQUEST_COLUMNS)
    path = index_path(directory, day)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = entries[list(REQUEST_COLUMNS)].to_csv(header=False, index=False, lineterminator="\n")
    write_text_atomic(path, header + body)


def read_index(directory, day, audit_path, needles=()):
    """The index rows of a day as dicts, in file order (built first when missing); [] at once
    when the file lacks one of the `needles` (bytes every wanted row holds)."""
    path = index_path(directory, day)
    if not os.path.exists(path):
        build_index(directory, day, audit_path)
    with open(path, "rb") as handle:
        content = handle.read()
    if any(needle not in content for needle in needles):
        return []
    columns, body = split_header(content)
    return [dict(zip(columns, cells, strict=False)) for cells in parse_records(body)]


def requests_of_day(directory, day, audit_path, needles=()):
    """One summary per request of a day, newest first; a batch's chunks are added up."""
    merged = {}
    for entry in reversed(read_index(directory, day, audit_path, needles)):
        held = merged.get(entry["request_id"])
        if held is None:
            merged[entry["request_id"]] = {**entry, "readings": int(entry["readings"] or 0),
                                           "anomalies": int(entry["anomalies"] or 0)}
            continue
        held["readings"] += int(entry["readings"] or 0)
        held["anomalies"] += int(entry["anomalies"] or 0)
        held["timestamp_utc"] = entry["timestamp_utc"]  # when the request began
    return list(merged.values())


def day_of_request(directory, request_id, days):
    """The day (newest first among `days`) whose index names `request_id`, or None."""
    needle = request_id.encode("utf-8")
    for day in days:
        path = index_path(directory, day)
        try:
            with open(path, "rb") as handle:
                content = handle.read()
        except FileNotFoundError:
            continue
        if needle in content:
            return day
    return None
