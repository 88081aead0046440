"""Sensor CSV files: reading data-logger exports (';' or ','), writing Excel's French dialect."""

import csv
import io
import re

import pandas as pd


class CsvFormatError(ValueError):
    """Not a readable CSV table; `code` and `params` let pages say it in any language."""

    def __init__(self, message, code="unreadable", **params):
        super().__init__(message)
        self.code = code
        self.params = params


FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def format_error(exc):
    """A CsvFormatError in Vigie's words for a decoding or pandas parsing error.

    pandas counts lines from the first line it reads, after the header read_header consumed:
    its line N is line N + 1 of the file, the number a person sees in an editor.
    """
    if isinstance(exc, UnicodeDecodeError):
        return CsvFormatError("the file is not UTF-8 text: export it as CSV (UTF-8)", "not_utf8")
    found = FIELD_COUNT.search(str(exc))
    if found:
        expected, line, fields = (int(value) for value in found.groups())
        return CsvFormatError(f"line {line + 1} has {fields} fields, the header has {expected}",
                              "field_count", line=line + 1, fields=fields, expected=expected)
    return CsvFormatError(f"the file is not a readable CSV table ({exc})")


def sniff_separator(first_line):
    """';' when the header uses it (SKAB and European exports), else ','."""
    return ";" if first_line.count(";") > first_line.count(",") else ","


def open_text(source):
    """A text stream over a path or a binary file object, decoding UTF-8 with or without BOM."""
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        return open(source, encoding="utf-8-sig", newline="")
    return io.TextIOWrapper(source, encoding="utf-8-sig", newline="")


def read_header(stream):
    """Read the first line and return (separator, column names)."""
    first = stream.readline()
    if not first.strip():
        raise CsvFormatError("the file is empty: expected a header line with the sensor columns",
                             "empty")
    separator = sniff_separator(first)
    columns = next(iter(pd.read_csv(io.StringIO(first), sep=separator, dtype=str,
                                    header=None).itertuples(index=False)))
    return separator, [str(name).strip() for name in columns]


def read_table(source, chunksize=None):
    """Read a whole sensor CSV as text cells; with `chunksize`, an iterator of chunks.

    Every cell stays text so that validation can say exactly which value is wrong.
    """
    stream = open_text(source)
    try:
        separator, columns = read_header(stream)
        reader = pd.read_csv(stream, sep=separator, dtype=str, header=None, names=columns,
                             keep_default_na=False, skip_blank_lines=True, chunksize=chunksize,
                             on_bad_lines="error", engine="c")
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        stream.close()
        raise format_error(exc) from exc
    if chunksize is None:
        stream.close()
        return reader
    return _closing_chunks(reader, stream)


def _closing_chunks(reader, stream):
    try:
        yield from reader
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise format_error(exc) from exc
    finally:
        stream.close()


# --- line ends: LF, CRLF and CR alone (old data loggers end their lines with a bare CR) --------

LINE_END = re.compile(rb"\r\n|\r|\n")
PEEK_BYTES = 65536


def split_bare_cr(raw):
    """`raw` cut after each line end (LF, CRLF or a CR alone): one piece per line."""
    if b"\r" not in raw:
        return [raw]
    pieces, start = [], 0
    for match in LINE_END.finditer(raw):
        pieces.append(raw[start:match.end()])
        start = match.end()
    if start < len(raw):
        pieces.append(raw[start:])
    return pieces


def ends_with_bare_cr(binary):
    """True when the first line of a seekable binary file ends with a CR alone."""
    if not (hasattr(binary, "seekable") and binary.seekable()):
        return False
    start = binary.tell()
    head = binary.read(PEEK_BYTES)
    binary.seek(start)
    first_cr, first_lf = head.find(b"\r"), head.find(b"\n")
    return first_cr >= 0 and (first_lf < 0 or first_cr < first_lf - 1)


class CrLines:
    """A binary file whose CR line ends read as LF, for readers that split lines on LF.

    Each CR becomes one LF, so byte counts (and `tell()`) stay those of the file; a CRLF in
    such a file reads as a line end and a blank line, which readers skip.
    """

    def __init__(self, binary, block=PEEK_BYTES):
        self.binary = binary
        self.block = block
        self.buffer = b""
        self.position = 0

    def readline(self, limit=-1):
        """The next line, LF-terminated, of at most `limit` bytes (as io's readline)."""
        while True:
            end = self.buffer.find(b"\n", self.position)
            held = len(self.buffer) - self.position
            if end >= 0 or (0 <= limit <= held):
                break
            block = self.binary.read(self.block)
            if not block:
                break
            self.buffer = self.buffer[self.position:] + block.replace(b"\r", b"\n")
            self.position = 0
        end = self.buffer.find(b"\n", self.position)
        stop = end + 1 if end >= 0 else len(self.buffer)
        if limit >= 0:
            stop = min(stop, self.position + limit)
        line = self.buffer[self.position:stop]
        self.position = stop
        return line

    def read(self, size=-1):
        """The next bytes (about `size`, CRs read as LFs), b"" at the end of the file."""
        held, self.buffer, self.position = self.buffer[self.position:], b"", 0
        return held + self.binary.read(size).replace(b"\r", b"\n")

    def tell(self):
        """Bytes of the file consumed so far."""
        return self.binary.tell() - (len(self.buffer) - self.position)


def lf_lines(binary):
    """`binary` itself, or a CrLines over it when its lines end with a CR alone."""
    return CrLines(binary) if ends_with_bare_cr(binary) else binary


# Excel set to French reads ';' as the separator and ',' as the decimal mark; the standard
# results file (',' and '.') opens there as one column of text.
DECIMAL = re.compile(r"^-?\d+\.\d+(?:[eE][-+]?\d+)?$")


def excel_fr_lines(path, block_rows=2000):
    """The CSV at `path` re-written with ';' and decimal commas, as UTF-8 text blocks (BOM first).

    Only plain decimal numbers change; text cells (ids, sensor lists, dates) stay as they are.
    Yields blocks so that a large results file is streamed, never held in memory.
    """
    yield "\ufeff"
    with open(path, encoding="utf-8", newline="") as handle:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        for count, row in enumerate(csv.reader(handle), start=1):
            writer.writerow([cell.replace(".", ",") if DECIMAL.match(cell) else cell
                             for cell in row])
            if count % block_rows == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
