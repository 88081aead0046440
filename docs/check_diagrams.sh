#!/usr/bin/env bash
# Renders every Mermaid diagram of README.md and docs/*.md with mermaid-cli: a diagram that does not
# parse fails, and so does an edge drawn through a box other than its two ends (check_diagram_layout.py).
# mermaid-cli is installed on demand from npm into .mermaid/ (git-ignored); Puppeteer drives
# Debian's chromium instead of downloading a browser. Without npm the check is skipped, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

MERMAID_CLI_VERSION=11.17.0
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
dir=.mermaid
mmdc=$dir/node_modules/.bin/mmdc

if ! command -v npm >/dev/null; then
    echo "docs-check: SKIPPED, npm is not installed (apt-get install npm): Mermaid diagrams not rendered"
    exit 0
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "docs-check: no chromium at $CHROMIUM (make browser-deps installs Debian's)" >&2
    exit 1
fi
if [ ! -x "$mmdc" ] || ! grep -q "\"version\": \"$MERMAID_CLI_VERSION\"" \
        "$dir/node_modules/@mermaid-js/mermaid-cli/package.json" 2>/dev/null; then
    echo "docs-check: installing @mermaid-js/mermaid-cli@$MERMAID_CLI_VERSION into $dir/"
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
    # Puppeteer's postinstall would download its own browser: we use Debian's chromium.
    PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$dir" --no-audit --no-fund --silent \
        "@mermaid-js/mermaid-cli@$MERMAID_CLI_VERSION"
fi
# The chromium of a CI container runs as root: no sandbox there.
printf '{"executablePath": "%s", "args": ["--no-sandbox", "--disable-gpu"]}\n' "$CHROMIUM" \
    > "$dir/puppeteer.json"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
documents=0 diagrams=0 failed=()
for doc in README.md docs/*.md; do
    count=$(grep -c '^```mermaid' "$doc" || true)
    ((count > 0)) || continue
    documents=$((documents + 1))
    diagrams=$((diagrams + count))
    name=$(basename "$doc" .md)
    if ! "$mmdc" --quiet -p "$dir/puppeteer.json" -i "$doc" -o "$out/$name.md" >"$out/$name.log" 2>&1; then
        failed+=("$doc")
        echo "docs-check: a Mermaid diagram of $doc does not render:" >&2
        grep -v '^    at ' "$out/$name.log" >&2 || true
    fi
done
if ((${#failed[@]})); then
    echo "docs-check: FAILED in ${failed[*]}" >&2
    exit 1
fi
if ! python3 docs/check_diagram_layout.py "$out"/*.svg >&2; then
    echo "docs-check: FAILED: an edge runs through a box (lay the diagram out again)" >&2
    exit 1
fi
echo "docs-check: $diagrams Mermaid diagrams in $documents documents rendered, no edge through a box"
