"""Shared fixtures: each test gets its own model store, log folder and instance folder."""

import csv
import glob
import os
import re
import shutil

import pandas as pd
import pytest

from tests.support.postgres import (postgres_server, postgres_template,  # noqa: F401 (fixtures)
                                     record_logs)
from webapp import create_app
from webapp.i18n import compile_catalogues
from webapp.services.audit import AUDIT_COLUMNS
from webapp.services.registry import ModelRegistry
from webapp.services.training import train_version

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(TESTS_DIR, "data")
NORMAL_CSV = os.path.join(DATA_DIR, "normal_400.csv")
# One model signing key for the whole run: stores trained here, apps and gunicorn servers
# started by the tests (they inherit the environment) all sign and verify with it.
os.environ.setdefault("VIGIE_MODEL_SIGNING_KEY", "tests-model-signing-key")
PASSWORDS = {"admin": "admin-pass-123", "analyst": "analyst-pass-123",
             "operator": "operator-pass-123"}


@pytest.fixture(scope="session", autouse=True)
def compiled_translations():
    """Tests see the current French catalogues, compiled once per run."""
    compile_catalogues()


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory):
    """A model store with pump-1 v1 trained on 400 normal readings, built once per run."""
    root = tmp_path_factory.mktemp("store-template")
    train_version(ModelRegistry(str(root)), "pump-1", NORMAL_CSV, created_by="tests")
    return root


@pytest.fixture(autouse=True)
def close_database_connections():
    """Each test's databases are new: close their pooled connections when it ends."""
    yield
    from webapp.services import database
    database.dispose_all()


@pytest.fixture
def database_url():
    """None: the embedded SQLite file. A module overrides this to run on PostgreSQL too."""
    return None


@pytest.fixture
def paths(tmp_path, trained_store, database_url):
    """Private store, logs and instance folders; the store starts with pump-1 v1 active."""
    store = tmp_path / "model_store"
    shutil.copytree(trained_store, store)
    found = {"MODEL_STORE": str(store), "LOG_DIR": str(tmp_path / "logs"),
             "INSTANCE_DIR": str(tmp_path / "instance")}
    if database_url:
        found["DATABASE_URL"] = database_url
    return found


@pytest.fixture
def app(paths):
    app = create_app({**paths, "TESTING": True, "ADMIN_PASSWORD": PASSWORDS["admin"]})
    from webapp.services import users
    for role in ("analyst", "operator"):
        users.create_user(app.config["DATABASE"], role, PASSWORDS[role], role)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def read_audit(audit_dir):
    """Every audit row in `audit_dir` (one dict per row), oldest day file first."""
    rows = []
    for path in sorted(glob.glob(os.path.join(audit_dir, "predictions-*.csv"))):
        with open(path, newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def read_audit_table(audit_dir):
    """Every audit row in `audit_dir` as a DataFrame of text cells (empty: the audit columns)."""
    names = sorted(glob.glob(os.path.join(audit_dir, "predictions-*.csv")))
    if not names:
        return pd.DataFrame(columns=list(AUDIT_COLUMNS))
    return pd.concat(pd.read_csv(name, dtype=str, keep_default_na=False) for name in names)


def csrf_token(client, path="/login"):
    """The CSRF token of the form at `path`, as a browser would submit it."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


@pytest.fixture
def login(client):
    """Log in as one of the users 'admin', 'analyst', 'operator' through the real form."""
    def log_in(name):
        response = client.post("/login", data={
            "username": name, "password": PASSWORDS[name], "csrf_token": csrf_token(client)})
        assert response.status_code == 302, response.get_data(as_text=True)
        return client
    return log_in
