"""What every command shares: one way to fail, one name for whoever runs the command."""

import getpass
import sys

import click


def fail(message):
    """Print a clear error and exit with status 1 (no traceback for a user's mistake)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def cli_user():
    """The account running the command ('unknown' when the system cannot say)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def cli_principal():
    """How the audit, the event history and the manifests name whoever runs a command."""
    return f"cli:{cli_user()}"
