#!/usr/bin/env bash
# Deploys an image tag as the container "vigie" and rolls back to the previous tag on demand.
#
#   .ci/deploy.sh deploy TAG   run IMAGE:TAG; the tag it replaces becomes the rollback target
#   .ci/deploy.sh rollback     run the previous tag again (a second rollback returns)
#   .ci/deploy.sh status       deployed and previous tags, container state and health
#
# The model store, logs and instance folders under DEPLOY_DIR are mounted as the image's
# volumes and never touched by a deployment, so models, audit files, users and the secret key
# carry over. A new container that does not turn healthy is removed and the one it replaced is
# started again. DEPLOY_DIR/vigie.env, when present, is passed to the container (--env-file).
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh

engine=$(container_engine)
image=${IMAGE:-vigie}
name=${CONTAINER_NAME:-vigie}
deploy_dir=${DEPLOY_DIR:-/srv/vigie}
publish=${PUBLISH:-127.0.0.1:8000}
health_timeout=${DEPLOY_HEALTH_TIMEOUT:-300}
state=$deploy_dir/deploy-state

log() { echo "deploy: $*" >&2; }
fail() { log "$*"; exit 1; }

read_state() {  # deployed|previous
    [[ -f $state/$1 ]] && cat "$state/$1" || true
}

prepare_volumes() {
    local folder
    mkdir -p "$state"
    for folder in model_store logs instance; do
        if [[ ! -d $deploy_dir/$folder ]]; then
            mkdir -p "$deploy_dir/$folder"
            chown 10001:10001 "$deploy_dir/$folder"  # the image's user
        fi
    done
}

start_container() {
    local tag=$1 env_file=()
    [[ -f $deploy_dir/vigie.env ]] && env_file=(--env-file "$deploy_dir/vigie.env")
    without_systemd_noise "$engine" run -d --name "$name" --restart unless-stopped \
        -p "$publish:8000" "${env_file[@]}" \
        -v "$deploy_dir/model_store:/app/model_store" -v "$deploy_dir/logs:/app/logs" \
        -v "$deploy_dir/instance:/app/instance" "$image:$tag" >/dev/null
}

stop_container() {
    # gunicorn finishes the requests in flight (graceful_timeout 30 s).
    remove_container "$engine" "$name" 35
}

deploy() {
    local tag=$1 deployed
    [[ -n $tag ]] || fail "which tag? make deploy TAG=x.y.z"
    "$engine" image inspect "$image:$tag" >/dev/null 2>&1 \
        || fail "no image $image:$tag here (make docker-build TAG=$tag, or pull it)"
    prepare_volumes
    deployed=$(read_state deployed)
    log "replacing ${deployed:-nothing} with $image:$tag"
    stop_container
    start_container "$tag"
    if ! wait_healthy "$engine" "$name" "$health_timeout"; then
        remove_container "$engine" "$name" 0
        if [[ -n $deployed ]]; then
            log "$tag did not turn healthy: starting $deployed again"
            start_container "$deployed"
            wait_healthy "$engine" "$name" "$health_timeout" || log "$deployed is not healthy either"
        fi
        fail "$image:$tag was not deployed"
    fi
    if [[ -n $deployed && $deployed != "$tag" ]]; then
        echo "$deployed" >"$state/previous"
    fi
    echo "$tag" >"$state/deployed"
    printf '%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$tag" \
        "$("$engine" image inspect --format '{{.Id}}' "$image:$tag")" >>"$state/history.tsv"
    log "$image:$tag is deployed and healthy on $publish"
}

rollback() {
    local previous
    previous=$(read_state previous)
    [[ -n $previous ]] || fail "no previous deployment recorded in $state"
    log "rolling back from $(read_state deployed) to $previous"
    deploy "$previous"
}

status() {
    echo "deployed: $(read_state deployed)"
    echo "previous: $(read_state previous)"
    if "$engine" container inspect "$name" >/dev/null 2>&1; then
        echo "container: $("$engine" inspect --format '{{.Config.Image}} {{.State.Status}}' "$name")" \
             "$(health_status "$engine" "$name")"
    else
        echo "container: none"
    fi
}

case "${1:-}" in
    deploy) deploy "${2:-}" ;;
    rollback) rollback ;;
    status) status ;;
    *) fail "usage: $0 deploy TAG | rollback | status" ;;
esac
