"""`flask --app webapp audit export --date D`: a day of the audit as the CSV store's file."""

import os
import re
import shutil
from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.services.audit import CsvAuditSink
from webapp.commands.common import fail
from webapp.extensions import audit_sink

audit_cli = AppGroup("audit", help="Export the audit trail.")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@audit_cli.command("export")
@click.option("--date", "day", required=True, help="UTC day, YYYY-MM-DD.")
@click.option("--output", default=None, type=click.Path(dir_okay=False),
              help="File to write (default: logs/audit/predictions-DAY.csv).")
def export_command(day, output):
    """Write DAY's audit rows as the CSV file predictions-DAY.csv; prints the row count."""
    if not DAY.fullmatch(day) or not _is_date(day):
        fail(f"--date must be a UTC day YYYY-MM-DD, not {day!r}")
    sink = audit_sink()
    output = output or os.path.join(current_app.config["AUDIT_DIR"], f"predictions-{day}.csv")
    if isinstance(sink, CsvAuditSink):
        # The file store keeps the day file already: the export is that file, or a copy.
        source = sink.path_for(day)
        if not os.path.exists(source):
            fail(f"no audit rows on {day} ({source} does not exist)")
        if os.path.abspath(output) != os.path.abspath(source):
            shutil.copyfile(source, output)
        click.echo(f"the audit of {day} is in {output}")
        return
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    count = sink.export_day(day, output)
    click.echo(f"exported {count} audit rows of {day} to {output}")


def _is_date(text):
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
