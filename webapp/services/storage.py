"""Files shared by several processes: atomic replaces and small JSON reads."""

import json
import os


def write_atomic(path, write):
    """Call write(text handle) on a temporary file, then rename it to `path`."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomic(path, data):
    """Replace a small JSON file at once: readers in other processes never see half of it."""
    write_atomic(path, lambda handle: json.dump(data, handle, ensure_ascii=False))


def read_json(path, default=None):
    """A JSON file's content, or `default` when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default
