"""GET /api/v1/models/active: which model version answers for each asset, and its schema."""

from flask import jsonify

from webapp.api import api_key_required, bp
from webapp.api.openapi import add_paths, add_schemas, error_responses, json_response
from webapp.extensions import active_models, registry
from webapp.services.registry import RegistryError


@bp.route("/models/active", methods=["GET"])
@api_key_required("operator")
def list_active_models():
    """Every asset with its active version, sha256, features and threshold."""
    return jsonify({"assets": [active_model_entry(asset) for asset in registry().assets()]})


def active_model_entry(asset):
    """The asset's active version as verified and loaded for scoring, or why it cannot be."""
    try:
        loaded = active_models().get(asset)
    except RegistryError as exc:
        return {"asset": asset, "version": registry().active_version(asset), "error": str(exc)}
    return {"asset": asset, "version": loaded.version, "sha256": loaded.sha256,
            "threshold": loaded.manifest["threshold"], "created_at": loaded.manifest.get(
                "created_at"), "features": loaded.manifest["features"]}


add_schemas({
    "ActiveModels": {
        "type": "object",
        "required": ["assets"],
        "properties": {"assets": {"type": "array", "items": {
            "$ref": "#/components/schemas/ActiveModel"}}},
    },
    "ActiveModel": {
        "type": "object",
        "required": ["asset", "version"],
        "description": "Either the verified active version, or `error` saying why the asset "
                       "cannot be scored now (no active version, file altered on disk...).",
        "properties": {
            "asset": {"type": "string"},
            "version": {"type": "string", "nullable": True},
            "sha256": {"type": "string", "description": "sha256 of model.pkl, verified."},
            "threshold": {"type": "number"},
            "created_at": {"type": "string"},
            "features": {"type": "array", "description": "The sensor schema: name, unit, "
                                                        "labels, plausible low/high.",
                         "items": {"type": "object"}},
            "error": {"type": "string"},
        },
    },
})

add_paths({"/models/active": {"get": {
    "summary": "The active model version of every asset, with its sha256, features and "
               "threshold.",
    "operationId": "getActiveModels",
    "responses": {**json_response("Every asset of the store.", "ActiveModels"),
                  **error_responses(401, 403)},
}}})
