#!/usr/bin/env bash
# Release and rollback, for real: on a throwaway clone, `make release` bumps the version and
# tags it; both versions are built; deploy the old one, score, deploy the new one, roll back.
# Checks that each step serves the expected version and that the model store, the audit file
# and the admin account survive every switch untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh

engine=$(container_engine)
work=$(mktemp -d /tmp/vigie-deploy-test.XXXXXX)
export IMAGE=vigie-deploy-test CONTAINER_NAME="vigie-deploy-test-$$" DEPLOY_DIR=$work/srv
port=$(free_port)
export PUBLISH=127.0.0.1:$port
started=$SECONDS

log() { echo "deploy-test [$((SECONDS - started))s]: $*" >&2; }

cleanup() {
    remove_container "$engine" "$CONTAINER_NAME" 0 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

served_version() {
    python3 -c 'import json, sys, urllib.request as u
print(json.load(u.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=10))["app_version"])' "$port"
}

expect_version() {
    local got
    got=$(served_version)
    [[ $got == "$1" ]] || { log "expected version $1 to be served, got $got"; exit 1; }
    log "serving $1"
}

fingerprint() {  # what a deployment must never change: models, audit rows, secret key
    (cd "$DEPLOY_DIR" && find model_store logs/audit instance/secret_key -type f -print0 \
        | sort -z | xargs -0 sha256sum)
}

predict_through_api() {  # one audited prediction with a fresh operator key
    local key
    key=$("$engine" exec "$CONTAINER_NAME" flask --app webapp apikeys create "deploy-$1" \
        --role operator | tail -1)
    python3 - "$port" "$key" <<'PYTHON'
import json
import sys
import urllib.request

reading = {"Accelerometer1RMS": 0.213, "Accelerometer2RMS": 0.267, "Current": 2.54,
           "Pressure": 0.0547, "Temperature": 89.35, "Thermocouple": 28.64, "Voltage": 228.9,
           "Volume Flow RateRMS": 125.7}
request = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/api/v1/predict",
    data=json.dumps({"asset": "pump-1", "readings": [reading]}).encode(),
    headers={"Content-Type": "application/json", "X-API-Key": sys.argv[2]})
print(json.load(urllib.request.urlopen(request, timeout=60))["request_id"])
PYTHON
}

# A throwaway clone of the committed code, released as the next patch version.
git clone -q . "$work/clone"
git -C "$work/clone" config user.email deploy-test@localhost
git -C "$work/clone" config user.name deploy-test
old=$(cd "$work/clone" && app_version)
make -s -C "$work/clone" release >&2
new=$(cd "$work/clone" && app_version)
git -C "$work/clone" rev-parse -q --verify "refs/tags/v$new" >/dev/null
log "released $old -> $new (tag v$new) in a throwaway clone"

git -C "$work/clone" checkout -q "v$old" 2>/dev/null || git -C "$work/clone" checkout -q HEAD~1
TAG=$old bash "$work/clone/.ci/docker-build.sh" >/dev/null
git -C "$work/clone" checkout -q "v$new"
TAG=$new bash "$work/clone/.ci/docker-build.sh" >/dev/null
log "built $IMAGE:$old and $IMAGE:$new"

bash .ci/deploy.sh deploy "$old"
expect_version "$old"
request_id=$(predict_through_api "$old")
log "prediction $request_id audited"
before=$(fingerprint)

bash .ci/deploy.sh deploy "$new"
expect_version "$new"
[[ "$(fingerprint)" == "$before" ]] || { log "deploying $new changed the volumes"; exit 1; }

bash .ci/deploy.sh rollback
expect_version "$old"
[[ "$(fingerprint)" == "$before" ]] || { log "the rollback changed the volumes"; exit 1; }
bash .ci/deploy.sh status >&2

bash .ci/deploy.sh rollback
expect_version "$new"
[[ "$(cat "$DEPLOY_DIR/deploy-state/previous")" == "$old" ]]
grep -q "$request_id" "$DEPLOY_DIR"/logs/audit/predictions-*.csv
log "the prediction made under $old is still in the audit file; under $new:"
predict_through_api "$new" >&2

# A release that cannot start is refused and the running version is started again.
mkdir "$work/broken"
printf 'FROM %s\nCMD ["false"]\n' "$IMAGE:$new" >"$work/broken/Containerfile"
"$engine" build -q -t "$IMAGE:broken" -f "$work/broken/Containerfile" "$work/broken" >/dev/null
if DEPLOY_HEALTH_TIMEOUT=60 bash .ci/deploy.sh deploy broken; then
    log "a tag that does not start was deployed"; exit 1
fi
expect_version "$new"
[[ "$(cat "$DEPLOY_DIR/deploy-state/deployed")" == "$new" ]]

if IMAGE=vigie-deploy-test bash .ci/deploy.sh deploy no-such-tag 2>/dev/null; then
    log "deploying a missing tag should fail"; exit 1
fi
expect_version "$new"
"$engine" rmi -f "$IMAGE:broken" "$IMAGE:$old" "$IMAGE:$new" >/dev/null 2>&1 || true
log "passed"
