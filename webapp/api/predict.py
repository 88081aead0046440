"""POST /api/v1/predict: score an ordered sequence of readings of one asset, audited.

Readings are strict: sensor values are JSON numbers, and a field that is neither a sensor of
the asset's model nor "timestamp" is refused (422), so that a misspelt sensor name never
silently becomes a missing value.
"""

import functools
import json

import numpy as np
import pandas as pd
from flask import current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from features.schema import is_valid_asset_name
from features.validation import FieldError, number_columns, validate_reading
from webapp.api import ApiError, api_key_required, bp
from webapp.api.openapi import add_paths, add_schemas, error_responses, json_response
from webapp.extensions import active_models, audit_sink, record_logs, registry
from webapp.services.rejections import record_rejections
from webapp.services.scoring import calibration_of, predict_and_audit
from webapp.services.text import json_may_hold_unsafe, unsafe_in_json

BODY_FIELDS = ("asset", "readings")
TIMESTAMP_FIELD = "timestamp"
MAX_TIMESTAMP_LENGTH = 64
SHOWN_NAME_LENGTH = 80  # a field name echoed in a message is cut to this length


class NotAJsonNumber:
    """Stands in for a string sensor value, which validate_reading would otherwise parse."""


@bp.route("/predict", methods=["POST"])
@api_key_required("operator")
def predict():
    """Score the posted readings of one asset in order; every result is audited first."""
    body = read_json_body(current_app.config["API_MAX_BODY"])
    asset, readings = check_shape(body, current_app.config["API_MAX_READINGS"])
    loaded = active_models().get(choose_asset(asset))
    frame, timestamps = validated_frame(readings, loaded)
    request_id, results = predict_and_audit(
        loaded, frame, audit_sink(), channel="api", principal=g.api_key.principal,
        request_id=g.request_id, reading_timestamps=timestamps,
        client_request_id=g.get("client_request_id", ""))
    return jsonify({"request_id": request_id,
                    "client_request_id": g.get("client_request_id"), "asset": loaded.asset,
                    "model_version": loaded.version,
                    "calibration": calibration_of(loaded, frame),
                    "results": [result.as_dict() for result in results]})


