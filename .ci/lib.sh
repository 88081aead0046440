#!/usr/bin/env bash
# Helpers shared by the container scripts in .ci/ (sourced, not run).

# The application's version, from its one place (webapp/version.py).
app_version() {
    sed -n 's/^APP_VERSION = "\(.*\)"$/\1/p' webapp/version.py
}

# podman or docker: CONTAINER_ENGINE when set, else a working docker, else podman.
container_engine() {
    if [[ -n ${CONTAINER_ENGINE:-} ]]; then
        echo "$CONTAINER_ENGINE"
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        echo docker
    else
        echo podman
    fi
}

# The code's commit for the image's model manifests; "+dirty" when the tree has changes.
source_commit() {
    local commit
    commit=$(git rev-parse HEAD 2>/dev/null) || { echo unknown; return; }
    git diff --quiet HEAD 2>/dev/null || commit="$commit+dirty"
    echo "$commit"
}

# A TCP port free on 127.0.0.1 right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# "healthy", "starting", "unhealthy" or "" for a running container's HEALTHCHECK. Without
# systemd podman does not schedule healthchecks, so ask it to run one now.
health_status() {
    local engine=$1 name=$2
    if [[ $engine == podman ]]; then
        if podman healthcheck run "$name" >/dev/null 2>&1; then echo healthy; else echo unhealthy; fi
    else
        docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$name"
    fi
}

# Stop a container (SIGTERM, then SIGKILL after GRACE seconds) and remove it; quiet if absent.
# (`docker rm` has no grace period option, `podman rm -t` has: stop then rm works with both.)
remove_container() {
    local engine=$1 name=$2 grace=${3:-0}
    "$engine" container inspect "$name" >/dev/null 2>&1 || return 0
    without_systemd_noise "$engine" stop -t "$grace" "$name" >/dev/null 2>&1 || true
    without_systemd_noise "$engine" rm -f "$name" >/dev/null
}

# Is the container still running?
is_running() {
    [[ "$($1 inspect --format '{{.State.Running}}' "$2" 2>/dev/null)" == true ]]
}

# Wait until the container is healthy; fail (with its log) if it stops or time runs out.
wait_healthy() {
    local engine=$1 name=$2 limit=$3 started=$SECONDS
    while ((SECONDS - started < limit)); do
        if ! is_running "$engine" "$name"; then
            echo "container $name stopped; its log:" >&2
            "$engine" logs "$name" >&2 || true
            return 1
        fi
        [[ "$(health_status "$engine" "$name")" == healthy ]] && return 0
        sleep 2
    done
    echo "container $name not healthy after ${limit}s; its log:" >&2
    "$engine" logs --tail 50 "$name" >&2 || true
    return 1
}

# Run an engine command without podman's complaints that systemd is absent (expected here: the
# healthcheck timers it would create are replaced by explicit `healthcheck run` calls).
without_systemd_noise() {
    "$@" 2> >(grep -v 'systemd connection' >&2)
}

# The machine's own Debian package sources, for mmdebstrap (podman-setup.sh, cluster-stand-ins.sh).
debian_sources() {
    # As apt uses them; third-party lists are left out (their keys are not in the base).
    local file found=()
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -s $file ]] || continue
        if grep -Eq '^[^#]*(deb\.debian\.org|security\.debian\.org|/debian(-security)?[/ ]|debian-archive-keyring)' "$file"; then
            found+=("$file")
        fi
    done
    ((${#found[@]})) || found=("http://deb.debian.org/debian")
    printf '%s\n' "${found[@]}"
}
