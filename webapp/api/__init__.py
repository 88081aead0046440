"""The JSON API for machines, under /api/v1, authenticated by the X-API-Key header."""

from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request

from webapp.services import apikeys

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class ApiError(Exception):
    """An API failure with its status and the JSON error shape's details."""

    def __init__(self, status, message, details=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


@bp.errorhandler(ApiError)
def handle_api_error(error):
    body = {"error": error.message, "details": error.details, "request_id": g.get("request_id")}
    return jsonify(body), error.status


def api_key_required(role="operator"):
    """Require a valid, unrevoked X-API-Key of `role` or above; g.api_key holds its record."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            key = request.headers.get("X-API-Key", "")
            if not key:
                raise ApiError(401, "missing API key: send it in the X-API-Key header")
            try:
                record = apikeys.authenticate_key(current_app.config["DATABASE"], key)
            except apikeys.RevokedKey as exc:
                raise ApiError(403, f"the API key {exc} has been revoked") from None
            if record is None:
                raise ApiError(401, "unknown API key")
            if not record.has_role(role):
                raise ApiError(403, f"the key's role ({record.role}) may not call this route; "
                                    f"it needs {role}")
            g.api_key = record
            return view(*args, **kwargs)
        return wrapped
    return decorator


# Modules that add routes to `bp` (and their paths to the OpenAPI document) on import.
ROUTE_MODULES = ("openapi", "predict", "models", "model_switch", "monitoring")


def register_api(app):
    """Attach the API; it authenticates by key, so browser CSRF tokens do not apply."""
    import importlib

    from webapp.extensions import csrf
    for name in ROUTE_MODULES:
        importlib.import_module(f"webapp.api.{name}")
    csrf.exempt(bp)
    app.register_blueprint(bp)
