"""Error pages: HTML for browsers, the JSON error shape for the API; never a traceback."""

import errno
import logging

from flask import g, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from webapp.extensions import login_manager
from webapp.services.audit import AuditError
from webapp.services.database import UNAVAILABLE
from webapp.services.registry import ModelIntegrityError, NoActiveModel, UnknownAsset

log = logging.getLogger("vigie.errors")


def wants_json():
    """API routes and clients that ask for JSON get JSON."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes["text/html"]


def error_response(status, message, details=None):
    """Answer an error in the shape the client understands."""
    if wants_json():
        body = {"error": message, "details": details or [], "request_id": g.get("request_id")}
        return jsonify(body), status
    return render_template("errors/error.html", status=status, message=message,
                           request_id=g.get("request_id")), status


def handle_http_error(error):
    messages = {
        400: _("The request could not be understood."),
        401: _("Please log in to continue."),
        403: _("Your role does not allow this action."),
        404: _("This page does not exist."),
        405: _("This method is not allowed here."),
        413: _("The upload is too large."),
        415: _("Unsupported content type: send JSON."),
    }
    message = messages.get(error.code, error.description or error.name)
    return error_response(error.code, message)


def handle_unexpected(error):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, _("An internal error occurred. Quote the request id to support."))


def handle_os_error(error):
    """A full disk is the operator's to fix, not a bug: 503 with what to do; others are 500."""
    if error.errno not in (errno.ENOSPC, errno.EDQUOT):
        return handle_unexpected(error)
    log.error("disk full on %s %s: %s", request.method, request.path, error)
    return error_response(503, _("The server's disk is full, so this could not be saved. Try "
                                 "again later or alert an administrator."))


def handle_audit_error(error):
    log.error("audit write failed: %s", error)
    return error_response(503, _("The prediction could not be recorded in the audit log, so it "
                                 "is not given. Try again later or alert an administrator."))


def handle_database_unavailable(error):
    log.error("database unavailable: %s", getattr(error, "orig", None) or error)
    # The page's menu asks who is signed in, which needs the database: show it as anonymous.
    g._login_user = login_manager.anonymous_user()
    return error_response(503, _("The database is unavailable, so this request cannot be "
                                 "served. Try again in a moment or alert an administrator."))


def handle_model_error(error):
    log.error("model unavailable: %s", error)
    return error_response(503, _("The model is unavailable: %(reason)s", reason=str(error)))


def handle_unknown_asset(error):
    return error_response(404, str(error))


def register_error_handlers(app):
    """Route every error class to its answer."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(AuditError, handle_audit_error)
    for error in UNAVAILABLE:
        app.register_error_handler(error, handle_database_unavailable)
    app.register_error_handler(ModelIntegrityError, handle_model_error)
    app.register_error_handler(NoActiveModel, handle_model_error)
    app.register_error_handler(UnknownAsset, handle_unknown_asset)
    app.register_error_handler(OSError, handle_os_error)
    app.register_error_handler(Exception, handle_unexpected)
