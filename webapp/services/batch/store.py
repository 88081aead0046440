"""Batches of the upload page: one folder per upload holding its state, progress and results."""

import hashlib
import logging
import os
import contextlib
import shutil
import threading

from webapp.services.batch.reader import BatchFileError, check_header, read_header
from webapp.services.batch.scorer import (BATCH_ID_LENGTH, DEFAULT_CHUNK_ROWS, new_batch_id,
                                          score_file)
from webapp.services.jobs import (DONE, FAILED, QUEUED, RUNNING, UNFINISHED, abandoned,
                                  heartbeat, heartbeat_every, runner_stamp)
from webapp.services.storage import read_json, utc_now_iso, write_json_atomic
from webapp.services.text import check_text

# ---------------------------------------------------------------------------------------------
# Batches of the upload page: BATCH_DIR/<batch_id>/ (logs/batches/ by default) holds meta.json
# (who, what, sha256), status.json (progress, polled by any worker), summary.json, results.csv
# and errors.csv. On several hosts (`states` given) meta, status and summary are a row of the
# shared job_states table instead, and BATCH_DIR is a volume every instance mounts, for the
# results. State lives there, never in one worker's memory.

log = logging.getLogger("vigie.batch")



class BatchStore:
    """The folder of uploaded batches."""

    def __init__(self, root, stale_seconds=120, states=None):
        self.root = root
        self.stale_seconds = stale_seconds
        self.states = states  # job_states.DatabaseJobStates("batch"), or None: JSON files

    def folder(self, batch_id):
        """The folder of one batch (the id is checked: it reaches the file system)."""
        if not (isinstance(batch_id, str) and len(batch_id) == BATCH_ID_LENGTH
                and all(c in "0123456789abcdef" for c in batch_id)):
            raise KeyError(batch_id)
        return os.path.join(self.root, batch_id)

    def path(self, batch_id, name):
        """A file of one batch: meta.json, status.json, summary.json, results.csv, ..."""
        return os.path.join(self.folder(batch_id), name)

    def reserve(self):
        """A new batch id and its empty folder (the upload is saved there before create)."""
        batch_id = new_batch_id()
        os.makedirs(self.folder(batch_id))
        return batch_id

    def create(self, batch_id, meta):
        """Record a reserved batch as queued, with its meta (one row on several hosts)."""
        meta = {"batch_id": batch_id, **meta, "created_at": utc_now_iso()}
        if self.states is not None:
            self.states.save(batch_id, meta["principal"], meta.get("asset", ""), meta=meta,
                             state={"state": QUEUED, **runner_stamp()})
            return
        write_json_atomic(self.path(batch_id, "meta.json"), meta)
        self.set_status(batch_id, QUEUED)

    def _row(self, batch_id, with_summary=False):
        self.folder(batch_id)  # checks the id
        row = self.states.get(batch_id, with_summary)
        if row is None:
            raise KeyError(batch_id)
        return row

    def meta(self, batch_id):
        """meta.json of a batch; KeyError when there is no such batch."""
        if self.states is not None:
            return self._row(batch_id)["meta"]
        meta = read_json(self.path(batch_id, "meta.json"))
        if meta is None:
            raise KeyError(batch_id)
        return meta

    def set_status(self, batch_id, state, **values):
        """Replace status.json, stamped with this process so a dead worker can be noticed."""
        status = {"state": state, **runner_stamp(), **values}
        if self.states is not None:
            self.states.save(batch_id, state=status)
        else:
            write_json_atomic(self.path(batch_id, "status.json"), status)

    def finish(self, batch_id, summary, **values):
        """Store the summary and the final status (one statement on several hosts)."""
        if self.states is not None:
            self.states.save(batch_id, summary=summary,
                             state={"state": DONE, **runner_stamp(), **values})
            return
        write_json_atomic(self.path(batch_id, "summary.json"), summary)
        self.set_status(batch_id, DONE, **values)

    def heartbeat(self, batch_id):
        """While the block runs, say this process still runs the batch (several hosts)."""
        if self.states is None:  # one host: the pid tells whether its runner lives
            return contextlib.nullcontext()
        return heartbeat(lambda: self.states.beat(batch_id), heartbeat_every(self.stale_seconds))

    def status(self, batch_id):
        """status.json, with a batch whose process died reported as failed."""
        if self.states is not None:
            row = self._row(batch_id)
            status = {**row["state"], **row["runner"]}
        else:
            status = read_json(self.path(batch_id, "status.json"), {"state": FAILED})
        if status["state"] in UNFINISHED and abandoned(status, self.stale_seconds):
            status = {**status, "state": FAILED, "code": "stopped",
                      "message": "processing stopped unexpectedly (the server process ended); "
                                 "upload the file again"}
        return status

    def summary(self, batch_id):
        """summary.json of a finished batch (None before)."""
        if self.states is not None:
            return self._row(batch_id, with_summary=True)["summary"]
        return read_json(self.path(batch_id, "summary.json"))

    def list(self, principal=None, limit=20):
        """The latest batches (of `principal` only, when given), newest first."""
        if self.states is not None:
            return [row["meta"] for row in self.states.rows(principal, limit=limit)]
        if not os.path.isdir(self.root):
            return []
        found = []
        for name in os.listdir(self.root):
            try:
                meta = self.meta(name)
            except (KeyError, ValueError):
                continue
            if principal is None or meta.get("principal") == principal:
                found.append(meta)
        found.sort(key=lambda meta: meta.get("created_at", ""), reverse=True)
        return found[:limit]


