"""Candidate versions: background training from uploaded files, and comparison with the active one.

A job's state lives in LOG_DIR/jobs/<id>.json, replaced atomically at each step, or on several
hosts (`states` given) in a row of the shared job_states table, so that any worker of any
instance can answer the progress poll, whichever worker runs the training. The uploads stay in
LOG_DIR/jobs/<id>/ of the host that runs it.
"""

import glob
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from features.schema import LABEL_COLUMN, is_valid_asset_name
from features.validation import SchemaError
from webapp.services.audit import asset_rows_since
from webapp.services.evaluation import evaluate_model
from webapp.services.jobs import (DONE, FAILED, QUEUED, RUNNING, UNFINISHED, abandoned, heartbeat,
                                  heartbeat_every, process_alive)
from webapp.services.lifecycle import ACTIVATE, TRAIN
from webapp.services.storage import utc_now_iso, write_json_atomic
from webapp.services.training import TrainingError, load_training_frame, train_version

log = logging.getLogger("vigie.candidates")

JOB_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
UPLOAD_NAME_PATTERN = re.compile(r"[^A-Za-z0-9._-]+")
# Steps in the order a job goes through them, with the share of the work done when each starts.
STEPS = {"queued": 0, "validating": 10, "training": 30, "comparing": 80, "finished": 100}
MAX_DISAGREEMENTS = 200
MAX_AUDITED_READINGS = 20000
MAX_ERRORS_KEPT = 50


class JobNotFound(LookupError):
    """No training job has this id."""


def jobs_dir(log_dir):
    """Where job states and their uploaded files are kept."""
    return os.path.join(log_dir, "jobs")


def safe_upload_name(name, default):
    """A file name fit for a path and a manifest: letters, digits, '.', '-', '_' only."""
    base = os.path.basename(str(name or "").replace("\\", "/"))
    cleaned = UPLOAD_NAME_PATTERN.sub("_", base).strip("._")[:100]
    return cleaned or default


def _job_path(log_dir, job_id):
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        raise JobNotFound(f"no training job {job_id!r}")
    return os.path.join(jobs_dir(log_dir), f"{job_id}.json")


def write_job(log_dir, job, states=None):
    """Replace a job's state atomically (pollers never read half a file, or half a row)."""
    path = _job_path(log_dir, job["id"])
    job = {**job, "updated_at": utc_now_iso()}
    if states is not None:
        states.save(job["id"], job["created_by"], job["asset"], state=job)
    else:
        write_json_atomic(path, job, indent=1, sort_keys=True)
    return job


def read_job(log_dir, job_id, states=None, stale_seconds=120):
    """A job's state; a running job whose process is gone is reported as failed.

    On several hosts the runner is gone when its heartbeat is older than `stale_seconds` (its
    host may be down) or when it was a process of this host that no longer exists.
    """
    path = _job_path(log_dir, job_id)
    if states is not None:
        row = states.get(job_id)
        if row is None:
            raise JobNotFound(f"no training job {job_id!r}")
        job, dead = row["state"], abandoned(row["runner"], stale_seconds)
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                job = json.load(handle)
        except FileNotFoundError:
            raise JobNotFound(f"no training job {job_id!r}") from None
        dead = not process_alive(job.get("pid"))
    if job["state"] in UNFINISHED and dead:
        job = {**job, "state": FAILED, "problem": "stopped",
               "message": "the server process running this training stopped; start it again"}
    return job


def jobs_for_version(log_dir, asset, version, states=None):
    """The finished jobs that produced this version (normally one)."""
    if states is not None:
        return [row["state"] for row in states.rows(asset=asset)
                if row["state"].get("version") == version]
    found = []
    for path in glob.glob(os.path.join(jobs_dir(log_dir), "*.json")):
        try:
            with open(path, encoding="utf-8") as handle:
                job = json.load(handle)
        except (OSError, ValueError):
            continue
        if job.get("asset") == asset and job.get("version") == version:
            found.append(job)
    return found


