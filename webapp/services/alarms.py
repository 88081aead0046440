"""Alarms: K anomalous of the last N readings open one, M normal in a row close it; alarms.csv.

The log (alarms.csv, or the `alarm_events` table when the database is shared by several hosts:
services/record_log.py) is append-only, so an alarm is two event rows sharing one alarm_id: an
"open" row written when it opens and a "close" row written when it closes. `read_alarms` joins
them; an alarm with no close row is still open.  alarm_ids are deterministic (the stream, the file
segment and the line of the reading that opened the alarm), so that a follower replaying
readings after a crash recognises events it already wrote and never writes them twice.
"""

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

from webapp.services.record_log import RecordKind, logs_at
from webapp.services.storage import utc_now_iso

ALARM_LOG = "alarms.csv"
ALARM_COLUMNS = (
    "event", "alarm_id", "asset", "opened_at", "closed_at", "peak_score", "top_sensors",
    "model_version", "source", "file", "reading_opened_at", "reading_closed_at", "logged_at",
)
ALARM_EVENTS = RecordKind("alarm_events", ALARM_COLUMNS, ALARM_LOG, time_column="logged_at")
OPEN, CLOSE = "open", "close"

# One reading a second: 5 anomalous readings within 10 s open an alarm (an isolated spike
# does not), 30 s of normal readings in a row close it (a flapping fault stays one alarm).
DEFAULT_K, DEFAULT_N, DEFAULT_M = 5, 10, 30


class AlarmPolicyError(ValueError):
    """The K / N / M settings cannot work together."""


@dataclass(frozen=True)
class AlarmPolicy:
    """Open after `k` anomalous readings among the last `n`; close after `m` normal in a row."""

    k: int = DEFAULT_K
    n: int = DEFAULT_N
    m: int = DEFAULT_M

    def __post_init__(self):
        if not 1 <= self.k <= self.n:
            raise AlarmPolicyError(f"K must be between 1 and N (got K={self.k}, N={self.n})")
        if self.m < 1:
            raise AlarmPolicyError(f"M must be at least 1 (got M={self.m})")


@dataclass
class Verdict:
    """What the alarm logic needs to know about one scored reading."""

    score: float
    anomaly: bool
    top_sensors: list
    model_version: str
    reading_id: str = ""
    reading_time: str = ""


@dataclass
class AlarmTracker:
    """The K-of-N / M state machine of one stream; `state()` / `from_state` survive restarts."""

    policy: AlarmPolicy
    asset: str
    source: str
    file: str = ""
    window: deque = field(default_factory=deque)
    current: dict = None

    def update(self, verdict):
        """Feed one reading in time order; returns the events ('open' / 'close' rows) it caused."""
        self.window.append((bool(verdict.anomaly), float(verdict.score), list(verdict.top_sensors)))
        while len(self.window) > self.policy.n:
            self.window.popleft()
        if self.current is None:
            return self._maybe_open(verdict)
        return self._extend_or_close(verdict)

    def _maybe_open(self, verdict):
        if sum(anomalous for anomalous, _, _ in self.window) < self.policy.k:
            return []
        _, peak, top = max(self.window, key=lambda item: item[1])
        self.current = {
            "alarm_id": verdict.reading_id, "opened_at": utc_now_iso(), "peak_score": peak,
            "top_sensors": top, "versions": [verdict.model_version], "normal_run": 0,
            "reading_opened_at": verdict.reading_time,
        }
        return [self._event(OPEN)]

    def _extend_or_close(self, verdict):
        alarm = self.current
        if verdict.score > alarm["peak_score"]:
            alarm["peak_score"] = float(verdict.score)
            alarm["top_sensors"] = list(verdict.top_sensors)
        if verdict.model_version not in alarm["versions"]:
            alarm["versions"].append(verdict.model_version)
        alarm["normal_run"] = 0 if verdict.anomaly else alarm["normal_run"] + 1
        if alarm["normal_run"] < self.policy.m:
            return []
        # Older anomalies in the window belong to the alarm just closed: start afresh.
        self.window.clear()
        event = self._event(CLOSE, closed_at=utc_now_iso(), reading_closed_at=verdict.reading_time)
        self.current = None
        return [event]

    def _event(self, kind, closed_at="", reading_closed_at=""):
        alarm = self.current
        return {
            "event": kind, "alarm_id": alarm["alarm_id"], "asset": self.asset,
            "opened_at": alarm["opened_at"], "closed_at": closed_at,
            "peak_score": round(alarm["peak_score"], 6),
            "top_sensors": ";".join(alarm["top_sensors"]),
            "model_version": ";".join(alarm["versions"]), "source": self.source, "file": self.file,
            "reading_opened_at": alarm["reading_opened_at"], "reading_closed_at": reading_closed_at,
            "logged_at": utc_now_iso(),
        }

    def state(self):
        """The tracker's state as plain JSON-able values."""
        return {"window": [list(item) for item in self.window], "current": self.current}

    def restore(self, state):
        """Continue from a state saved by `state()`."""
        self.window = deque((bool(a), float(s), list(t)) for a, s, t in state.get("window", []))
        self.current = state.get("current")


