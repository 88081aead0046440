"""Tamper evidence for the audit: each row carries a sha256 chained to the previous row's.

The hash of a row is sha256(previous hash + the row's CSV line without its hash cell), the
previous hash of a file's first row being empty. It is computed by the appending process
while it holds the file's exclusive lock, from the hash at the end of the file, so rows from
several gunicorn workers and commands form one chain. Anyone can recompute a chain (there is
no secret): the verification record (logs/audit_verification.json) keeps each file's row
count and last hash, so a chain recomputed or cut short after a verification still shows.
"""

import csv
import json
from dataclasses import asdict, dataclass
import hashlib
import io
import os
import re

CHAIN_COLUMN = "chain_sha256"
HASH_AT_END = re.compile(rb",([0-9a-f]{64})\r?\n\Z")
TAIL_BYTES = 128  # the last hash cell and its line end
HEAD_BYTES = 8192  # the header line (about 300 bytes)


def row_hash(previous, line):
    """The chain hash of a row whose CSV line (without its hash cell) is `line`."""
    return hashlib.sha256((previous + line).encode("utf-8")).hexdigest()


def render_line(cells):
    """The CSV line of `cells` as the audit writer renders it, without the line feed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()[:-1]


def split_lines(body, count, cells_of):
    """The `count` lines of a rendered body (one row per line feed), or None when a cell
    holds a line feed of its own; `cells_of(i)` renders row i alone in that case."""
    lines = body.split("\n")
    if len(lines) == count + 1 and lines[-1] == "":
        return lines[:-1]
    return [render_line(cells_of(i)) for i in range(count)]


def chain_lines(previous, lines):
    """The lines with their hash cell appended, as one text, and the last hash."""
    # row_hash in a tight loop: this runs for every audited reading.
    sha256, out = hashlib.sha256, []
    keep = out.append
    for line in lines:
        previous = sha256((previous + line).encode("utf-8")).hexdigest()
        keep(f"{line},{previous}\n")
    return "".join(out), previous


def read_head(fd):
    """(header line as text, its size in bytes with the line feed) of an open file."""
    head = os.pread(fd, HEAD_BYTES, 0)
    end = head.find(b"\n")
    if end < 0:
        return "", 0
    return head[:end].rstrip(b"\r").decode("utf-8", errors="replace"), end + 1


def last_hash(fd, size, header_size):
    """The hash of the file's last row ('' when only the header is there).

    Only the tail of the file is read: the hash is the last cell of the last record, 64 hex
    digits just before the final line feed. A last row without a hash (cut by hand) gives ''
    and `audit verify` reports the break there.
    """
    if size <= header_size:
        return ""
    tail = os.pread(fd, min(TAIL_BYTES, size), size - min(TAIL_BYTES, size))
    match = HASH_AT_END.search(tail)
    return match.group(1).decode("ascii") if match else ""


@dataclass
class ChainReport:
    """The verification of one file: `status` is ok, unchained, empty or broken."""

    name: str
    status: str
    rows: int = 0
    last_hash: str = ""
    row: int = 0  # first broken row, counted from 1 after the header
    line: int = 0  # its line in the file (the header is line 1)
    kind: str = ""  # edited, inserted, reordered, truncated, rewritten, malformed, header
    message: str = ""

    def line_for_people(self):
        """One line for the command's output and the monitoring page."""
        if self.status == "broken":
            return f"{self.name}: BROKEN at row {self.row} (line {self.line}): {self.message}"
        if self.status == "unchained":
            return f"{self.name}: unchained ({self.rows} rows written before the chain existed)"
        return f"{self.name}: {self.status}, {self.rows} rows"


KIND_MESSAGES = {
    "edited": "the row was edited, or the row just before it was deleted",
    "inserted": "the row was inserted: no Vigie process wrote it here",
    "reordered": "the row and the next one are in swapped order",
    "malformed": "the row does not have the header's number of cells",
    "truncated": "rows were deleted at the end of the file since the last verification",
    "rewritten": "the chain was recomputed since the last verification: rows were changed",
    "header": "the header is not one Vigie writes: a column was renamed, moved or removed",
}


def header_is_known(header, columns):
    """Whether `header` is today's `columns`, or their first ones as written before the chain.

    The header is outside the chain: without this check, renaming the hash column would turn a
    chained file into an "unchained" one whose rows could then be edited unnoticed.
    """
    if columns is None:
        return True
    if header == list(columns):
        return True
    return CHAIN_COLUMN not in header and header == list(columns[:len(header)])


