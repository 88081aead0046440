"""The prediction history: filter, page, export, open a request, record feedback."""

from flask import (Blueprint, Response, abort, flash, redirect, render_template,
                   request, stream_with_context, url_for)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length

from webapp.errors import error_response
from webapp.extensions import audit_source, record_logs, registry
from webapp.services.alarms import list_alarms
from webapp.services.audit import CHANNELS
from webapp.services.feedback import (MAX_COMMENT, VERDICTS, FeedbackError, feedback_by_alarm,
                                      feedback_by_reading, record_feedback)
from webapp.services.history import (PAGE_SIZE, FilterError, HistoryFilter, export_csv,
                                     export_filename, request_rows, search_requests)
from webapp.services.monitoring.trend import alarm_trend, trend_charts
from webapp.views.auth import role_required
from webapp.views.formatting import plant_zone
from webapp.views.messages import feedback_message, filter_message

bp = Blueprint("history", __name__)
READINGS_PER_PAGE = 50


class FeedbackForm(FlaskForm):
    reading = HiddenField()
    verdict = StringField(validators=[DataRequired(), AnyOf(VERDICTS)])
    comment = TextAreaField(validators=[Length(max=MAX_COMMENT)])


def sees_everyone():
    """Analysts and admins see every prediction; operators only their own."""
    return current_user.has_role("analyst")


def filter_from_request():
    """The filters of the query string; an operator's are pinned to their own predictions."""
    wanted = HistoryFilter.from_mapping(request.args)
    if not sees_everyone():
        wanted.principal = current_user.principal
    return wanted


def audit_dir():
    return audit_source()


def filter_choices():
    """Values offered by the filter form's lists."""
    assets = registry().assets()
    versions = sorted({v for asset in assets for v in registry().versions(asset)},
                      key=lambda v: int(v[1:]) if v[1:].isdigit() else 0)
    return {"assets": assets, "versions": versions, "channels": CHANNELS}




@bp.route("/history")
@role_required("operator")
def index():
    page = request.args.get("page", 1, type=int) or 1
    try:
        wanted = filter_from_request()
    except FilterError as exc:
        return render_template("history/index.html", error=filter_message(exc), rows=[],
                               wanted=None,
                               page=1, more=False, choices=filter_choices(), feedback={},
                               everyone=sees_everyone()), 400
    rows, more = search_requests(audit_dir(), wanted, page, PAGE_SIZE)
    return render_template("history/index.html", rows=rows, more=more, page=page,
                           wanted=wanted, error=None, choices=filter_choices(),
                           feedback=requests_with_feedback(), everyone=sees_everyone())


def requests_with_feedback():
    """{request_id: latest verdict} of readings that have feedback."""
    return {request_id: rows[-1]["verdict"]
            for (request_id, _reading), rows in feedback_by_reading(record_logs()).items()}


@bp.route("/history/export.csv")
@role_required("operator")
def export():
    try:
        wanted = filter_from_request()
    except FilterError as exc:
        return error_response(400, _("This filter cannot be used: %(reason)s",
                                     reason=filter_message(exc)))
    headers = {"Content-Disposition": f'attachment; filename="{export_filename(wanted)}"'}
    return Response(stream_with_context(export_csv(audit_dir(), wanted)),
                    mimetype="text/csv", headers=headers)


def visible_request(request_id):
    """The rows of a request the current user may see (404 otherwise, not 403: an operator
    learns nothing about other people's request ids)."""
    rows = request_rows(audit_dir(), request_id)
    if not rows or (not sees_everyone() and rows[0]["principal"] != current_user.principal):
        abort(404)
    return rows


@bp.route("/history/<request_id>", methods=["GET", "POST"])
@role_required("operator")
def record(request_id):
    rows = visible_request(request_id)
    form = FeedbackForm()
    flagged_only = request.args.get("flagged") == "1"
    if form.validate_on_submit():
        save_reading_feedback(request_id, rows, form)
        return redirect(url_for("history.record", request_id=request_id,
                                page=request.args.get("page", 1),
                                flagged=request.args.get("flagged"))
                        + f"#r{form.reading.data}")
    flagged = [row for row in rows if row.get("anomaly") == "1"]
    # A batch opens on what needs a look: its flagged readings first, then the others.
    ordered = flagged + [row for row in rows if row.get("anomaly") != "1"] \
        if rows[0].get("batch_id") else rows
    listed = flagged if flagged_only else ordered
    page = request.args.get("page", 1, type=int) or 1
    shown = listed[(page - 1) * READINGS_PER_PAGE: page * READINGS_PER_PAGE]
    notes = feedback_by_reading(record_logs())
    return render_template("history/record.html", request_id=request_id, rows=shown,
                           first=rows[0], total=len(listed), readings=len(rows),
                           flagged=len(flagged), flagged_only=flagged_only, page=page,
                           per_page=READINGS_PER_PAGE, form=form, notes=notes,
                           judged=request.args.get("judge", "")), \
        200 if request.method == "GET" else 400


def save_reading_feedback(request_id, rows, form):
    """Record feedback on one flagged reading of the request and say so."""
    by_number = {str(row["reading"]): row for row in rows}
    row = by_number.get(form.reading.data)
    if row is None or row.get("anomaly") != "1":
        flash(_("Feedback is recorded on flagged readings only."), "error")
        return
    try:
        record_feedback(record_logs(), current_user.principal,
                        form.verdict.data, form.comment.data, request_id=request_id,
                        reading=row["reading"], asset=row["asset"],
                        model_version=row["model_version"], prediction_time=row["timestamp_utc"])
    except (FeedbackError, OSError) as exc:
        flash(_("The feedback was not recorded: %(reason)s", reason=feedback_message(exc)),
              "error")
        return
    flash(_("Thank you: your feedback is recorded."), "success")


@bp.route("/history/alarm/<path:alarm_id>", methods=["GET", "POST"])
@role_required("operator")
def alarm(alarm_id):
    found = [a for a in list_alarms(record_logs(), limit=10**9)
             if a.alarm_id == alarm_id]
    if not found:
        abort(404)
    form = FeedbackForm()
    if form.validate_on_submit():
        try:
            record_feedback(record_logs(), current_user.principal,
                            form.verdict.data, form.comment.data, alarm_id=alarm_id,
                            asset=found[0].asset, model_version=found[0].model_version,
                            prediction_time=found[0].opened_at)
            flash(_("Thank you: your feedback is recorded."), "success")
        except (FeedbackError, OSError) as exc:
            flash(_("The feedback was not recorded: %(reason)s",
                    reason=feedback_message(exc)), "error")
        return redirect(url_for("history.alarm", alarm_id=alarm_id))
    notes = feedback_by_alarm(record_logs()).get(alarm_id, [])
    trend = alarm_trend(audit_source(), record_logs(), found[0])
    return render_template("history/alarm.html", alarm=found[0], form=form, notes=notes,
                           trend=trend, charts=trend_charts(trend, plant_zone())), \
        200 if request.method == "GET" else 400
