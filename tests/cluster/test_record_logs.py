"""Record logs shared by two instances: what is written through one is read through the other.

Acknowledgements, feedback, model events and rejections made on instance A (its own URL, not
nginx) are read on instance B; a rollback taken on B follows the switch history written by A.
"""

import json
import re
import urllib.parse
import urllib.request
import uuid

from tests.cluster.test_cluster import Browser, active_answer, switch
from tests.conftest import PASSWORDS
from tests.support.cluster import READING, post_json
from webapp.services.alarms import AlarmLog
from webapp.services.record_log import Logs


def signed_in(url):
    browser = Browser(url)
    status, _, _ = browser.post_form("/login", {"username": "admin",
                                                "password": PASSWORDS["admin"]})
    assert status == 200
    return browser


def post_from(browser, page, target, fields):
    """Submit `fields` to `target` with the CSRF token of the form shown at `page`."""
    _, text, _ = browser.get(page)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text).group(1)
    data = urllib.parse.urlencode({**fields, "csrf_token": token}).encode()
    with browser.opener.open(browser.url + target, data=data, timeout=10) as response:
        return response.status, response.read().decode()


def open_alarm(database_url):
    """An open alarm, written to the shared table as the stream follower's host writes it."""
    alarm_id = f"cluster-{uuid.uuid4().hex[:8]}-s1-42"
    AlarmLog(Logs("unused", database_url), "cluster-stream").append([{
        "event": "open", "alarm_id": alarm_id, "asset": "pump-1",
        "opened_at": "2026-11-28T00:08:04.196Z", "peak_score": 9.5, "top_sensors": "Current",
        "model_version": "v1", "source": "cluster-stream", "logged_at": "2026-11-28T00:08:05Z"}])
    return alarm_id


def test_acks_and_feedback_made_on_one_instance_are_read_on_the_other(cluster):
    first, second = (signed_in(instance.url) for instance in cluster.instances)
    alarm_id = open_alarm(cluster.database_url)
    status, _ = post_from(first, "/alarms", f"/alarms/{alarm_id}/acknowledge",
                          {"comment": "pris en main depuis A"})
    assert status == 200
    _, page, _ = second.get("/alarms")
    assert alarm_id in page and "« pris en main depuis A »" in page
    assert "1 alarme en cours" in page  # the menu badge counts the shared table
    status, _ = post_from(first, f"/history/alarm/{alarm_id}", f"/history/alarm/{alarm_id}",
                          {"verdict": "false_alarm", "comment": "vanne en maintenance"})
    assert status == 200
    _, page, _ = second.get(f"/history/alarm/{alarm_id}")
    assert "vanne en maintenance" in page


def test_a_switch_on_one_instance_is_in_the_history_and_rolled_back_on_the_other(cluster):
    first, second = cluster.instances
    reason = f"switch made on A {uuid.uuid4().hex[:6]}"
    switch(first.url, cluster, "v1", already_ok=True)
    status, body, _ = post_json(first.url, "/api/v1/models/active",
                                {"asset": "pump-1", "version": "v2", "reason": reason},
                                cluster.keys["admin"])
    assert status == 200, body
    browser = signed_in(second.url)
    _, page, _ = browser.get("/admin/models/")
    assert reason in page and "Conservé dans la base de données partagée" in page
    # B finds the version to go back to in the shared history (per-host files had none).
    status, page = post_from(browser, "/admin/models/", "/admin/models/pump-1/rollback",
                             {"reason": "rolled back on B", "confirm": "1"})
    assert status == 200 and "pump-1 est revenu à v1" in page
    assert active_answer(first.url, cluster) == "v1"


def test_rejections_counted_on_one_instance_are_in_the_other_ones_monitoring(cluster):
    first, second = cluster.instances

    def rejected_now():
        request = urllib.request.Request(second.url + "/api/v1/monitoring?window=hour",
                                         headers={"X-API-Key": cluster.keys["admin"]})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["quality"]["rejected_readings"]
    before = rejected_now()
    status, body, _ = post_json(first.url, "/api/v1/predict",
                                {"asset": "pump-1", "readings": [{**READING, "Current": "x"}]},
                                cluster.keys["operator"])
    assert status == 422, body
    assert rejected_now() == before + 1
