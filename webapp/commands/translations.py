"""`flask --app webapp translations`: compile the French catalogues."""

import click
from flask.cli import with_appcontext

from webapp.i18n import compile_catalogues


@click.command("translations")
@with_appcontext
def translations_command():
    """Compile every area's French catalogue (messages.po -> messages.mo)."""
    click.echo(f"compiled {compile_catalogues()} catalogues")
