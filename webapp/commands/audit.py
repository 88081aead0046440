"""`flask --app webapp audit verify|export`: check the hash chain; a day as the CSV day file."""

import os
import shutil
import tempfile
from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.commands.common import fail
from webapp.extensions import audit_store
from webapp.services.audit import day_path, verify_audit


@click.group("audit", help="The audit trail.")
def audit_cli():
    pass


def _check_day(day):
    try:
        date.fromisoformat(day)
    except ValueError:
        raise click.UsageError("--date: write the day as YYYY-MM-DD") from None


@audit_cli.command("verify")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD",
              help="Verify only this UTC day's file (default: every day).")
@with_appcontext
def verify_command(day):
    """Recompute each day file's hash chain; report the first broken row and exit 1 if any.

    Files written before the chain existed are reported as unchained, not broken. The result
    is kept in LOG_DIR/audit_verification.json, shown on the monitoring page. On the database
    store each day is exported as its day file first, then verified the same way.
    """
    if day is not None:
        _check_day(day)
    store = audit_store()
    if store is None:
        reports = verify_audit(current_app.config["AUDIT_DIR"], current_app.config["LOG_DIR"],
                               day)
    else:
        with tempfile.TemporaryDirectory(prefix="vigie-verify-") as folder:
            for exported in ([day] if day else store.days()):
                store.export_day(exported, day_path(folder, exported))
            reports = verify_audit(folder, current_app.config["LOG_DIR"], day)
    for report in reports:
        click.echo(report.line_for_people())
    broken = [report for report in reports if report.status == "broken"]
    rows = sum(report.rows for report in reports)
    click.echo(f"{len(reports)} audit files checked, {rows} rows, {len(broken)} broken",
               err=True)
    if broken:
        raise SystemExit(1)


@audit_cli.command("export")
@click.option("--date", "day", required=True, metavar="YYYY-MM-DD", help="UTC day.")
@click.option("--output", default=None, type=click.Path(dir_okay=False),
              help="File to write (default: logs/audit/predictions-DAY.csv).")
@with_appcontext
def export_command(day, output):
    """Write DAY's audit rows as the CSV day file predictions-DAY.csv; prints the row count."""
    _check_day(day)
    source = day_path(current_app.config["AUDIT_DIR"], day)
    output = output or source
    store = audit_store()
    if store is None:
        # The file store keeps the day file already: the export is that file, or a copy.
        if not os.path.exists(source):
            fail(f"no audit rows on {day} ({source} does not exist)")
        if os.path.abspath(output) != os.path.abspath(source):
            shutil.copyfile(source, output)
        click.echo(f"the audit of {day} is in {output}")
        return
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    count = store.export_day(day, output)
    click.echo(f"exported {count} audit rows of {day} to {output}")