def new_job(log_dir, asset, created_by, normal_upload, labelled_upload=None, normal_rows=None,
            states=None):
    """Save the uploads in a new job folder and record the job as queued; returns the job.

    Uploads are (original_name, binary file object) pairs; the asset name is checked first.
    When the job cannot be recorded (a full disk, the database away) its uploads are removed.
    """
    if not is_valid_asset_name(asset):
        raise TrainingError(f"invalid asset name {asset!r}: use letters, digits, '-' or '_' "
                            "(64 at most)")
    job_id = uuid.uuid4().hex
    folder = os.path.join(jobs_dir(log_dir), job_id)
    job = {"id": job_id, "asset": asset, "created_by": created_by, "created_at": utc_now_iso(),
           "state": QUEUED, "step": "queued", "progress": 0, "normal_rows": normal_rows,
           "version": None, "message": "", "errors": [], "comparison": None,
           "pid": os.getpid()}
    try:
        for kind, upload in (("normal", normal_upload), ("labelled", labelled_upload)):
            if upload is None:
                job[f"{kind}_file"] = None
                continue
            name = safe_upload_name(upload[0], f"{kind}.csv")
            os.makedirs(os.path.join(folder, kind), exist_ok=True)
            with open(os.path.join(folder, kind, name), "wb") as handle:
                while block := upload[1].read(1 << 20):
                    handle.write(block)
            job[f"{kind}_file"] = name
        return write_job(log_dir, job, states)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def start_job(job, registry, lifecycle, log_dir, states=None, stale_seconds=120):
    """Run the training in a background thread of this process; returns the thread."""
    thread = threading.Thread(target=run_job, args=(job, registry, lifecycle, log_dir, states,
                                                    stale_seconds),
                              name=f"train-{job['id'][:8]}", daemon=True)
    thread.start()
    return thread


def run_job(job, registry, lifecycle, log_dir, states=None, stale_seconds=120):
    """Validate, train, compare; every step is written to the job's state. Never raises.

    On several hosts a heartbeat says, during a long fit, that this process still runs it.
    """
    if states is None:
        return _run_job(job, registry, lifecycle, log_dir, None)
    with heartbeat(lambda: states.beat(job["id"]), heartbeat_every(stale_seconds)):
        return _run_job(job, registry, lifecycle, log_dir, states)


def _run_job(job, registry, lifecycle, log_dir, states):
    folder = os.path.join(jobs_dir(log_dir), job["id"])
    normal_path = os.path.join(folder, "normal", job["normal_file"])
    labelled_path = (os.path.join(folder, "labelled", job["labelled_file"])
                     if job.get("labelled_file") else None)

    def step(name, **changes):
        job.update(changes, step=name, progress=STEPS[name], state=RUNNING, pid=os.getpid())
        write_job(log_dir, job, states)

    try:
        step("validating")
        load_training_frame(normal_path)
        if labelled_path:
            load_labelled_frame(labelled_path)
        step("training")
        version, _ = train_version(registry, job["asset"], normal_path, job.get("normal_rows"),
                                   created_by=job["created_by"])
        lifecycle.record(job["asset"], job["created_by"], TRAIN, None, version,
                         f"trained in the browser from {job['normal_file']}")
        job["active"] = registry.active_version(job["asset"]) == version
        if job["active"]:  # the first version of a new asset is made active by the registry
            lifecycle.record(job["asset"], job["created_by"], ACTIVATE, None, version,
                             "first version of a new asset")
        comparison = None
        if labelled_path:
            step("comparing", version=version)
            comparison = compare_on_labelled(registry, job["asset"], version, labelled_path)
        job.update(state=DONE, step="finished", progress=100, version=version,
                   comparison=comparison)
    except TrainingError as exc:
        job.update(state=FAILED, message=str(exc), error_count=len(exc.errors),
                   errors=[error_record(e) for e in exc.errors[:MAX_ERRORS_KEPT]],
                   code=exc.code, params=exc.params)
    except SchemaError as exc:
        job.update(state=FAILED, message=str(exc), missing_columns=exc.missing)
    except ValueError as exc:  # unreadable CSV, missing columns, invalid asset name
        job.update(state=FAILED, message=str(exc), code=getattr(exc, "code", None),
                   params=getattr(exc, "params", {}))
    except Exception:  # the job file must always end in a final state
        log.exception("training job %s failed", job["id"])
        job.update(state=FAILED, problem="unexpected",
                   message="the training failed unexpectedly; the error is in logs/app.log")
    try:
        write_job(log_dir, job, states)
    except Exception:  # noqa: BLE001 - the store is away: the silent job is reported failed
        log.exception("training job %s: its outcome could not be recorded", job["id"])
    return job


def error_record(error):
    """A FieldError as kept in a job file (the page translates it from code and params)."""
    return {"line": error.index, "field": error.field, "code": error.code,
            "message": error.message, "params": {k: v for k, v in error.params.items()
                                                 if isinstance(v, (int, float, str))}}


