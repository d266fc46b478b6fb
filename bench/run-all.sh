#!/bin/sh
# Runs every benchmark in bench/, after building what they need.  Each
# prints measured figures and ratios against a baseline run side by side.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh >/dev/null
scripts/build.sh >/dev/null
images/build-guest.sh build/images >/dev/null
for b in bench/boot.py bench/api.py bench/load_mix.py bench/cloud.py bench/metrics.py bench/billing.py \
    bench/net.py bench/scale.py bench/stack.py bench/migrate.py; do
    echo "==> $b"
    /usr/bin/python3 "$b"
done
