"""Manifest signatures: an HMAC-SHA256 with a key kept outside the model store.

The manifest holds the sha256 of model.pkl, so a valid signature vouches for the pickle too.
Whoever can write the store but not read the key cannot make Vigie load a model of their own.
"""

import hashlib
import hmac
import json
import os

SIGNATURE_FIELD = "signature"
SCHEME = "hmac-sha256:"
KEY_ENVIRONMENT = "VIGIE_MODEL_SIGNING_KEY"


class MissingSigningKey(RuntimeError):
    """No key was given and VIGIE_MODEL_SIGNING_KEY is not set."""


def resolve_key(key=None):
    """`key` as bytes, else the key from VIGIE_MODEL_SIGNING_KEY; raise MissingSigningKey."""
    key = key if key is not None else os.environ.get(KEY_ENVIRONMENT)
    if not key:
        raise MissingSigningKey("no model signing key: the app keeps one in its instance folder, "
                                f"scripts set {KEY_ENVIRONMENT}")
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def _payload(manifest):
    """The signed bytes: every field but the signature, in one canonical JSON form."""
    unsigned = {name: value for name, value in manifest.items() if name != SIGNATURE_FIELD}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


def signature(manifest, key):
    """The signature of `manifest` with `key` (bytes)."""
    return SCHEME + hmac.new(key, _payload(manifest), hashlib.sha256).hexdigest()


def signed(manifest, key):
    """A copy of `manifest` carrying its signature."""
    return {**manifest, SIGNATURE_FIELD: signature(manifest, key)}


def is_signed_by(manifest, key):
    """True when `manifest` carries a valid signature made with `key` (constant-time compare)."""
    given = manifest.get(SIGNATURE_FIELD)
    return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8"),
                                                          signature(manifest, key).encode())
