"""Reading sensor CSV files as exported by data loggers (';' or ',', BOM, CRLF)."""

import io

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
