"""Two Vigie instances (gunicorn) sharing one model store and one PostgreSQL, behind nginx.

Like a real cluster they share three things: the model store, the database, and the batch
folder (VIGIE_BATCH_DIR: uploads and results, a shared volume in deploy/); each has its own
log and instance folders.
"""

import contextlib
import http.client
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from tests.support.servers import start_gunicorn, stop, wait_until_ready
from tests.support.nginx import nginx_proxy

READING = {"Accelerometer1RMS": 0.2024, "Accelerometer2RMS": 0.2752, "Current": 2.17,
           "Pressure": 0.3826, "Temperature": 90.65, "Thermocouple": 26.85, "Voltage": 238.85,
           "Volume Flow RateRMS": 122.66}


@dataclass
class Instance:
    """One gunicorn of the cluster: its own logs and instance folder, the shared rest."""

    paths: dict
    env: dict
    port: int = 0
    url: str = ""
    process: object = None

    def start(self, workers=2):
        self.url, self.process = start_gunicorn(self.paths, workers, self.env, port=self.port
                                                or None)
        self.port = int(self.url.rsplit(":", 1)[1])

    def kill(self):
        """kill -9 the master and its workers at once: no goodbye, no graceful shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process is not None:
            stop(self.process)


@dataclass
class Cluster:
    """What the tests reach: nginx's URL, each instance, the database, two API keys."""

    url: str
    instances: list
    database_url: str
    keys: dict
    nginx_prefix: str
    plain_url: str = ""  # with TLS: nginx's plain-HTTP address (it redirects to `url`)

    def restart(self, index):
        self.instances[index].start()
        wait_until_ready(self.instances[index].url, self.instances[index].process)


@contextlib.contextmanager
def running_cluster(base_paths, database_url, keys, count=2, workers=2, tls=False,
                    extra_env=None):
    """Start `count` instances and nginx; stop everything afterwards (even if a test failed).

    With `tls`, nginx terminates TLS (deploy/nginx/vigie-tls.conf) and redirects plain HTTP.
    """
    instances = []
    env = {"VIGIE_SECRET_KEY": "one-secret-shared-by-every-instance-of-the-cluster",
           "VIGIE_TRUSTED_PROXIES": "1", "GUNICORN_TIMEOUT": "30", **(extra_env or {})}
    try:
        for number in range(count):
            root = os.path.join(base_paths["ROOT"], f"instance-{number + 1}")
            paths = {"MODEL_STORE": base_paths["MODEL_STORE"], "DATABASE_URL": database_url,
                     "BATCH_DIR": os.path.join(base_paths["ROOT"], "batches"),
                     "LOG_DIR": os.path.join(root, "logs"),
                     "INSTANCE_DIR": os.path.join(root, "instance")}
            instance = Instance(paths, env)
            instance.start(workers)
            instances.append(instance)
        with nginx_proxy([i.port for i in instances], tls) as proxy:
            yield Cluster(proxy.url, instances, database_url, keys, proxy.prefix,
                          proxy.plain_url)
    finally:
        for instance in instances:
            instance.stop()


def post_json(url, path, body, key, timeout=10):
    """POST JSON; returns (status, body as dict, the instance that answered per nginx)."""
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"raw": raw.decode("utf-8", "replace")}
        return error.code, body, error.headers


def predict(url, key, timeout=10):
    return post_json(url, "/api/v1/predict", {"asset": "pump-1", "readings": [READING]}, key,
                     timeout)


@dataclass
class Load:
    """Answers seen by the clients: 200 bodies by request id, other statuses, exceptions."""

    answers: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)  # (status, body, seconds taken)
    exceptions: list = field(default_factory=list)
    upstreams: dict = field(default_factory=dict)
    answered_at: list = field(default_factory=list)  # monotonic time of each 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status, body, headers, took):
        with self.lock:
            if status == 200:
                self.answers[body["request_id"]] = body
                self.answered_at.append(time.monotonic())
                upstream = headers.get("X-Vigie-Upstream", "?")
                self.upstreams[upstream] = self.upstreams.get(upstream, 0) + 1
            else:
                self.errors.append((status, body, took))


def run_load(url, key, requests, clients=6, seconds=20, load=None, pause=0.0):
    """Send `requests` single-reading predictions from `clients` threads (at most `seconds`)."""
    load = load or Load()
    counter = iter(range(requests))
    counter_lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        while time.monotonic() < deadline:
            with counter_lock:
                if next(counter, None) is None:
                    return
            started = time.monotonic()
            try:
                status, body, headers = predict(url, key)
                load.record(status, body, headers, time.monotonic() - started)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                with load.lock:
                    load.exceptions.append(repr(exc))
            time.sleep(pause)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    return load, threads


def audit_by_request(database_url):
    """{request_id: [model_version, ...]} from the shared audit table."""
    import sqlalchemy as sa

    from webapp.services import database
    from webapp.services.audit_db import audit
    found = {}
    with database.engine(database_url).connect() as connection:
        for request_id, version in connection.execute(
                sa.select(audit.c.request_id, audit.c.model_version)):
            found.setdefault(request_id, []).append(version)
    return found


def audit_channels(database_url):
    """{(channel, principal): rows} from the shared audit table."""
    import sqlalchemy as sa

    from webapp.services import database
    from webapp.services.audit_db import audit
    with database.engine(database_url).connect() as connection:
        return {(channel, principal): count for channel, principal, count in connection.execute(
            sa.select(audit.c.channel, audit.c.principal, sa.func.count())
            .group_by(audit.c.channel, audit.c.principal))}
