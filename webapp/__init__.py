"""Vigie: anomaly detection on pump sensor readings, as a Flask web application and API."""

import ipaddress
import logging

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.config import finalise
from webapp.services import database, schema, users
from webapp.version import APP_VERSION


def create_app(overrides=None):
    """Build the application; tests pass temporary paths in `overrides`."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_object("webapp.config.Defaults")
    app.config.from_prefixed_env("VIGIE")
    app.config.update(overrides or {})
    finalise(app.config)
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    register_template_globals(app)
    trust_proxies(app)
    register_security_headers(app)
    if prepare_database(app):
        create_first_admin(app)
    return app


def proxy_networks(text):
    """The networks of a comma-separated list of addresses or networks; ValueError when wrong."""
    networks = []
    for item in str(text or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as error:
            raise ValueError(f"VIGIE_TRUSTED_PROXY_ADDRESSES: {item!r} is neither an address "
                             "nor a network (for example 10.89.0.0/24 or 127.0.0.2)") from error
    return networks


def _peer_in(networks, address):
    try:
        peer = ipaddress.ip_address(address or "")
    except ValueError:  # a Unix socket or no peer at all: not a declared proxy
        return False
    return any(peer in network for network in networks)


class DeclaredProxyFix:
    """ProxyFix for requests whose peer is a declared proxy; every other request untouched."""

    def __init__(self, app, hops, networks):
        self.app = app
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops)
        self.networks = networks

    def __call__(self, environ, start_response):
        if _peer_in(self.networks, environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def trust_proxies(app):
    """Behind nginx, believe its X-Forwarded-For/Proto/Host: that many hops, from its address.

    A client that reaches gunicorn without going through nginx must not be able to say what
    nginx says: VIGIE_TRUSTED_PROXY_ADDRESSES (addresses or networks, comma-separated) names
    where the proxies connect from, and a request from anywhere else is taken as it came (its
    own address, its own scheme). gunicorn reads the same variable (webapp/gunicorn_conf.py).
    Without it every peer is taken for the proxy: then nothing but the proxy may reach the
    instances (a container network, a firewall).
    """
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if not hops:
        return
    networks = proxy_networks(app.config.get("TRUSTED_PROXY_ADDRESSES"))
    if networks:
        app.wsgi_app = DeclaredProxyFix(app.wsgi_app, hops, networks)
    else:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def prepare_database(app):
    """Embedded SQLite: upgrade it in place. PostgreSQL: refuse to serve on an old schema.

    `make run` on a fresh machine must just work, so the SQLite file is migrated by whoever
    starts first. A shared PostgreSQL is migrated on purpose (`flask --app webapp db upgrade`,
    by the owner role): an instance that finds an older schema stops with the reason, except
    under a command, which must be able to load the app to run that very upgrade.
    """
    target = app.config["DATABASE"]
    if database.is_sqlite(target):
        schema.upgrade(target)
        return True
    try:
        schema.check(target)
    except schema.SchemaOutOfDate as exc:
        if click.get_current_context(silent=True) is None:
            raise
        logging.getLogger("vigie").warning("%s", exc)
        return False
    return True


def register_logging(app):
    from webapp.logging_setup import configure_logging
    configure_logging(app)


def register_extensions(app):
    from webapp.extensions import FastJSONProvider, babel, csrf, init_services, login_manager
    from webapp.i18n import catalogue_directories, select_locale

    app.json = FastJSONProvider(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", ";".join(catalogue_directories()))
    babel.init_app(app, locale_selector=select_locale)
    init_services(app)


def register_blueprints(app):
    from webapp import i18n
    from webapp.api import register_api
    from webapp.views import alarms, auth, batch, health, history, models, monitoring, predict
    from webapp.views.admin import apikeys as admin_keys
    from webapp.views.admin import users as admin_users
    for module in (auth, health, i18n, predict, alarms, admin_keys, admin_users,
                   models, history, monitoring, batch):
        app.register_blueprint(module.bp)
    register_api(app)


def register_error_handlers(app):
    from webapp.errors import register_error_handlers as register
    register(app)


def register_commands(app):
    from webapp.commands import register_commands as register
    register(app)


def register_template_globals(app):
    from flask_babel import get_locale

    from webapp.navigation import ROLE_LABELS, menu_items, open_alarms
    from webapp.views.formatting import register_filters
    register_filters(app)
    app.jinja_env.globals.update(app_version=APP_VERSION, get_locale=get_locale,
                                 menu_items=menu_items, role_labels=ROLE_LABELS,
                                 open_alarms=open_alarms)


# Scripts only from our own static files (no inline script, no eval); the inline style attribute
# of a bar is allowed, <style> blocks are not. Nobody may frame the pages (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000"


def register_security_headers(app):
    """Send the browser-side protections with every response; HSTS only when served over TLS."""
    https = app.config["SESSION_COOKIE_SECURE"]

    def add_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if https:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
    app.after_request(add_headers)


def create_first_admin(app):
    """On first start, create the admin account (the schema is already current)."""
    password_file = users.ensure_admin(app.config["DATABASE"], app.config["INSTANCE_DIR"],
                                       app.config.get("ADMIN_PASSWORD"))
    if password_file:  # where the password is, never the password: logs are widely read
        logging.getLogger("vigie").warning(
            "created user 'admin': its generated password is in %s (readable by this account "
            "only)", password_file)
