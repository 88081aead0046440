"""Login, logout and role checks for the browser pages."""

import logging
import math
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired

from webapp.errors import error_response, wants_json
from webapp.extensions import login_manager
from webapp.services import login_throttle, users

bp = Blueprint("auth", __name__)
log = logging.getLogger("vigie.auth")


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Keep me signed in"))


@login_manager.user_loader
def load_user(user_id):
    user = users.get_user(current_app.config["DATABASE"], int(user_id))
    return user if user is not None and user.is_active else None  # deactivated: signed out


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


def safe_next(target):
    """Only local paths may follow a login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("predict.home")


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
            login_throttle.clear(database, form.username.data, request.remote_addr)
            login_user(user, remember=form.remember.data)
            log.info("login of %s", user.username)
            return redirect(safe_next(request.args.get("next")))
        login_throttle.record_failure(database, form.username.data, request.remote_addr, policy)
        log.warning("failed login for %r from %s", form.username.data[:64], request.remote_addr)
        flash(_("Wrong user name or password."), "error")
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 401


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))
