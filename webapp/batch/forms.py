"""The upload form of the /batch page."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField


class UploadForm(FlaskForm):
    """An asset and a CSV file of its readings."""

    asset = SelectField(_l("Asset"))
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])
