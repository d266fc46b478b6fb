#!/bin/sh
# Boot benchmark (see bench/boot.py): builds what it needs, then runs it.
set -eu
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
images/build-guest.sh build/images >/dev/null
exec /usr/bin/python3 bench/boot.py "$@"
