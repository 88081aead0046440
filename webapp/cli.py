"""Flask CLI commands: thin wrappers over the services, for operators and scripts."""

import getpass
import os
import sys

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from webapp import users
from webapp.extensions import lifecycle, registry
from webapp.lifecycle import ReasonRequired
from webapp.registry import RegistryError
from webapp.training import TrainingError, train_version
from webapp.translations import compile_catalogues

models_cli = AppGroup("models", help="List and switch model versions.")
users_cli = AppGroup("users", help="Manage user accounts.")
DEFAULT_ASSET = "pump-1"


def fail(message):
    """Print a clear error and exit with status 1 (no traceback for a user's mistake)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


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
                                          created_by=os.environ.get("USER", "cli"))
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


def cli_principal():
    """How the event history names a switch made from the command line."""
    return f"cli:{getpass.getuser()}"


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


@users_cli.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(users.ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(name, role, password_stdin):
    """Add a user; the password is prompted for, or read from standard input."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        users.create_user(current_app.config["DATABASE"], name, password, role)
    except users.UserError as exc:
        fail(str(exc))
    click.echo(f"created user {name} ({role})")


@click.command("bootstrap")
@with_appcontext
@click.option("--data", "data_path", default=None, help="Training file for the demo asset.")
def bootstrap_command(data_path):
    """Prepare a fresh installation: train pump-1 when the store is empty; the admin exists."""
    store = registry()
    if not store.assets():
        data_path = data_path or os.path.join(current_app.root_path, "..", "data",
                                              "anomaly-free.csv")
        version, _ = train_version(store, DEFAULT_ASSET, os.path.abspath(data_path),
                                   created_by="bootstrap")
        click.echo(f"trained {DEFAULT_ASSET} {version} from {os.path.basename(data_path)}")
    password_file = os.path.join(current_app.config["INSTANCE_DIR"], "initial_admin_password")
    if os.path.exists(password_file):
        click.echo(f"admin password: see {password_file}")
    click.echo("ready: " + ", ".join(f"{a} {store.active_version(a)}" for a in store.assets()))


@click.command("translations")
@with_appcontext
def translations_command():
    """Compile every area's French catalogue (messages.po -> messages.mo)."""
    click.echo(f"compiled {compile_catalogues()} catalogues")


def register_commands(app):
    """Attach every command to `flask --app webapp`."""
    from webapp.apikeys_cli import apikeys_cli
    from webapp.audit_cli import audit_cli
    from webapp.batch.cli import score_command
    from webapp.db_cli import db_cli
    from webapp.evaluate_cli import evaluate_command  # imports fail() from this module
    from webapp.monitoring_cli import monitoring_cli
    from webapp.stream_cli import stream_command
    for command in (train_command, bootstrap_command, translations_command, models_cli,
                    users_cli, evaluate_command, stream_command, apikeys_cli, score_command,
                    monitoring_cli, db_cli, audit_cli):
        app.cli.add_command(command)
