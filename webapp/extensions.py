"""Flask extensions, created once and bound to the app in the factory."""

from flask import current_app
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def init_services(app):
    """Bind the Flask-free services to the app, so that views, API and CLI share them."""
    from webapp.services.audit import CsvAuditSink
    from webapp.services.lifecycle import ModelLifecycle
    from webapp.services.registry import ActiveModels, ModelRegistry

    registry = ModelRegistry(app.config["MODEL_STORE"])
    app.extensions["vigie.registry"] = registry
    app.extensions["vigie.lifecycle"] = ModelLifecycle(registry, app.config["LOG_DIR"])
    app.extensions["vigie.models"] = ActiveModels(registry)
    app.extensions["vigie.audit"] = CsvAuditSink(app.config["AUDIT_DIR"])


def registry():
    """The model store of the current app."""
    return current_app.extensions["vigie.registry"]


def lifecycle():
    """Model switches (activate, roll back, shadow) with their event history."""
    return current_app.extensions["vigie.lifecycle"]


def active_models():
    """This process's cache of active models."""
    return current_app.extensions["vigie.models"]


def audit_sink():
    """Where audit rows go."""
    return current_app.extensions["vigie.audit"]


def monitoring_sources():
    """The monitoring figures' sources; made on first use (its libraries are heavy), and its
    summary cache is only a speed-up: the files stay the truth."""
    held = current_app.extensions.get("vigie.monitoring")
    if held is None:
        from webapp.services.monitoring.report import MonitoringSources
        held = MonitoringSources(current_app.config["LOG_DIR"], registry())
        current_app.extensions["vigie.monitoring"] = held
    return held
