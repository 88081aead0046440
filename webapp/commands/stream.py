"""`flask --app webapp stream FILE --asset NAME`: follow a growing sensor CSV, raise alarms."""

import os
import signal
import socket
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from features.schema import is_valid_asset_name
from webapp.commands.common import cli_user, fail
from webapp.extensions import active_models, audit_sink, record_logs, registry
from webapp.services import database
from webapp.services.alarms import AlarmPolicy, AlarmPolicyError
from webapp.services.audit import AuditError
from webapp.services.registry import RegistryError
from webapp.services.stream.checkpoint import StreamError
from webapp.services.stream.follower import DEFAULT_MAX_LINES, StreamFollower


def stream_principal():
    """Who the audit names for stream readings: the account and host running the follower."""
    return f"stream:{cli_user()}@{socket.gethostname()}"


class StopRequest:
    """Set by Ctrl-C or SIGTERM; the loop stops after the poll under way (checkpoint written).

    A plain flag rather than threading.Event: Event.set() in a signal handler can deadlock
    on the Event's own lock when the signal lands while the main thread is in Event.wait().
    """

    SLICE = 0.1  # seconds: how soon a stop request is noticed during a long poll interval

    def __init__(self):
        self.requested = False

    def set(self, *_):
        """Ask the loop to stop (usable as a signal handler)."""
        self.requested = True

    def is_set(self):
        return self.requested

    def wait(self, seconds):
        """Sleep up to `seconds`, waking early when a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.requested and time.monotonic() < deadline:
            time.sleep(min(self.SLICE, max(0.0, deadline - time.monotonic())))


def stop_on_signals(stop):
    """Ctrl-C and SIGTERM set the stop request."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, stop.set)


def follow(follower, poll_interval, once, stop):
    """Poll until stopped (or, with `once`, until nothing is left to read)."""
    while not stop.is_set():
        try:
            progressed = follower.poll()
        except (AuditError, RegistryError) as exc:
            if once:
                raise
            # Nothing was consumed: the same lines are read again at the next poll.
            click.echo(f"warning: {exc}; retrying in {poll_interval:g} s", err=True)
            progressed = False
        if once and not progressed:
            return
        if not progressed:
            stop.wait(poll_interval)


def configured(value, name):
    """The option's value, else the app configuration's (VIGIE_<NAME> overrides it)."""
    return current_app.config[name] if value is None else value


@click.command("stream")
@with_appcontext
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--asset", required=True, help="Asset whose active model scores the readings.")
@click.option("--poll-interval", type=click.FloatRange(min=0.01), show_default="1",
              default=None, help="Seconds between two looks.")
@click.option("--from-start/--from-end", default=True,
              help="Where a stream never followed before starts (default: the first reading).")
@click.option("--once", is_flag=True, help="Process what the file holds now, then exit.")
@click.option("--alarm-k", type=int, default=None, show_default="5",
              help="Anomalous readings among the last N that open an alarm.")
@click.option("--alarm-n", type=int, default=None, show_default="10",
              help="Window of recent readings for --alarm-k.")
@click.option("--alarm-m", type=int, default=None, show_default="30",
              help="Normal readings in a row that close an alarm.")
@click.option("--max-lines", type=click.IntRange(min=1), default=DEFAULT_MAX_LINES,
              show_default=True, help="Most lines scored per poll (one audit write).")
def stream_command(path, asset, poll_interval, from_start, once, alarm_k, alarm_n, alarm_m,
                   max_lines):
    """Follow FILE like tail -F, score each new complete line with ASSET's active model,
    write audit rows (channel stream) and open or close alarms in logs/alarms.csv.

    A checkpoint under logs/streams/ lets a stopped or crashed follower resume where it was.
    """
    if not is_valid_asset_name(asset):
        fail(f"invalid asset name {asset!r}: use letters, digits, '-' and '_'")
    poll_interval = configured(poll_interval, "STREAM_POLL_INTERVAL")
    try:
        registry().require_asset(asset)
        policy = AlarmPolicy(configured(alarm_k, "ALARM_K"), configured(alarm_n, "ALARM_N"),
                             configured(alarm_m, "ALARM_M"))
    except (RegistryError, AlarmPolicyError) as exc:
        fail(str(exc))
    if not os.path.exists(path):
        click.echo(f"waiting for {path} to appear", err=True)
    follower = StreamFollower(
        path, asset, active_models(), audit_sink(), current_app.config["LOG_DIR"],
        stream_principal(), policy, from_end=not from_start, max_lines=max_lines,
        settle_seconds=0 if once else poll_interval, logs=record_logs())
    stop = StopRequest()
    stop_on_signals(stop)
    try:
        follower.start()
        follow(follower, poll_interval, once, stop)
    except (StreamError, AuditError, RegistryError, *database.UNAVAILABLE) as exc:
        follower.stop()
        click.echo(follower.summary(), err=True)
        fail(str(exc))
    follower.stop()
    click.echo(follower.summary())
