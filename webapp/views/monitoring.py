"""The monitoring page: service health, model behaviour, drift and data quality, as charts."""

from flask import Blueprint, current_app, render_template, request

from webapp.extensions import audit_source, monitoring_sources, record_logs, registry
from webapp.services.audit import last_verification
from webapp.services.monitoring.report import WINDOWS, QueryError, report_from_args
from webapp.services.monitoring.trend import (DEFAULT_WINDOW, TREND_WINDOWS, asset_trend,
                                              trend_charts)
from webapp.views.auth import role_required
from webapp.views.formatting import plant_zone
from webapp.views.messages import query_message

bp = Blueprint("monitoring", __name__)
WINDOW_CHOICES = tuple(WINDOWS) + ("dates",)


@bp.route("/monitoring")
@role_required("analyst")
def page():
    choice = {"asset": request.args.get("asset", "all"),
              "window": request.args.get("window", "day"),
              "from": request.args.get("from", ""), "to": request.args.get("to", "")}
    try:
        report, error = report_from_args(monitoring_sources(), request.args), None
    except QueryError as exc:
        report, error = None, query_message(exc)
    return render_template("monitoring/page.html", report=report, error=error, choice=choice,
                           assets=registry().assets(), windows=WINDOW_CHOICES,
                           chain=last_verification(current_app.config["LOG_DIR"])), \
        200 if error is None else 400


@bp.route("/monitoring/trend")
@role_required("operator")
def trend():
    """An asset's sensors and score over the last hours or days, from the audit."""
    assets = registry().assets()
    choice = {"asset": request.args.get("asset") or (assets[0] if assets else ""),
              "window": request.args.get("window", DEFAULT_WINDOW)}
    found = charts = error = None
    try:
        found = assets and asset_trend(audit_source(), record_logs(),
                                       choice["asset"], choice["window"], assets)
        charts = found and trend_charts(found, plant_zone())
    except QueryError as exc:
        error = query_message(exc)
    return render_template("monitoring/trend.html", trend=found, charts=charts, error=error,
                           choice=choice, assets=assets, windows=TREND_WINDOWS), \
        200 if error is None else 400
