"""The monitoring page: service health, model behaviour, drift and data quality, as charts."""

from flask import Blueprint, current_app, render_template, request

from webapp.extensions import monitoring_sources, registry
from webapp.services.audit import last_verification
from webapp.services.monitoring.report import WINDOWS, QueryError, report_from_args
from webapp.views.auth import role_required
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
