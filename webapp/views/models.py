"""Model versions pages: analysts see versions, train and compare candidates; admins switch."""

import re
import tempfile

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template,
                   request, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from features.schema import ASSET_NAME_PATTERN, SENSOR_COLUMNS
from features.validation import FieldError
from webapp.extensions import audit_source, job_states, lifecycle, record_logs, registry
from webapp.services import candidates
from webapp.services.csvfiles import CsvFormatError
from webapp.services.evidence import switch_evidence
from webapp.services.lifecycle import MAX_REASON_LENGTH, ReasonRequired, SwitchRefused
from webapp.services.registry import InvalidName, ModelIntegrityError, UnknownAsset, UnknownVersion
from webapp.services.training import MIN_TRAINING_ROWS, TrainingError
from webapp.views.auth import role_required
from webapp.views.confirmation import confirmation_page, confirmed
from webapp.views.messages import reason_message, switch_refusal, translated_error

bp = Blueprint("models_admin", __name__, url_prefix="/admin/models")
AUDIT_WINDOWS = (1, 24, 168, 720)
HISTORY_SHOWN = 100


class ReasonForm(FlaskForm):
    """A switch: which version (when it applies) and the reason that goes in the history."""

    version = HiddenField()
    reason = StringField(_l("Reason"), validators=[
        DataRequired(_l("Give a short reason: it goes in the history.")),
        Length(max=MAX_REASON_LENGTH)])


class TrainForm(FlaskForm):
    """A candidate: the asset, the normal-operation file, an optional labelled file."""

    asset = StringField(_l("Asset"), validators=[
        DataRequired(_l("Choose an asset or type the name of a new one.")),
        Regexp(ASSET_NAME_PATTERN, message=_l(
            "Use letters, digits, '-' or '_' only (64 characters at most)."))])
    normal_file = FileField(_l("Normal operation (CSV)"), validators=[
        FileRequired(_l("Choose a CSV file of normal operation."))])
    labelled_file = FileField(_l("Labelled readings for evaluation (CSV, optional)"))
    normal_rows = IntegerField(_l("Number of normal readings to use (optional)"), validators=[
        Optional(), NumberRange(min=MIN_TRAINING_ROWS, message=_l(
            "Use at least %(count)s readings.", count=MIN_TRAINING_ROWS))])


class CompareForm(FlaskForm):
    """A labelled file to compare a candidate with the active version."""

    labelled_file = FileField(_l("Labelled readings (CSV)"), validators=[
        FileRequired(_l("Choose a labelled CSV file."))])


# Reasons Vigie writes itself into the lifecycle log (in English, the log's language); a
# person's own reason is shown as typed.
SYSTEM_REASONS = (
    (re.compile(r"^trained in the browser from (?P<file>.+)$"),
     lambda found: _("trained in the browser from %(file)s", file=found["file"])),
    (re.compile(r"^first version of a new asset$"),
     lambda found: _("first version of a new asset")),
    (re.compile(r"^became the active version$"), lambda found: _("became the active version")),
)


def reason_text(reason):
    """A lifecycle reason in the reader's language when Vigie wrote it, else as written."""
    for pattern, translate in SYSTEM_REASONS:
        found = pattern.match(reason or "")
        if found:
            return translate(found)
    return reason


@bp.route("/")
@role_required("analyst")
def index():
    return render_index()


def render_index(status=200):
    """The versions of every asset, their state, the switch forms and the history."""
    assets = [{"name": asset, "versions": lifecycle().version_rows(asset),
               "previous": lifecycle().previous_version(asset)}
              for asset in registry().assets()]
    events = [{**event, "reason": reason_text(event.get("reason", ""))}
              for event in list(reversed(lifecycle().events()))[:HISTORY_SHOWN]]
    return render_template("models/index.html", assets=assets, events=events,
                           shared=record_logs().shared, form=ReasonForm()), status


@bp.route("/<asset>/activate", methods=["POST"])
@role_required("admin")
def activate(asset):
    def act(form):
        lifecycle().activate(asset, form.version.data, current_user.principal, form.reason.data)
        return _("%(asset)s now uses %(version)s.", asset=asset, version=form.version.data)

    def consequence(form):
        if form.version.data not in registry().versions(asset):
            raise UnknownVersion(form.version.data)
        return _("Activate %(version)s for %(asset)s? From the next request, every reading of "
                 "%(asset)s (form, files, API, streams) is judged by %(version)s instead of "
                 "%(active)s, and alarms follow its verdicts. You can roll back afterwards.",
                 version=form.version.data, asset=asset,
                 active=registry().active_version(asset) or "–")
    return switch(act, consequence)


