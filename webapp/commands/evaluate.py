"""`flask --app webapp evaluate`: the SKAB protocol on labelled files, one line per file."""

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.commands.common import fail
from webapp.services.alarms import AlarmPolicy
from webapp.services.evaluation import (
    MIN_NORMAL_ROWS,
    EvaluationError,
    evaluate_paths,
    labelled_csv_paths,
    out_of_calibration_files,
)
from webapp.services.explanation_check import (
    ExplanationCheckError,
    explanation_check,
    normal_readings,
)

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


def echo_folders(evaluation):
    """Pooled lines per folder (experiment family), when the files come from several."""
    folders = evaluation.by_folder()
    if len(folders) < 2:
        return
    for folder, part in folders.items():
        count = len(part.files)
        click.echo(format_row(f"  {folder}/ ({count} file{'s' if count > 1 else ''})",
                              part.pooled["rows"], part.pooled,
                              sum(len(f.warnings) for f in part.files)))


def _seconds(value):
    return "-" if value is None else f"{value:.0f}"


def format_event_header():
    return (f"{'file':<{NAME_WIDTH}} {'episodes':>8} {'detected':>8} {'delay med':>9} "
            f"{'worst':>6} {'false':>6} {'false/h':>8} {'open after':>10} {'overrun med':>11}")


def format_event_row(name, events):
    """One aligned line of event-level figures (seconds; false alarms per hour of normal)."""
    per_hour = events["false_alarms_per_hour"]
    per_hour = "-" if per_hour is None else f"{per_hour:.2f}"
    return (f"{name:<{NAME_WIDTH}} {events['episodes']:>8} {events['detected']:>8} "
            f"{_seconds(events['delay_median_s']):>9} {_seconds(events['delay_worst_s']):>6} "
            f"{events['false_alarms']:>6} {per_hour:>8} {events['open_after_end']:>10} "
            f"{_seconds(events['overrun_median_s']):>11}")


def echo_events(evaluation, policy):
    """The event-level table: what the alarms page would have shown on each file."""
    click.echo("")
    click.echo(f"Alarms (stream follower logic: open at {policy.k} anomalous of {policy.n} "
               f"readings, close after {policy.m} normal; times in seconds)")
    click.echo(format_event_header())
    for result in evaluation.files:
        click.echo(format_event_row(result.name, result.events))
    count = len(evaluation.files)
    click.echo(format_event_row(f"pooled ({count} file{'s' if count > 1 else ''})",
                                evaluation.pooled_events))


def _fired(checks):
    names = [name for name, check in checks if check and check["out_of_calibration"]]
    listed = f": {', '.join(names)}" if names else ""
    return f"fired on {len(names)} of {len(checks)} files{listed}"


def echo_calibration_checks(evaluation, paths, root, normal_frame, normal_path):
    """How often the out-of-calibration verdict fires (features/calibration.py)."""
    click.echo("")
    own = [(result.name, result.calibration) for result in evaluation.files]
    click.echo(f"Out of calibration, each file against its own calibration: {_fired(own)}")
    if normal_frame is not None:
        other = out_of_calibration_files(normal_frame, paths, root)
        click.echo(f"Out of calibration, against a model calibrated on {normal_path}: "
                   f"{_fired(other)}")


def echo_explanation_check(frame, path, cases):
    """The injected-fault check of the explanations (webapp/services/explanation_check.py)."""
    try:
        report = explanation_check(frame, cases=cases)
    except ExplanationCheckError as exc:
        fail(str(exc))
    click.echo("")
    click.echo(f"Explanations: faults of 3-10 robust std injected into normal readings of "
               f"{path} ({cases} cases per line)")
    click.echo(f"{'scored as':<12} {'1 sensor: top 1 right':>22} {'2 sensors: top 2 right':>23} "
               f"{'flagged':>8}")
    for mode, label in (("single", "one reading"), ("sequence", "sequence")):
        row = report[mode]
        click.echo(f"{label:<12} {row['one_sensor']:>22.1%} {row['two_sensors']:>23.1%} "
                   f"{row['flagged']:>8.1%}")


@click.command("evaluate")
@with_appcontext
@click.option("--data", "data_path", required=True,
              help="A labelled CSV file, or a folder searched recursively for *.csv.")
@click.option("--normal-rows", type=click.IntRange(min=MIN_NORMAL_ROWS), default=400,
              show_default=True,
              help="Calibrate on the first N readings of each file, score the rest.")
@click.option("--show-warnings", is_flag=True, help="Print the calibration warnings' text.")
@click.option("--single-readings", is_flag=True,
              help="Judge each reading on its own, as the reading form does (no windows).")
@click.option("--explanation-check", "normal_path", type=click.Path(dir_okay=False),
              help="Normal-operation CSV: also run the injected-fault check of explanations "
                   "and the out-of-calibration count against a model calibrated on it.")
@click.option("--check-cases", type=click.IntRange(min=10), default=200, show_default=True,
              help="Injected faults per line of the explanation check.")
def evaluate_command(data_path, normal_rows, show_warnings, single_readings, normal_path,
                     check_cases):
    """Calibrate on each file's first readings, score the rest in order, pool F1 / FAR / MAR.

    Exits with status 1 when the path does not exist or any file cannot be evaluated (no
    'anomaly' column, invalid values, too short); the other files are still evaluated.
    """
    try:
        paths = labelled_csv_paths(data_path)
    except EvaluationError as exc:
        fail(str(exc))
    root = data_path if os.path.isdir(data_path) else os.path.dirname(data_path)
    config = current_app.config
    policy = AlarmPolicy(config["ALARM_K"], config["ALARM_N"], config["ALARM_M"])
    evaluation = evaluate_paths(paths, normal_rows, root=root, single=single_readings,
                                policy=policy)
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
        echo_folders(evaluation)
        echo_events(evaluation, policy)
    normal_frame = None
    if normal_path:
        try:
            normal_frame = normal_readings(normal_path)
        except ExplanationCheckError as exc:
            fail(str(exc))
    if evaluation.files:
        echo_calibration_checks(evaluation, paths, root, normal_frame, normal_path)
    if normal_frame is not None:
        echo_explanation_check(normal_frame, normal_path, check_cases)
    if evaluation.failures:
        fail(f"{len(evaluation.failures)} of {len(paths)} files could not be evaluated "
             "(see the error lines above)")
