#!/usr/bin/env bash
# Makes podman able to build and run the Dockerfile on a Debian machine without a registry.
#
# Installs podman, runc and mmdebstrap when missing, writes the engine configuration this kind of
# machine needs (runc, cgroupfs, ulimits root may set) and, when the base image named on the
# Dockerfile's FROM line is not in local storage, builds a stand-in for it from the machine's
# own Debian packages (no registry is reachable here). Anywhere a registry is reachable the real
# official python image is used instead; this stand-in only exists for these machines.
# Idempotent. As root only; a rootless developer's podman is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh

CONTAINERS_CONF=/etc/containers/containers.conf
CONF_MARKER="# written by Vigie .ci/podman-setup.sh"

log() { echo "podman-setup [${SECONDS}s]: $*" >&2; }

install_tools() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v runc >/dev/null || missing+=(runc)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        timeout 600 apt-get update -qq
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq podman runc mmdebstrap \
            >/dev/null
    fi
}

write_engine_conf() {
    # crun cannot start containers here and root may not raise its limits: use runc and
    # ulimits no higher than the hard limit.
    local nofile
    nofile=$(ulimit -Hn)
    [[ $nofile == unlimited || $nofile -gt 20000 ]] && nofile=20000
    local wanted
    wanted="$CONF_MARKER
[containers]
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=32768:32768\"]
[engine]
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\""
    if [[ -f $CONTAINERS_CONF ]] && [[ "$(cat "$CONTAINERS_CONF")" == "$wanted" ]]; then
        return
    fi
    if [[ -f $CONTAINERS_CONF ]] && ! grep -qF "$CONF_MARKER" "$CONTAINERS_CONF"; then
        cp "$CONTAINERS_CONF" "$CONTAINERS_CONF.before-vigie"
        log "kept the previous $CONTAINERS_CONF as $CONTAINERS_CONF.before-vigie"
    fi
    mkdir -p "$(dirname "$CONTAINERS_CONF")"
    printf '%s\n' "$wanted" >"$CONTAINERS_CONF"
    log "wrote $CONTAINERS_CONF"
}

base_image() {
    # The one place the base is named is the Dockerfile.
    local name
    name=$(awk 'toupper($1) == "FROM" {print $2; exit}' Dockerfile)
    name=${name%@sha256:*}  # a stand-in is named by the tag: a digest cannot be made up
    [[ $name == */* ]] || name="docker.io/library/$name"
    echo "$name"
}

build_stand_in_base() {
    local image=$1 sources
    mapfile -t sources < <(debian_sources)
    log "building a stand-in for $image from Debian packages (${sources[*]})"
    # The extra CA certificates are those of a proxy that re-signs HTTPS (pip goes through it).
    timeout 900 mmdebstrap --quiet --variant=minbase --format=tar \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"' \
        --customize-hook='if [ -d /usr/local/share/ca-certificates ]; then cp -r /usr/local/share/ca-certificates/. "$1/usr/local/share/ca-certificates/"; fi' \
        --customize-hook='chroot "$1" update-ca-certificates >/dev/null' \
        --customize-hook='printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"' \
        --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
        --customize-hook='for n in python:python3 python3:python3 pip:pip3 pip3:pip3; do ln -sf "/usr/bin/${n#*:}" "$1/usr/local/bin/${n%%:*}"; done' \
        --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
        bookworm - "${sources[@]}" \
        | podman import --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$image" >/dev/null
}

image=$(base_image)
if [[ $(id -u) != 0 ]]; then
    # A developer's rootless podman: nothing to install or configure, and the build pulls the
    # real base from its registry.
    command -v podman >/dev/null || { log "podman is not installed"; exit 1; }
    log "not root: engine configuration and stand-in base left alone"
    exit 0
fi
install_tools
write_engine_conf
if podman image exists "$image"; then
    log "base image $image is present"
else
    build_stand_in_base "$image"
    log "base image $image built: $(podman image inspect --format '{{.Size}}' "$image") bytes"
fi
