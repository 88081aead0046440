"""Liveness and readiness probes for load balancers and the container HEALTHCHECK."""

from flask import Blueprint, jsonify

from webapp.extensions import active_models, registry
from webapp.services.registry import RegistryError
from webapp.version import APP_VERSION

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """The process is up."""
    return jsonify({"status": "ok", "app_version": APP_VERSION})


@bp.route("/readyz")
def readyz():
    """Ready when every asset's active model is verified and loads; 503 with the reason if not."""
    store = registry()
    assets, problems = {}, []
    for asset in store.assets():
        try:
            loaded = active_models().get(asset)
            store.check_loadable(asset, loaded.version)
            assets[asset] = loaded.version
        except RegistryError as exc:
            problems.append(str(exc))
    if not assets and not problems:
        problems.append("no model has been trained yet")
    status = 503 if problems else 200
    return jsonify({"status": "ready" if status == 200 else "not ready", "assets": assets,
                    "problems": problems, "app_version": APP_VERSION}), status
