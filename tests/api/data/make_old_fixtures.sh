#!/bin/sh
# Regenerates the database fixtures written by earlier nubo versions
# (tests/api/data/nubo-vN.sql; README.md lists them): for each, builds that
# commit's nubod and nubo-hostd (debugoptimized, as scripts/build.sh; only
# those two targets) in a temporary worktree /tmp/upg-old-N, runs
# make_old_fixture.py with them, and removes the worktree (KEEP=1 keeps it).
#
#   NUBO_IMAGES=/path/to/build/images tests/api/data/make_old_fixtures.sh [N...]
#
# N: the schema versions to make (default: all below).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
IMAGES=${NUBO_IMAGES:-$ROOT/build/images}

# schema version -> the last commit of main at that version
commit_of() {
    case $1 in
    7) echo 19776e6 ;;  # before migration 8 (ownership)
    18) echo b9b584b ;; # join tokens; before volumes (19)
    21) echo 4c79619 ;; # HA fencing; before snapshots (22)
    22) echo 55484b4 ;; # the last before host protocol versions
    *) echo "make_old_fixtures: no commit for schema version $1" >&2; return 1 ;;
    esac
}

for v in ${*:-7 18 21 22}; do
    c=$(commit_of "$v")
    wt=/tmp/upg-old-$v
    [ -d "$wt" ] || git -C "$ROOT" worktree add --detach "$wt" "$c"
    (cd "$wt" && { [ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null; } &&
        ninja -C build src/ctrl/nubod src/host/nubo-hostd >/dev/null)
    /usr/bin/python3 "$HERE/make_old_fixture.py" --nubod "$wt/build/src/ctrl/nubod" \
        --hostd "$wt/build/src/host/nubo-hostd" --images "$IMAGES" --version "$v" \
        --commit "$c" --out "$HERE/nubo-v$v.sql"
    [ "${KEEP:-}" = 1 ] || git -C "$ROOT" worktree remove --force "$wt"
done
