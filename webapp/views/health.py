"""Liveness and readiness probes for load balancers and the container HEALTHCHECK."""

from flask import Blueprint, current_app, jsonify

from webapp.extensions import active_models, registry
from webapp.services import database
from webapp.services.registry import RegistryError
from webapp.version import APP_VERSION

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """The process is up."""
    return jsonify({"status": "ok", "app_version": APP_VERSION})


@bp.route("/readyz")
def readyz():
    """Per asset: verified and loadable, or why not. 503 only when no asset can be scored.

    One broken asset of several must not take the others out of the load balancer: the
    answer is then 200 "degraded" and names the broken asset under `unready`.
    """
    store = registry()
    assets, unready = {}, {}
    for asset in store.assets():
        try:
            loaded = active_models().get(asset)
            store.check_loadable(asset, loaded.version)
            assets[asset] = loaded.version
        except RegistryError as exc:
            unready[asset] = str(exc)
    problems = list(unready.values()) or ([] if assets else ["no model has been trained yet"])
    # Without its database an instance can serve nothing: the balancer must skip it.
    database_up = database.reachable(current_app.config["DATABASE"])
    if not database_up:
        problems.append("the database cannot be reached")
    serving = bool(assets) and database_up
    status = "ready" if not problems else "degraded" if serving else "not ready"
    return jsonify({"status": status, "assets": assets, "unready": unready,
                    "problems": problems, "app_version": APP_VERSION}), 200 if serving else 503
