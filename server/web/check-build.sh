#!/usr/bin/env bash
# CI's front-end check: install exactly what package-lock.json names (npm ci, registry only), run
# the unit tests, build into a temporary folder and compare it with the committed dist/. Vite
# names assets by content hash and the build embeds no time or path, so the same sources and
# lock file give the same bytes. On a difference: `make web-build`, then commit server/web/dist.
set -euo pipefail
cd "$(dirname "$0")"

npm ci --no-audit --no-fund
npm test

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npm run build -- --outDir "$out" --emptyOutDir >/dev/null
if ! diff -r "$out" dist; then
  echo "server/web/dist does not match its sources: run 'make web-build' and commit it" >&2
  exit 1
fi
echo "server/web/dist matches its sources"
