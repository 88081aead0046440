"""Two instances behind nginx on one PostgreSQL: pages, API, switches, load, and failures.

Every test ends with both instances and the database up again (the module shares one cluster).
"""

import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from tests.conftest import NORMAL_CSV, PASSWORDS
from tests.support.cluster import (READING, audit_by_request, audit_channels, post_json, predict,
                                   run_load)

LOAD_REQUESTS = 300
CLIENTS = 6


def switch(url, cluster, version, already_ok=False):
    status, body, _ = post_json(url, "/api/v1/models/active",
                                {"asset": "pump-1", "version": version,
                                 "reason": "cluster test"}, cluster.keys["admin"])
    assert status == 200 or (already_ok and "already the active" in body["error"]), body


def active_answer(url, cluster):
    status, body, headers = predict(url, cluster.keys["operator"])
    assert status == 200, body
    return body["model_version"]


class Browser:
    """A browser's cookies and CSRF tokens, through nginx (each request may go elsewhere)."""

    def __init__(self, url):
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path):
        with self.opener.open(self.url + path, timeout=10) as response:
            return response.status, response.read().decode(), response.headers

    def post_form(self, path, fields):
        _, page, _ = self.get(path)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({**fields, "csrf_token": token}).encode()
        with self.opener.open(self.url + path, data=data, timeout=10) as response:
            return response.status, response.read().decode(), response.headers

    def post_file(self, path, fields, name, content, file_field="file"):
        """A multipart form with one file; returns (status, page, the URL it ended on)."""
        _, page, _ = self.get(path)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                 f"{value}\r\n".encode() for key, value in {**fields, "csrf_token": token}.items()]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                     f'filename="{name}"\r\nContent-Type: text/csv\r\n\r\n'.encode()
                     + content + f"\r\n--{boundary}--\r\n".encode())
        request = urllib.request.Request(
            self.url + path, data=b"".join(parts),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with self.opener.open(request, timeout=30) as response:
            return response.status, response.read().decode(), response.geturl()

    def on(self, url):
        """The same browser (cookies) speaking to another address."""
        other = Browser(url)
        other.opener = self.opener
        return other


def test_login_form_and_api_through_nginx_reach_both_instances(cluster):
    browser = Browser(cluster.url)
    status, page, _ = browser.post_form("/login", {"username": "admin",
                                                   "password": PASSWORDS["admin"]})
    assert status == 200 and 'name="Current"' in page  # redirected to the form: signed in
    served_by = set()
    for _ in range(4):  # signed in on whichever instance answers: the session is shared
        status, page, headers = browser.get("/")
        assert status == 200 and 'name="Current"' in page
        served_by.add(headers["X-Vigie-Upstream"])
    assert len(served_by) == 2, served_by
    status, page, _ = browser.post_form("/", {"asset": "pump-1", **READING})
    assert status == 200
    answered = {predict(cluster.url, cluster.keys["operator"])[2]["X-Vigie-Upstream"]
                for _ in range(4)}
    assert len(answered) == 2, answered
    channels = audit_channels(cluster.database_url)
    assert channels.get(("form", "admin")) == 1 and channels.get(("api", "apikey:cluster-operator"))


def test_a_switch_on_one_instance_answers_from_the_other_within_a_second(cluster):
    first, second = (instance.url for instance in cluster.instances)
    for source, other, version in ((first, second, "v2"), (second, first, "v1")):
        switch(source, cluster, version)
        switched = time.monotonic()
        while active_answer(other, cluster) != version:
            assert time.monotonic() - switched < 1.0, f"{other} still answers the old version"
            time.sleep(0.05)


def test_a_batch_uploaded_to_one_instance_is_followed_and_downloaded_through_the_other(
        cluster):
    first, second = (Browser(instance.url) for instance in cluster.instances)
    first.post_form("/login", {"username": "admin", "password": PASSWORDS["admin"]})
    second = first.on(second.url)
    lines = [",".join(READING)] + [",".join(str(v) for v in READING.values())] * 40
    status, _, landed = first.post_file("/batch/", {"asset": "pump-1"}, "line 3.csv",
                                        ("\n".join(lines) + "\n").encode())
    assert status == 200 and landed.startswith(cluster.instances[0].url + "/batch/"), landed
    batch_id = landed.rstrip("/").rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    while True:  # the page's poll, answered by the instance that does not run the batch
        _, body, _ = second.get(f"/batch/{batch_id}/status")
        state = json.loads(body)
        if state["state"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert state["state"] == "done" and state["scored"] == 40, state
    _, page, _ = second.get("/batch/")
    assert batch_id in page and "line 3.csv" in page
    _, results, _ = second.get(f"/batch/{batch_id}/results.csv")
    assert len(results.splitlines()) == 41
    assert audit_channels(cluster.database_url).get(("batch", "admin")) == 40


def test_a_training_started_on_one_instance_is_followed_through_the_other(cluster):
    first = Browser(cluster.instances[0].url)
    first.post_form("/login", {"username": "admin", "password": PASSWORDS["admin"]})
    second = first.on(cluster.instances[1].url)
    with open(NORMAL_CSV, "rb") as handle:
        status, _, landed = first.post_file("/admin/models/train",
                                            {"asset": "pump-1", "normal_rows": "100"},
                                            "normal.csv", handle.read(), "normal_file")
    assert status == 200 and "/admin/models/jobs/" in landed, landed
    job_id = landed.rstrip("/").rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while True:
        _, body, _ = second.get(f"/admin/models/jobs/{job_id}.json")
        job = json.loads(body)
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["state"] == "done" and job["version"] == "v3", job
    assert active_answer(cluster.instances[1].url, cluster) in ("v1", "v2")  # not activated


def check_every_answer_audited_once(cluster, load):
    audited = audit_by_request(cluster.database_url)
    for request_id, body in load.answers.items():
        assert audited.get(request_id) == [body["model_version"]], (request_id, body)


def test_load_with_switches_every_answer_has_one_audit_row_with_its_version(cluster):
    started = time.monotonic()
    load, threads = run_load(cluster.url, cluster.keys["operator"], LOAD_REQUESTS)
    versions = iter(["v2", "v1"] * 20)
    while any(thread.is_alive() for thread in threads):
        instance = cluster.instances[int(time.monotonic() * 2) % 2]
        switch(instance.url, cluster, next(versions))
        time.sleep(0.3)
    switch(cluster.url, cluster, "v1", already_ok=True)
    took = time.monotonic() - started
    print(f"cluster: {len(load.answers)} answers in {took:.1f} s through nginx, by instance: "
          f"{load.upstreams}")
    assert not load.errors and not load.exceptions, (load.errors[:3], load.exceptions[:3])
    assert len(load.answers) == LOAD_REQUESTS and took < 30
    assert {body["model_version"] for body in load.answers.values()} == {"v1", "v2"}
    assert len(load.upstreams) == 2
    check_every_answer_audited_once(cluster, load)


def test_kill_9_one_instance_under_load_the_other_serves_and_it_rejoins(cluster):
    victim = cluster.instances[0]
    # Bounded by time, not by count: the load must still be running when the kill comes.
    load, threads = run_load(cluster.url, cluster.keys["operator"], 100_000, clients=CLIENTS,
                             seconds=4, pause=0.01)
    time.sleep(1.0)
    victim.kill()
    killed_at = len(load.answers) + len(load.errors)
    for thread in threads:
        thread.join()
    # Only requests already inside the killed instance can fail (nginx does not replay a POST
    # that reached an instance): at most one per client; every later one goes to the other.
    assert len(load.errors) + len(load.exceptions) <= CLIENTS, (load.errors, load.exceptions)
    assert all(status == 502 for status, _, _ in load.errors), load.errors
    assert len(load.answers) > killed_at
    check_every_answer_audited_once(cluster, load)
    survivor = cluster.instances[1].url.rsplit("/", 1)[1]
    status, _, headers = predict(cluster.url, cluster.keys["operator"])
    assert status == 200 and headers["X-Vigie-Upstream"].endswith(survivor)
    cluster.restart(0)
    time.sleep(5.5)  # nginx retries a failed instance after fail_timeout (5 s)
    rejoined = {predict(cluster.url, cluster.keys["operator"])[2]["X-Vigie-Upstream"]
                for _ in range(6)}
    assert any(address.endswith(str(victim.port)) for address in rejoined), rejoined


def test_database_away_under_load_gives_503_never_a_hang_and_recovers(cluster,
                                                                      postgres_server):
    load, threads = run_load(cluster.url, cluster.keys["operator"], 100000, clients=4,
                             seconds=9, pause=0.02)
    browser = Browser(cluster.url)
    browser.post_form("/login", {"username": "admin", "password": PASSWORDS["admin"]})
    time.sleep(1.5)
    postgres_server.stop()
    stopped = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as page:  # a signed-in page needs the database
        browser.get("/")
    with pytest.raises(urllib.error.HTTPError) as probe:  # what a load balancer asks
        urllib.request.urlopen(cluster.instances[0].url + "/readyz", timeout=5)
    time.sleep(max(0.0, 3.0 - (time.monotonic() - stopped)))
    postgres_server.start()
    restarted = time.monotonic()
    for thread in threads:
        thread.join()
    assert page.value.code == 503
    assert probe.value.code == 503
    assert "the database cannot be reached" in json.loads(probe.value.read())["problems"]
    assert "La base de données est indisponible" in page.value.read().decode()  # French first
    assert not load.exceptions, load.exceptions[:3]
    assert load.errors, "no request met the outage"
    for status, body, took in load.errors:
        # Refused at the key check (database away) or at the audit write (not recorded, so
        # not given): both say so, in French by default.
        assert status == 503, body
        assert "base de données" in body["error"] or "journal d'audit" in body["error"], body
        assert took < 5, f"a request waited {took:.1f} s for the database"
    refused = {body.get("request_id") for _, body, _ in load.errors}
    audited = audit_by_request(cluster.database_url)
    assert not refused & set(audited), "a refused request left an audit row"
    check_every_answer_audited_once(cluster, load)
    # Recovered by itself: answers again after the restart, within the load's bounded time.
    assert any(at > restarted for at in load.answered_at)
    status, _, _ = predict(cluster.url, cluster.keys["operator"])
    assert status == 200
