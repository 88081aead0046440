#!/usr/bin/env bash
# The container, for real: build the image, run it with host folders as its three volumes, and
# check what an operator and an auditor would: healthy, ready with pump-1, not root, a prediction
# through the login form and one through the JSON API, and their audit rows still in the logs
# volume once the container is gone. Bounded in time; its container is always removed.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh

engine=$(container_engine)
image=${IMAGE:-vigie}
tag=${TAG:-test}
name="vigie-test-$$"
work=$(mktemp -d /tmp/vigie-docker-test.XXXXXX)
admin_password="docker-test-$(date +%s)-$RANDOM"
started=$SECONDS

log() { echo "docker-test [$((SECONDS - started))s]: $*" >&2; }

cleanup() {
    remove_container "$engine" "$name" 0 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

TAG=$tag IMAGE=$image bash .ci/docker-build.sh
log "image $image:$tag built"

# Host folders stand for the volumes; the image's user (uid 10001) must be able to write them.
mkdir -p "$work/model_store" "$work/logs" "$work/instance"
chown 10001:10001 "$work/model_store" "$work/logs" "$work/instance"
port=$(free_port)
pull=()
[[ $engine == podman ]] && pull=(--pull=never)
without_systemd_noise "$engine" run -d "${pull[@]}" --name "$name" -p "127.0.0.1:$port:8000" \
    -e VIGIE_ADMIN_PASSWORD="$admin_password" \
    -v "$work/model_store:/app/model_store" -v "$work/logs:/app/logs" \
    -v "$work/instance:/app/instance" "$image:$tag" >/dev/null
log "container $name started on 127.0.0.1:$port"

wait_healthy "$engine" "$name" 240
log "HEALTHCHECK reports healthy"

# Every process of the container runs as the image's user, never root.
uids=$("$engine" exec "$name" python -c 'import glob
for path in glob.glob("/proc/[0-9]*/status"):
    try:
        print(next(l.split()[1] for l in open(path) if l.startswith("Uid:")))
    except OSError:
        pass')
if grep -qx 0 <<<"$uids"; then
    echo "a process of the container runs as root" >&2
    exit 1
fi
log "no process runs as root (uids: $(sort -u <<<"$uids" | tr '\n' ' '))"

# An API key made the way an administrator makes one, inside the container.
api_key=$("$engine" exec "$name" flask --app webapp apikeys create docker-test --role operator | tail -1)

# From the host, through the published port: ready with pump-1, then one prediction through
# the login form and the reading form (each with its CSRF token), and one through the JSON API.
request_ids=$(timeout 120 python3 - "$port" "$admin_password" "$api_key" <<'PYTHON'
import http.cookiejar
import json
import re
import sys
import urllib.parse
import urllib.request
from html.parser import HTMLParser

base = f"http://127.0.0.1:{sys.argv[1]}"
password, api_key = sys.argv[2], sys.argv[3]
opener = urllib.request.build_opener(
    urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


class FormFields(HTMLParser):
    """The named input fields of the form with the given id (or of the only form)."""

    def __init__(self, form_id=None):
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("method", "get").lower() == "post":
            self.inside = self.form_id is None or attrs.get("id") == self.form_id
        elif tag == "input" and self.inside and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def fields_of(path, form_id=None):
    parser = FormFields(form_id)
    parser.feed(opener.open(base + path, timeout=30).read().decode())
    return parser.fields


def post(path, fields):
    body = urllib.parse.urlencode(fields).encode()
    return opener.open(base + path, data=body, timeout=60).read().decode()


ready = json.load(opener.open(base + "/readyz", timeout=30))
assert ready["status"] == "ready" and "pump-1" in ready["assets"], ready
print(f"readyz: {ready}", file=sys.stderr)

login = fields_of("/login")
assert login.get("csrf_token"), "no CSRF token in the login form"
login.update(username="admin", password=password)
post("/login", login)

reading = fields_of("/?asset=pump-1&example=1", "reading-form")
sensors = {k: v for k, v in reading.items() if k not in ("csrf_token", "asset")}
assert reading.get("csrf_token") and len(sensors) == 8 and all(sensors.values()), reading
page = post("/", reading)
found = re.search(r'<code id="request-id">([^<]+)</code>', page)
assert found, "the result page shows no request id:\n" + page[:2000]
print(f"form prediction {found.group(1)} on {sensors}", file=sys.stderr)
print(f"form admin {found.group(1)}")

reading = {name: float(value) for name, value in sensors.items()}
request = urllib.request.Request(
    base + "/api/v1/predict", data=json.dumps({"asset": "pump-1", "readings": [reading]}).encode(),
    headers={"Content-Type": "application/json", "X-API-Key": api_key})
answer = json.load(opener.open(request, timeout=60))
assert answer["model_version"] == "v1" and len(answer["results"]) == 1, answer
print(f"API prediction {answer['request_id']}: {answer['results'][0]}", file=sys.stderr)
print(f"api apikey:docker-test {answer['request_id']}")
PYTHON
)
log "predictions made in the container: $(tr '\n' ' ' <<<"$request_ids")"

remove_container "$engine" "$name" 10
log "container removed"

# The audit rows outlive the container, in the logs volume, in the file of their UTC date;
# the API key is in no log file.
python3 - "$work/logs/audit" "$api_key" "$request_ids" <<'PYTHON'
import csv
import glob
import io
import os
import sys

folder, api_key, expected = sys.argv[1], sys.argv[2], sys.argv[3]
for path in glob.glob(os.path.join(os.path.dirname(folder), "**", "*"), recursive=True):
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as handle:
            assert api_key not in handle.read(), f"the API key is written in {path}"
rows = {}
for path in sorted(glob.glob(os.path.join(folder, "predictions-*.csv"))):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    for row in csv.DictReader(io.StringIO(text, newline="")):
        rows.setdefault(row["request_id"], []).append((path, row))
for line in expected.splitlines():
    channel, principal, request_id = line.split()
    found = rows.get(request_id, [])
    assert len(found) == 1, f"expected one audit row for {request_id}, found {len(found)}"
    path, row = found[0]
    assert os.path.basename(path) == f"predictions-{row['timestamp_utc'][:10]}.csv", path
    assert row["channel"] == channel and row["principal"] == principal, row
    assert row["asset"] == "pump-1" and row["model_version"] == "v1", row
    print(f"audit row in {os.path.basename(path)}: {row['timestamp_utc']} {row['channel']} "
          f"{row['principal']} {row['asset']} {row['model_version']} score={row['score']} "
          f"app_version={row.get('app_version')}", file=sys.stderr)
PYTHON
log "passed"