@bp.route("/<asset>/rollback", methods=["POST"])
@role_required("admin")
def rollback(asset):
    def act(form):
        previous = lifecycle().rollback(asset, current_user.principal, form.reason.data)[1]
        return _("%(asset)s rolled back to %(version)s.", asset=asset, version=previous)

    def consequence(form):
        previous = lifecycle().previous_version(asset)
        if not previous:
            return None  # refused by the switch itself, with its reason
        return _("Roll %(asset)s back to %(version)s? From the next request, %(version)s "
                 "judges every reading of %(asset)s instead of %(active)s.", asset=asset,
                 version=previous, active=registry().active_version(asset) or "–")
    return switch(act, consequence)


@bp.route("/<asset>/shadow", methods=["POST"])
@role_required("admin")
def shadow(asset):
    def act(form):
        lifecycle().set_shadow(asset, form.version.data, current_user.principal,
                               form.reason.data)
        return _("%(version)s now scores every %(asset)s request in shadow.", asset=asset,
                 version=form.version.data)
    return switch(act)


@bp.route("/<asset>/shadow/stop", methods=["POST"])
@role_required("admin")
def stop_shadow(asset):
    def act(form):
        lifecycle().clear_shadow(asset, current_user.principal, form.reason.data)
        return _("%(asset)s has no shadow version any more.", asset=asset)
    return switch(act)


def switch(action, consequence=None):
    """Validate the reason, run one switch, and answer with the versions page.

    `action(form)` switches and returns the success message; a refused switch re-renders the
    page with the reason and a status saying why (400, 404 or 409). With `consequence(form)`
    (the switch in words), the switch waits for confirm=1 and asks for it first.
    """
    form = ReasonForm()
    if not form.validate():
        flash(first_error(form), "error")
        return render_index(400)
    try:
        question = consequence(form) if consequence and not confirmed() else None
        if question:
            return confirmation_page(question, url_for("models_admin.index"))
        success_message = action(form)
    except (InvalidName, UnknownAsset, UnknownVersion):
        flash(_("This asset or version does not exist."), "error")
        return render_index(404)
    except SwitchRefused as exc:
        flash(_("Refused: %(reason)s", reason=switch_refusal(exc)), "error")
        return render_index(409)
    except ModelIntegrityError as exc:
        flash(_("Refused: %(reason)s", reason=str(exc)), "error")
        return render_index(409)
    except ReasonRequired as exc:
        flash(reason_message(exc), "error")
        return render_index(400)
    flash(success_message, "success")
    return redirect(url_for("models_admin.index"), 303)


def first_error(form):
    """The first validation message of a form, for a flash."""
    for errors in form.errors.values():
        return errors[0]
    return _("The request could not be understood.")


@bp.route("/train", methods=["GET", "POST"])
@role_required("analyst")
def train():
    form = TrainForm()
    if not form.is_submitted():
        form.asset.data = request.args.get("asset", "")
    if form.validate_on_submit() and may_create(form.asset):
        labelled = form.labelled_file.data
        try:
            job = candidates.new_job(
                current_app.config["LOG_DIR"], form.asset.data, current_user.principal,
                (form.normal_file.data.filename, form.normal_file.data.stream),
                (labelled.filename, labelled.stream) if labelled else None,
                form.normal_rows.data, job_states("training"))
        except TrainingError as exc:
            form.asset.errors.append(str(exc))
        else:
            candidates.start_job(job, registry(), lifecycle(), current_app.config["LOG_DIR"],
                                 job_states("training"), current_app.config["BATCH_STALE_SECONDS"])
            return redirect(url_for("models_admin.job_page", job_id=job["id"]), 303)
    status = 400 if form.is_submitted() else 200
    return render_template("models/train.html", form=form, assets=registry().assets(),
                           sensor_columns=SENSOR_COLUMNS), status


def may_create(asset_field):
    """Only an admin adds an asset: its first version becomes active, and once there are two
    assets the API calls that name none are refused. Notes the refusal on the field."""
    if asset_field.data in registry().assets() or current_user.has_role("admin"):
        return True
    asset_field.errors.append(_("Only an administrator can create a new asset: choose an "
                                "existing one, or ask an administrator."))
    return False


@bp.route("/jobs/<job_id>")
@role_required("analyst")
def job_page(job_id):
    job = find_job(job_id)
    errors = [{**e, "message": translated_error(FieldError(
        e["line"], e["field"], e["code"], e["message"], e.get("params", {})))}
        for e in job.get("errors", [])]
    return render_template("models/job.html", job=job, errors=errors, message=job_message(job))