def save_upload(stream, path, block=1 << 20):
    """Copy an uploaded file to `path` while hashing it; returns (sha256 hex, size in bytes)."""
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as target:
        while True:
            data = stream.read(block)
            if not data:
                break
            digest.update(data)
            target.write(data)
            size += len(data)
    return digest.hexdigest(), size


def start_upload(store, loaded, sink, stream, filename, principal, chunk_rows=DEFAULT_CHUNK_ROWS,
                 rejections_dir=None):
    """Check the header now, save the upload, and score it in a background thread; returns
    the batch id.

    The header is checked before anything is queued so that missing columns are reported on
    the form itself. The thread writes status.json, which any worker can serve to the poll.
    """
    filename = check_text(os.path.basename(filename or "upload.csv"), "the file name")
    stream.seek(0)
    _, columns = read_header(stream)
    check_header(columns, loaded.sensors)
    stream.seek(0)
    batch_id = store.reserve()
    try:
        sha256, size = save_upload(stream, store.path(batch_id, "input.csv"))
        store.create(batch_id, {"asset": loaded.asset, "model_version": loaded.version,
                                "principal": principal, "channel": "batch",
                                "filename": filename, "sha256": sha256, "size": size})
    except Exception:  # a full disk, the database away: no half batch left (the view: 503)
        shutil.rmtree(store.folder(batch_id), ignore_errors=True)
        raise
    threading.Thread(target=process_stored_batch, name=f"batch-{batch_id}", daemon=True,
                     args=(store, batch_id, loaded, sink, chunk_rows, rejections_dir)).start()
    return batch_id


def process_stored_batch(store, batch_id, loaded, sink, chunk_rows=DEFAULT_CHUNK_ROWS,
                         rejections_dir=None):
    """Score the input saved in a batch folder, keeping status.json current; never raises.

    Runs in a background thread of the worker that received the upload; any worker can read
    its progress. The input is removed once scored: its sha256 stays in meta.json.
    """
    input_path = store.path(batch_id, "input.csv")
    total = os.path.getsize(input_path)

    def progress(summary, position):
        store.set_status(batch_id, RUNNING, bytes_read=position, bytes_total=total,
                         rows_read=summary.rows_read, scored=summary.scored,
                         rejected=summary.rejected, anomalies=summary.anomalies)

    try:
        principal = store.meta(batch_id)["principal"]
        store.set_status(batch_id, RUNNING, bytes_read=0, bytes_total=total)
        with store.heartbeat(batch_id), open(input_path, "rb") as binary:
            summary = score_file(binary, loaded, sink, batch_id=batch_id, channel="batch",
                                 principal=principal,
                                 results_path=store.path(batch_id, "results.csv"),
                                 errors_path=store.path(batch_id, "errors.csv"),
                                 chunk_rows=chunk_rows, progress=progress,
                                 rejections_dir=rejections_dir)
    except BatchFileError as error:
        _record_failure(store, batch_id, code=error.code, params=error.params,
                        message=str(error))
        return None
    except Exception as error:  # noqa: BLE001 - the page must say it failed, whatever it was
        log.exception("batch %s failed", batch_id)
        _record_failure(store, batch_id, code="internal",
                        message=f"{type(error).__name__}: {error}")
        return None
    finally:
        if os.path.exists(input_path):
            os.remove(input_path)
    try:  # "done" is said once the input is gone
        store.finish(batch_id, summary.as_dict(), rows_read=summary.rows_read,
                     scored=summary.scored, rejected=summary.rejected,
                     anomalies=summary.anomalies, bytes_read=total, bytes_total=total)
    except Exception:  # noqa: BLE001 - this thread must end quietly
        log.exception("batch %s: its outcome could not be recorded", batch_id)
        _record_failure(store, batch_id, code="internal", message="the outcome was not saved")
        return None
    return summary


def _record_failure(store, batch_id, **values):
    """Mark the batch failed; when even that cannot be written (the database is away), its
    silent heartbeat reports it failed once the stale limit has passed."""
    try:
        store.set_status(batch_id, FAILED, **values)
    except Exception:  # noqa: BLE001 - this thread must end quietly
        log.exception("batch %s: its failure could not be recorded", batch_id)
