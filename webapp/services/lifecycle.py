"""Model switches with a trace: activate, roll back and shadow, each one a row of model_events.csv.

The event log (model_events.csv, or the `model_events` table when the database is shared by
several hosts: services/record_log.py) is the shared memory of every worker and every restart:
"the version active before the current one" is derived from it, never from a process's
variables. Switches of one asset are serialised by an exclusive lock on a file in the asset's
store folder (the store is shared too).
"""

import fcntl
import os
from contextlib import contextmanager

from webapp.services.record_log import RecordKind, logs_at
from webapp.services.registry import RegistryError
from webapp.services.storage import utc_now_iso
from webapp.services.text import UnsafeText, check_text

EVENT_COLUMNS = ("timestamp_utc", "principal", "asset", "from_version", "to_version", "action",
                 "reason")
EVENTS_FILE = "model_events.csv"
MODEL_EVENTS = RecordKind("model_events", EVENT_COLUMNS, EVENTS_FILE)
LOCK_FILE = ".switch.lock"
MAX_REASON_LENGTH = 500
ACTIVATE, ROLLBACK, SHADOW, SHADOW_OFF, TRAIN = (
    "activate", "rollback", "shadow", "shadow-off", "train")


class SwitchRefused(RegistryError):
    """A switch that cannot be made as asked (nothing to roll back to, already active, ...).

    `code` and `params` (asset, version) let a page say it in the user's language.
    """

    def __init__(self, message, code="", **params):
        super().__init__(message)
        self.code, self.params = code, params


class ReasonRequired(ValueError):
    """Every switch needs a short reason, so that the history explains itself."""


def clean_reason(reason):
    """The reason, stripped and on one line; raise ReasonRequired when empty or too long."""
    text = " ".join(str(reason or "").split())
    if not text:
        raise ReasonRequired("give a short reason for the switch (it goes in the history)")
    if len(text) > MAX_REASON_LENGTH:
        raise ReasonRequired(f"the reason is too long: {MAX_REASON_LENGTH} characters at most")
    try:
        return check_text(text, "the reason")
    except UnsafeText as exc:
        error = ReasonRequired(str(exc))
        error.character = exc.character  # for pages in the user's language
        raise error from None


