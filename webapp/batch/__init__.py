"""Batch scoring of CSV files: the /batch upload page, its result pages and the `score` command."""

from flask import Blueprint

bp = Blueprint("batch", __name__, url_prefix="/batch")

from webapp.batch import routes  # noqa: E402,F401  (routes attach themselves to bp)
