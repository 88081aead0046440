"""Strict outside text: control characters and unpaired surrogates are refused where text enters.

Text from outside (timestamps, datetime cells, names, reasons, file and header names, request
ids, JSON field names) reaches the audit, the logs and the pages. A line feed in it can forge
a line for any reader that splits on newlines, a lone surrogate cannot be encoded as UTF-8 and
turned a request into a 500: each door checks its text here and answers with a clear error.
"""

import re

import numpy as np

# C0 controls (CR, LF and TAB included), DEL, and surrogate code points: a Python str holds a
# surrogate only when it was unpaired in the input (a JSON "\ud800", a lenient decoder).
UNSAFE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# Bytes of a JSON body after which a parsed string may hold unsafe text: an escape, a DEL, or
# a raw control character other than the whitespace allowed between tokens.
JSON_ESCAPES = re.compile(rb"[\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

MESSAGE = ("contains a control character or an unpaired surrogate ({character} at position "
           "{position}): only printable text is accepted")


class UnsafeText(ValueError):
    """Outside text holds a character that must never reach the audit or a log.

    `field` names where it was found, `position` counts from 1, `character` is its escaped
    form (for example '\\n' or '\\ud800'), printable in any message.
    """

    code = "unsafe_text"  # pages translate by this code; the message is English

    def __init__(self, field, position, character):
        self.field = field
        self.position = position
        self.character = character
        super().__init__(f"{shown(field)} " + MESSAGE.format(character=character,
                                                                  position=position))
        self.reason = MESSAGE.format(character=character, position=position)


def escaped(character):
    """A character as an ASCII escape ('\\n', '\\x7f', '\\ud800')."""
    return ascii(character)[1:-1]


def shown(text, limit=80):
    """Outside text made safe to echo in a message: unsafe characters escaped, then cut."""
    if not isinstance(text, str):
        return str(text)
    text = UNSAFE.sub(lambda match: escaped(match.group()), text)
    return text if len(text) <= limit else text[:limit] + "…"


def find_unsafe(text):
    """(position from 1, escaped character) of the first unsafe character, or None."""
    match = UNSAFE.search(text)
    return (match.start() + 1, escaped(match.group())) if match else None


def check_text(text, field):
    """Return `text` when it is safe; raise UnsafeText naming `field` otherwise."""
    found = find_unsafe(text)
    if found:
        raise UnsafeText(field, *found)
    return text


def unsafe_in_json(value, where=""):
    """The first UnsafeText in a parsed JSON value (keys and strings), or None.

    `where` grows into a path such as readings[0].timestamp so that the client sees which
    field is at fault; a bad key is named by its position and escaped form.
    """
    stack = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            found = find_unsafe(item)
            if found:
                return UnsafeText(path, *found)
        elif isinstance(item, dict):
            for key, child in item.items():
                found = find_unsafe(key)
                if found:
                    return UnsafeText(f"the field name {shown(key)} in {path or 'the body'}",
                                      *found)
                stack.append((child, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(item))
    return None


def json_may_hold_unsafe(data):
    """False when the raw JSON bytes cannot decode to unsafe text (the common, fast case)."""
    return JSON_ESCAPES.search(data) is not None


def unsafe_cells(column):
    """Boolean mask of the text cells of a pandas Series that hold an unsafe character."""
    try:  # one look at the whole column first: nearly always it finds nothing
        joined = "".join(column.tolist())
        if (joined.isascii() and joined.isprintable()) or not UNSAFE.search(joined):
            return np.zeros(len(column), dtype=bool)
    except TypeError:  # a cell that is not text
        pass
    text = column.astype("string")
    return text.str.contains(UNSAFE.pattern, regex=True, na=False).to_numpy(dtype=bool)


def unsafe_rows(frame, column):
    """(position, UnsafeText) for each row of `frame` whose `column` cell is unsafe text.

    Used on the datetime column of files and streams: it is copied into the audit as the
    reading's timestamp, so a bad cell rejects its row rather than the whole file.
    """
    if column not in frame.columns:
        return []
    positions = unsafe_cells(frame[column]).nonzero()[0]
    return [(int(position), UnsafeText(column, *find_unsafe(str(frame[column].iat[position]))))
            for position in positions]
