"""The results file of a batch: the input columns as given, then the verdicts, column by column.

Each line is what pandas' to_csv wrote for the same table (the tests compare both): the
input's text cells as they were read (those outside the sensor columns made
spreadsheet-safe), then score, threshold, predicted_anomaly, top_sensors, asset and
model_version. A result column named like an input column replaces it in place, as
assigning it to the table did.
"""

import re

import pandas as pd

from webapp.services.audit_block import float_cells
from webapp.services.storage import neutralise_formula_parts, text_cells

# A cell starting with a formula character, or holding one after a ';', as the cell by cell
# test of neutralise_text_column finds it, in the cells of a column joined by line feeds.
RISKY_IN_COLUMN = re.compile(r"[\n;][=+\-@\t\r]")
RESULT_COLUMNS = ("score", "threshold", "predicted_anomaly", "top_sensors", "asset",
                  "model_version")


def neutralise_text_column(column):
    """neutralise_formula_parts on each cell, except plain numbers such as -0.5."""
    try:  # one search over the whole column first: nearly always it finds nothing
        if not RISKY_IN_COLUMN.search("\n" + "\n".join(column.tolist())):
            return column
    except TypeError:  # a cell that is not text
        pass
    text = column.astype(str)
    risky = text.str.contains(r"(?:^|;)[=+\-@\t\r]")
    if not risky.any():
        return column
    numeric = pd.to_numeric(text.where(risky), errors="coerce").notna()
    fix = risky & ~numeric
    return text.where(~fix, text[fix].map(neutralise_formula_parts))


def result_lines(text, verdicts, loaded, sensor_names, score_cells, comma_lines=None):
    """The results CSV lines (one string, each line ending with a line feed) of scored rows.

    `text` holds the rows' input cells, `verdicts` their Verdicts, `score_cells` the
    rendered round(score, 6) of each; `comma_lines`, when given, each row's cells joined by
    ',' (none holding a ',', a quote or a line break), used as they are when no cell needs
    a change.
    """
    if not len(verdicts):
        return ""
    cells, changed = {}, False
    for column in text.columns:
        values = text[column]
        if column not in sensor_names:
            safe = neutralise_text_column(values)
            changed = changed or safe is not values
            values = safe
        cells[column] = values
    if comma_lines is not None and not changed and not set(RESULT_COLUMNS) & set(cells):
        cells = {"input": comma_lines}
    else:
        cells = {column: text_cells(values.tolist()) for column, values in cells.items()}
    constant = {"threshold": float_cells([round(verdicts.threshold, 6)])[0],
                "asset": text_cells([loaded.asset])[0],
                "model_version": text_cells([loaded.version])[0]}
    cells["score"] = score_cells
    cells["threshold"] = None
    cells["predicted_anomaly"] = verdicts.anomaly_cells()
    cells["top_sensors"] = text_cells(verdicts.top_sensors())
    cells["asset"] = cells["model_version"] = None
    parts, arguments = [], []
    for column, column_cells in cells.items():
        if column_cells is None:
            parts.append(constant[column].replace("%", "%%"))
        else:
            parts.append("%s")
            arguments.append(column_cells)
    template = ",".join(parts) + "\n"
    return "".join(map(template.__mod__, zip(*arguments, strict=True)))
