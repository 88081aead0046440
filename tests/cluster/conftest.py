"""One cluster per module: PostgreSQL, one model store (two versions), two gunicorns, nginx."""

import shutil

import pytest

from tests.conftest import NORMAL_CSV, PASSWORDS
from tests.support.cluster import running_cluster
from tests.support.nginx import PROXY_SOURCE, require_nginx


def prepared_cluster(tmp_path_factory, trained_store, postgres_server, postgres_template):
    """A model store with two versions and a database with the admin and two API keys."""
    require_nginx()
    from webapp.services import apikeys, users
    from webapp.services.registry import ModelRegistry
    from webapp.services import database
    from webapp.services.training import train_version
    root = tmp_path_factory.mktemp("cluster")
    store = root / "model_store"
    shutil.copytree(trained_store, store)
    train_version(ModelRegistry(str(store)), "pump-1", NORMAL_CSV, 250, created_by="tests")
    url = postgres_server.url(postgres_server.create_database(postgres_template))
    users.create_user(url, "admin", PASSWORDS["admin"], "admin")
    keys = {role: apikeys.create_key(url, f"cluster-{role}", role, "tests")[1]
            for role in ("operator", "admin")}
    database.dispose_all()
    return {"ROOT": str(root), "MODEL_STORE": str(store)}, url, keys


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, trained_store, postgres_server, postgres_template):
    paths, url, keys = prepared_cluster(tmp_path_factory, trained_store, postgres_server,
                                        postgres_template)
    with running_cluster(paths, url, keys) as running:
        yield running


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, trained_store, postgres_server, postgres_template):
    """One instance behind nginx terminating TLS, as deploy/compose.yaml's TLS site runs it:
    Secure cookies, and forwarded headers believed from nginx's address only."""
    paths, url, keys = prepared_cluster(tmp_path_factory, trained_store, postgres_server,
                                        postgres_template)
    env = {"VIGIE_HTTPS": "1", "VIGIE_TRUSTED_PROXY_ADDRESSES": PROXY_SOURCE}
    with running_cluster(paths, url, keys, count=1, tls=True, extra_env=env) as running:
        yield running
