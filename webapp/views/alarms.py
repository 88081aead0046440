"""The /alarms page: open alarms first, then recent ones, for operators and up."""

from datetime import datetime, timezone

from flask import Blueprint, current_app, render_template, request

from webapp.services.alarms import alarm_assets, format_duration, format_utc, list_alarms
from webapp.services.stream.checkpoint import stream_statuses
from webapp.views.auth import role_required

bp = Blueprint("alarms", __name__)


@bp.route("/alarms")
@role_required("operator")
def index():
    log_dir = current_app.config["LOG_DIR"]
    assets = alarm_assets(log_dir)
    asset = request.args.get("asset", "")
    asset = asset if asset in assets else ""
    alarms = list_alarms(log_dir, asset or None)
    now = datetime.now(timezone.utc)
    streams = [s for s in stream_statuses(log_dir) if not asset or s.asset == asset]
    return render_template("alarms/index.html", alarms=alarms, assets=assets, asset=asset,
                           streams=streams, now=now, format_duration=format_duration,
                           format_utc=format_utc)
