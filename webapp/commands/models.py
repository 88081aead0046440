"""`flask --app webapp train` and `models list|activate|rollback|resign`: make, switch, sign."""

import os
import sys

import click
from flask.cli import AppGroup, with_appcontext

from webapp.commands.common import cli_principal, fail
from webapp.extensions import lifecycle, registry
from webapp.services.lifecycle import ReasonRequired
from webapp.services.registry import RegistryError
from webapp.services.training import TrainingError, train_version

models_cli = AppGroup("models", help="List and switch model versions.")


@click.command("train")
@with_appcontext
@click.option("--asset", required=True, help="Asset name (letters, digits, '-', '_').")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="CSV of normal operation (';' or ',').")
@click.option("--normal-rows", type=int, default=None,
              help="Use only the first N readings (e.g. the minutes after an overhaul).")
def train_command(asset, data_path, normal_rows):
    """Train a new version of ASSET; prints the version name alone on the last line."""
    if not os.path.isfile(data_path):
        fail(f"no such file: {data_path}")
    try:
        version, manifest = train_version(registry(), asset, data_path, normal_rows,
                                          created_by=cli_principal())
    except (TrainingError, RegistryError, ValueError) as exc:
        fail(str(exc))
    for warning in manifest["calibration_warnings"]:
        click.echo(f"warning: {warning}", err=True)
    state = "active" if registry().active_version(asset) == version else "not active"
    click.echo(f"trained {asset} {version} on {manifest['training_data']['rows_used']} readings, "
               f"threshold {manifest['threshold']:.4g} ({state})")
    click.echo(version)


@models_cli.command("list")
def list_models():
    """One line per version: asset, version, created_at, and 'active' or 'shadow' if it is."""
    store = registry()
    for asset in store.assets():
        marks = {store.active_version(asset): "active", store.shadow_version(asset): "shadow"}
        for version in store.versions(asset):
            manifest = store.manifest(asset, version)
            mark = marks.get(version, "")
            click.echo(f"{asset}\t{version}\t{manifest.get('created_at', '')}\t{mark}".rstrip())


@models_cli.command("activate")
@click.argument("asset")
@click.argument("version")
@click.option("--reason", required=True, help="Why (kept in logs/model_events.csv).")
def activate_model(asset, version, reason):
    """Make VERSION the active version of ASSET (a verified version only)."""
    try:
        previous = lifecycle().activate(asset, version, cli_principal(), reason)
    except (RegistryError, ReasonRequired) as exc:
        fail(str(exc))
    click.echo(f"{asset} now uses {version} (was {previous or 'none'})")


@models_cli.command("rollback")
@click.argument("asset")
@click.option("--reason", required=True, help="Why (kept in logs/model_events.csv).")
def rollback_model(asset, reason):
    """Return ASSET to the version that was active before the current one."""
    try:
        current, previous = lifecycle().rollback(asset, cli_principal(), reason)
    except (RegistryError, ReasonRequired) as exc:
        fail(str(exc))
    click.echo(f"{asset} rolled back from {current} to {previous}")


@models_cli.command("resign")
@click.option("--asset", default=None, help="Only this asset (default: every asset).")
@click.option("--previous-key-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Key rotation: re-sign only the versions this old key signed.")
def resign_models(asset, previous_key_file):
    """Sign every version with the current key (after a key rotation, or an unsigned store).

    Without --previous-key-file any version whose model.pkl matches its manifest is signed:
    check the store first (it is trusted from then on).
    """
    store = registry()
    previous = None
    if previous_key_file:
        with open(previous_key_file, encoding="utf-8") as handle:
            previous = handle.read().strip()
    counts = {"signed": 0, "already signed": 0, "refused": 0}
    for name in [asset] if asset else store.assets():
        for version in store.versions(name):
            try:
                outcome = "signed" if store.resign(name, version, previous) else "already signed"
            except RegistryError as exc:
                outcome = "refused"
                click.echo(f"refused: {exc}", err=True)
            counts[outcome] += 1
    click.echo(", ".join(f"{count} {outcome}" for outcome, count in counts.items()))
    if counts["refused"]:
        sys.exit(1)
