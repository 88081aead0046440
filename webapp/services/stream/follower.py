"""Stream follower: scores each new line of a growing sensor CSV exactly once, across restarts.

How "exactly once" holds (docs/guide.md, "Live streams and alarms"):

* The follower reads a *segment* of the file (one inode from its header on; a rotation or a
  truncation starts the next segment) and numbers its lines as the file does (header = 1).
* Each poll handles the complete lines that arrived, in this order: rejected lines to the
  stream's error log, one audit write for the valid ones, alarm events, then the checkpoint
  (written to a temporary file, fsync'ed, renamed over the old one).
* Every audit row of a poll carries batch_id = stream id and the deterministic request_id
  "<stream id>-s<segment>-<first line>-<last line>".  On start-up the follower looks in the
  audit for rows of its stream beyond the checkpoint: they are the poll that was audited
  just before a crash.  It replays them from the audit (model context from their inputs,
  alarms from their verdicts) instead of scoring those lines again.
* Error rows and alarm events are keyed (segment + line, alarm_id), so one written just
  before a crash is recognised and not written twice.
"""

import csv
import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass, field

import pandas as pd

from features.schema import DATETIME_COLUMN
from features.validation import FieldError, validate_frame
from webapp.services.alarms import AlarmLog, AlarmPolicy, AlarmTracker, Verdict
from webapp.services.audit import stream_rows
from webapp.services.csvfiles import sniff_separator
from webapp.services.rejections import record_rejections
from webapp.services.scoring import predict_and_audit
from webapp.services.storage import append_csv, utc_now_iso, write_json_atomic
from webapp.services.stream.checkpoint import (CHECKPOINT_FILE, ERROR_LOG, LOCK_FILE, StreamError,
                                               parse_request_id, read_checkpoint, request_id_for,
                                               stream_dir, stream_id)
from webapp.services.stream.tail import FileTail, Segment
from webapp.services.text import unsafe_rows

log = logging.getLogger("vigie.stream")
ERROR_COLUMNS = ("logged_at", "segment", "file", "line", "field", "code", "message")
DEFAULT_MAX_LINES = 1000
# Earlier readings kept for the model's trailing windows; more than any model needs today,
# so that a switch to a version with longer windows still finds its context.
CONTEXT_FLOOR = 64


@dataclass
class Totals:
    """What this run did, for the summary line."""

    lines: int = 0
    scored: int = 0
    replayed: int = 0
    rejected: int = 0
    alarms_opened: int = 0
    alarms_closed: int = 0
    last_version: str = ""


