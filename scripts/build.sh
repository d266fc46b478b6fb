#!/bin/sh
# Builds nubo: the release build in build/ and, with --asan, the ASan+UBSan
# build in build-asan/ as well.  Configures the build directories on first use.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
    meson setup build --buildtype=debugoptimized
fi
ninja -C build
if [ "${1:-}" = "--asan" ]; then
    if [ ! -f build-asan/build.ninja ]; then
        meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
    fi
    ninja -C build-asan
fi
