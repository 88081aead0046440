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
    # No registry here: the base comes from local storage. --format docker keeps the HEALTHCHECK.
    args+=(--pull=never --format docker)
fi
echo "docker-build: $engine build $image:$tag" >&2
started=$SECONDS
timeout 1500 "$engine" build "${args[@]}" .
echo "docker-build: built $image:$tag in $((SECONDS - started))s" >&2
