"""The monitoring page: service health, model behaviour, drift and data quality, as charts."""

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from webapp.extensions import monitoring_sources, registry
from webapp.services.audit import last_verification
from webapp.services.monitoring.report import WINDOWS, QueryError, report_from_args
from webapp.views.auth import role_required

bp = Blueprint("monitoring", __name__)
WINDOW_CHOICES = tuple(WINDOWS) + ("dates",)


def query_message(error):
    """Why the window or asset cannot be shown, in the reader's language."""
    return {
        "bad_dates": lambda: _("Write both dates as YYYY-MM-DD (for example 2026-03-01)."),
        "dates_reversed": lambda: _("The end date is before the start date."),
        "window_too_long": lambda: _("A window is at most %(days)s days: ask for a shorter one, "
                                     "or several.", **error.params),
        "unknown_window": lambda: _("The window %(name)s is not one of the windows offered: "
                                    "choose one in the list.", **error.params),
        "unknown_asset": lambda: _("There is no asset named %(asset)s: choose one in the list.",
                                   **error.params),
    }[error.code]()


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
