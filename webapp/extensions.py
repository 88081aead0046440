"""Flask extensions, created once and bound to the app in the factory."""

import orjson
from flask import current_app
from flask.json.provider import DefaultJSONProvider
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()

# Dates and dataclasses go to Flask's `default`, which writes them as Flask always has.
ORJSON_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                  | orjson.OPT_PASSTHROUGH_DATACLASS)


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with orjson for request and response bodies.

    The standard library took about a third of the time of a 1,000-reading API request. Any
    value orjson refuses (NaN in a body, integers beyond 64 bits, numpy scalars) goes to
    Flask's own provider, so its results and error messages are unchanged. The bytes differ
    only where JSON allows it: non-ASCII characters are written as UTF-8, not \\u escapes,
    and a float such as 1e-05 as 0.00001 (a NaN, which no response should hold, would be null).
    """

    def loads(self, s, **kwargs):
        if not kwargs:
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:
                pass  # the standard library's verdict and message, as before
        return super().loads(s, **kwargs)

    def response(self, *args, **kwargs):
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)  # indented for people
        obj = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(obj, default=self.default, option=ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return super().response(*args, **kwargs)
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)


def init_services(app):
    """Bind the Flask-free services to the app, so that views, API and CLI share them."""
    from webapp.services.lifecycle import ModelLifecycle
    from webapp.services.record_log import Logs
    from webapp.services.registry import ActiveModels, ModelRegistry

    registry = ModelRegistry(app.config["MODEL_STORE"], app.config["MODEL_SIGNING_KEY"])
    # Rejections, feedback, model events, alarms and acks: the log folder's CSV files, or
    # the shared database's tables when it is PostgreSQL (several hosts).
    logs = Logs(app.config["LOG_DIR"], app.config["DATABASE"])
    app.extensions["vigie.logs"] = logs
    app.extensions["vigie.registry"] = registry
    app.extensions["vigie.lifecycle"] = ModelLifecycle(registry, logs)
    app.extensions["vigie.models"] = ActiveModels(registry)
    app.extensions["vigie.audit"] = make_audit_sink(app.config)


def make_audit_sink(config):
    """CSV day files by default; the shared `audit` table when the database is PostgreSQL."""
    from webapp.services import database
    from webapp.services.audit import CsvAuditSink
    from webapp.services.monitoring.refresher import SummaryRefresher
    if database.is_sqlite(config["DATABASE"]):
        return CsvAuditSink(config["AUDIT_DIR"], SummaryRefresher(config["LOG_DIR"]))
    from webapp.services.audit_db import DatabaseAuditSink
    return DatabaseAuditSink(config["DATABASE"])


def record_logs():
    """Where rejections, feedback, model events, alarms and acknowledgements go and are read."""
    return current_app.extensions["vigie.logs"]


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


def audit_store():
    """The database store of the audit (several hosts), or None when it is in day files."""
    sink = audit_sink()
    return sink if hasattr(sink, "search_rows") else None


def audit_source():
    """What the audit queries read: the audit folder, or the database store (several hosts)."""
    return audit_store() or current_app.config["AUDIT_DIR"]


def job_states(kind):
    """Where background jobs of `kind` ("batch", "training") keep their state: None for the
    JSON files of this host, the shared job_states table when the database is PostgreSQL."""
    from webapp.services import database
    target = current_app.config["DATABASE"]
    if database.is_sqlite(target):
        return None
    from webapp.services.job_states import DatabaseJobStates
    return DatabaseJobStates(target, kind)


def monitoring_sources():
    """The monitoring figures' sources; made on first use (its libraries are heavy), and its
    summary cache is only a speed-up: the files (or the audit table) stay the truth."""
    held = current_app.extensions.get("vigie.monitoring")
    if held is None:
        from webapp.services.monitoring.report import MonitoringSources
        held = MonitoringSources(current_app.config["LOG_DIR"], registry(),
                                 audit_store=audit_store(), logs=record_logs())
        current_app.extensions["vigie.monitoring"] = held
    return held
