"""The single-reading form: a non-coder scores one reading of an asset."""

from flask import Blueprint, g, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice

from features.validation import validate_reading
from webapp.extensions import active_models, audit_sink, record_logs, registry
from webapp.services.explanations import sensor_rows
from webapp.services.rejections import record_rejections
from webapp.services.scoring import calibration_of, frame_from_values, predict_and_audit
from webapp.views.auth import role_required
from webapp.views.messages import translated_error

bp = Blueprint("predict", __name__)


def reading_form(assets, sensors, data=None):
    """A form with the asset choice and one text field per sensor, named after its column."""
    class ReadingForm(FlaskForm):
        asset = SelectField(_("Asset"), choices=[SelectChoice(a, a) for a in assets])
    for sensor in sensors:
        setattr(ReadingForm, sensor.name, StringField(sensor.name))
    return ReadingForm(formdata=data)


def chosen_asset(assets):
    """The asset named in the request, else the first one (preselected when alone)."""
    asked = request.values.get("asset")
    return asked if asked in assets else (assets[0] if assets else None)


def example_values(manifest):
    """Median training values: a reading of this asset's normal operation."""
    stats = manifest.get("training_stats", {})
    return {name: f"{values['quantiles']['0.5']:.6g}" for name, values in stats.items()}


@bp.route("/", methods=["GET", "POST"])
@role_required("operator")
def home():
    assets = registry().assets()
    asset = chosen_asset(assets)
    if asset is None:
        return render_template("predict/no_model.html")
    loaded = active_models().get(asset)
    sensors = loaded.sensors
    form = reading_form(assets, sensors, request.form if request.method == "POST" else None)
    form.asset.data = asset
    if request.method == "GET" and request.args.get("example"):
        for name, value in example_values(loaded.manifest).items():
            form[name].data = value
    result = None
    if request.method == "POST" and form.validate():
        result = score_submitted(loaded, sensors, form)
    return render_template("predict/form.html", form=form, sensors=sensors, loaded=loaded,
                           result=result)


def score_submitted(loaded, sensors, form):
    """Validate every field at once; score and audit when all are valid, else flag fields."""
    raw = {sensor.name: form[sensor.name].data for sensor in sensors}
    values, errors = validate_reading(raw, sensors)
    for error in errors:
        form[error.field].errors = [translated_error(error)]
    if errors:
        record_rejections(record_logs(), "form", current_user.principal,
                          loaded.asset, errors, request_id=g.request_id)
        return None
    frame = frame_from_values(values, loaded.model.columns)
    request_id, results = predict_and_audit(loaded, frame, audit_sink(), channel="form",
                                            principal=current_user.principal,
                                            request_id=g.request_id)
    return {"request_id": request_id, "result": results[0],
            "sensors": sensor_rows(results[0].contributions, values, loaded.manifest,
                                   get_locale().language, results[0].top_sensors),
            "calibration": calibration_of(loaded, frame)}
