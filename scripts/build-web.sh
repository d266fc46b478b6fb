#!/bin/sh
# Builds the web portal (web/) into build/web, which nubod serves at /
# (src/api/routes_web.c; docs/internals/portal.md):
#   1. npm ci: the exact packages of web/package-lock.json, from the npm
#      registry (skipped when web/node_modules matches the lock already);
#   2. a type check (tsc --noEmit);
#   3. vite build into build/web (or $NUBO_WEB_OUT);
#   4. a gzip'd copy (name.gz) beside every text file, which nubod sends to
#      browsers that accept gzip.
# Needs node >= 20.19 and npm (the machine image's Node.js 20; Debian 12's
# own nodejs package is 18, too old for Vite 8).  The output is a build
# product: never committed.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${NUBO_WEB_OUT:-$ROOT/build/web}
cd "$ROOT/web"

if ! command -v npm >/dev/null 2>&1; then
    echo "build-web: npm is missing (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
# Vite 8 wants node >= 20.19 (Debian 12's own nodejs is 18: too old)
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "build-web: node $(node --version) is too old: the portal's tools need node >= 20.19" >&2
    exit 1
fi
# npm ci wipes and reinstalls node_modules: only when the lock changed
stamp=node_modules/.nubo-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "build-web: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" >"$stamp"
fi
echo "build-web: type check"
npx --no-install tsc --noEmit -p .
echo "build-web: vite build -> $OUT"
NUBO_WEB_OUT="$OUT" npx --no-install vite build --logLevel warn
find "$OUT" -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.svg' \
    -o -name '*.json' -o -name '*.txt' \) -exec gzip -9 -k -n -f {} \;
js=$(cat "$OUT"/assets/*.js | wc -c)
jsgz=$(cat "$OUT"/assets/*.js.gz | wc -c)
css=$(cat "$OUT"/assets/*.css | wc -c)
cssgz=$(cat "$OUT"/assets/*.css.gz | wc -c)
echo "build-web: built $OUT (JS $js B, $jsgz B gzip; CSS $css B, $cssgz B gzip)"
