"""Day files and their cached summaries: each file summarised once, then only its new bytes."""

import io
import json
import logging
import os

import pandas as pd

from webapp.services.storage import write_json_atomic

log = logging.getLogger("vigie.monitoring")
CACHE_FORMAT = 4
SLICE_BYTES = 8 << 20  # new bytes of a day file summarised at a time
MEMORY_DAYS = 70  # day summaries a worker keeps in memory (about 0.3 MB each)


# --- day files and their cached summaries -------------------------------------------------

def merge_counts(into, extra):
    """Add the counts of `extra` ({key: int}) to `into`."""
    for key, value in extra.items():
        into[key] = into.get(key, 0) + value


def read_new_bytes(path, offset, limit=-1):
    """(header columns, complete lines after `offset`, new offset); a partly written last line
    is left for the next read. With `limit`, about that many bytes at most (more only when a
    single record is longer)."""
    with open(path, "rb") as handle:
        header = handle.readline()
        start = max(offset, len(header))
        handle.seek(start)
        data = handle.read(limit)
        if limit >= 0 and len(data) == limit and data.rfind(b"\n") < 0:
            data += handle.read()
    end = data.rfind(b"\n") + 1
    # Stop at the end of a whole record: a line feed inside a quoted cell (an odd number of
    # quotes before it) is not one, and the next read must not start inside that cell.
    while end and data.count(b'"', 0, end) % 2:
        end = data.rfind(b"\n", 0, end - 1) + 1
    columns = header.decode("utf-8-sig").strip().split(",")
    return columns, data[:end], start + end


def header_size(path):
    """The size of a file's header line with its line feed."""
    with open(path, "rb") as handle:
        return len(handle.readline())


def parse_lines(columns, data, wanted, numeric=()):
    """The wanted columns of CSV lines, as text except `numeric` ones when they all parse
    (missing columns come back empty)."""
    present = [c for c in wanted if c in columns]
    options = {"header": None, "names": columns, "usecols": present,
               "keep_default_na": False, "na_filter": False}
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype={c: (float if c in numeric else str)
                                                     for c in present}, **options)
    except ValueError:  # a damaged number somewhere: read text, the caller coerces
        frame = pd.read_csv(io.BytesIO(data), dtype=str, **options)
    for column in wanted:
        if column not in frame.columns:
            frame[column] = ""
    return frame


class SummaryCache:
    """Day summaries on disk (shared by every worker) and in this process's memory."""

    def __init__(self, cache_dir):
        self.cache_dir = cache_dir
        self.memory = {}

    def summary(self, kind, path, summarise, merge, blocks=None):
        """The summary of `path`, recomputed only for the bytes it gained since last time.

        `blocks` maps the start offset of rows known from their columns to (end offset,
        summarise(previous summary)): those bytes are not read back.
        """
        stat = os.stat(path)
        key = (stat.st_size, stat.st_mtime_ns)
        held = self.memory.get(path)
        if held and held["source"] == list(key):
            return held
        cache_path = os.path.join(self.cache_dir, f"{kind}-{os.path.basename(path)}.json")
        cached = held or self._load(cache_path)
        if cached and cached["source"] == list(key):
            self.remember(path, cached)
            return cached
        if not cached or cached["offset"] > stat.st_size:
            cached = {"format": CACHE_FORMAT, "offset": 0, "summary": {}}
        offset = max(cached["offset"], header_size(path))
        blocks = {start: block for start, block in (blocks or {}).items() if start >= offset}
        # With blocks, up to the last of them: rows appended since come with their own block
        # at the next pass, rather than being read back now.
        stop = max([end for end, _ in blocks.values()] or [stat.st_size])
        while offset < stop:  # a slice at a time: never a whole day file in memory
            if offset in blocks:
                offset, summarise_block = blocks.pop(offset)
                merge(cached["summary"], summarise_block(cached["summary"]))
                continue
            limit = min([SLICE_BYTES] + [start - offset for start in blocks if start > offset])
            columns, data, offset = read_new_bytes(path, offset, limit)
            if not data:
                break
            merge(cached["summary"], summarise(columns, data, cached["summary"]))
        cached.update(offset=offset, source=list(key) if offset == stat.st_size else None)
        self._store(cache_path, cached)
        self.remember(path, cached)
        return cached

    def remember(self, path, cached):
        """Keep a summary in memory; the oldest kept go first beyond MEMORY_DAYS files."""
        self.memory.pop(path, None)
        self.memory[path] = cached
        while len(self.memory) > MEMORY_DAYS:
            self.memory.pop(next(iter(self.memory)))

    def _load(self, cache_path):
        try:
            with open(cache_path, encoding="utf-8") as handle:
                cached = json.load(handle)
        except (OSError, ValueError):
            return None
        return cached if cached.get("format") == CACHE_FORMAT else None

    def _store(self, cache_path, cached):
        """Write atomically; a read-only log folder only costs speed, never an answer."""
        try:
            os.makedirs(self.cache_dir, exist_ok=True)
            write_json_atomic(cache_path, cached, separators=(",", ":"))
        except OSError as exc:
            log.warning("monitoring cache not written (%s): views will be slower", exc)
