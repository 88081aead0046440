"""The versioned model store: model_store/<asset>/v<N>/{model.pkl, manifest.json} and ACTIVE."""

import dataclasses
import functools
import hashlib
import io
import json
import logging
import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass

import joblib
import sklearn

from features.pipeline import AnomalyModel
from features.schema import is_valid_asset_name, sensors_from_records
from webapp.services import model_signing
from webapp.services.storage import write_text_atomic

VERSION_PATTERN = re.compile(r"^v[1-9][0-9]{0,5}$")
MODEL_FILE = "model.pkl"
MANIFEST_FILE = "manifest.json"
ACTIVE_FILE = "ACTIVE"
SHADOW_FILE = "SHADOW"
log = logging.getLogger("vigie.registry")


class RegistryError(Exception):
    """Base class of model store errors; the message is meant for people."""


class InvalidName(RegistryError):
    """An asset or version name that Vigie would never generate."""


class UnknownAsset(RegistryError):
    """No model was ever trained for this asset."""


class UnknownVersion(RegistryError):
    """The asset has no such version."""


class NoActiveModel(RegistryError):
    """The asset has versions but none is active."""


class ModelIntegrityError(RegistryError):
    """A version must not be loaded: its file does not match its manifest, or it is unusable."""


@dataclass
class LoadedModel:
    """A verified model with the identity every prediction must record."""

    asset: str
    version: str
    model: object
    manifest: dict
    # The candidate that scores beside this version, resolved in the same call (or None).
    shadow: object = None

    @property
    def sha256(self):
        return self.manifest["model_sha256"]

    @functools.cached_property
    def sensors(self):
        """The sensors this version reads, with the ranges and units of its manifest."""
        return sensors_from_records(self.manifest["features"])


def altered(asset, version, what):
    """The refusal of a version whose files are not the ones written at training."""
    return ModelIntegrityError(f"{asset} {version}: {what}; it was modified after training and "
                               "will not be loaded")


def file_sha256(path):
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def version_number(version):
    """The N of 'vN'."""
    return int(version[1:])


def sklearn_series(version_text):
    """'1.9.1' -> '1.9': pickles are only trusted within one scikit-learn major.minor."""
    return ".".join(version_text.split(".")[:2])


