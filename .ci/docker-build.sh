#!/usr/bin/env bash
# Builds the Vigie image as vigie:<APP_VERSION> (IMAGE and TAG override), with podman or docker.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh

engine=$(container_engine)
image=${IMAGE:-vigie}
tag=${TAG:-$(app_version)}
commit=$(source_commit)
args=(--build-arg "GIT_COMMIT=$commit" -t "$image:$tag"
      --label "org.opencontainers.image.title=Vigie"
      --label "org.opencontainers.image.version=$(app_version)"
      --label "org.opencontainers.image.revision=$commit")
if [[ $engine == podman ]]; then
    bash .ci/podman-setup.sh
    # --format docker keeps the HEALTHCHECK (OCI images have none).
    args+=(--format docker)
    # Where no registry is reachable the base is in local storage (podman-setup.sh): never pull.
    base=$(awk 'toupper($1) == "FROM" {print $2; exit}' Dockerfile)
    if podman image exists "$base"; then
        args+=(--pull=never)
    elif podman image exists "${base%@sha256:*}"; then
        # The stand-in carries the tag, not the pinned digest: build FROM it by name.
        args+=(--pull=never --from "${base%@sha256:*}")
    fi
fi
echo "docker-build: $engine build $image:$tag" >&2
started=$SECONDS
timeout 1500 "$engine" build "${args[@]}" .
# Earlier builds of the same tag left untagged images behind: drop those of Vigie only.
"$engine" image prune -f --filter label=org.opencontainers.image.title=Vigie >/dev/null
echo "docker-build: built $image:$tag in $((SECONDS - started))s" >&2
