#!/usr/bin/env bash
# Cuts a release: sets APP_VERSION in webapp/version.py, commits it and tags vX.Y.Z.
# Usage: .ci/release.sh [X.Y.Z]   (without a version: the current one with its patch + 1).
# Pushing the tag (git push origin main vX.Y.Z) makes CI publish the image with that version.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh

fail() { echo "release: $*" >&2; exit 1; }

current=$(app_version)
[[ $current =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] \
    || fail "webapp/version.py does not hold a version x.y.z (found '$current')"
version=${1:-${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.$((BASH_REMATCH[3] + 1))}
version=${version#v}

[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "VERSION must look like 1.2.3 (got '$version')"
[[ $version != "$current" ]] || fail "the version is already $current"
if [[ "$(printf '%s\n%s\n' "$current" "$version" | sort -V | tail -1)" != "$version" ]]; then
    fail "$version is older than the current version $current"
fi
git rev-parse -q --verify "refs/tags/v$version" >/dev/null && fail "tag v$version exists already"
# A release is built from committed code only: the tag must name exactly what was tested.
git diff --quiet HEAD || fail "uncommitted changes in the work tree: commit or drop them first"
[[ -z "$(git ls-files --others --exclude-standard)" ]] \
    || fail "untracked files in the work tree: commit, ignore or remove them first"

sed -i "s/^APP_VERSION = \".*\"$/APP_VERSION = \"$version\"/" webapp/version.py
[[ "$(app_version)" == "$version" ]] || fail "could not write the version into webapp/version.py"
git add webapp/version.py
git commit -q -m "Release $version"
git tag -a "v$version" -m "Vigie $version"
echo "release: $current -> $version, committed and tagged v$version"
echo "release: publish with: git push origin HEAD v$version"
