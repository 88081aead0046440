"""`flask --app webapp monitoring refresh`: build the monitoring cache ahead of the first view."""

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.extensions import audit_store, record_logs, registry
from webapp.services.monitoring.report import MonitoringSources, QueryError, report_for


@click.group("monitoring", help="Monitoring figures.")
def monitoring_cli():
    pass


@monitoring_cli.command("refresh")
@click.option("--window", default="30d", show_default=True,
              help="hour, day, 7d or 30d: the days whose summaries are built.")
@with_appcontext
def refresh_command(window):
    """Summarise the audit days of the window and print the status.

    The summaries are cached under LOG_DIR/cache, or on PostgreSQL in the monitoring_days table
    (closed days), where every worker of every instance finds them.

    Run after a deployment or from cron at night so that the first page view of a long
    history does not pay for reading every day file.
    """
    sources = MonitoringSources(current_app.config["LOG_DIR"], registry(),
                                audit_store=audit_store(), logs=record_logs())
    started = time.perf_counter()
    try:
        report = report_for(sources, None, window)
    except QueryError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"{report['model']['readings']} readings summarised in "
               f"{time.perf_counter() - started:.1f} s; status {report['status']}")
    for reason in report["reasons"]:
        click.echo(f"- {reason}")
