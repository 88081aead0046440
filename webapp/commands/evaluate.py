"""`flask --app webapp evaluate`: the SKAB protocol on labelled files, one line per file."""

import os

import click

from webapp.commands.common import fail
from webapp.services.evaluation import (MIN_NORMAL_ROWS, EvaluationError, evaluate_paths,
                                        labelled_csv_paths)

NAME_WIDTH = 28


def _percent(value):
    return f"{value:.1%}"


def format_row(name, rows, metrics, warnings):
    """One aligned table line: file, rows scored, F1, FAR, MAR, warnings count."""
    return (f"{name:<{NAME_WIDTH}} {rows:>11} {metrics['f1']:>6.3f} {_percent(metrics['far']):>7} "
            f"{_percent(metrics['mar']):>7} {warnings:>8}")


def format_header():
    return (f"{'file':<{NAME_WIDTH}} {'rows scored':>11} {'F1':>6} {'FAR':>7} {'MAR':>7} "
            f"{'warnings':>8}")


@click.command("evaluate")
@click.option("--data", "data_path", required=True,
              help="A labelled CSV file, or a folder searched recursively for *.csv.")
@click.option("--normal-rows", type=click.IntRange(min=MIN_NORMAL_ROWS), default=400,
              show_default=True,
              help="Calibrate on the first N readings of each file, score the rest.")
@click.option("--show-warnings", is_flag=True, help="Print the calibration warnings' text.")
@click.option("--single-readings", is_flag=True,
              help="Judge each reading on its own, as the reading form does (no windows).")
def evaluate_command(data_path, normal_rows, show_warnings, single_readings):
    """Calibrate on each file's first readings, score the rest in order, pool F1 / FAR / MAR.

    Exits with status 1 when the path does not exist or any file cannot be evaluated (no
    'anomaly' column, invalid values, too short); the other files are still evaluated.
    """
    try:
        paths = labelled_csv_paths(data_path)
    except EvaluationError as exc:
        fail(str(exc))
    root = data_path if os.path.isdir(data_path) else os.path.dirname(data_path)
    evaluation = evaluate_paths(paths, normal_rows, root=root, single=single_readings)
    if len(paths) == 1 and evaluation.failures:
        fail(evaluation.failures[0][1])
    click.echo(format_header())
    for result in evaluation.files:
        click.echo(format_row(result.name, result.rows_scored, result.metrics,
                              len(result.warnings)))
        if show_warnings:
            for warning in result.warnings:
                click.echo(f"    warning: {warning}")
        if result.calibration_anomalies:
            click.echo(f"    note: {result.calibration_anomalies} of the {normal_rows} calibration "
                       "readings are labelled anomalous")
    for name, message in evaluation.failures:
        click.echo(f"{name:<{NAME_WIDTH}} error: {message}")
    if evaluation.files:
        pooled = evaluation.pooled
        count = len(evaluation.files)
        label = f"pooled ({count} file{'s' if count > 1 else ''})"
        click.echo(format_row(label, pooled["rows"], pooled, sum(len(f.warnings)
                                                                 for f in evaluation.files)))
    if evaluation.failures:
        fail(f"{len(evaluation.failures)} of {len(paths)} files could not be evaluated "
             "(see the error lines above)")
