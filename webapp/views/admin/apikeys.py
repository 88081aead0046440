"""Admin page for API keys: create one (shown once), list them, revoke one."""

import logging

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Regexp

from webapp.services import apikeys
from webapp.views.admin.users import ROLE_CHOICES
from webapp.views.auth import role_required
from webapp.views.confirmation import confirmation_page, confirmed

bp = Blueprint("admin_keys", __name__, url_prefix="/admin/apikeys")
log = logging.getLogger("vigie.admin")


class CreateKeyForm(FlaskForm):
    name = StringField(_l("Key name"), validators=[
        DataRequired(),
        Regexp(apikeys.NAME_PATTERN,
               message=_l("Use letters, digits, '.', '-' or '_' (64 characters at most)."))])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="operator")


class RevokeForm(FlaskForm):
    """Only the CSRF token: revoking is a POST that another site cannot forge."""


@bp.route("", methods=["GET", "POST"])
@role_required("admin")
def index():
    """List the keys; on a valid POST create one and show it, this once."""
    form = CreateKeyForm()
    created = None
    if form.validate_on_submit():
        created = create_key(form)
    page = render_template("admin/apikeys.html", form=form, created=created,
                           keys=apikeys.list_keys(current_app.config["DATABASE"]),
                           revoke_form=RevokeForm())
    response = make_response(page, 400 if form.errors else 200)
    # The key appears in this one answer only: no browser or proxy may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


def create_key(form):
    """Create the key asked for; return (record, key) or None with the error on the form."""
    try:
        record, key = apikeys.create_key(current_app.config["DATABASE"], form.name.data,
                                         form.role.data, current_user.principal)
    except apikeys.ApiKeyError:
        form.name.errors.append(_("A key named %(name)s already exists.", name=form.name.data))
        return None
    log.info("API key %s (%s) created by %s", record.name, record.role, current_user.username)
    return record, key


@bp.route("/<name>/revoke", methods=["POST"])
@role_required("admin")
def revoke(name):
    """Revoke the key `name` for good."""
    if RevokeForm().validate_on_submit():
        if not confirmed():
            return confirmation_page(
                _("Revoke the key %(name)s? Every machine that uses it is refused from its next "
                  "request. This cannot be undone: create a new key instead.", name=name),
                url_for("admin_keys.index"))
        try:
            apikeys.revoke_key(current_app.config["DATABASE"], name)
        except apikeys.ApiKeyError:
            flash(_("There is no active key named %(name)s.", name=name), "error")
        else:
            log.info("API key %s revoked by %s", name, current_user.username)
            flash(_("The key %(name)s is revoked: it no longer opens the API.", name=name),
                  "success")
    return redirect(url_for("admin_keys.index"))
