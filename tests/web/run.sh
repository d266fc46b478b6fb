#!/bin/sh
# The web portal's tests, in one go (scripts/test calls it):
#   1. npm ci and the portal's build into build/web (scripts/build-web.sh:
#      type check, vite build, gzip'd copies);
#   2. unit tests of the portal's logic (Vitest: tests/web/unit);
#   3. browser tests in Debian's headless Chromium driven by playwright-core
#      (tests/web/browser.test.mjs) against a real cloud: nubod + one
#      nubo-hostd of $NUBO_BUILD (default build-asan when built, else
#      build) and the nubo-tiny guest image of $NUBO_IMAGES (default
#      build/images); a second cloud of fake-driver agents for the admin's
#      mobility buttons.
# Screenshots and the measured figures (figures.json) go to
# build/web-test-artifacts/.  Exits non-zero when anything fails.
#
# Needs: node >= 20.19 and npm (the machine image's Node.js 20), Debian's
# chromium, nubo built (scripts/build.sh [--asan]) and the guest image
# (images/build-guest.sh build/images).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
if [ -z "${NUBO_BUILD:-}" ]; then
    if [ -x build-asan/src/ctrl/nubod ]; then NUBO_BUILD=build-asan; else NUBO_BUILD=build; fi
fi
export NUBO_BUILD
NUBO_IMAGES=${NUBO_IMAGES:-build/images}
export NUBO_IMAGES
ART=build/web-test-artifacts
passed=0
failed=0
count() { if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "web: $1 FAILED" >&2; fi; }

for f in "$NUBO_BUILD/src/ctrl/nubod" "$NUBO_BUILD/src/host/nubo-hostd" "$NUBO_IMAGES/nubo-tiny.qcow2" "${CHROMIUM:-/usr/bin/chromium}"; do
    if [ ! -e "$f" ]; then
        echo "web: missing $f (scripts/build.sh --asan; images/build-guest.sh build/images; apt-get install chromium)" >&2
        exit 1
    fi
done

echo "==> web: build the portal"
scripts/build-web.sh || { echo "web: the portal does not build" >&2; exit 1; }

echo "==> web: unit tests (Vitest)"
(cd web && npx --no-install vitest run)
count unit $?

echo "==> web: browser tests (Chromium, nubod and nubo-hostd of $NUBO_BUILD)"
mkdir -p "$ART"
rm -f "$ART"/*.png "$ART"/figures.json
node --test --test-reporter=spec --test-timeout=900000 tests/web/browser.test.mjs
count browser $?
[ -f "$ART/figures.json" ] && echo "web: figures $(tr -d '\n ' <"$ART/figures.json")"
echo "web: screenshots in $ART/"

echo "web test groups: $passed passed, $failed failed"
[ "$failed" = 0 ]
