"""`flask --app webapp score`: score a CSV file offline, or every file dropped in a watch folder."""

import gc
import os
import signal

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.commands.common import cli_principal, fail
from webapp.extensions import active_models, audit_sink, record_logs, registry
from webapp.services.audit import AuditError
from webapp.services.batch.reader import BatchFileError
from webapp.services.batch.scorer import new_batch_id, score_file
from webapp.services.batch.watch import WatchBusy, WatchFolder
from webapp.services.registry import RegistryError


def errors_path_for(out_path):
    """RESULTS.csv -> RESULTS.errors.csv, next to the results."""
    stem = out_path[:-4] if out_path.lower().endswith(".csv") else out_path
    return stem + ".errors.csv"


@click.command("score")
@with_appcontext
@click.argument("input_path", required=False, metavar="INPUT.csv")
@click.option("--asset", help="Asset whose model scores the file.")
@click.option("--version", help="Model version to score with (default: the active one).")
@click.option("--out", "out_path", help="Results CSV to write (rejected rows go to "
                                        "RESULTS.errors.csv).")
@click.option("--watch", "watch_dir", help="Score every CSV dropped in DIR/incoming/<asset>/.")
@click.option("--once", is_flag=True, help="With --watch: process what is there, then exit.")
@click.option("--poll", type=float, default=None, help="With --watch: seconds between looks.")
def score_command(input_path, asset, version, out_path, watch_dir, once, poll):
    """Score INPUT.csv with ASSET's model into --out, or watch a folder with --watch DIR."""
    if watch_dir:
        if input_path or out_path:
            fail("--watch takes no INPUT.csv or --out: results go to DIR/results")
        freeze_loaded_objects()
        watch_folder(watch_dir, once, poll)
        return
    if not (input_path and asset and out_path):
        fail("give INPUT.csv, --asset NAME and --out RESULTS.csv (or --watch DIR)")
    freeze_loaded_objects()
    score_one_file(input_path, asset, version, out_path)


def freeze_loaded_objects():
    """Keep the garbage collector off the objects loaded so far (they live as long as we do)."""
    # Scanning the app's and libraries' objects again and again took about a tenth of the
    # time of a large file, whose chunks create many short-lived objects.
    gc.collect()
    gc.freeze()


def score_one_file(input_path, asset, version, out_path):
    """The single-file form: one summary line on stderr, the batch id alone on stdout."""
    if not os.path.isfile(input_path):
        fail(f"no such file: {input_path}")
    if os.path.abspath(input_path) == os.path.abspath(out_path):
        fail("--out must not be the input file")
    try:
        loaded = active_models().get(asset, version)
        registry().check_loadable(asset, loaded.version)
    except RegistryError as error:
        fail(str(error))
    batch_id = new_batch_id()
    errors_path = errors_path_for(out_path)
    try:
        with open(input_path, "rb") as binary:
            summary = score_file(binary, loaded, audit_sink(), batch_id=batch_id, channel="cli",
                                 principal=cli_principal(), results_path=out_path,
                                 errors_path=errors_path,
                                 chunk_rows=current_app.config["BATCH_CHUNK_ROWS"],
                                 rejections_dir=record_logs())
    except (BatchFileError, AuditError, OSError) as error:
        fail(f"{input_path}: {error}")
    click.echo(summary.line(), err=True)
    click.echo(f"results: {out_path}; rejected rows: {summary.rejected} in {errors_path}",
               err=True)
    if summary.metrics:
        m = summary.metrics
        click.echo(f"against the anomaly column: F1 {m['f1']:.3f}, false alarms "
                   f"{100 * m['far']:.1f}%, missed {100 * m['mar']:.1f}% "
                   f"(tp {m['tp']} fp {m['fp']} fn {m['fn']} tn {m['tn']})", err=True)
    click.echo(batch_id)


def watch_folder(watch_dir, once, poll):
    """The watch-folder form: one line per file on stderr; stops cleanly on SIGTERM/Ctrl-C."""
    config = current_app.config
    watcher = WatchFolder(watch_dir, active_models(), audit_sink(),
                          audit_dir=config["AUDIT_DIR"], principal=cli_principal(),
                          chunk_rows=config["BATCH_CHUNK_ROWS"],
                          settle_seconds=min(poll or 2.0, 2.0),
                          rejections_dir=record_logs())
    try:
        watcher.prepare(registry().assets())
    except WatchBusy as error:
        fail(str(error))
    counts = {"scored": 0, "rejected": 0, "retry": 0}

    def report(outcome):
        counts[outcome.state] += 1
        click.echo(f"{outcome.state} {outcome.asset}/{outcome.name}: {outcome.message}",
                   err=True)

    try:
        if once:
            for outcome in watcher.run_once():
                report(outcome)
        else:
            stopping = []
            signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
            click.echo(f"watching {os.path.join(watcher.root, 'incoming')}/<asset>/ "
                       "(Ctrl-C to stop)", err=True)
            try:
                watcher.run(poll or config["WATCH_POLL_SECONDS"], report,
                            should_stop=lambda: bool(stopping))
            except KeyboardInterrupt:
                pass
    finally:
        watcher.close()
    click.echo(f"{counts['scored']} files scored, {counts['rejected']} rejected, "
               f"{counts['retry']} to retry", err=True)