class ModelRegistry:
    """File-based model registry; every name is checked before it becomes a path.

    Manifests are signed with `signing_key` (by default VIGIE_MODEL_SIGNING_KEY), kept outside
    the store: a version is loaded only when its signature and its model's sha256 both match.
    """

    def __init__(self, root, signing_key=None):
        self.root = os.path.abspath(root)
        self._signing_key = signing_key

    def signing_key(self):
        """The key as bytes; ModelIntegrityError when none is configured."""
        try:
            return model_signing.resolve_key(self._signing_key)
        except model_signing.MissingSigningKey as exc:
            raise ModelIntegrityError(str(exc)) from None

    def _asset_dir(self, asset):
        if not is_valid_asset_name(asset):
            raise InvalidName(f"invalid asset name {asset!r}: use letters, digits, '-' or '_'")
        return os.path.join(self.root, asset)

    def _version_dir(self, asset, version):
        if not isinstance(version, str) or not VERSION_PATTERN.fullmatch(version):
            raise InvalidName(f"invalid version name {version!r}: versions are named v1, v2, ...")
        return os.path.join(self._asset_dir(asset), version)

    def assets(self):
        """Names of the assets that have at least one version, sorted."""
        if not os.path.isdir(self.root):
            return []
        return sorted(name for name in os.listdir(self.root)
                      if is_valid_asset_name(name) and self.versions(name))

    def versions(self, asset):
        """The asset's versions, oldest first."""
        folder = self._asset_dir(asset)
        if not os.path.isdir(folder):
            return []
        names = [name for name in os.listdir(folder) if VERSION_PATTERN.fullmatch(name)
                 and os.path.isfile(os.path.join(folder, name, MANIFEST_FILE))]
        return sorted(names, key=version_number)

    def require_asset(self, asset):
        """Raise UnknownAsset unless the asset has a version."""
        if not self.versions(asset):
            raise UnknownAsset(f"unknown asset {asset!r}: no model has been trained for it")

    def manifest(self, asset, version):
        """The manifest of one version, as written at training time."""
        path = os.path.join(self._version_dir(asset, version), MANIFEST_FILE)
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            raise UnknownVersion(f"asset {asset!r} has no version {version!r}") from None
        except (OSError, ValueError) as exc:
            raise ModelIntegrityError(f"{asset} {version}: unreadable manifest ({exc})") from None

    def active_version(self, asset):
        """The version named by the asset's ACTIVE file, or None."""
        return self._read_pointer(asset, ACTIVE_FILE)

    def shadow_version(self, asset):
        """The version named by the asset's SHADOW file (scores beside the active one), or None."""
        return self._read_pointer(asset, SHADOW_FILE)

    def _read_pointer(self, asset, name):
        try:
            with open(os.path.join(self._asset_dir(asset), name), encoding="utf-8") as fh:
                version = fh.read().strip()
        except FileNotFoundError:
            return None
        return version if VERSION_PATTERN.fullmatch(version) else None

    def _write_pointer(self, asset, name, version):
        """Replace a pointer file atomically: readers see the old or the new name, never half."""
        write_text_atomic(os.path.join(self._asset_dir(asset), name), version + "\n")

    def check_loadable(self, asset, version):
        """Raise ModelIntegrityError (with the reason) unless the version may be loaded."""
        return self._verified(asset, version)[0]

    def _verified(self, asset, version):
        """(manifest, bytes of model.pkl) once the signature and the sha256 both match.

        The bytes that were hashed are the bytes later unpickled: a file swapped between the
        check and the load cannot slip through a second open.
        """
        manifest = self.manifest(asset, version)
        if not model_signing.is_signed_by(manifest, self.signing_key()):
            raise altered(asset, version, f"{MANIFEST_FILE} is unsigned or its signature does "
                                          "not match")
        path = os.path.join(self._version_dir(asset, version), MODEL_FILE)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise ModelIntegrityError(f"{asset} {version}: {MODEL_FILE} is missing") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != manifest.get("model_sha256"):
            raise altered(asset, version,
                          f"{MODEL_FILE} does not match its manifest (sha256 {actual[:12]}… "
                          f"instead of {str(manifest.get('model_sha256'))[:12]}…)")
        trained_with = str(manifest.get("versions", {}).get("scikit-learn", ""))
        if sklearn_series(trained_with) != sklearn_series(sklearn.__version__):
            raise ModelIntegrityError(
                f"{asset} {version}: trained with scikit-learn {trained_with}, "
                f"this installation has {sklearn.__version__}; retrain the asset")
        return manifest, data

    def model_file_stamp(self, asset, version):
        """(size, mtime, inode) of a version's model.pkl; None when it is missing."""
        try:
            info = os.stat(os.path.join(self._version_dir(asset, version), MODEL_FILE))
        except FileNotFoundError:
            return None
        return info.st_size, info.st_mtime_ns, info.st_ino

    def load(self, asset, version):
        """Load a version after verifying it (a pickle is code: never load an unverified one)."""
        manifest, data = self._verified(asset, version)
        try:
            model = joblib.load(io.BytesIO(data))
        except Exception as exc:  # a verified file that still fails to unpickle
            raise ModelIntegrityError(f"{asset} {version}: cannot be loaded ({exc})") from exc
        if not isinstance(model, AnomalyModel):
            raise ModelIntegrityError(f"{asset} {version}: {MODEL_FILE} holds a "
                                      f"{type(model).__name__}, not a Vigie model")
        return LoadedModel(asset, version, model, manifest)

    def load_active(self, asset):
        """Load the asset's active version."""
        self.require_asset(asset)
        version = self.active_version(asset)
        if version is None:
            raise NoActiveModel(f"asset {asset!r} has no active version")
        return self.load(asset, version)

    def activate(self, asset, version):
        """Make a verified version active, replacing ACTIVE atomically."""
        self.check_loadable(asset, version)
        self._write_pointer(asset, ACTIVE_FILE, version)

    def set_shadow(self, asset, version):
        """Make a verified version the asset's shadow, or remove the shadow when None."""
        if version is None:
            try:
                os.remove(os.path.join(self._asset_dir(asset), SHADOW_FILE))
            except FileNotFoundError:
                pass
            return
        self.check_loadable(asset, version)
        self._write_pointer(asset, SHADOW_FILE, version)

    def write_version(self, asset, model, manifest):
        """Write a new version folder once (temporary folder, then rename) and return its name.

        The first version of an asset becomes active; later ones wait for an activation.
        """
        folder = self._asset_dir(asset)
        key = self.signing_key()  # no key, no version: fail before training is stored
        os.makedirs(folder, exist_ok=True)
        staging = os.path.join(folder, f".tmp-{uuid.uuid4().hex}")
        os.makedirs(staging)
        try:
            model_path = os.path.join(staging, MODEL_FILE)
            joblib.dump(model, model_path)
            version = self._publish(asset, staging, {**manifest, "asset": asset,
                                                     "model_sha256": file_sha256(model_path)},
                                    key)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if self.active_version(asset) is None:
            self.activate(asset, version)
        return version

    def _publish(self, asset, staging, manifest, key):
        """Rename the staging folder to the next free vN; retried if another writer won."""
        for _ in range(100):
            existing = [version_number(v) for v in self.versions(asset)]
            version = f"v{max(existing, default=0) + 1}"
            manifest = model_signing.signed({**manifest, "version": version}, key)
            with open(os.path.join(staging, MANIFEST_FILE), "w", encoding="utf-8") as handle:
                json.dump(manifest, handle, indent=2, sort_keys=True)
            try:
                os.rename(staging, self._version_dir(asset, version))
                return version
            except OSError:
                if not os.path.isdir(self._version_dir(asset, version)):
                    raise
        raise RegistryError(f"could not allocate a new version of {asset!r}")

    def resign(self, asset, version, previous_key=None):
        """Sign a version's manifest with the current key; True if it was rewritten.

        For a key rotation pass the `previous_key`: only versions it signed are re-signed.
        Without it (a store from before signing), any version whose model.pkl matches its
        manifest is signed: the admin vouches for the store.
        """
        manifest = self.manifest(asset, version)
        key = self.signing_key()
        path = os.path.join(self._version_dir(asset, version), MODEL_FILE)
        if not os.path.isfile(path) or file_sha256(path) != manifest.get("model_sha256"):
            raise altered(asset, version, f"{MODEL_FILE} does not match its manifest")
        if model_signing.is_signed_by(manifest, key):
            return False
        if previous_key is not None and not model_signing.is_signed_by(
                manifest, model_signing.resolve_key(previous_key)):
            raise altered(asset, version, "the previous key did not sign it")
        folder = self._version_dir(asset, version)
        write_text_atomic(os.path.join(folder, MANIFEST_FILE), json.dumps(
            model_signing.signed(manifest, key), indent=2, sort_keys=True))
        return True