def read_json_body(limit):
    """The parsed JSON body; 415, 413 or 400 when it is not JSON of at most `limit` bytes."""
    if request.mimetype != "application/json":
        raise ApiError(415, "send the body as JSON with the header Content-Type: "
                            f"application/json (received {request.mimetype or 'none'})")
    too_large = ApiError(413, f"the body is larger than {limit} bytes: send fewer readings "
                              "per request")
    # One byte over the limit is let in: a chunked body is cut at the limit without an
    # error, and the extra byte is how a cut body is told from one that fits exactly.
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise too_large from None
    if len(data) > limit:
        raise too_large
    try:
        body = current_app.json.loads(data)
    except RecursionError:
        raise ApiError(400, "the body is not a predict request: it is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                            f"column {exc.colno}") from None
    except ValueError:  # undecodable bytes, or an integer with thousands of digits
        raise ApiError(400, "the body is not valid JSON: send UTF-8 text whose numbers have "
                            "a reasonable size") from None
    refuse_unsafe_text(data, body)
    return body


def refuse_unsafe_text(data, body):
    """400 when a field name or a string holds a control character or a lone surrogate.

    Checked on the parsed body, whatever the parser, so that no such text reaches the audit,
    the rejections file or a log; the raw bytes tell first whether a check is needed at all.
    """
    problem = unsafe_in_json(body) if json_may_hold_unsafe(data) else None
    if problem is not None:
        raise ApiError(400, str(problem), [{"index": None, "field": problem.field,
                                            "message": problem.reason}])


def shown(name):
    """A field name as echoed in a message: shortened, since it comes from the client."""
    return name if len(name) <= SHOWN_NAME_LENGTH else name[:SHOWN_NAME_LENGTH] + "…"


def json_type(value):
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object"}[type(value)]


def check_shape(body, max_readings):
    """(asset or None, readings) when the body has the documented shape, else 400."""
    expected = f"readings must be a list of 1 to {max_readings} objects"
    if not isinstance(body, dict):
        raise ApiError(400, 'the body must be a JSON object {"asset": "<name>", "readings": '
                            f'[{{"<sensor>": <number>, ...}}, ...]}}, not {json_type(body)}')
    unknown = [name for name in body if name not in BODY_FIELDS]
    if unknown:
        raise ApiError(400, "unknown fields in the body: only asset and readings are accepted",
                       [{"index": None, "field": shown(name), "message": "unknown field"}
                        for name in unknown])
    asset, readings = body.get("asset"), body.get("readings")
    if asset is not None and not isinstance(asset, str):
        raise ApiError(400, f"asset must be a string (the asset name), not {json_type(asset)}",
                       [{"index": None, "field": "asset", "message": "must be a string"}])
    if not isinstance(readings, list) or not 1 <= len(readings) <= max_readings:
        found = (f"{len(readings)} items" if isinstance(readings, list)
                 else "missing" if readings is None else json_type(readings))
        raise ApiError(400, f"{expected} (found {found})",
                       [{"index": None, "field": "readings", "message": expected}])
    not_objects = [{"index": index, "field": None,
                    "message": f"reading {index} is {json_type(reading)}, not an object"}
                   for index, reading in enumerate(readings) if not isinstance(reading, dict)]
    if not_objects:
        raise ApiError(400, expected, not_objects)
    return asset, readings


def choose_asset(asset):
    """The asset to score: the one named, or the only one in the store; else 404 or 400."""
    if asset is not None and is_valid_asset_name(asset) and registry().versions(asset):
        return asset  # without listing every asset's versions on every request
    assets = registry().assets()
    if asset is None:
        if len(assets) == 1:
            return assets[0]
        if not assets:
            raise ApiError(404, "no asset has a trained model yet")
        raise ApiError(400, "asset is required when the store has several assets: "
                            + ", ".join(assets),
                       [{"index": None, "field": "asset", "message": "is required"}])
    if not is_valid_asset_name(asset) or asset not in assets:
        raise ApiError(404, f"unknown asset {shown(asset)!r}: known assets are "
                            + (", ".join(assets) or "none"),
                       [{"index": None, "field": "asset", "message": "unknown asset"}])
    return asset


def reading_errors(reading, index, sensors):
    """(values, timestamp, errors as JSON details) for one reading."""
    raw = {name: NotAJsonNumber() if isinstance(value, str) else value
           for name, value in reading.items()}
    values, field_errors = validate_reading(raw, sensors, index)
    errors = []
    for error in field_errors:
        detail = error.as_dict()
        if isinstance(reading.get(error.field), str):
            detail["message"] = f"{error.field} must be a JSON number, not a string"
        errors.append(detail)
    allowed = {sensor.name for sensor in sensors} | {TIMESTAMP_FIELD}
    errors.extend({"index": index, "field": shown(name),
                   "message": f"unknown field {shown(name)!r}: the fields are the sensor names "
                              f"of the asset's model and {TIMESTAMP_FIELD}"}
                  for name in reading if name not in allowed)
    timestamp = reading.get(TIMESTAMP_FIELD)
    if timestamp is not None and not (isinstance(timestamp, str)
                                      and len(timestamp) <= MAX_TIMESTAMP_LENGTH):
        errors.append({"index": index, "field": TIMESTAMP_FIELD,
                       "message": f"{TIMESTAMP_FIELD} must be a string of at most "
                                  f"{MAX_TIMESTAMP_LENGTH} characters (ISO 8601 advised)"})
    return values, timestamp or "", errors


def well_formed(readings, sensors):
    """(numbers, timestamps, fine): `fine` marks readings with no problem for reading_errors.

    Checked column by column over the whole request, since a request may hold thousands of
    readings; only the readings not marked fine are examined one by one for their messages.
    """
    numbers, fine = number_columns(readings, sensors)
    allowed = {sensor.name for sensor in sensors} | {TIMESTAMP_FIELD}
    fine &= np.fromiter(map(allowed.issuperset, readings), dtype=bool, count=len(readings))
    timestamps = [reading.get(TIMESTAMP_FIELD) for reading in readings]
    if any(timestamp is not None for timestamp in timestamps):
        fine &= np.fromiter((timestamp is None or (type(timestamp) is str and
                                                   len(timestamp) <= MAX_TIMESTAMP_LENGTH)
                             for timestamp in timestamps), dtype=bool, count=len(readings))
        timestamps = [timestamp or "" for timestamp in timestamps]
    else:
        timestamps = [""] * len(readings)
    return numbers, timestamps, fine


def validated_frame(readings, loaded):
    """(frame of sensor values, timestamps) when every reading is valid, else 422 for all."""
    sensors = loaded.sensors
    numbers, timestamps, fine = well_formed(readings, sensors)
    errors = []
    for index in np.flatnonzero(~fine).tolist():
        errors.extend(reading_errors(readings[index], index, sensors)[2])
    if errors:
        refused = [FieldError(e["index"], e["field"], e.get("code", "invalid"), e["message"])
                   for e in errors]
        record_rejections(record_logs(), "api", g.api_key.principal,
                          loaded.asset, refused, request_id=g.request_id)
        invalid = len({error["index"] for error in errors})
        raise ApiError(422, f"{invalid} of {len(readings)} readings have invalid values; "
                            "nothing was scored", errors)
    columns = column_index(loaded.model.columns)
    frame = pd.DataFrame(np.column_stack([numbers[name] for name in columns]), columns=columns)
    return frame, timestamps


@functools.lru_cache(maxsize=64)
def column_index(columns):
    """The frame's column labels, built once per model column list (about 5% of a
    one-reading request when built every time)."""
    return pd.Index(columns)


add_schemas({
    "PredictRequest": {
        "type": "object",
        "required": ["readings"],
        "additionalProperties": False,
        "example": {"asset": "pump-1", "readings": [{
            "timestamp": "2020-02-08T13:30:47", "Accelerometer1RMS": 0.202394,
            "Accelerometer2RMS": 0.275154, "Current": 2.16975, "Pressure": 0.382638,
            "Temperature": 90.6454, "Thermocouple": 26.8508, "Voltage": 238.852,
            "Volume Flow RateRMS": 122.664}]},
        "properties": {
            "asset": {"type": "string", "description": "May be left out when the store has "
                                                       "exactly one asset."},
            "readings": {"type": "array", "minItems": 1,
                         "description": "Readings of one asset, oldest first "
                                        "(at most API_MAX_READINGS, 10000 by default).",
                         "items": {"$ref": "#/components/schemas/Reading"}},
        },
    },
    "Reading": {
        "type": "object",
        "description": "Every sensor of the asset's model (see GET /models/active) as a JSON "
                       "number within its plausible range, and an optional timestamp kept in "
                       "the audit log. Any other field is refused.",
        "properties": {"timestamp": {"type": "string", "maxLength": MAX_TIMESTAMP_LENGTH}},
        "additionalProperties": {"type": "number"},
    },
    "PredictResponse": {
        "type": "object",
        "required": ["request_id", "asset", "model_version", "results"],
        "properties": {
            "request_id": {"type": "string",
                           "description": "The server's id of this request, as audited."},
            "client_request_id": {"type": "string", "nullable": True,
                                  "description": "The X-Request-ID sent, if any: kept in "
                                                 "the audit beside the server's id."},
            "asset": {"type": "string"},
            "model_version": {"type": "string"},
            "calibration": {"$ref": "#/components/schemas/Calibration"},
            "results": {"type": "array", "description": "One per reading, in reading order.",
                        "items": {"$ref": "#/components/schemas/Result"}},
        },
    },
    "Calibration": {
        "type": "object", "nullable": True,
        "description": "Whether most readings of the request lie far outside the data the "
                       "version was calibrated on (another operating point, a wrong asset, a "
                       "unit error): then the anomaly verdicts say little. null for versions "
                       "trained before calibration ranges were recorded.",
        "required": ["out_of_calibration", "readings", "readings_outside", "sensors"],
        "properties": {
            "out_of_calibration": {"type": "boolean"},
            "readings": {"type": "integer"},
            "readings_outside": {"type": "integer"},
            "sensors": {"type": "array", "description": "Sensors far from their calibration "
                                                        "range in most readings, furthest first.",
                        "items": {"type": "object", "properties": {
                            "sensor": {"type": "string"},
                            "value": {"type": "number", "description": "median over the request"},
                            "usual_low": {"type": "number"}, "usual_high": {"type": "number"},
                            "usual_median": {"type": "number"},
                            "factor": {"type": "number", "nullable": True},
                            "widths": {"type": "number"}, "share_far": {"type": "number"}}}},
        },
    },
    "Result": {
        "type": "object",
        "required": ["score", "threshold", "anomaly", "contributions"],
        "properties": {
            "score": {"type": "number"},
            "threshold": {"type": "number"},
            "anomaly": {"type": "boolean", "description": "score > threshold"},
            "contributions": {"type": "object", "additionalProperties": {"type": "number"},
                              "description": "Each sensor's contribution; they add up to "
                                             "the score."},
        },
    },
})

add_paths({"/predict": {"post": {
    "summary": "Score readings of one asset with its active model version (audited).",
    "operationId": "predict",
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/PredictRequest"}}}},
    "responses": {**json_response("One result per reading, in reading order.",
                                  "PredictResponse"),
                  **error_responses(400, 401, 403, 404, 413, 415, 422, 503)},
}}})
