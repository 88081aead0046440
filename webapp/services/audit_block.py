"""Audit rows of one write carried as columns and rendered column by column.

A batch chunk writes tens of thousands of audit rows at once. Built as one dict per reading,
then gathered back column by column to be rendered, they cost more than scoring them. An
AuditBlock keeps them as columns (values shared by every row once, the others as lists) and
renders each line with one string operation, byte for byte what storage.render_rows writes
for the same rows as dicts (the tests compare both). A sink that takes dicts gets `rows()`.
"""

import functools
import json

import numpy as np
import orjson

from webapp.services.storage import cell_of, column_cells

# Floats in this range (and zero) print the same with orjson as with repr; outside it repr
# writes an exponent (1e-05, 1e+16) that orjson writes otherwise, so those go through repr.
REPR_LOW, REPR_HIGH = 1e-4, 1e16


def float_cells(values):
    """repr() of each float of a 1-D array, as a list of str, a column at a time."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if not len(values):
        return []
    cells = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        plain = (magnitude == 0) | ((magnitude >= REPR_LOW) & (magnitude < REPR_HIGH))
    for position in np.flatnonzero(~plain):  # also NaN and infinities: repr as before
        cells[position] = repr(float(values[position]))
    return cells


@functools.lru_cache(maxsize=64)
def _json_template(names):
    return "{" + ",".join(json.dumps(name).replace("%", "%%") + ":%r" for name in names) + "}"


def render_inputs(names, columns):
    """The inputs JSON of each row ({"sensor":value,...}, compact, as json.dumps writes it),
    from one list of Python values per sensor name: repr of a float is its shortest exact
    form, as in JSON, and one %-template per row beats a json.dumps per row."""
    template = _json_template(tuple(names))
    return [template % row for row in zip(*columns, strict=True)]


class AuditBlock:
    """The audit rows of one write: `common` values shared by every row, `varying` columns.

    `inputs` is (sensor names, one array of values per sensor): the inputs JSON of each row is
    rendered straight into its CSV cell. `cells` holds columns already rendered as CSV cells
    (for instance scores, rendered once for the results file and the audit).
    """

    def __init__(self, count, common, varying=None, inputs=((), ()), cells=None):
        self.count = count
        self.common = dict(common)
        self.varying = dict(varying or {})
        self.names, self.values = list(inputs[0]), list(inputs[1])
        self.cells = dict(cells or {})

    @property
    def day(self):
        """The UTC day of the block's rows (they share one timestamp)."""
        return self.common["timestamp_utc"][:10]

    def inputs_json(self):
        """The inputs JSON of each row, as scoring.inputs_json writes it (repr of each value)."""
        if not self.names:
            return ["{}"] * self.count
        return render_inputs(self.names, [np.asarray(values).tolist() for values in self.values])

    def rows(self):
        """The block as one dict per row, for sinks that take dicts."""
        rows = [dict(self.common) for _ in range(self.count)]
        columns = dict(self.varying)
        columns["inputs"] = self.inputs_json()
        for name, values in columns.items():
            for row, value in zip(rows, values, strict=True):
                row[name] = value
        return rows

    def anomalies(self):
        """How many rows are judged anomalous."""
        return int(np.count_nonzero(self.varying.get("anomaly", [])))

    def lines(self, columns):
        """The CSV line of each row (no line feed) for `columns`, as render_rows writes them,
        as an iterator; None when a cell holds a line break (render_rows' rules apply then)."""
        if not self.count:
            return []
        parts, arguments = [], []
        for column in columns:
            if column == "inputs":
                cells = self._input_cells()
                if cells is None:
                    return None
                parts.append(self._inputs_template())
                arguments.extend(cells)
                continue
            if column in self.cells:
                cells = self.cells[column]
            elif column in self.varying:
                cells = column_cells(list(self.varying[column]))
            else:
                parts.append(cell_of(self.common.get(column)).replace("%", "%%"))
                continue
            parts.append("%s")
            arguments.append(cells)
        template = ",".join(parts)
        if any(_breaks(cells) for cells in arguments) or _breaks([template]):
            return None
        if not arguments:
            return [template] * self.count
        # An iterator: the chain hashes each line as it is made (storage.append_csv).
        return map(template.__mod__, zip(*arguments, strict=True))

    def _input_cells(self):
        """The repr of each input value, per sensor; None unless every column is floats."""
        arrays = [np.asarray(values) for values in self.values]
        if any(array.dtype != np.float64 or array.ndim != 1 for array in arrays):
            return None
        return [float_cells(array) for array in arrays]

    def _inputs_template(self):
        """The inputs cell with a %s per value: JSON as json.dumps writes it, CSV-quoted."""
        if not self.names:
            return "{}"
        keys = (json.dumps(name).replace("%", "%%").replace('"', '""') for name in self.names)
        return '"{' + ",".join(key + ":%s" for key in keys) + '}"'


def _breaks(cells):
    """Whether a column of rendered cells holds a line break."""
    joined = "".join(cells)
    return "\n" in joined or "\r" in joined
