"""Watch folder: score every CSV dropped in DIR/incoming/<asset>/ exactly once, across restarts.

Layout under DIR: incoming/<asset>/ (the exporting system drops files here), processing/<asset>/
(claimed files and their journals), results/<asset>/, archive/<asset>/ and rejected/<asset>/.

Exactly once: a file is claimed by writing a journal (batch id, model version) and renaming
the file into processing/; results are written to temporary files and renamed into place;
the input is then moved to archive/ and the journal removed. A watcher that died leaves the
journal behind: on the next start the file is scored again with the same batch id and version,
and the readings the audit log already holds for that batch id are not audited twice.
One watcher per DIR at a time (a lock file), so a second one cannot steal claimed files.
"""

import fcntl
import logging
import os
import re
import time
from dataclasses import dataclass

from webapp.services.audit import AuditError, count_batch_rows
from webapp.services.batch.reader import BatchFileError
from webapp.services.batch.scorer import file_problem, new_batch_id, score_file, write_error_report
from webapp.services.registry import RegistryError, file_sha256
from webapp.services.storage import read_json, write_json_atomic
from webapp.services.text import shown

FOLDERS = ("incoming", "processing", "results", "archive", "rejected")
PARTIAL_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")
SAFE_STEM = re.compile(r"[^A-Za-z0-9._-]+")
log = logging.getLogger("vigie.watch")


class WatchBusy(RuntimeError):
    """Another watcher already works on this folder."""


@dataclass
class Outcome:
    """What happened to one dropped file, for the command's output."""

    name: str
    asset: str
    batch_id: str
    state: str  # scored, rejected, retry
    message: str


def is_partial(name):
    """Names the exporting system uses while it is still writing a file."""
    lowered = name.lower()
    return name.startswith(".") or lowered.endswith(PARTIAL_SUFFIXES) or \
        not lowered.endswith(".csv")


def safe_stem(name):
    """The file name without .csv, limited to characters safe in any file system."""
    stem = os.path.splitext(os.path.basename(name))[0]
    return SAFE_STEM.sub("_", stem)[:100] or "file"


def open_claimed(path):
    """The claimed file for reading; BatchFileError if it is a symbolic link (never followed)."""
    try:
        return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")
    except OSError as exc:
        if not os.path.islink(path):
            raise
        raise BatchFileError("symlink", "the file is a symbolic link: drop the file itself, "
                             "the watcher does not follow links") from exc


