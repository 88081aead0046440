"""Errors of the application log (logs/app.log*) inside a window, memoised per file."""

import os
import re
from datetime import datetime, timezone

LOG_ERROR_LINE = re.compile(
    rb"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),\d+ (?:ERROR|CRITICAL) \[([^\]]*)\] ([^:]+): (.*)$",
    re.MULTILINE)
LAST_ERRORS = 10


# --- application log errors -------------------------------------------------------------------

_LOG_MEMO = {}


def log_errors(log_dir, start, end):
    """ERROR and CRITICAL lines of logs/app.log* inside [start, end), oldest first."""
    entries = []
    for path in sorted(p for p in (os.path.join(log_dir, n) for n in _list(log_dir))
                       if os.path.basename(p).startswith("app.log")):
        entries.extend(e for e in _errors_of(path) if start <= e["at"] < end)
    entries.sort(key=lambda e: e["at"])
    return [{k: v for k, v in e.items() if k != "at"} for e in entries]


def _list(directory):
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


def _errors_of(path):
    """Error lines of one log file, memoised on its size and mtime."""
    stat = os.stat(path)
    key = (stat.st_size, stat.st_mtime_ns)
    held = _LOG_MEMO.get(path)
    if held and held[0] == key:
        return held[1]
    with open(path, "rb") as handle:
        text = handle.read()
    entries = []
    for match in LOG_ERROR_LINE.finditer(text):
        # asctime is the server's local time: convert to UTC like everything else here
        at = datetime.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S").astimezone(
            timezone.utc)
        entries.append({"at": at, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "request_id": match.group(2).decode(errors="replace"),
                        "logger": match.group(3).decode(errors="replace"),
                        "message": match.group(4).decode(errors="replace")[:300]})
    _LOG_MEMO[path] = (key, entries)
    return entries
