#!/bin/sh
# Lints docs/openapi.json with the two linters its readers' tools use
# (scripts/test calls it):
#   1. Redocly CLI (`redocly lint`, its recommended rules; redocly.yaml);
#   2. Spectral with the spectral:oas ruleset (.spectral.yaml).
# Both must report zero errors; warnings are printed, not fatal.  The
# linters are the exact versions of tests/openapi/package-lock.json,
# installed from the npm registry with `npm ci` (again only when the lock
# changed).  Needs node >= 20 and npm (scripts/deps.sh).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DOC="$ROOT/docs/openapi.json"
cd "$HERE"
if ! command -v npm >/dev/null 2>&1; then
    echo "openapi: npm is missing (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
stamp=node_modules/.nubo-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "openapi: npm ci"
    npm ci --no-audit --no-fund --loglevel=error || exit 1
    echo "$want" >"$stamp"
fi
# No telemetry, no update check: the run must not depend on the network
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
failed=0
echo "==> openapi: redocly lint"
npx --no-install redocly lint --config "$HERE/redocly.yaml" "$DOC" || failed=1
echo "==> openapi: spectral lint (spectral:oas)"
npx --no-install spectral lint --ruleset "$HERE/.spectral.yaml" --fail-severity error "$DOC" ||
    failed=1
[ "$failed" = 0 ] && echo "openapi: both linters: no errors"
[ "$failed" = 0 ]
