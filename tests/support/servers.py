"""Real gunicorn servers for browser, load and fault tests: 127.0.0.1, free port, stopped after."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(url, process, timeout=60):
    """Poll /readyz until it answers 200; fail early if the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not ready within {timeout} s")


def start_gunicorn(paths, workers=2, extra_env=None, log_path=None, port=None):
    """Start Vigie under gunicorn (on `port`, or a free one); returns (base_url, process).

    `paths` holds MODEL_STORE, LOG_DIR, INSTANCE_DIR and, optionally, DATABASE_URL.
    """
    port = port or free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "WORKERS": str(workers),
           **{"VIGIE_" + name: value for name, value in paths.items()}, **(extra_env or {})}
    log_path = log_path or os.path.join(paths["LOG_DIR"], "gunicorn.out")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [GUNICORN, "--config", os.path.join(ROOT, "webapp", "gunicorn_conf.py"),
             "webapp:create_app()"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
    except BaseException:
        stop(process)
        raise
    return url, process


@contextlib.contextmanager
def gunicorn_server(paths, workers=2, extra_env=None, log_path=None):
    """Serve Vigie with the project's gunicorn configuration on paths from the `paths` fixture.

    Yields (base_url, process). The server is stopped (TERM, then KILL) when the block ends.
    """
    url, process = start_gunicorn(paths, workers, extra_env, log_path)
    try:
        yield url, process
    finally:
        stop(process)


def stop(process, timeout=15):
    """Stop gunicorn and all its workers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