def load_labelled_frame(path):
    """A validated evaluation file: every sensor column plus an anomaly column of 0 and 1."""
    frame = load_training_frame(path)
    if LABEL_COLUMN not in frame.columns:
        raise TrainingError(f"the labelled file has no '{LABEL_COLUMN}' column (0 for normal, "
                            "1 for anomalous readings)", code="no_label_column")
    labels = frame[LABEL_COLUMN]
    bad = np.flatnonzero(~labels.isin([0, 1]).to_numpy())
    if len(bad):
        lines = ", ".join(str(int(i) + 2) for i in bad[:5])
        raise TrainingError(f"the '{LABEL_COLUMN}' column must hold 0 or 1 on every line; "
                            f"{len(bad)} lines do not (lines {lines}{'…' if len(bad) > 5 else ''})",
                            code="bad_labels", count=len(bad),
                            lines=lines + ("…" if len(bad) > 5 else ""))
    return frame


def compare_on_labelled(registry, asset, candidate, path, active=None):
    """Detection metrics of the candidate and the active version on one labelled file."""
    frame = load_labelled_frame(path)
    active = active or registry.active_version(asset)
    actual = frame[LABEL_COLUMN].to_numpy(dtype=int)
    sides = {}
    for side, version in (("candidate", candidate), ("active", active)):
        model = registry.load(asset, version).model
        metrics, _ = evaluate_model(model, frame[list(model.columns)], actual)
        sides[side] = {"version": version, **metrics}
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return {"kind": "labelled", "file_name": os.path.basename(path), "sha256": digest,
            "rows": len(frame),
            "anomalous_rows": int(actual.sum()), "computed_at": utc_now_iso(), **sides}


def audited_readings(audit_dir, asset, hours, now=None, limit=MAX_AUDITED_READINGS):
    """The asset's audited readings of the last `hours`, oldest first (at most `limit`)."""
    now = now or datetime.now(timezone.utc)
    return asset_rows_since(audit_dir, asset, now - timedelta(hours=hours), now, limit)


def compare_on_audit(registry, asset, candidate, audit_dir, hours, active=None, now=None):
    """Re-score the audited readings of a recent window with both versions and compare.

    Readings are re-scored request by request, in their recorded order, so that a file or an
    API call keeps the sequence it was scored with.
    """
    active = active or registry.active_version(asset)
    rows = audited_readings(audit_dir, asset, hours, now=now)
    models = {side: registry.load(asset, v).model
              for side, v in (("candidate", candidate), ("active", active))}
    columns = list(models["active"].columns)
    verdicts = {"candidate": [], "active": []}
    scores = {"candidate": [], "active": []}
    kept, skipped = [], 0
    for group in _by_request(rows):
        try:
            frame = pd.DataFrame([json.loads(row["inputs"]) for row in group])[columns]
        except (ValueError, KeyError):
            skipped += len(group)
            continue
        for side, model in models.items():
            result = model.score(frame)
            verdicts[side].extend(bool(v) for v in result.anomaly)
            scores[side].extend(float(s) for s in result.scores)
        kept.extend(group)
    return summarise_agreement(kept, verdicts, scores, candidate, active, hours, skipped)


def _by_request(rows):
    groups = {}
    for row in rows:
        groups.setdefault(row.get("request_id") or id(row), []).append(row)
    return list(groups.values())


def summarise_agreement(rows, verdicts, scores, candidate, active, hours, skipped):
    """Agreement rate, anomaly rates and the readings on which the two versions disagree."""
    count = len(rows)
    cand = np.asarray(verdicts["candidate"], dtype=bool)
    act = np.asarray(verdicts["active"], dtype=bool)
    differ = np.flatnonzero(cand != act)
    disagreements = [{
        "timestamp_utc": rows[i]["timestamp_utc"], "request_id": rows[i]["request_id"],
        "channel": rows[i]["channel"], "reading_timestamp": rows[i].get("reading_timestamp", ""),
        "inputs": rows[i]["inputs"],
        "active_score": round(scores["active"][i], 4), "active_anomaly": bool(act[i]),
        "candidate_score": round(scores["candidate"][i], 4), "candidate_anomaly": bool(cand[i]),
    } for i in differ[:MAX_DISAGREEMENTS]]
    return {
        "kind": "audit", "hours": hours, "readings": count, "skipped": skipped,
        "candidate": {"version": candidate,
                      "anomaly_rate": round(float(cand.mean()), 4) if count else None},
        "active": {"version": active,
                   "anomaly_rate": round(float(act.mean()), 4) if count else None},
        "agreement_rate": round(1 - len(differ) / count, 4) if count else None,
        "disagreement_count": int(len(differ)), "disagreements": disagreements,
    }
