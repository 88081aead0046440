"""Language: French by default, English on request (a cookie), and the catalogues of each area.

Each area (core, batch, api, ...) keeps its own messages.po under webapp/translations/, merged
at run time, so areas never edit one shared file; `flask --app webapp translations` (run by
`make install`) compiles them all.
"""

import os

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
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

TRANSLATIONS_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "translations")


def catalogue_directories(root=TRANSLATIONS_ROOT):
    """Every area's translation folder, sorted so the merge order is stable."""
    if not os.path.isdir(root):
        return []
    return sorted(os.path.join(root, name) for name in os.listdir(root)
                  if os.path.isdir(os.path.join(root, name)))


def po_files(root=TRANSLATIONS_ROOT):
    """All messages.po files under the translations folder."""
    for directory in catalogue_directories(root):
        for language in sorted(os.listdir(directory)):
            path = os.path.join(directory, language, "LC_MESSAGES", "messages.po")
            if os.path.isfile(path):
                yield path


def compile_catalogues(root=TRANSLATIONS_ROOT):
    """Compile each messages.po next to itself; returns how many were compiled."""
    count = 0
    for path in po_files(root):
        with open(path, "rb") as handle:
            catalogue = read_po(handle)
        with open(path[:-3] + ".mo", "wb") as handle:
            write_mo(handle, catalogue)
        count += 1
    return count
