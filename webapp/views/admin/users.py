"""Admin page for user accounts: list, create, change a role, (de)activate, reset a password."""

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from webapp.navigation import ROLE_LABELS
from webapp.services import users
from webapp.views.auth import role_required
from webapp.views.confirmation import confirmation_page, confirmed

bp = Blueprint("admin_users", __name__, url_prefix="/admin/users")
log = logging.getLogger("vigie.admin")
ROLE_CHOICES = [SelectChoice(role, ROLE_LABELS[role]) for role in users.ROLES]


class CreateUserForm(FlaskForm):
    username = StringField(_l("User name"), validators=[
        DataRequired(),
        Regexp(users.USERNAME_PATTERN,
               message=_l("Use letters, digits, '.', '-' or '_' (64 characters at most)."))])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="operator")
    password = PasswordField(_l("Password"), validators=[
        DataRequired(),
        Length(min=users.MIN_PASSWORD_LENGTH,
               message=_l("At least %(count)s characters.", count=users.MIN_PASSWORD_LENGTH))])
    confirm = PasswordField(_l("Password again"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class ResetPasswordForm(FlaskForm):
    """A temporary password the user must replace at their next sign-in."""

    username = SelectField(_l("User name"), validate_choice=False)
    password = PasswordField(_l("Temporary password"), validators=[
        DataRequired(),
        Length(min=users.MIN_PASSWORD_LENGTH,
               message=_l("At least %(count)s characters.", count=users.MIN_PASSWORD_LENGTH))])


class ActiveForm(FlaskForm):
    """Only the CSRF token; the URL says whether to deactivate or reactivate."""


@bp.route("", methods=["GET", "POST"])
@role_required("admin")
def index():
    """List the users; on a valid POST create one."""
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            user = users.create_user(current_app.config["DATABASE"], form.username.data,
                                     form.password.data, form.role.data)
        except users.UserError:
            form.username.errors.append(_("A user named %(name)s already exists.",
                                          name=form.username.data))
        else:
            log.info("user %s (%s) created by %s", user.username, user.role,
                     current_user.username)
            flash(_("User %(name)s created.", name=user.username), "success")
            return redirect(url_for("admin_users.index"))
    return render_users_page(form, ResetPasswordForm(formdata=None, prefix="reset"))


def render_users_page(form, reset_form):
    """The users page with its forms; 400 when one of them holds errors."""
    accounts = users.list_users(current_app.config["DATABASE"])
    reset_form.username.choices = [u.username for u in accounts
                                    if u.username != current_user.username]
    return render_template("admin/users.html", form=form, role_form=RoleForm(),
                           active_form=ActiveForm(), reset_form=reset_form, users=accounts), (
        400 if form.errors or reset_form.errors else 200)


@bp.route("/reset-password", methods=["POST"])
@role_required("admin")
def reset_password():
    """Give a user a temporary password, sign them out everywhere, force a change."""
    form = ResetPasswordForm(prefix="reset")
    if not form.validate_on_submit():
        return render_users_page(CreateUserForm(formdata=None), form)
    name = form.username.data
    apply_change(name, lambda path: users.set_password(path, name, form.password.data,
                                                       must_change=True),
                 _("%(name)s must choose a new password at the next sign-in.", name=name))
    return redirect(url_for("admin_users.index"))


@bp.route("/<name>/role", methods=["POST"])
@role_required("admin")
def change_role(name):
    """Give user `name` the role chosen in the row's form."""
    form = RoleForm()
    if form.validate_on_submit():
        apply_change(name, lambda path: users.set_role(path, name, form.role.data),
                     _("%(name)s is now %(role)s.", name=name,
                       role=ROLE_LABELS[form.role.data]))
    return redirect(url_for("admin_users.index"))


@bp.route("/<name>/<any(deactivate, reactivate):action>", methods=["POST"])
@role_required("admin")
def change_active(name, action):
    """Deactivate or reactivate user `name`."""
    if ActiveForm().validate_on_submit():
        if action == "deactivate" and not confirmed():
            return confirmation_page(
                _("Deactivate %(name)s? They can no longer sign in; their history stays in the "
                  "audit log. You can reactivate the account later.", name=name),
                url_for("admin_users.index"))
        message = (_("%(name)s can no longer sign in.", name=name) if action == "deactivate"
                   else _("%(name)s can sign in again.", name=name))
        apply_change(name, lambda path: users.set_active(path, name, action == "reactivate"),
                     message)
    return redirect(url_for("admin_users.index"))


def apply_change(name, change, success_message):
    """Run a change on another user's account and flash its outcome."""
    if name == current_user.username:
        flash(_("Ask another admin to change your own account."), "error")
        return
    try:
        change(current_app.config["DATABASE"])
    except users.LastAdminError:
        flash(_("%(name)s was not changed: Vigie needs at least one active admin.", name=name),
              "error")
        return
    except users.UnknownUser:
        flash(_("There is no user named %(name)s.", name=name), "error")
        return
    log.info("user %s changed by %s (%s)", name, current_user.username, request.path)
    flash(success_message, "success")
