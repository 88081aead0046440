"""`flask --app webapp db upgrade|current`: the database schema from the command line."""

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.services import database, schema

db_cli = AppGroup("db", help="Apply and check the database schema migrations.")


def _owner_target():
    config = current_app.config
    return config.get("DATABASE_OWNER_URL") or config["DATABASE"]


@db_cli.command("upgrade")
def upgrade():
    """Apply the missing migrations (as VIGIE_DATABASE_OWNER_URL when set)."""
    owner = _owner_target()
    before = schema.current_revision(owner)
    schema.upgrade(owner)
    click.echo(f"schema: {before or 'empty'} -> {schema.head_revision()}")
    app_user = database.user_of(current_app.config["DATABASE"])
    if schema.grant_app_role(owner, app_user):
        click.echo(f"role {app_user} may use the tables as {schema.APP_ROLE} "
                   "(audit rows: insert and read only)")


@db_cli.command("current")
def current():
    """Print the database's schema revision and the one this code needs."""
    click.echo(f"database: {schema.current_revision(_owner_target()) or 'empty'}; "
               f"code: {schema.head_revision()}")
