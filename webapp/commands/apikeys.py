"""`flask --app webapp apikeys create|list|revoke`: API keys from the command line."""


import click
from flask import current_app
from flask.cli import AppGroup

from webapp.commands.common import cli_principal, fail
from webapp.services import apikeys
from webapp.services.users import ROLES

apikeys_cli = AppGroup("apikeys", help="Create, list and revoke API keys.")


def database():
    """The database of the current app (SQLite file or PostgreSQL URL)."""
    return current_app.config["DATABASE"]


@apikeys_cli.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="What the key may do (operator is enough to predict).")
def create_key(name, role):
    """Create a key NAME; prints a summary, then the key alone on the last line, once."""
    try:
        record, key = apikeys.create_key(database(), name, role,
                                         created_by=cli_principal())
    except apikeys.ApiKeyError as exc:
        fail(str(exc))
    click.echo(f"created API key {record.name} ({record.role}); it is shown only now, "
               "store it where the client reads it:")
    click.echo(key)


@apikeys_cli.command("list")
def list_keys():
    """One line per key: name, role, first characters, created, last used, state."""
    keys = apikeys.list_keys(database())
    if not keys:
        click.echo("no API keys")
        return
    click.echo("name\trole\tstarts_with\tcreated_at\tlast_used_at\tstate")
    for key in keys:
        state = f"revoked {key.revoked_at}" if key.revoked else "active"
        click.echo(f"{key.name}\t{key.role}\t{key.key_prefix}\t{key.created_at}\t"
                   f"{key.last_used_at or 'never'}\t{state}")


@apikeys_cli.command("revoke")
@click.argument("name")
def revoke_key(name):
    """Revoke the key NAME for good: calls with it get 403 from now on."""
    try:
        apikeys.revoke_key(database(), name)
    except apikeys.ApiKeyError as exc:
        fail(str(exc))
    click.echo(f"revoked API key {name}")