def job_message(job):
    """Why a training job failed, in the user's language (the job file keeps code and params)."""
    params = job.get("params") or {}
    messages = {
        "field_count": lambda: _("Line %(line)s has %(fields)s fields where the header has "
                                 "%(expected)s: correct that line (or remove it) and train "
                                 "again.", **params),
        "not_utf8": lambda: _("The file is not UTF-8 text. Export the data as CSV (UTF-8)."),
        "empty": lambda: _("The file is empty: its first line must be a header naming the "
                           "sensor columns."),
        "too_few_rows": lambda: _("The file has %(rows)s readings; at least %(minimum)s readings "
                                  "of normal operation are needed.", **params),
        "normal_rows_too_many": lambda: _("You asked for the first %(asked)s readings but the "
                                          "file has only %(rows)s.", **params),
        "no_label_column": lambda: _("The labelled file has no anomaly column (0 for normal, 1 "
                                     "for anomalous readings)."),
        "bad_labels": lambda: _("The anomaly column must hold 0 or 1 on every line; %(count)s "
                                "lines do not (lines %(lines)s).", **params),
    }
    try:
        return messages[job.get("code")]()
    except KeyError:
        return _("The file could not be used for training (%(reason)s).",
                 reason=job.get("message", ""))


@bp.route("/jobs/<job_id>.json")
@role_required("analyst")
def job_status(job_id):
    job = find_job(job_id)
    return jsonify({key: job.get(key) for key in (
        "id", "asset", "state", "step", "progress", "version", "message", "errors")})


def find_job(job_id):
    try:
        return candidates.read_job(current_app.config["LOG_DIR"], job_id, job_states("training"),
                                   current_app.config["BATCH_STALE_SECONDS"])
    except candidates.JobNotFound:
        abort(404)


@bp.route("/<asset>/versions/<version>", methods=["GET", "POST"])
@role_required("analyst")
def candidate(asset, version):
    row = find_version(asset, version)
    form = CompareForm()
    labelled = [job["comparison"] for job in candidates.jobs_for_version(
        current_app.config["LOG_DIR"], asset, version, job_states("training"))
        if job.get("comparison")]
    status = 200
    if form.validate_on_submit():
        try:
            labelled.insert(0, compare_upload(asset, version, form.labelled_file.data))
        except CsvFormatError:
            form.labelled_file.errors.append(_(
                'The file cannot be read as a CSV table: save it as "CSV UTF-8", with one '
                'header line and the same number of cells on every line.'))
            status = 400
        except TrainingError as exc:
            form.labelled_file.errors.append(
                _("The labelled file has no anomaly column (0 for normal, 1 for anomalous "
                  "readings).") if exc.code == "no_label_column" else str(exc))
            status = 400
        except (ValueError, ModelIntegrityError) as exc:
            form.labelled_file.errors.append(str(exc))
            status = 400
    elif form.is_submitted():
        status = 400
    active, audit = active_row(asset), audit_comparison(asset, row)
    summary = switch_evidence(row["manifest"], active["manifest"] if active else {}, labelled,
                              audit)
    return render_template("models/candidate.html", asset=asset, row=row, form=form,
                           active=active, labelled=labelled, audit=audit, evidence=summary,
                           windows=AUDIT_WINDOWS), status


def find_version(asset, version):
    """The versions-page row of one version, or 404 (names are checked by the registry)."""
    try:
        rows = lifecycle().version_rows(asset)
    except (InvalidName, UnknownAsset):
        abort(404)
    for row in rows:
        if row["version"] == version:
            return row
    abort(404)


def active_row(asset):
    active = registry().active_version(asset)
    return next((r for r in lifecycle().version_rows(asset) if r["version"] == active), None)


def compare_upload(asset, version, upload):
    """Compare on an uploaded labelled file, kept in a temporary file only while scoring."""
    with tempfile.NamedTemporaryFile(suffix=".csv") as handle:
        upload.save(handle)
        handle.flush()
        result = candidates.compare_on_labelled(registry(), asset, version, handle.name)
    result["file_name"] = candidates.safe_upload_name(upload.filename, "labelled.csv")
    return result


def audit_comparison(asset, row):
    """Agreement with the active version on the audited readings of the chosen window."""
    hours = request.args.get("hours", type=int)
    if hours not in AUDIT_WINDOWS or row["problem"] or row["active"]:
        return None
    try:
        return candidates.compare_on_audit(registry(), asset, row["version"],
                                           audit_source(), hours)
    except ModelIntegrityError as exc:
        return {"error": str(exc)}