@dataclass
class StreamFollower(FileTail):
    """Follows `path` for `asset`; call start(), then poll() repeatedly, then stop()."""

    path: str
    asset: str
    models: object
    sink: object
    log_dir: str
    principal: str
    policy: AlarmPolicy = field(default_factory=AlarmPolicy)
    from_end: bool = False
    max_lines: int = DEFAULT_MAX_LINES
    settle_seconds: float = 1.0
    logs: object = None  # where alarms and rejections go (record_log.Logs); None: log_dir

    def __post_init__(self):
        self.path = os.path.abspath(self.path)
        self.logs = self.logs or self.log_dir
        self.sid = stream_id(self.path, self.asset)
        self.directory = stream_dir(self.log_dir, self.sid)
        self.checkpoint_path = os.path.join(self.directory, CHECKPOINT_FILE)
        self.error_log_path = os.path.join(self.directory, ERROR_LOG)
        self.tracker = AlarmTracker(self.policy, self.asset, self.sid, self.path)
        self.totals = Totals()
        self.segment = None
        self.handle = None
        self.sequence = 0
        self.context = None
        self.logged_error_lines = set()
        self.next_segment = 1
        self.started = False
        self.lock = None

    # ----- start-up and checkpoint -----------------------------------------------------

    def start(self):
        """Load the checkpoint, replay a poll audited just before a crash, open the file."""
        os.makedirs(self.directory, exist_ok=True)
        self._lock_stream()
        self.alarm_log = AlarmLog(self.logs, self.sid)
        saved = read_checkpoint(self.checkpoint_path)
        if saved is not None:
            self._restore(saved)
            self._replay_audited(saved["updated_at"][:10])
        self._open_current_file(fresh=saved is None)
        self.started = True
        self.save_checkpoint()

    def _lock_stream(self):
        """Refuse a second follower of the same stream: both would score every line."""
        self.lock = open(os.path.join(self.directory, LOCK_FILE), "a+", encoding="utf-8")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock.seek(0)
            holder = self.lock.read().strip() or "another process"
            self.lock.close()
            raise StreamError(f"this stream is already being followed ({holder}); stop it "
                              "first") from None
        self.lock.truncate(0)
        self.lock.write(f"process {os.getpid()}")
        self.lock.flush()

    def _restore(self, saved):
        if saved.get("asset") != self.asset or saved.get("path") != self.path:
            raise StreamError(f"the checkpoint {self.checkpoint_path} belongs to another stream")
        self.sequence = saved["sequence"]
        self.next_segment = saved["next_segment"]
        context = saved.get("context")
        if context and context["rows"]:
            self.context = pd.DataFrame(context["rows"], columns=context["columns"])
        self.tracker.restore(saved["alarm"])
        if saved.get("segment"):
            self.segment = Segment(**saved["segment"])
            self.logged_error_lines = self._logged_error_lines(self.segment)

    def _logged_error_lines(self, segment):
        """Lines of `segment` beyond the checkpoint that already have error rows."""
        try:
            with open(self.error_log_path, encoding="utf-8", newline="") as handle:
                rows = [row for row in csv.DictReader(handle)
                        if row["segment"] == str(segment.number)]
        except FileNotFoundError:
            return set()
        return {int(row["line"]) for row in rows if int(row["line"]) > segment.line}

    def save_checkpoint(self):
        """Write where the stream is, its model context and its alarm state, atomically."""
        context = None
        if self.context is not None:
            context = {"columns": list(self.context.columns),
                       "rows": self.context.to_numpy().tolist()}
        write_json_atomic(self.checkpoint_path, {
            "stream_id": self.sid, "path": self.path, "asset": self.asset,
            "updated_at": utc_now_iso(), "sequence": self.sequence,
            "next_segment": self.next_segment,
            "segment": self.segment.state() if self.segment else None,
            "context": context, "alarm": self.tracker.state(),
        })

    def _audited_rows(self, since_day):
        # The database store (several hosts) answers with a query; the file store is scanned.
        if hasattr(self.sink, "batch_rows"):
            return self.sink.batch_rows(self.sid, since_day, channel="stream")
        return stream_rows(os.fspath(self.sink.directory), self.sid, since_day)

    def _replay_audited(self, since_day):
        """Apply audit rows written after the checkpoint (a crash came before it was saved)."""
        if self.segment is None:
            return
        pending = []
        for row in self._audited_rows(since_day):
            parsed = parse_request_id(self.sid, row["request_id"])
            if parsed and parsed[0] == self.segment.number \
                    and parsed[1] > self.segment.audited_through:
                pending.append((parsed[1], parsed[2], row))
        pending.sort(key=lambda item: item[0])
        for _, last, row in pending:
            inputs = json.loads(row["inputs"])
            self._remember(pd.DataFrame([inputs]))
            verdict = Verdict(float(row["score"]), row["anomaly"] == "1",
                              [s for s in row["top_sensors"].split(";") if s], row["model_version"],
                              reading_time=row["reading_timestamp"])
            self._track([verdict])
            self.segment.audited_through = max(self.segment.audited_through, last)
            self.totals.replayed += 1
        if pending:
            self._say(f"replayed {len(pending)} readings audited just before the last stop "
                      f"(up to line {self.segment.audited_through})")

    # ----- polling -----------------------------------------------------------------------

    def poll(self):
        """Handle what arrived since the last poll; True when something was done."""
        if self.segment is None:
            if not self._open_path():
                return False
            self.save_checkpoint()
        if self._truncated():
            return self._follow_file_change()
        lines = self._read_lines()
        if lines:
            self._handle_lines(lines)
            return True
        return self._follow_file_change()

    def _follow_file_change(self):
        change = self._file_change()
        if change == "truncated":
            self._say(f"{self.segment.path} was truncated at line {self.segment.line}: "
                      "reading its new content from the header")
            self._start_segment(self.segment.path, self.handle)
            self.save_checkpoint()
            return True
        if change == "rotated":
            status = os.fstat(self.handle.fileno())
            unfinished = status.st_size > self.segment.offset
            if unfinished and time.time() - status.st_mtime < self.settle_seconds:
                return False  # the logger may still be finishing the last line of the old file
            tail = self._read_lines(final=True)
            if tail:
                self._handle_lines(tail)
            self._say(f"{self.path} was rotated after line {self.segment.line}: "
                      "following the new file")
            self._close_handle()
            self.segment = None
            if self._open_path():
                self.save_checkpoint()
            return True
        return False

    def _handle_lines(self, lines):
        """Validate, audit, track alarms and checkpoint the lines of one poll."""
        loaded = self.models.get(self.asset)
        sensors = loaded.sensors
        last_line, last_raw, end_offset = lines[-1]
        if lines[0][0] == 1:
            self._read_header(lines[0][1], sensors)
            lines = lines[1:]
        records, errors = self._parse(lines)
        checked = self._validate(sensors, records) if records else None
        if checked:
            errors += checked[-1]
        self._log_errors(errors)
        if checked:
            self._score_new(loaded, *checked[:-1])
        self.totals.lines += len(records) + sum(1 for e in errors if e[2] == "malformed")
        self.segment.consumed(last_raw, end_offset, last_line)
        self.save_checkpoint()

    def _validate(self, sensors, records):
        """(text frame, numbers, valid mask, line numbers, errors) of the parsed lines."""
        frame = pd.DataFrame([cells for _, cells in records], columns=self.segment.columns,
                             dtype=str)
        line_numbers = [number for number, _ in records]
        numbers, valid, field_errors = validate_frame(frame, sensors, first_line=0)
        errors = [(line_numbers[e.index], e.field, e.code, e.message) for e in field_errors]
        for position, unsafe in unsafe_rows(frame, DATETIME_COLUMN):
            valid[position] = False
            errors.append((line_numbers[position], DATETIME_COLUMN, unsafe.code, unsafe.reason))
        return frame, numbers, valid, line_numbers, errors

    def _score_new(self, loaded, frame, numbers, valid, line_numbers):
        """Score the valid readings not audited yet (a replay already covered the others)."""
        kept = [i for i, number in enumerate(line_numbers)
                if valid[i] and number > self.segment.audited_through]
        if kept:
            self._score(loaded, frame.iloc[kept], numbers.iloc[kept],
                        [line_numbers[i] for i in kept])

    def _read_header(self, raw, sensors):
        """Take the separator and the column names from line 1; every sensor must be there."""
        text = raw.decode("utf-8-sig", errors="replace").rstrip("\r\n")
        if not text.strip():
            raise StreamError(f"{self.segment.path} line 1 is empty: the first line must be "
                              "the header with the sensor column names")
        separator = sniff_separator(text)
        columns = [name.strip() for name in next(csv.reader([text], delimiter=separator))]
        missing = [sensor.name for sensor in sensors if sensor.name not in columns]
        if missing:
            raise StreamError(f"{self.segment.path} line 1: the header lacks the sensor "
                              f"columns {', '.join(missing)}; nothing was scored")
        if len(set(columns)) != len(columns):
            raise StreamError(f"{self.segment.path} line 1: a column name appears twice")
        self.segment.separator, self.segment.columns = separator, columns

    def _parse(self, lines):
        """(line number, cells) of lines as wide as the header, and errors for the others."""
        records, errors = [], []
        width = len(self.segment.columns)
        for number, raw, _ in lines:
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                errors.append((number, "", "malformed", "the line is not UTF-8 text"))
                continue
            if not text.strip():
                continue
            try:
                cells = next(csv.reader([text], delimiter=self.segment.separator))
            except csv.Error as exc:  # a NUL byte, a CR inside a quoted cell cut at its end
                errors.append((number, "", "malformed", f"the line is not a CSV line ({exc})"))
                continue
            if len(cells) != width:
                errors.append((number, "", "malformed",
                               f"the line has {len(cells)} cells, the header has {width}"))
                continue
            records.append((number, cells))
        return records, errors

    def _log_errors(self, errors):
        """Write rejected lines to the stream's error log (once each) and report them."""
        new = [e for e in errors if e[0] not in self.logged_error_lines]
        if not new:
            return
        now = utc_now_iso()
        number = self.segment.number if self.segment else 0
        append_csv(self.error_log_path, [
            {"logged_at": now, "segment": number, "file": self.segment.path if self.segment else
             self.path, "line": line, "field": name, "code": code, "message": message}
            for line, name, code, message in new], ERROR_COLUMNS)
        record_rejections(self.logs, "stream", self.principal, self.asset,
                          [FieldError(*error) for error in new], request_id=self.sid)
        self.logged_error_lines.update(e[0] for e in new)
        self.totals.rejected += len({e[0] for e in new})
        for line, _, _, message in new:
            self._say(f"{self.path} line {line} rejected: {message}", logging.WARNING)

    def _score(self, loaded, text_frame, numbers, line_numbers):
        """Score and audit the new valid readings in one write, then update context and alarms."""
        numbers = numbers.reset_index(drop=True)
        timestamps = None
        if DATETIME_COLUMN in text_frame.columns:
            timestamps = text_frame[DATETIME_COLUMN].str.strip().tolist()
        request_id = request_id_for(self.sid, self.segment.number, line_numbers[0],
                                    line_numbers[-1])
        _, results = predict_and_audit(
            loaded, numbers, self.sink, channel="stream", principal=self.principal,
            request_id=request_id, batch_id=self.sid, reading_timestamps=timestamps,
            context=self._context_for(loaded), single=False)
        self.segment.audited_through = line_numbers[-1]
        self._remember(numbers, loaded.model.context_size)
        self._track([Verdict(r.score, r.anomaly, r.top_sensors, loaded.version,
                             reading_time=(timestamps[i] if timestamps else ""))
                     for i, r in enumerate(results)])
        self.totals.scored += len(results)
        self.totals.last_version = loaded.version

    def _context_for(self, loaded):
        if self.context is None or not loaded.model.context_size:
            return None
        return self.context[list(loaded.model.columns)]

    def _remember(self, numbers, context_size=0):
        """Keep the latest valid readings as the model context of the next poll."""
        keep = max(context_size, CONTEXT_FLOOR)
        frame = numbers if self.context is None else pd.concat([self.context, numbers],
                                                               ignore_index=True)
        self.context = frame.iloc[-keep:].reset_index(drop=True)

    def _track(self, verdicts):
        """Number the readings, feed them to the alarm logic, write the alarm events."""
        events = []
        for verdict in verdicts:
            self.sequence += 1
            verdict.reading_id = f"{self.sid}-{self.sequence}"
            events += self.tracker.update(verdict)
        for event in self.alarm_log.append(events):
            if event["event"] == "open":
                self.totals.alarms_opened += 1
                self._say(f"alarm {event['alarm_id']} opened on {self.asset} "
                          f"(peak score {event['peak_score']:.3g}, {event['top_sensors']})",
                          logging.WARNING)
            else:
                self.totals.alarms_closed += 1
                self._say(f"alarm {event['alarm_id']} closed on {self.asset}")

    def _say(self, message, level=logging.INFO):
        """Tell the operator (stderr and logs/app.log, through the app's logger)."""
        log.log(level, "%s: %s", self.sid, message)

    # ----- stopping ----------------------------------------------------------------------

    def stop(self):
        """Save the checkpoint (unless start-up failed) and release the file."""
        if self.started:
            self.save_checkpoint()
        self._close_handle()
        if self.lock is not None:
            self.lock.close()  # releases the flock; a killed process releases it too
            self.lock = None

    def summary(self):
        """One line: what this run did and where the stream stands."""
        t = self.totals
        where = (f"checkpoint at line {self.segment.line} of {self.segment.path}"
                 if self.segment else f"no file read yet at {self.path}")
        replayed = f", {t.replayed} replayed from the audit" if t.replayed else ""
        return (f"stream {self.sid}: {t.lines} lines read, {t.scored} scored, {t.rejected} "
                f"rejected{replayed}, {t.alarms_opened} alarms opened, {t.alarms_closed} "
                f"closed; {where}")