def alarm_log(logs):
    """The alarm event log of `logs` (a Logs, or a log folder)."""
    return logs_at(logs).log(ALARM_EVENTS)


def read_events(logs, **filters):
    """Event rows of the alarm log, oldest first; an absent log has none."""
    return alarm_log(logs).rows(**filters)


class AlarmLog:
    """Appends alarm events of one source, skipping events that the log already holds."""

    def __init__(self, logs, source):
        self.log = alarm_log(logs)
        self.source = source
        self.written = {(row["alarm_id"], row["event"])
                        for row in self.log.rows(exact={"source": source})}

    def append(self, events):
        """Append the events not yet in the log (one write); returns those appended."""
        new = [event for event in events if (event["alarm_id"], event["event"]) not in self.written]
        if new:
            self.log.append(new)
            self.written.update((event["alarm_id"], event["event"]) for event in new)
        return new


@dataclass
class Alarm:
    """One alarm as the page shows it: its open row joined with its close row, if any."""

    alarm_id: str
    asset: str
    opened_at: str
    closed_at: str
    peak_score: float
    top_sensors: list
    model_version: str
    source: str
    file: str
    reading_opened_at: str
    reading_closed_at: str

    @property
    def is_open(self):
        return not self.closed_at

    def duration_seconds(self, now=None):
        """Seconds from opening to closing (or to `now` while the alarm is open)."""
        end = parse_utc(self.closed_at) if self.closed_at else (now or datetime.now(timezone.utc))
        return max(0.0, (end - parse_utc(self.opened_at)).total_seconds())


def parse_utc(text):
    """A timestamp written by utc_now_iso back to an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _alarm_from(row):
    return Alarm(row["alarm_id"], row["asset"], row["opened_at"], row.get("closed_at", ""),
                 float(row["peak_score"] or 0), [s for s in row["top_sensors"].split(";") if s],
                 row["model_version"], row.get("source", ""), row.get("file", ""),
                 row.get("reading_opened_at", ""), row.get("reading_closed_at", ""))


def join_events(rows):
    """Alarms from event rows: the first open row of each id, completed by its first close row."""
    alarms = {}
    for row in rows:
        alarm_id = row.get("alarm_id")
        if not alarm_id:
            continue
        if row.get("event") == CLOSE:
            # A close row repeats the opening fields, so it also stands alone.
            known = alarms.get(alarm_id)
            if known is None or known.is_open:
                alarms[alarm_id] = _alarm_from(row)
        elif alarm_id not in alarms:
            alarms[alarm_id] = _alarm_from(row)
    return list(alarms.values())


def list_alarms(logs, asset=None, limit=200):
    """Open alarms first (newest first), then up to `limit` closed ones, newest first."""
    alarms = join_events(read_events(logs))
    if asset:
        alarms = [alarm for alarm in alarms if alarm.asset == asset]
    open_alarms = sorted((a for a in alarms if a.is_open), key=lambda a: a.opened_at, reverse=True)
    closed = sorted((a for a in alarms if not a.is_open), key=lambda a: a.closed_at, reverse=True)
    return open_alarms + closed[:limit]


_OPEN_COUNTS = {}  # log -> (marker, count): the menu asks on every page


def open_alarm_count(logs):
    """How many alarms are open, re-read only when the alarm log has changed (a stat of the
    file, or one count of the table's rows)."""
    log = alarm_log(logs)
    marker = log.marker()
    if marker is None:
        return 0
    cached = _OPEN_COUNTS.get(log.key)
    if cached is None or cached[0] != marker:
        cached = (marker, sum(1 for alarm in join_events(log.rows()) if alarm.is_open))
        _OPEN_COUNTS[log.key] = cached
    return cached[1]


def alarm_assets(logs):
    """Assets that have at least one alarm, sorted."""
    rows = read_events(logs)
    return sorted({row["asset"] for row in rows if row.get("asset")})


def format_duration(seconds):
    """A duration for people: '45 s', '12 min 05 s', '3 h 20 min'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"

