"""`flask --app webapp audit verify`: check that no audit row was edited, inserted, moved or cut."""

from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.services.audit import verify_audit


@click.group("audit", help="The audit trail.")
def audit_cli():
    pass


@audit_cli.command("verify")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD",
              help="Verify only this UTC day's file (default: every day).")
@with_appcontext
def verify_command(day):
    """Recompute each day file's hash chain; report the first broken row and exit 1 if any.

    Files written before the chain existed are reported as unchained, not broken. The result
    is kept in LOG_DIR/audit_verification.json, shown on the monitoring page.
    """
    if day is not None:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise click.UsageError("--date: write the day as YYYY-MM-DD") from None
    reports = verify_audit(current_app.config["AUDIT_DIR"], current_app.config["LOG_DIR"], day)
    for report in reports:
        click.echo(report.line_for_people())
    broken = [report for report in reports if report.status == "broken"]
    rows = sum(report.rows for report in reports)
    click.echo(f"{len(reports)} audit files checked, {rows} rows, {len(broken)} broken",
               err=True)
    if broken:
        raise SystemExit(1)
