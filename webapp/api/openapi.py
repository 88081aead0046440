"""The OpenAPI 3 document of /api/v1, assembled from the paths each API module declares.

Each module that adds routes to the API calls `add_paths({...})` (and `add_schemas({...})`
for the shapes it returns) at import time, next to its views, so that the document and the
code change together; tests/api/test_predict.py checks that the two agree.
"""

from flask import jsonify

from webapp.api import bp
from webapp.version import APP_VERSION

PREFIX = "/api/v1"
_PATHS = {}
_SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error", "details"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong and how to fix it."},
            "details": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorDetail"}},
            "request_id": {"type": "string", "nullable": True,
                           "description": "Quote it to support; also in logs/app.log."},
        },
    },
    "ErrorDetail": {
        "type": "object",
        "properties": {
            "index": {"type": "integer", "nullable": True,
                      "description": "Position of the reading in `readings` (from 0)."},
            "field": {"type": "string", "nullable": True},
            "message": {"type": "string"},
        },
    },
}
ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON or not of the expected shape.",
    401: "The X-API-Key header is missing or the key is unknown.",
    403: "The key was revoked, or its role may not call this route.",
    404: "Unknown asset.",
    413: "The body is larger than API_MAX_BODY.",
    415: "The Content-Type is not application/json.",
    422: "Invalid values: every invalid reading is listed; nothing was scored.",
    503: "The model is unavailable, or the prediction could not be audited (not given).",
}


def add_paths(paths):
    """Document routes: {"/path under /api/v1": {"get": operation, ...}}; methods merge."""
    for path, operations in paths.items():
        _PATHS.setdefault(path, {}).update(operations)


def add_schemas(schemas):
    """Add named schemas under components/schemas."""
    _SCHEMAS.update(schemas)


def error_responses(*statuses):
    """The `responses` entries of the JSON error shape for these statuses."""
    return {str(status): {"description": ERROR_DESCRIPTIONS[status],
                          "content": {"application/json": {
                              "schema": {"$ref": "#/components/schemas/Error"}}}}
            for status in statuses}


def json_response(description, schema_name):
    """A 200 `responses` entry whose body is the named schema."""
    return {"200": {"description": description, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}}


def build_document():
    """The whole OpenAPI document as a dict."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Vigie API", "version": APP_VERSION,
                 "description": "Anomaly scores of pump sensor readings for machines. "
                                "Every prediction is written to the audit log."},
        "servers": [{"url": PREFIX}],
        "security": [{"ApiKey": []}],
        "paths": {path: dict(operations) for path, operations in sorted(_PATHS.items())},
        "components": {
            "schemas": dict(_SCHEMAS),
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header",
                                           "name": "X-API-Key"}},
        },
    }


@bp.route("/openapi.json")
def openapi_document():
    """The OpenAPI document, served without a key so that clients can generate code."""
    return jsonify(build_document())


add_paths({"/openapi.json": {"get": {
    "summary": "This document (no key needed).",
    "operationId": "getOpenApi",
    "security": [],
    "responses": {"200": {"description": "The OpenAPI 3 document.",
                          "content": {"application/json": {"schema": {"type": "object"}}}}},
}}})