def _kind(previous, current, following):
    """Why the chain breaks at `current` ((line, stored hash) pairs), by what the next row says."""
    line, stored = current
    if following is not None:
        next_line, next_stored = following
        if row_hash(previous, next_line) == next_stored:
            if row_hash(next_stored, line) == stored:
                return "reordered"
            return "inserted"
    return "edited"


def _records(path):
    """(header, iterator of (line number, cells, text)) of a CSV file read by the csv module.

    `text` is the record exactly as it stands in the file, without its line end and hash
    cell: the chain covers the bytes written, whichever renderer wrote them.
    """
    handle = open(path, newline="", encoding="utf-8", errors="replace")
    consumed = []

    def lines():
        for line in handle:
            consumed.append(line)
            yield line
    reader = csv.reader(lines())
    header = next(reader, None)

    def rows():
        with handle:
            for cells in reader:
                text = "".join(consumed).rstrip("\r\n")
                consumed.clear()
                yield reader.line_num, cells, text[:-len(cells[-1]) - 1] if cells else text
    consumed.clear()
    return header, rows()


def verify_file(path, known=None, columns=None):
    """Verify the chain of one file; `known` is its entry in the last verification record,
    `columns` the audit's columns of today (None: any header)."""
    name = os.path.basename(path)
    header, records = _records(path)
    if header is None:
        return ChainReport(name, "empty")
    if not header_is_known(header, columns):
        for _ in records:  # enter the reader's `with` so that close() closes the file
            break
        records.close()
        return ChainReport(name, "broken", 0, "", 0, 1, "header", KIND_MESSAGES["header"])
    chained = bool(header) and header[-1] == CHAIN_COLUMN
    previous, count, hash_at_known = "", 0, None
    known_rows = (known or {}).get("rows", 0)
    pending = None
    for number, cells, text in records:
        if not chained:
            count += 1
            continue
        if len(cells) != len(header):
            return ChainReport(name, "broken", count, previous, count + 1, number, "malformed",
                               KIND_MESSAGES["malformed"])
        current = (text, cells[-1])
        if pending is not None:
            return _broken(name, pending, current, count)
        if row_hash(previous, current[0]) != current[1]:
            pending = (previous, current, number)
            continue
        previous = current[1]
        count += 1
        if count == known_rows:
            hash_at_known = previous
    if pending is not None:
        return _broken(name, pending, None, count)
    if not chained and known_rows:  # it had a chain at the last verification: stripped since
        return ChainReport(name, "broken", count, "", 0, 1, "rewritten",
                           KIND_MESSAGES["rewritten"])
    if not chained:
        return ChainReport(name, "unchained", count)
    if known_rows and count < known_rows:
        return ChainReport(name, "broken", count, previous, count + 1, 0, "truncated",
                           f"{KIND_MESSAGES['truncated']} ({known_rows} rows then, {count} now)")
    if known_rows and hash_at_known != known.get("last_hash"):
        return ChainReport(name, "broken", count, previous, known_rows, 0, "rewritten",
                           KIND_MESSAGES["rewritten"])
    return ChainReport(name, "ok", count, previous)


def _broken(name, pending, following, count):
    previous, current, number = pending
    kind = _kind(previous, current, following)
    return ChainReport(name, "broken", count, previous, count + 1, number, kind,
                       KIND_MESSAGES[kind])


def read_record(path):
    """The last verification record ({} before the first one, or when it is unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def verify_files(paths, record_path, now, columns=None):
    """Verify every file, store the result in `record_path`; returns the reports.

    The record keeps, per file, the rows and last hash of its last clean verification, so
    that the next one notices rows cut from the end or a chain recomputed after an edit.
    """
    record = read_record(record_path)
    files = record.get("files", {}) if isinstance(record.get("files"), dict) else {}
    reports = [verify_file(path, files.get(os.path.basename(path)), columns)
               for path in sorted(paths)]
    for report in reports:
        if report.status == "ok":
            files[report.name] = {"rows": report.rows, "last_hash": report.last_hash}
    breaks = [asdict(report) for report in reports if report.status == "broken"]
    data = {"verified_at": now, "ok": not breaks, "checked": [r.name for r in reports],
            "breaks": breaks, "files": files}
    directory = os.path.dirname(record_path) or "."
    os.makedirs(directory, exist_ok=True)
    temporary = f"{record_path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    os.replace(temporary, record_path)
    return reports
