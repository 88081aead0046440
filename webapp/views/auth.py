"""Login, logout, password change and role checks for the browser pages.

A session is valid while its user's session version is the one in the cookie: logout, a new
password, a new role or a deactivation bump the version, which voids every copy of the session
and remember-me cookies made before.
"""

import logging
import math
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from webapp.errors import error_response, wants_json
from webapp.extensions import login_manager
from webapp.navigation import safe_redirect_target
from webapp.services import login_throttle, users

bp = Blueprint("auth", __name__)
log = logging.getLogger("vigie.auth")


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Keep me signed in"))


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(_l("New password"), validators=[
        DataRequired(),
        Length(min=users.MIN_PASSWORD_LENGTH,
               message=_l("At least %(count)s characters.", count=users.MIN_PASSWORD_LENGTH))])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])


# What a user who must choose a new password may still open.
OPEN_BEFORE_NEW_PASSWORD = {"auth.change_password", "auth.logout", "static",
                            "i18n.switch_language", "health.healthz", "health.readyz"}


@login_manager.user_loader
def load_user(user_id):
    """The user named by a cookie's "id:version", unless deactivated or the version is old."""
    user_part, _, version = str(user_id).partition(":")
    if not (user_part.isdigit() and version.isdigit()):
        return None  # a cookie from before session versions: sign in again
    user = users.get_user(current_app.config["DATABASE"], int(user_part))
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user


@bp.before_app_request
def require_new_password():
    """Send a user whose password was generated or reset to the password change page."""
    if request.blueprint == "api" or request.endpoint in OPEN_BEFORE_NEW_PASSWORD:
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        if wants_json():
            return error_response(403, _("Choose a new password before going on."))
        return redirect(url_for("auth.change_password"))
    return None


@login_manager.unauthorized_handler
def unauthorized():
    if wants_json():
        return error_response(401, _("Please log in to continue."))
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def role_required(role):
    """Allow the view to users with `role` or above; others get 401 (anonymous) or 403."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        database, policy = current_app.config["DATABASE"], login_throttle.policy_from_config(
            current_app.config)
        wait = login_throttle.retry_after(database, form.username.data, request.remote_addr,
                                          policy)
        if wait:
            log.warning("login refused for %r from %s: too many failures",
                        form.username.data[:64], request.remote_addr)
            flash(_("Too many failed sign-ins for this user name or from this address. "
                    "Try again in %(minutes)s minutes.", minutes=max(1, math.ceil(wait / 60))),
                  "error")
            return render_template("auth/login.html", form=form), 429
        user = users.authenticate(database, form.username.data, form.password.data)
        if user is not None:
            login_throttle.clear(database, form.username.data)
            login_user(user, remember=form.remember.data)
            log.info("login of %s", user.username)
            return redirect(safe_redirect_target(request.args.get("next")))
        login_throttle.record_failure(database, form.username.data, request.remote_addr, policy)
        log.warning("failed login for %r from %s", form.username.data[:64], request.remote_addr)
        flash(_("Wrong user name or password."), "error")
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 401


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:  # copies of this session's cookies stop working too
        users.bump_session_version(current_app.config["DATABASE"], current_user.username)
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@role_required("operator")
def change_password():
    """Any signed-in user changes their own password, giving the current one."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        error = password_change_error(form)
        if error:
            form.current.errors.append(error)
        else:
            user = users.set_password(current_app.config["DATABASE"], current_user.username,
                                      form.password.data)
            login_user(user, remember=bool(request.cookies.get("remember_token")))
            log.info("password changed by %s", user.username)
            flash(_("Your password is changed; your other sessions are signed out."), "success")
            return redirect(url_for("predict.home"))
    return render_template("auth/password.html", form=form), 400 if form.errors else 200


def password_change_error(form):
    """Why the change is refused (wrong current password, same password, too many tries)."""
    database = current_app.config["DATABASE"]
    policy = login_throttle.policy_from_config(current_app.config)
    name = current_user.username
    # Counted like failed logins: a borrowed session must not guess the password unchecked.
    if login_throttle.retry_after(database, name, request.remote_addr, policy):
        return _("Too many wrong passwords: try again later.")
    if users.authenticate(database, name, form.current.data) is None:
        login_throttle.record_failure(database, name, request.remote_addr, policy)
        return _("This is not your current password.")
    if form.password.data == form.current.data:
        return _("Choose a password different from the current one.")
    return None
