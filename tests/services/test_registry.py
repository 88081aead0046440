"""The model store: versions, manifests, ACTIVE, and refusal of tampered or foreign models."""

import json
import os

import pytest

from tests.conftest import NORMAL_CSV
from webapp.services import model_signing
from webapp.services.registry import (ActiveModels, InvalidName, ModelIntegrityError, ModelRegistry,
                                      UnknownAsset)
from webapp.services.training import TrainingError, train_version


@pytest.fixture
def store(paths):
    return ModelRegistry(paths["MODEL_STORE"])


def test_first_version_is_active_and_later_ones_wait(store):
    assert store.versions("pump-1") == ["v1"]
    version, manifest = train_version(store, "pump-1", NORMAL_CSV, 200, created_by="alice")
    assert version == "v2"
    assert store.active_version("pump-1") == "v1"
    assert manifest["created_by"] == "alice"
    store.activate("pump-1", "v2")
    with open(os.path.join(store.root, "pump-1", "ACTIVE")) as handle:
        assert handle.read().strip() == "v2"


def test_manifest_records_what_an_auditor_needs(store):
    manifest = store.manifest("pump-1", "v1")
    for key in ("asset", "version", "created_at", "created_by", "git_commit", "versions",
                "training_data", "features", "threshold", "threshold_method",
                "training_stats", "model_sha256", "settings", "detector"):
        assert key in manifest, key
    assert manifest["training_data"]["file_name"] == "normal_400.csv"
    assert manifest["training_data"]["rows_used"] == 400
    assert len(manifest["training_data"]["sha256"]) == 64
    assert set(manifest["versions"]) >= {"python", "scikit-learn", "pandas"}
    stats = manifest["training_stats"]["Current"]
    assert set(stats) >= {"mean", "std", "quantiles", "histogram"}
    assert manifest["created_at"].endswith("Z")


def test_labelled_training_file_gets_evaluation_metrics(tmp_path):
    store = ModelRegistry(str(tmp_path / "store"))
    labelled = os.path.join(os.path.dirname(NORMAL_CSV), "..", "..", "data", "skab", "valve1",
                            "1.csv")
    if not os.path.exists(labelled):
        pytest.skip("labelled SKAB files not shipped")
    _, manifest = train_version(store, "valve", labelled, 400)
    assert set(manifest["evaluation"]) >= {"f1", "far", "mar", "tp", "fp", "tn", "fn"}


def test_tampered_model_is_refused_with_a_clear_reason(store):
    with open(os.path.join(store.root, "pump-1", "v1", "model.pkl"), "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ModelIntegrityError, match="does not match its manifest"):
        store.load("pump-1", "v1")
    with pytest.raises(ModelIntegrityError):
        ActiveModels(store).get("pump-1")


def test_model_from_another_scikit_learn_series_is_refused(store):
    path = os.path.join(store.root, "pump-1", "v1", "manifest.json")
    with open(path) as handle:
        manifest = json.load(handle)
    manifest["versions"]["scikit-learn"] = "0.24.2"
    with open(path, "w") as handle:  # signed, as a genuine old version would be
        json.dump(model_signing.signed(manifest, store.signing_key()), handle)
    with pytest.raises(ModelIntegrityError, match="scikit-learn 0.24.2"):
        store.check_loadable("pump-1", "v1")


@pytest.mark.parametrize("asset, version", [
    ("../etc", "v1"), ("pump-1/../../x", "v1"), ("/abs", "v1"), ("pump 1", "v1"),
    ("pump-1", "../v1"), ("pump-1", "v0"), ("pump-1", "v1/../../x"), ("pump-1", "latest"),
])
def test_names_that_could_escape_the_store_are_refused(store, asset, version):
    with pytest.raises(InvalidName):
        store.load(asset, version)


def test_unknown_asset_is_a_clear_error(store):
    with pytest.raises(UnknownAsset, match="no model has been trained"):
        store.load_active("pump-9")


def test_training_on_invalid_data_writes_no_version(store, tmp_path):
    bad = tmp_path / "bad.csv"
    with open(NORMAL_CSV) as handle:
        lines = handle.read().splitlines()
    lines[5] = lines[5].replace(lines[5].split(";")[3], "oops", 1)
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(TrainingError, match="line 6"):
        train_version(store, "pump-1", str(bad))
    assert store.versions("pump-1") == ["v1"]
    assert [n for n in os.listdir(os.path.join(store.root, "pump-1")) if n.startswith(".tmp")] == []


def test_active_models_follow_a_switch_without_restart(store):
    models = ActiveModels(store)
    assert models.get("pump-1").version == "v1"
    train_version(store, "pump-1", NORMAL_CSV, 300)
    store.activate("pump-1", "v2")
    assert models.get("pump-1").version == "v2"
