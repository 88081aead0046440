"""A stream's files: its id, its checkpoint (written atomically), its audit rows and its status."""

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass

CHECKPOINT_FILE = "checkpoint.json"
LOCK_FILE = "lock"
ERROR_LOG = "errors.csv"


class StreamError(Exception):
    """The stream cannot go on; the message says what to fix."""


def stream_id(path, asset):
    """A stable id for following `path` for `asset`: the asset and a digest of the absolute path."""
    digest = hashlib.sha256(f"{os.path.abspath(path)}\n{asset}".encode("utf-8")).hexdigest()
    return f"{asset}-{digest[:12]}"


def stream_dir(log_dir, sid):
    """Where a stream keeps its checkpoint and its error log."""
    return os.path.join(log_dir, "streams", sid)


def read_checkpoint(path):
    """The saved checkpoint, or None for a stream never followed."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as exc:
        raise StreamError(f"the checkpoint {path} cannot be read ({exc}); move it away to "
                          "start the stream again from the beginning of the file") from exc


def request_id_for(sid, segment, first, last):
    """The audit request_id of the readings of lines first..last of a segment."""
    return f"{sid}-s{segment}-{first}-{last}"


def parse_request_id(sid, request_id):
    """(segment, first, last) from a request_id made by request_id_for, else None."""
    match = re.fullmatch(re.escape(sid) + r"-s(\d+)-(\d+)-(\d+)", request_id or "")
    return tuple(int(part) for part in match.groups()) if match else None


@dataclass
class StreamStatus:
    """What the alarms page shows about one followed stream, read from its checkpoint."""

    stream_id: str
    asset: str
    path: str
    line: int
    updated_at: str
    rejected_lines: int
    alarm_open: bool


def _rejected_lines(directory):
    try:
        with open(os.path.join(directory, ERROR_LOG), encoding="utf-8", newline="") as handle:
            return len({(row["segment"], row["line"]) for row in csv.DictReader(handle)})
    except FileNotFoundError:
        return 0


def stream_statuses(log_dir):
    """Every stream with a checkpoint under log_dir/streams, most recently updated first."""
    root = os.path.join(log_dir, "streams")
    statuses = []
    for sid in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        directory = os.path.join(root, sid)
        try:
            saved = read_checkpoint(os.path.join(directory, CHECKPOINT_FILE))
        except StreamError:
            continue
        if saved is None:
            continue
        segment = saved.get("segment") or {}
        statuses.append(StreamStatus(
            sid, saved["asset"], saved["path"], segment.get("line", 0), saved["updated_at"],
            _rejected_lines(directory), bool(saved.get("alarm", {}).get("current"))))
    return sorted(statuses, key=lambda status: status.updated_at, reverse=True)
