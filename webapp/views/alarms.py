"""The /alarms page: open alarms first, then recent ones, for operators and up."""

from datetime import datetime, timezone

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from webapp.extensions import record_logs
from webapp.services.alarm_acks import AckError, acknowledge, acknowledgements
from webapp.services.alarms import alarm_assets, format_duration, list_alarms
from webapp.services.stream.checkpoint import stream_statuses
from webapp.views.auth import role_required

bp = Blueprint("alarms", __name__)
REFRESH_SECONDS = 30


class AckForm(FlaskForm):
    """Take an open alarm in hand, with an optional comment."""

    comment = StringField()


@bp.route("/alarms")
@role_required("operator")
def index():
    logs = record_logs()
    assets = alarm_assets(logs)
    asset = request.args.get("asset", "")
    asset = asset if asset in assets else ""
    alarms = list_alarms(logs, asset or None)
    now = datetime.now(timezone.utc)
    streams = [s for s in stream_statuses(current_app.config["LOG_DIR"])
               if not asset or s.asset == asset]
    return render_template("alarms/index.html", alarms=alarms, assets=assets, asset=asset,
                           streams=streams, now=now, format_duration=format_duration,
                           acks=acknowledgements(logs), form=AckForm(),
                           refresh_seconds=REFRESH_SECONDS)


@bp.route("/alarms/<path:alarm_id>/acknowledge", methods=["POST"])
@role_required("operator")
def acknowledge_alarm(alarm_id):
    """Record who takes the alarm in hand, then go back to the alarms page."""
    logs = record_logs()
    if not any(a.alarm_id == alarm_id for a in list_alarms(logs, limit=10**9)):
        abort(404)
    form = AckForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        acknowledge(logs, alarm_id, current_user.principal, form.comment.data)
        flash(_("Alarm %(id)s acknowledged.", id=alarm_id), "success")
    except AckError as exc:
        flash(_("The comment has %(length)s characters; keep it under %(maximum)s.",
                **exc.params), "error")
    return redirect(url_for("alarms.index", asset=request.args.get("asset", "")))
