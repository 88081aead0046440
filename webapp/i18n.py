"""Language choice: French by default, English on request, remembered in a cookie."""

from flask import Blueprint, current_app, redirect, request

from webapp.navigation import safe_redirect_target

bp = Blueprint("i18n", __name__)
COOKIE = "vigie_lang"
ONE_YEAR = 365 * 24 * 3600


def select_locale():
    """The language remembered for this browser, else the default (French)."""
    chosen = request.cookies.get(COOKIE)
    if chosen in current_app.config["LANGUAGES"]:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


@bp.route("/language/<code>")
def switch_language(code):
    """Remember the language and go back to the page the user came from."""
    response = redirect(safe_redirect_target(request.args.get("next")))
    if code in current_app.config["LANGUAGES"]:
        response.set_cookie(COOKIE, code, max_age=ONE_YEAR, httponly=True, samesite="Lax",
                            secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response