class ModelLifecycle:
    """Activate, roll back and shadow versions of the registry, writing one event per switch."""

    def __init__(self, registry, logs):
        self.registry = registry
        self.log = logs_at(logs).log(MODEL_EVENTS)

    @contextmanager
    def _switch_lock(self, asset):
        """Serialise switches of one asset across threads, workers and the CLI."""
        self.registry.require_asset(asset)  # validates the name before it becomes a path
        path = os.path.join(self.registry.root, asset, LOCK_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def events(self, asset=None):
        """Every event (oldest first), or those of one asset, as dicts of EVENT_COLUMNS."""
        return self.log.rows(exact={"asset": asset} if asset is not None else None)

    def record(self, asset, principal, action, from_version, to_version, reason):
        """Append one event row (one locked write, or one INSERT)."""
        self.log.append([{
            "timestamp_utc": utc_now_iso(), "principal": principal, "asset": asset,
            "from_version": from_version or "", "to_version": to_version or "",
            "action": action, "reason": reason}])

    def _switch(self, move, undo, *event):
        """Move a pointer (ACTIVE or SHADOW), then record its event; put the pointer back if
        the event cannot be written (a database that went away), so that no switch is left
        without its row. The event log is read first: when it cannot be reached, nothing moves.
        """
        self.log.marker()
        move()
        try:
            self.record(*event)
        except Exception:
            if undo is not None:
                undo()
            raise

    def previous_version(self, asset):
        """The version that was active before the current one, from the event history, or None.

        Activations push the version they replace, rollbacks pop it: two rollbacks after
        v1 -> v2 -> v3 go back to v2, then v1.
        """
        stack = []
        for event in self.events(asset):
            if event["action"] == ACTIVATE and event["from_version"]:
                stack.append(event["from_version"])
            elif event["action"] == ROLLBACK and stack:
                stack.pop()
        current = self.registry.active_version(asset)
        while stack and stack[-1] == current:
            stack.pop()
        return stack[-1] if stack else None

    def activate(self, asset, version, principal, reason):
        """Make a verified version active; returns the version it replaced."""
        reason = clean_reason(reason)
        with self._switch_lock(asset):
            current = self.registry.active_version(asset)
            if version == current:
                raise SwitchRefused(f"{version} is already the active version of {asset}",
                                    "already_active", asset=asset, version=version)
            self._switch(lambda: self.registry.activate(asset, version),
                         self._restore(self.registry.activate, asset, current),
                         asset, principal, ACTIVATE, current, version, reason)
            self._drop_shadow_if(asset, version, principal)
        return current

    def rollback(self, asset, principal, reason):
        """Return to the version active before the current one; returns (from, to)."""
        reason = clean_reason(reason)
        with self._switch_lock(asset):
            current = self.registry.active_version(asset)
            previous = self.previous_version(asset)
            if previous is None:
                raise SwitchRefused(f"{asset} has no earlier active version to roll back to",
                                    "no_previous", asset=asset, version="")
            self._switch(lambda: self.registry.activate(asset, previous),
                         self._restore(self.registry.activate, asset, current),
                         asset, principal, ROLLBACK, current, previous, reason)
            self._drop_shadow_if(asset, previous, principal)
        return current, previous

    def set_shadow(self, asset, version, principal, reason):
        """Let a verified candidate score every request beside the active version."""
        reason = clean_reason(reason)
        with self._switch_lock(asset):
            if version == self.registry.active_version(asset):
                raise SwitchRefused(f"{version} is the active version of {asset}; "
                                    "a shadow must be another version", "shadow_is_active",
                                    asset=asset, version=version)
            current = self.registry.shadow_version(asset)
            if version == current:
                raise SwitchRefused(f"{version} is already the shadow of {asset}",
                                    "already_shadow", asset=asset, version=version)
            self._switch(lambda: self.registry.set_shadow(asset, version),
                         lambda: self.registry.set_shadow(asset, current),
                         asset, principal, SHADOW, current, version, reason)

    def clear_shadow(self, asset, principal, reason):
        """Stop the shadow scoring of an asset."""
        reason = clean_reason(reason)
        with self._switch_lock(asset):
            current = self.registry.shadow_version(asset)
            if current is None:
                raise SwitchRefused(f"{asset} has no shadow version")
            self._switch(lambda: self.registry.set_shadow(asset, None),
                         lambda: self.registry.set_shadow(asset, current),
                         asset, principal, SHADOW_OFF, current, None, reason)

    @staticmethod
    def _restore(set_pointer, asset, version):
        """How to put a pointer back to `version` (None: there was none to go back to)."""
        return None if version is None else (lambda: set_pointer(asset, version))

    def _drop_shadow_if(self, asset, version, principal):
        """A shadow that becomes active stops being a shadow (it would score twice)."""
        if self.registry.shadow_version(asset) == version:
            self._switch(lambda: self.registry.set_shadow(asset, None),
                         lambda: self.registry.set_shadow(asset, version),
                         asset, principal, SHADOW_OFF, version, None, "became the active version")

    def version_rows(self, asset):
        """Per version of an asset: name, manifest, active/shadow flags, loadable and why not."""
        active = self.registry.active_version(asset)
        shadow = self.registry.shadow_version(asset)
        rows = []
        for version in reversed(self.registry.versions(asset)):
            try:
                manifest = self.registry.check_loadable(asset, version)
                problem = None
            except RegistryError as exc:
                manifest, problem = self._readable_manifest(asset, version), str(exc)
            rows.append({"version": version, "manifest": manifest, "active": version == active,
                         "shadow": version == shadow, "problem": problem})
        return rows

    def _readable_manifest(self, asset, version):
        try:
            return self.registry.manifest(asset, version)
        except RegistryError:
            return {}
