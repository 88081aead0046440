"""POST /api/v1/models/active: a deployment pipeline activates a verified version (admin key)."""

from flask import current_app, g, jsonify

from webapp.api import ApiError, api_key_required, bp
from webapp.api.openapi import add_paths, add_schemas, error_responses
from webapp.api.predict import json_type, read_json_body
from webapp.extensions import lifecycle
from webapp.services.lifecycle import ReasonRequired, SwitchRefused
from webapp.services.registry import InvalidName, ModelIntegrityError, UnknownAsset, UnknownVersion

SWITCH_FIELDS = ("asset", "version", "reason")
MAX_SWITCH_BODY = 16 * 1024


@bp.route("/models/active", methods=["POST"])
@api_key_required("admin")
def activate_model():
    asset, version, reason = switch_request(read_json_body(MAX_SWITCH_BODY))
    try:
        previous = lifecycle().activate(asset, version, g.api_key.principal, reason)
    except (UnknownAsset, UnknownVersion) as exc:
        raise ApiError(404, str(exc)) from None
    except (ModelIntegrityError, SwitchRefused) as exc:
        raise ApiError(409, f"not activated: {exc}") from None
    except (InvalidName, ReasonRequired) as exc:
        raise ApiError(422, str(exc)) from None
    current_app.logger.info("%s activated %s %s (was %s)", g.api_key.principal, asset,
                            version, previous)
    return jsonify({"asset": asset, "version": version, "previous_version": previous,
                    "request_id": g.get("request_id")})


def switch_request(body):
    """(asset, version, reason) when the body is {"asset", "version", "reason"} of strings."""
    if not isinstance(body, dict):
        raise ApiError(400, 'the body must be a JSON object {"asset": "<name>", "version": '
                            f'"v<N>", "reason": "<why>"}}, not {json_type(body)}')
    problems = [{"index": None, "field": name, "message": "required, as a string"}
                for name in SWITCH_FIELDS if not isinstance(body.get(name), str)]
    problems += [{"index": None, "field": name[:80], "message": "unknown field"}
                 for name in body if name not in SWITCH_FIELDS]
    if problems:
        raise ApiError(400, "asset, version and reason are required as strings, and nothing "
                            "else", problems)
    return body["asset"], body["version"], body["reason"]


add_schemas({
    "ActivateRequest": {
        "type": "object", "required": list(SWITCH_FIELDS), "additionalProperties": False,
        "properties": {
            "asset": {"type": "string", "example": "pump-1"},
            "version": {"type": "string", "example": "v2",
                        "description": "A version listed on the model versions page."},
            "reason": {"type": "string", "maxLength": 500,
                       "description": "Why; kept in logs/model_events.csv."},
        },
    },
    "ActivateResult": {
        "type": "object", "required": ["asset", "version", "previous_version"],
        "properties": {
            "asset": {"type": "string"}, "version": {"type": "string"},
            "previous_version": {"type": "string", "nullable": True,
                                 "description": "The version it replaced (what a rollback "
                                                "returns to)."},
            "request_id": {"type": "string"},
        },
    },
})

add_paths({"/models/active": {"post": {
    "summary": "Activate a verified version of an asset (admin key); every worker uses it "
               "from its next request, and the switch is recorded in the model event history.",
    "operationId": "activateModel",
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ActivateRequest"}}}},
    "responses": {
        "200": {"description": "The version is active.", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ActivateResult"}}}},
        **error_responses(400, 401, 403, 413, 415),
        "404": {"description": "Unknown asset, or the asset has no such version.",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
        "409": {"description": "The version is already active, or is not loadable (its "
                               "model.pkl does not match its manifest, or it was trained with "
                               "another scikit-learn major.minor); the reason is in `error`.",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
        "422": {"description": "The version name is not one Vigie generates, or the reason "
                               "is empty or too long.",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
    },
}}})
