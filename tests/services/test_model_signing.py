"""Signed manifests: a store writer without the key cannot make Vigie load (and run) a pickle."""

import io
import json
import os
import stat

import joblib
import pytest

from tests.conftest import PASSWORDS
from webapp import create_app
from webapp.services import model_signing
from webapp.services.registry import ModelIntegrityError, ModelRegistry

ALTERED = "modified after training and will not be loaded"


class RunsACommand:
    """A pickle that runs a shell command when it is loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def version_path(store, name):
    return os.path.join(store.root, "pump-1", "v1", name)


def rewrite_manifest(store, change):
    path = version_path(store, "manifest.json")
    with open(path) as handle:
        manifest = json.load(handle)
    change(manifest)
    with open(path, "w") as handle:
        json.dump(manifest, handle)


@pytest.fixture
def store(paths):
    return ModelRegistry(paths["MODEL_STORE"])


def test_a_crafted_pickle_with_a_matching_sha256_is_refused_and_never_run(app, store, tmp_path,
                                                                          login, client):
    marker = tmp_path / "pwned"
    joblib.dump(RunsACommand(marker), version_path(store, "model.pkl"))
    with open(version_path(store, "model.pkl"), "rb") as handle:
        digest = __import__("hashlib").sha256(handle.read()).hexdigest()
    rewrite_manifest(store, lambda manifest: manifest.update(model_sha256=digest))
    with pytest.raises(ModelIntegrityError, match=ALTERED):
        store.load("pump-1", "v1")
    login("operator")
    response = client.get("/?asset=pump-1")
    assert response.status_code == 503
    assert not marker.exists()


def test_an_unsigned_or_foreign_signed_version_is_refused(store):
    rewrite_manifest(store, lambda manifest: manifest.pop("signature"))
    with pytest.raises(ModelIntegrityError, match=ALTERED):
        store.load("pump-1", "v1")
    rewrite_manifest(store, lambda manifest: manifest.update(
        model_signing.signed(manifest, b"someone else's key")))
    with pytest.raises(ModelIntegrityError, match=ALTERED):
        store.check_loadable("pump-1", "v1")


def test_a_signed_file_that_is_not_a_vigie_model_is_refused(store):
    data = io.BytesIO()
    joblib.dump({"not": "a model"}, data)
    with open(version_path(store, "model.pkl"), "wb") as handle:
        handle.write(data.getvalue())
    digest = __import__("hashlib").sha256(data.getvalue()).hexdigest()
    rewrite_manifest(store, lambda manifest: manifest.update(model_signing.signed(
        {**manifest, "model_sha256": digest}, store.signing_key())))
    with pytest.raises(ModelIntegrityError, match="holds a dict, not a Vigie model"):
        store.load("pump-1", "v1")


def test_the_model_is_unpickled_from_the_bytes_that_were_hashed(store, monkeypatch):
    seen = []
    real_load = joblib.load
    monkeypatch.setattr(joblib, "load", lambda source: seen.append(source) or real_load(source))
    store.load("pump-1", "v1")
    assert len(seen) == 1 and isinstance(seen[0], io.BytesIO)  # no second open of the file


def test_without_the_variable_the_key_lives_in_the_instance_folder(paths, monkeypatch):
    monkeypatch.delenv("VIGIE_MODEL_SIGNING_KEY")
    app = create_app({**paths, "ADMIN_PASSWORD": PASSWORDS["admin"]})
    path = os.path.join(paths["INSTANCE_DIR"], "model_signing_key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert open(path).read().strip() == app.config["MODEL_SIGNING_KEY"]
    assert not app.config["MODEL_SIGNING_KEY"].startswith(paths["MODEL_STORE"])


def test_resign_signs_a_store_from_before_signing_and_rotates_keys(app, runner, store, tmp_path):
    rewrite_manifest(store, lambda manifest: manifest.pop("signature"))  # an old, unsigned store
    result = runner.invoke(args=["bootstrap"])
    assert "is unsigned or its signature does not match" in result.output
    assert "models resign" in result.output
    result = runner.invoke(args=["models", "resign"])
    assert result.exit_code == 0 and "1 signed, 0 already signed, 0 refused" in result.output
    store.load("pump-1", "v1")
    # Rotation: the new key re-signs only what the previous key had signed.
    old_key = tmp_path / "old-key"
    old_key.write_text(app.config["MODEL_SIGNING_KEY"])
    app.config["MODEL_SIGNING_KEY"] = "the-new-key"
    app.extensions["vigie.registry"]._signing_key = "the-new-key"
    result = runner.invoke(args=["models", "resign", "--previous-key-file", str(old_key)])
    assert result.exit_code == 0 and "1 signed" in result.output
    assert ModelRegistry(store.root, "the-new-key").load("pump-1", "v1").version == "v1"
    with pytest.raises(ModelIntegrityError):
        store.load("pump-1", "v1")  # the old key no longer opens it


def test_resign_refuses_a_model_that_does_not_match_its_manifest(runner, store):
    with open(version_path(store, "model.pkl"), "ab") as handle:
        handle.write(b"tampered")
    result = runner.invoke(args=["models", "resign"])
    assert result.exit_code == 1 and "0 signed, 0 already signed, 1 refused" in result.output
