"""Views of the /batch page: upload a CSV, follow its processing, read and download its results."""

import os
from urllib.parse import quote

from flask import (Blueprint, Response, abort, current_app, jsonify, redirect, render_template,
                   request, send_file, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField

from features.schema import SENSORS_BY_NAME
from webapp.errors import error_response
from webapp.extensions import active_models, audit_sink, job_states, record_logs, registry
from webapp.services.batch.reader import BatchFileError
from webapp.services.batch.store import BatchStore, start_upload
from webapp.services.csvfiles import excel_fr_lines
from webapp.services.jobs import DONE
from webapp.services.text import UnsafeText
from webapp.views.auth import role_required
from webapp.views.messages import field_message

ANOMALIES_PER_PAGE = 50

bp = Blueprint("batch", __name__, url_prefix="/batch")


class UploadForm(FlaskForm):
    """An asset and a CSV file of its readings."""

    asset = SelectField(_l("Asset"))
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


def batch_store():
    """The batches of this installation: folders in BATCH_DIR, states in files or the database."""
    return BatchStore(current_app.config["BATCH_DIR"], current_app.config["BATCH_STALE_SECONDS"],
                      job_states("batch"))


def upload_limit():
    """The upload limit for people: '200 MB', or '512 kB' below a megabyte."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MB"
    return f"{max(limit // 1024, 1)} kB"


@bp.errorhandler(413)
def too_large(error):
    """Over MAX_CONTENT_LENGTH: say the limit and what to do instead."""
    return error_response(413, _("The file is larger than the upload limit of %(limit)s. Split "
                                 "it into smaller files, or score it on the server with the "
                                 "command `flask --app webapp score`.", limit=upload_limit()))


def file_error_message(code, params, message=""):
    """A whole-file problem in the user's language."""
    if code == "missing_columns":
        text = _("Missing sensor columns: %(names)s. Nothing was scored.",
                 names=", ".join(params.get("missing", [])))
        if params.get("single_column"):
            text += " " + _("The header has a single column: separate the columns with ';' or "
                            "','.")
        return text
    return {
        "empty": _("The file is empty: its first line must be a header naming the sensor "
                   "columns."),
        "not_text": _("This is not a CSV text file. Export the data as CSV (UTF-8)."),
        "duplicate_columns": _("Columns named more than once in the header: %(names)s.",
                               names=", ".join(params.get("columns", []))),
        "no_readings": _("The file has a header but no readings."),
        "too_many_columns": _("The header has %(count)s columns; Vigie reads at most "
                              "%(limit)s. Keep the sensor columns and a few others.",
                              count=params.get("count", "?"), limit=params.get("limit", "?")),
        "unsafe_header": _("The header holds a control character (%(character)s): column "
                           "names must be printable text.",
                           character=params.get("character", "?")),
        "stopped": _("Processing stopped unexpectedly (the server process ended). Upload the "
                     "file again."),
    }.get(code, _("Processing failed: %(reason)s", reason=message))


def problem_message(problem):
    """The reason a row or cell was rejected, in the user's language."""
    code = problem["code"]
    if code == "out_of_range" and problem["column"] in SENSORS_BY_NAME:
        sensor = SENSORS_BY_NAME[problem["column"]]
        return field_message(code, {"low": sensor.low, "high": sensor.high, "unit": sensor.unit})
    if code != "out_of_range" and field_message(code, {}):
        return field_message(code, {})
    return {
        "field_count": _("The line has %(fields)s fields, the header has %(expected)s.",
                         **(problem.get("params") or {"fields": "?", "expected": "?"})),
        "not_text": _("The line is not UTF-8 text."),
        "line_too_long": _("The line is too long to be a reading."),
        "stray_quote": _("A quote opens a value that does not close on this line: the line "
                         "is rejected, the next ones are read."),
        "unsafe_text": _("Holds a control character or an unpaired surrogate (%(character)s): "
                         "only printable text is accepted.",
                         character=(problem.get("params") or {}).get("character", "?")),
    }.get(code, problem["reason"])


def display_name(name):
    """A stored file name fit for a header: batches from before names were checked may hold
    a CR/LF, which made every download of their results fail."""
    base = os.path.basename(name or "")
    return "".join(c if c.isprintable() else "_" for c in base).strip()[:200] or "batch.csv"


def visible_meta(batch_id):
    """The batch's meta.json if the current user may see it; 404 otherwise (no id probing)."""
    try:
        meta = batch_store().meta(batch_id)
    except KeyError:
        abort(404)
    if not current_user.has_role("analyst") and meta.get("principal") != current_user.principal:
        abort(404)
    return meta


def visible_batches():
    """Recent batches: operators see their own, analysts and admins everyone's."""
    principal = None if current_user.has_role("analyst") else current_user.principal
    store = batch_store()
    return [(meta, store.status(meta["batch_id"])) for meta in store.list(principal)]


@bp.route("/", methods=["GET", "POST"])
@role_required("operator")
def upload():
    """The upload form and the latest batches; a valid upload redirects to its result page."""
    form = UploadForm()
    form.asset.choices = registry().assets()
    if not form.asset.choices:
        return render_template("predict/no_model.html")
    if form.validate_on_submit():
        try:
            batch_id = start_batch(form.asset.data, form.file.data)
        except UnsafeText as error:
            form.file.errors.append(_("The file name holds a control character (%(character)s): "
                                      "rename the file with printable characters only.",
                                      character=error.character))
        except BatchFileError as error:
            form.file.errors.append(file_error_message(error.code, error.params, str(error)))
        else:
            return redirect(url_for("batch.result", batch_id=batch_id), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("batch/upload.html", form=form, batches=visible_batches(),
                           limit=upload_limit(), max_bytes=current_app.config["MAX_CONTENT_LENGTH"],
                           file_error_message=file_error_message), status


def start_batch(asset, storage):
    """Queue the uploaded file for scoring (BatchFileError when its header is wrong)."""
    return start_upload(batch_store(), active_models().get(asset), audit_sink(), storage.stream,
                        storage.filename, current_user.principal,
                        chunk_rows=current_app.config["BATCH_CHUNK_ROWS"],
                        rejections_dir=record_logs())


@bp.route("/<batch_id>")
@role_required("operator")
def result(batch_id):
    """Progress while scoring, the failure, or the results of one batch."""
    meta = visible_meta(batch_id)
    status = batch_store().status(batch_id)
    summary = batch_store().summary(batch_id) if status["state"] == DONE else None
    page = max(request.args.get("page", 1, type=int), 1)
    return render_template("batch/result.html", meta=meta, status=status, summary=summary,
                           page=page, per_page=ANOMALIES_PER_PAGE,
                           file_error_message=file_error_message,
                           problem_message=problem_message)


@bp.route("/<batch_id>/status")
@role_required("operator")
def status(batch_id):
    """The status for the page's polling (any worker of any instance can answer: the state is in
    files, or in the shared database)."""
    visible_meta(batch_id)
    status = {key: value for key, value in batch_store().status(batch_id).items()
              if key not in ("pid", "host")}
    if status["state"] == "failed":
        status["message"] = file_error_message(status.get("code"), status.get("params", {}),
                                               status.get("message", ""))
    return jsonify(status)


@bp.route("/<batch_id>/<any(results, errors):kind>.csv")
@role_required("operator")
def download(batch_id, kind):
    """The results CSV or the error report of one batch, as an attachment."""
    meta = visible_meta(batch_id)
    path = batch_store().path(batch_id, f"{kind}.csv")
    if not os.path.isfile(path):
        abort(404)
    stem = os.path.splitext(display_name(meta.get("filename")))[0] or "batch"
    if request.args.get("dialect") == "excel-fr":
        name = f"{stem}-{kind}-{batch_id}-excel-fr.csv"
        return Response(excel_fr_lines(path),
                        mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": content_disposition(name)})
    return send_file(path, mimetype="text/csv", as_attachment=True,
                     download_name=f"{stem}-{kind}-{batch_id}.csv")


def content_disposition(name):
    """An attachment header for `name`, safe for any characters in an uploaded file name."""
    return f"attachment; filename*=UTF-8''{quote(name)}"
