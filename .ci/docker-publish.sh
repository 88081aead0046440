#!/usr/bin/env bash
# Publishes the release image: builds vigie:<APP_VERSION> and pushes it as REGISTRY/vigie:<version>.
# Only from a commit tagged v<APP_VERSION> with a clean tree (what CI does on a version tag).
# Usage: REGISTRY=ghcr.io/acme make docker-publish   (log in to the registry first)
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh

fail() { echo "docker-publish: $*" >&2; exit 1; }

[[ -n ${REGISTRY:-} ]] || fail "REGISTRY is not set (e.g. REGISTRY=ghcr.io/acme)"
version=$(app_version)
[[ "$(git tag --points-at HEAD)" == *"v$version"* ]] \
    || fail "HEAD is not tagged v$version: publish releases only (make release)"
git diff --quiet HEAD || fail "uncommitted changes: the image would not be the tagged code"

engine=$(container_engine)
TAG=$version bash .ci/docker-build.sh
"$engine" tag "vigie:$version" "$REGISTRY/vigie:$version"
"$engine" push "$REGISTRY/vigie:$version"
echo "docker-publish: pushed $REGISTRY/vigie:$version"
