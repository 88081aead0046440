"""The main menu: each page appears for the roles that may open it, once its blueprint exists."""

from urllib.parse import urlsplit

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from webapp.extensions import record_logs
from webapp.services.alarms import open_alarm_count

# (endpoint, label, lowest role). Areas add their page here when they are built.
MENU = (
    ("predict.home", _l("Score a reading"), "operator"),
    ("batch.upload", _l("Score a CSV file"), "operator"),
    ("alarms.index", _l("Alarms"), "operator"),
    ("history.index", _l("History"), "operator"),
    ("monitoring.trend", _l("Trends"), "operator"),
    ("monitoring.page", _l("Monitoring"), "analyst"),
    ("models_admin.index", _l("Model versions"), "analyst"),
    ("admin_users.index", _l("Users"), "admin"),
    ("admin_keys.index", _l("API keys"), "admin"),
)

ROLE_LABELS = {"operator": _l("operator"), "analyst": _l("analyst"), "admin": _l("admin")}


def open_alarms():
    """Open alarms, for the badge the menu shows on every page (0 for visitors)."""
    if not current_user.is_authenticated:
        return 0
    return open_alarm_count(record_logs())


def menu_items():
    """The menu entries the current user may open, in menu order."""
    if not current_user.is_authenticated:
        return []
    return [(endpoint, label) for endpoint, label, role in MENU
            if endpoint in current_app.view_functions and current_user.has_role(role)]


def safe_redirect_target(target, fallback="predict.home"):
    """`target` if it is a path on this site, else the URL of the `fallback` endpoint.

    Every redirect whose target comes from the request goes through here. Browsers drop tabs
    and newlines from a Location and read a backslash as a slash, so `/\t/evil.com` would
    leave the site: any control character, backslash, scheme or host sends to the fallback.
    """
    if isinstance(target, str) and target.startswith("/") and target.isprintable() \
            and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and not target.startswith("//"):
            return target
    return url_for(fallback)
