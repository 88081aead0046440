"""`flask --app webapp users`: manage user accounts."""

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.commands.common import fail
from webapp.services import users

users_cli = AppGroup("users", help="Manage user accounts.")


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
