"""Application logging: logs/app.log, rotating, timestamped, with the request id on each line."""

import logging
import os
import re
import uuid
from logging.handlers import RotatingFileHandler

from flask import g, has_request_context, request
from flask_babel import gettext as _

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds the current request id (or '-') to every record."""

    def filter(self, record):
        record.request_id = "-"
        if has_request_context():
            client = g.get("client_request_id")
            record.request_id = g.get("request_id", "-") + (f"/{client}" if client else "")
        return True


def assign_request_id():
    """Give the request the server's own id; keep the caller's X-Request-ID beside it.

    The audit and the history know a request by the server's id only: a caller who sends
    another caller's id cannot join that caller's record. A supplied id is kept in the audit's
    client_request_id column and on log lines; one that is not a short plain token is refused.
    """
    g.request_id = uuid.uuid4().hex[:16]
    supplied = request.headers.get("X-Request-ID")
    if supplied is None:
        return None
    if not REQUEST_ID_PATTERN.fullmatch(supplied):
        from webapp.errors import error_response
        return error_response(400, _("The X-Request-ID header must be 1 to 64 letters, digits, "
                                     "'.', '-' or '_'."))
    g.client_request_id = supplied
    return None


def echo_request_id(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response


def configure_logging(app):
    """Send the app's log to a rotating file and to stderr, never to the audit files."""
    logger = logging.getLogger("vigie")
    logger.setLevel(app.config["LOG_LEVEL"])
    formatter = logging.Formatter(LOG_FORMAT)
    path = os.path.join(app.config["LOG_DIR"], "app.log")
    if not any(getattr(h, "baseFilename", None) == path for h in logger.handlers):
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in (RotatingFileHandler(path, maxBytes=5_000_000, backupCount=5,
                                            delay=True), logging.StreamHandler()):
            handler.setFormatter(formatter)
            handler.addFilter(RequestIdFilter())
            logger.addHandler(handler)
    logger.propagate = False
    app.logger.handlers = logger.handlers
    app.logger.setLevel(app.config["LOG_LEVEL"])
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)
