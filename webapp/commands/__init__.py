"""Flask CLI commands: thin wrappers over the services, one module per area."""


def register_commands(app):
    """Attach every command to `flask --app webapp`."""
    from webapp.commands.apikeys import apikeys_cli
    from webapp.commands.audit import audit_cli
    from webapp.commands.bootstrap import bootstrap_command
    from webapp.commands.database import db_cli
    from webapp.commands.evaluate import evaluate_command
    from webapp.commands.models import models_cli, train_command
    from webapp.commands.monitoring import monitoring_cli
    from webapp.commands.score import score_command
    from webapp.commands.stream import stream_command
    from webapp.commands.translations import translations_command
    from webapp.commands.users import users_cli
    for command in (train_command, bootstrap_command, translations_command, models_cli,
                    users_cli, evaluate_command, stream_command, apikeys_cli, score_command,
                    monitoring_cli, db_cli, audit_cli):
        app.cli.add_command(command)
