#!/usr/bin/env bash
# STAND-INS FOR THIS KIND OF MACHINE ONLY: no registry is reachable here, so the official images
# that deploy/compose.yaml names cannot be pulled. When one is missing from podman's local
# storage, this builds a local image under the very same name from Debian's own packages
# (mmdebstrap), so that the compose file runs unchanged:
#   docker.io/library/postgres:15-bookworm  Debian's postgresql-15 and an entrypoint that
#       honours what the compose file uses of the official image (.ci/stand-ins/
#       postgres-entrypoint.sh: POSTGRES_DB/USER/PASSWORD, /docker-entrypoint-initdb.d/*.sh,
#       pg_isready, data in /var/lib/postgresql/data);
#   docker.io/library/nginx:1.27-bookworm   Debian's nginx (1.22, with TLS), `nginx -g
#       'daemon off;'`, logs to the container's output.
# Anywhere a registry is reachable, the official images are pulled and this script is not run
# (.ci/cluster.sh calls it only when podman has no such image and cannot pull it). The python
# base of the Vigie image gets its own stand-in from .ci/podman-setup.sh. Root only; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh

POSTGRES_IMAGE=docker.io/library/postgres:15-bookworm
NGINX_IMAGE=docker.io/library/nginx:1.27-bookworm
LABEL='--change=LABEL org.vigie.stand-in=built from Debian packages by .ci/cluster-stand-ins.sh'

log() { echo "cluster-stand-ins [${SECONDS}s]: $*" >&2; }

bootstrap() {  # bootstrap PACKAGES [mmdebstrap options...]: a Debian root file system as a tar
    local packages=$1 sources
    shift
    mapfile -t sources < <(debian_sources)
    timeout 900 mmdebstrap --quiet --variant=minbase --format=tar --include="$packages" \
        --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
        "$@" bookworm - "${sources[@]}"
}

build_postgres() {
    log "building a stand-in for $POSTGRES_IMAGE from Debian's postgresql-15"
    # The package's own cluster (15/main) is removed: the entrypoint makes one in PGDATA.
    bootstrap postgresql-15,postgresql-client-15 \
        --customize-hook='rm -rf "$1"/etc/postgresql/15 "$1"/var/lib/postgresql/15' \
        --customize-hook='mkdir -p "$1"/docker-entrypoint-initdb.d "$1"/var/lib/postgresql/data' \
        --customize-hook='copy-in .ci/stand-ins/postgres-entrypoint.sh /usr/local/bin' \
        --customize-hook='mv "$1"/usr/local/bin/postgres-entrypoint.sh "$1"/usr/local/bin/docker-entrypoint.sh' \
        | podman import "$LABEL" \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV PGDATA=/var/lib/postgresql/data' --change 'ENV LANG=C.UTF-8' \
            --change 'ENTRYPOINT ["docker-entrypoint.sh"]' --change 'CMD ["postgres"]' \
            --change 'STOPSIGNAL SIGINT' --change 'EXPOSE 5432' \
            - "$POSTGRES_IMAGE" >/dev/null
}

build_nginx() {
    log "building a stand-in for $NGINX_IMAGE from Debian's nginx"
    bootstrap nginx-light \
        --customize-hook='ln -sf /dev/stdout "$1"/var/log/nginx/access.log' \
        --customize-hook='ln -sf /dev/stderr "$1"/var/log/nginx/error.log' \
        | podman import "$LABEL" \
            --change 'CMD ["nginx", "-g", "daemon off;"]' --change 'STOPSIGNAL SIGQUIT' \
            --change 'EXPOSE 80' - "$NGINX_IMAGE" >/dev/null
}

[[ $(id -u) == 0 ]] || { log "root only (a developer's podman pulls the official images)"; exit 1; }
bash .ci/podman-setup.sh  # podman, runc, mmdebstrap, the engine configuration, the python base
for image in "$POSTGRES_IMAGE" "$NGINX_IMAGE"; do
    if podman image exists "$image"; then
        log "$image is present"
    elif timeout 20 podman pull -q "$image" >/dev/null 2>&1; then
        log "$image pulled from its registry"
    elif [[ $image == "$POSTGRES_IMAGE" ]]; then
        build_postgres
    else
        build_nginx
    fi
done
log "done"
