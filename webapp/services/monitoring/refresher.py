"""Day summaries kept current as the audit is appended, so that no view summarises much."""

import fcntl
import os
import threading
import time

from webapp.services.audit import day_path
from webapp.services.monitoring.daycache import SummaryCache
from webapp.services.monitoring.summaries import (block_summariser, merge_audit,
                                                    summarise_audit)


class SummaryRefresher:
    """Keeps the audit day summaries current as the audit is appended (the sink calls it).

    After a write, the day's summary takes in the new rows in a background thread, at most
    once every `every` seconds per process (a trailing pass follows the last write of a
    burst) and by one process at a time (a lock file), so that a first view, even after a
    restart, only summarises the last few seconds of rows. Requests never wait for it.
    """

    def __init__(self, log_dir, every=2.0):
        self.audit_dir = os.path.join(log_dir, "audit")
        self.cache = SummaryCache(os.path.join(log_dir, "cache"))
        self.every = every
        self.lock = threading.Lock()
        self.pending = set()
        self.timer = None
        self.last = 0.0
        self.blocks = {}  # day -> {start offset: (end offset, summarise(previous))}

    def add_block(self, day, span, block):
        """Note an AuditBlock just written at `span` (start, end) of the day file: its summary
        comes from its columns, not from reading and parsing its lines back."""
        summarise = block_summariser(block)
        if summarise is not None:
            with self.lock:
                self.blocks.setdefault(day, {})[span[0]] = (span[1], summarise)

    def __call__(self, days):
        """Note `days` as written to; summarise now, or once the interval has passed."""
        with self.lock:
            self.pending.update(days)
            if self.timer is not None:
                return
            wait = max(0.0, self.last + self.every - time.monotonic())
            self.timer = threading.Timer(wait, self._run)
            self.timer.daemon = True
            self.timer.start()

    def _run(self):
        with self.lock:
            days, self.pending, self.timer = sorted(self.pending), set(), None
            self.last = time.monotonic()
        self.refresh(days)

    def refresh(self, days):
        """Summarise the new rows of each day file; skipped while another process does it."""
        os.makedirs(self.cache.cache_dir, exist_ok=True)
        with open(os.path.join(self.cache.cache_dir, ".refresh.lock"), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self(days)  # another process (or pass) is at it: come back after the interval
                return
            for day in days:
                path = day_path(self.audit_dir, day)
                with self.lock:
                    blocks = self.blocks.pop(day, {})
                if os.path.exists(path):
                    self.cache.summary("audit", path, summarise_audit, merge_audit, blocks)
