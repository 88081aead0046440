"""`flask --app webapp users`: manage user accounts."""

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.commands.common import fail
from webapp.services import users

users_cli = AppGroup("users", help="Manage user accounts.")


def read_password(from_stdin):
    """The password from one line of standard input, or prompted for twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_cli.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(users.ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(name, role, password_stdin):
    """Add a user; the password is prompted for, or read from standard input."""
    password = read_password(password_stdin)
    try:
        users.create_user(current_app.config["DATABASE"], name, password, role)
    except users.UserError as exc:
        fail(str(exc))
    click.echo(f"created user {name} ({role})")


@users_cli.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--temporary", is_flag=True,
              help="The user must choose a new password at the next sign-in.")
def set_password(name, password_stdin, temporary):
    """Give NAME a new password and sign them out everywhere (a lost admin password, say)."""
    try:
        users.set_password(current_app.config["DATABASE"], name, read_password(password_stdin),
                           must_change=temporary)
    except users.UserError as exc:
        fail(str(exc))
    click.echo(f"new password set for {name}; their sessions are signed out"
               + (" (to change at the next sign-in)" if temporary else ""))
