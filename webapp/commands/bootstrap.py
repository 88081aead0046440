"""`flask --app webapp bootstrap`: prepare a fresh installation (a first model, the admin)."""

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.extensions import registry
from webapp.services.registry import RegistryError
from webapp.services.training import train_version

DEFAULT_ASSET = "pump-1"


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
    warn_unsigned(store)
    password_file = os.path.join(current_app.config["INSTANCE_DIR"], "initial_admin_password")
    if os.path.exists(password_file):
        click.echo(f"admin password: see {password_file}")
    click.echo("ready: " + ", ".join(f"{a} {store.active_version(a)}" for a in store.assets()))


def warn_unsigned(store):
    """Name the versions this installation's key did not sign (a store from before signing)."""
    unsigned = 0
    for asset in store.assets():
        for version in store.versions(asset):
            try:
                store.check_loadable(asset, version)
            except RegistryError as exc:
                click.echo(f"warning: {exc}", err=True)
                unsigned += "signature" in str(exc)
    if unsigned:
        click.echo("warning: if you trust this store, sign it: flask --app webapp models resign "
                   "(docs/operations.md, Security)", err=True)
