"""Sensor CSV files: reading data-logger exports (';' or ','), writing Excel's French dialect."""

import csv
import io
import re

import pandas as pd


class CsvFormatError(ValueError):
    """The file is not a readable CSV table."""


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
        raise CsvFormatError("the file is empty: expected a header line with the sensor columns")
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
        raise CsvFormatError(f"the file is not a readable UTF-8 CSV table ({exc})") from exc
    if chunksize is None:
        stream.close()
        return reader
    return _closing_chunks(reader, stream)


def _closing_chunks(reader, stream):
    try:
        yield from reader
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CsvFormatError(f"the file is not a readable UTF-8 CSV table ({exc})") from exc
    finally:
        stream.close()


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
