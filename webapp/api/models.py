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
    # Both thresholds, named: a one-reading request is judged against the single-reading one,
    # so a client checking a verdict needs it (6.7 against 38.1 for the default model).
    thresholds = {"sequence": loaded.model.threshold_for(single=False),
                  "single_reading": loaded.model.threshold_for(single=True)}
    return {"asset": asset, "version": loaded.version, "sha256": loaded.sha256,
            "threshold": thresholds["sequence"], "thresholds": thresholds,
            "created_at": loaded.manifest.get("created_at"),
            "features": loaded.manifest["features"]}


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
            "threshold": {"type": "number", "description": "The sequence threshold (kept for "
                                                           "older clients: see `thresholds`)."},
            "thresholds": {
                "type": "object", "required": ["sequence", "single_reading"],
                "description": "A score above its threshold is an anomaly: `single_reading` "
                               "judges a request of one reading, `sequence` readings scored "
                               "in a sequence.",
                "properties": {"sequence": {"type": "number"},
                               "single_reading": {"type": "number"}}},
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
               "both thresholds.",
    "operationId": "getActiveModels",
    "responses": {**json_response("Every asset of the store.", "ActiveModels"),
                  **error_responses(401, 403)},
}}})