class WatchFolder:
    """One watch folder and the services it scores with."""

    def __init__(self, root, models, sink, *, audit_dir, principal, chunk_rows,
                 settle_seconds=2.0, rejections_dir=None):
        self.root = os.path.abspath(root)
        self.models = models
        self.sink = sink
        self.audit_dir = audit_dir
        self.principal = principal
        self.chunk_rows = chunk_rows
        self.settle_seconds = settle_seconds
        self.rejections_dir = rejections_dir
        self._lock_fd = None
        self._last_look = {}

    def folder(self, kind, asset=""):
        """DIR/<kind>/ or DIR/<kind>/<asset>/."""
        return os.path.join(self.root, kind, asset) if asset else os.path.join(self.root, kind)

    def prepare(self, assets=()):
        """Create the folders (an incoming folder per known asset) and take the lock."""
        for kind in FOLDERS:
            os.makedirs(self.folder(kind), exist_ok=True)
        for asset in assets:
            os.makedirs(self.folder("incoming", asset), exist_ok=True)
        self._lock_fd = os.open(os.path.join(self.root, ".watch.lock"), os.O_RDWR | os.O_CREAT,
                                0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise WatchBusy(f"another watcher is already running on {self.root}") from None

    def close(self):
        """Release the folder's lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- finding complete files ---------------------------------------------------------------

    def look(self):
        """{path: (size, mtime)} of the files in incoming/<asset>/ that may be complete."""
        seen = {}
        incoming = self.folder("incoming")
        for asset in sorted(os.listdir(incoming)):
            folder = os.path.join(incoming, asset)
            # A linked asset folder would let the watcher move files from outside DIR.
            if os.path.islink(folder) or not os.path.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                path = os.path.join(folder, name)
                if is_partial(name) or not (os.path.islink(path) or os.path.isfile(path)):
                    continue
                stat = os.lstat(path)  # a link is claimed as itself, then rejected
                seen[path] = (stat.st_size, stat.st_mtime_ns)
        return seen

    def ready_files(self, wait=False):
        """Files unchanged in size and time since the previous look (a look apart when `wait`).

        A file being copied in grows between two looks and is left for a later pass.
        """
        if wait or not self._last_look:
            self._last_look = self.look()
            time.sleep(self.settle_seconds)
        now = self.look()
        ready = [path for path, stat in now.items() if self._last_look.get(path) == stat]
        self._last_look = now
        return ready

    # -- claiming and processing --------------------------------------------------------------

    def journals(self):
        """Journals of claimed files not yet finished (left by a crash or a failed pass)."""
        found = []
        processing = self.folder("processing")
        for asset in sorted(os.listdir(processing)):
            folder = os.path.join(processing, asset)
            if os.path.isdir(folder):
                found.extend(os.path.join(folder, name) for name in sorted(os.listdir(folder))
                             if name.endswith(".json"))
        return found

    def claim(self, path):
        """Journal then rename the file into processing/; returns the journal path or None."""
        asset = os.path.basename(os.path.dirname(path))
        batch_id = new_batch_id()
        try:
            version = self.models.get(asset).version
        except RegistryError as error:
            version, reason = None, str(error)
        else:
            reason = None
        folder = self.folder("processing", asset)
        os.makedirs(folder, exist_ok=True)
        journal = os.path.join(folder, f"{batch_id}.json")
        write_json_atomic(journal, {
            "batch_id": batch_id, "asset": asset, "name": shown(os.path.basename(path), 200),
            "version": version, "reason": reason, "since_day": time.strftime("%Y-%m-%d",
                                                                             time.gmtime())})
        try:
            os.rename(path, os.path.join(folder, f"{batch_id}.csv"))
        except FileNotFoundError:  # removed meanwhile: nothing to score
            os.remove(journal)
            return None
        return journal

    def process(self, journal, recovering=False):
        """Score a claimed file to results/ (or move it to rejected/); returns an Outcome."""
        job = read_json(journal)
        asset, batch_id = job["asset"], job["batch_id"]
        claimed = os.path.join(os.path.dirname(journal), f"{batch_id}.csv")
        if not os.path.exists(claimed):  # finished just before a crash: only the journal is left
            os.remove(journal)
            return None
        stem = f"{safe_stem(job['name'])}.{batch_id}"
        try:
            if job.get("version") is None:
                raise BatchFileError("no_model", f"no model for asset {asset!r}: "
                                     f"{job.get('reason') or 'unknown asset'}")
            loaded = self.models.get(asset, job["version"])
            summary = self._score(claimed, loaded, job, stem, recovering)
        except (BatchFileError, RegistryError) as error:
            if not isinstance(error, BatchFileError):
                error = BatchFileError("no_model", str(error))
            self._reject(claimed, asset, stem, error)
            os.remove(journal)
            return Outcome(job["name"], asset, batch_id, "rejected", str(error))
        except AuditError as error:
            return Outcome(job["name"], asset, batch_id, "retry", f"{error}; will retry")
        except Exception as error:  # one unreadable file must never stop the watcher
            log.exception("%s could not be scored", job["name"])
            error = BatchFileError("unreadable",
                                   f"the file could not be read ({shown(str(error))})")
            self._reject(claimed, asset, stem, error)
            os.remove(journal)
            return Outcome(job["name"], asset, batch_id, "rejected", str(error))
        os.makedirs(self.folder("archive", asset), exist_ok=True)
        os.replace(claimed, os.path.join(self.folder("archive", asset), f"{stem}.csv"))
        os.remove(journal)
        return Outcome(job["name"], asset, batch_id, "scored", summary.line())

    def _already_audited(self, batch_id, since_day):
        # The database store (several hosts) counts with a query; the file store is scanned.
        if hasattr(self.sink, "count_batch"):
            return self.sink.count_batch(batch_id, since_day)
        return count_batch_rows(self.audit_dir, batch_id, since_day)

    def _score(self, claimed, loaded, job, stem, recovering):
        asset, batch_id = job["asset"], job["batch_id"]
        results = self.folder("results", asset)
        os.makedirs(results, exist_ok=True)
        already = self._already_audited(batch_id, job["since_day"]) if recovering else 0
        with open_claimed(claimed) as binary:
            summary = score_file(binary, loaded, self.sink, batch_id=batch_id, channel="cli",
                                 principal=self.principal,
                                 results_path=os.path.join(results, f"{stem}.results.csv"),
                                 errors_path=os.path.join(results, f"{stem}.errors.csv"),
                                 chunk_rows=self.chunk_rows, already_audited=already,
                                 rejections_dir=self.rejections_dir)
        record = {key: value for key, value in summary.as_dict().items()
                  if key not in ("outline", "first_anomalies", "first_problems")}
        write_json_atomic(os.path.join(results, f"{stem}.summary.json"), {
            **record, "input_name": job["name"], "input_sha256": file_sha256(claimed)})
        return summary

    def _reject(self, claimed, asset, stem, error):
        folder = self.folder("rejected", asset)
        os.makedirs(folder, exist_ok=True)
        write_error_report(os.path.join(folder, f"{stem}.errors.csv"), [file_problem(error)])
        os.replace(claimed, os.path.join(folder, f"{stem}.csv"))

    def run_once(self, wait=True):
        """Finish claimed files left behind, then score every complete incoming file."""
        outcomes = [self.process(journal, recovering=True) for journal in self.journals()]
        for path in self.ready_files(wait=wait):
            journal = self.claim(path)
            if journal:
                outcomes.append(self.process(journal))
        return [outcome for outcome in outcomes if outcome is not None]

    def run(self, poll_seconds, report, should_stop=lambda: False):
        """Poll for ever (until `should_stop()`), calling report(outcome) for each file."""
        while not should_stop():
            for outcome in self.run_once(wait=False):
                report(outcome)
            time.sleep(poll_seconds)