class ActiveModels:
    """Per-process cache of active models that follows ACTIVE on every request.

    Reading a small file per request keeps every gunicorn worker on the active version
    within one request of a switch, with no restart and no shared memory.
    """

    def __init__(self, registry):
        self.registry = registry
        self._loaded = {}
        self._lock = threading.Lock()

    def get(self, asset, version=None):
        """The asset's active version (or the given one), loaded once per process.

        The result also carries the asset's shadow candidate, read in the same call, so that
        one request (or one batch pinned to a version) uses one pair of versions throughout.
        """
        named = version
        version = version or self.registry.active_version(asset)
        if version is None:
            self.registry.require_asset(asset)  # an unknown asset is not "no active version"
            raise NoActiveModel(f"asset {asset!r} has no active version")
        try:
            loaded = self._cached(asset, version)
        except UnknownVersion:
            self.registry.require_asset(asset)
            if named:
                raise
            raise ModelIntegrityError(f"asset {asset!r}: its active version {version} is missing "
                                      "from the model store") from None
        shadow = self._shadow_of(asset, version)
        return dataclasses.replace(loaded, shadow=shadow) if shadow is not None else loaded

    def _shadow_of(self, asset, active):
        """The shadow candidate, or None; a broken shadow is logged and never blocks scoring."""
        version = self.registry.shadow_version(asset)
        if version is None or version == active:
            return None
        try:
            return self._cached(asset, version)
        except RegistryError as exc:
            log.warning("shadow %s %s not used: %s", asset, version, exc)
            return None

    def _cached(self, asset, version):
        """The loaded version; loaded again (and so verified again) when its file changed.

        A stat per request is cheap, and a model.pkl altered on disk after loading is then
        refused with ModelIntegrityError instead of being served from memory.
        """
        key = (asset, version)
        stamp = self.registry.model_file_stamp(asset, version)
        with self._lock:
            cached = self._loaded.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        loaded = self.registry.load(asset, version)
        with self._lock:
            self._loaded[key] = (stamp, loaded)
        return loaded
