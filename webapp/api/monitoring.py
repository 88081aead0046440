"""GET /api/v1/monitoring: the monitoring page's figures as JSON for an external supervisor."""

from flask import jsonify, request

from webapp.api import ApiError, api_key_required, bp
from webapp.api.openapi import add_paths, add_schemas, error_responses, json_response
from webapp.extensions import monitoring_sources
from webapp.services.monitoring.report import QueryError, report_from_args


@bp.route("/monitoring")
@api_key_required("analyst")
def monitoring():
    try:
        report = report_from_args(monitoring_sources(), request.args)
    except QueryError as exc:
        raise ApiError(400, str(exc)) from None
    return jsonify(report)


add_schemas({"MonitoringReport": {
    "type": "object",
    "description": "Figures of one window, hour by hour (UTC). `status` is ok, warning or "
                   "alert; `reasons` says why in plain words.",
    "required": ["status", "reasons", "window", "hours", "operations", "model", "drift",
                 "quality"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "warning", "alert"]},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "asset": {"type": "string"},
        "window": {"type": "object", "properties": {"start": {"type": "string"},
                                                    "end": {"type": "string"}}},
        "hours": {"type": "array", "items": {"type": "string"},
                  "description": "Start of each hour bucket of the per-hour series."},
        "operations": {"type": "object", "description": "predictions_by_channel, latency_ms "
                       "(p50, p95 and per hour), rejected_readings, errors, last_errors."},
        "model": {"type": "object", "description": "readings, anomalies, anomaly_rate, "
                  "anomaly_rate_by_version, score_ratio (score / threshold histogram), "
                  "alarms (open, recent), precision (per model version, from feedback)."},
        "drift": {"type": "array", "items": {"type": "object"}, "description":
                  "Per asset: each sensor's psi, ks_statistic, ks_p_value, status "
                  "(stable, warning, drift, insufficient), n, both histograms."},
        "calibration": {"type": "array", "items": {"type": "object"}, "description":
                        "Per asset: share_outside (readings far outside the active version's "
                        "calibration data, each hour weighted by its volume), "
                        "out_of_calibration (more than half), sensors, checked, volume."},
        "quality": {"type": "object", "description": "readings_received, rejected_readings, "
                    "rejected_share, rejected_values_by_sensor."},
    },
}})
add_paths({"/monitoring": {"get": {
    "summary": "Monitoring figures and an overall status (analyst or admin key)",
    "operationId": "getMonitoring",
    "parameters": [
        {"name": "asset", "in": "query", "schema": {"type": "string", "default": "all"}},
        {"name": "window", "in": "query", "schema": {
            "type": "string", "enum": ["hour", "day", "7d", "30d", "dates"], "default": "day"}},
        {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"},
         "description": "First day (window=dates)."},
        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"},
         "description": "Last day, included (window=dates)."},
    ],
    "responses": {**json_response("The figures of the window.", "MonitoringReport"),
                  **error_responses(401, 403),
                  "400": {"description": "Unknown asset or window, a badly written date, or "
                                         "a dates window longer than 92 days.",
                          "content": {"application/json": {
                              "schema": {"$ref": "#/components/schemas/Error"}}}}},
}}})
