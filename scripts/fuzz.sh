#!/bin/sh
# Builds the libFuzzer targets in tests/fuzz with clang (ASan+UBSan) and
# runs each for SECONDS (default 20; two targets at a time) from its seed
# corpus.  Exits non-zero when a target finds a crash, a leak or undefined
# behaviour.
#
#   scripts/fuzz.sh [SECONDS]
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-20}
OUT=build-fuzz
mkdir -p "$OUT"
CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 -D_GNU_SOURCE -DNUBO_VERSION=\"fuzz\" -Isrc -std=c17"
LIBS="-ljansson"
LIBSRC="src/lib/err.c src/lib/log.c src/lib/util.c src/lib/valid.c src/lib/fsutil.c src/lib/dynbuf.c
 src/lib/strv.c src/lib/jsonx.c src/lib/inet.c"
# The helpers in src/lib are compiled once for all targets, every
# compilation in the background (the machine's cores share them), each
# checked when waited for.
pids=""
objs=""
for f in $LIBSRC; do
    o="$OUT/lib_$(basename "$f" .c).o"
    objs="$objs $o"
    # shellcheck disable=SC2086
    clang $CFLAGS -c -o "$o" "$f" &
    pids="$pids $!"
done
for p in $pids; do wait "$p"; done
target() { # name sources... (and libraries)
    name=$1
    shift
    # shellcheck disable=SC2086
    clang $CFLAGS -o "$OUT/fuzz_$name" "$@" $objs $LIBS
}
pids=""
target qmp tests/fuzz/fuzz_qmp.c src/host/vm/qmp.c &
pids="$pids $!"
target vm_def tests/fuzz/fuzz_vm_def.c src/host/vm/vm.c &
pids="$pids $!"
target netdoc tests/fuzz/fuzz_netdoc.c src/host/net/netdoc.c &
pids="$pids $!"
target stack_yaml tests/fuzz/fuzz_stack_yaml.c src/stack/yaml.c -lyaml &
pids="$pids $!"
target ere tests/fuzz/fuzz_ere.c src/lib/ere.c &
pids="$pids $!"
target http tests/fuzz/fuzz_http.c src/lib/httpd.c -lmicrohttpd &
pids="$pids $!"
for p in $pids; do wait "$p"; done
# Two targets at a time (this machine has 2 cores): each still fuzzes for
# SECS seconds of wall clock, the step takes half as long.
fuzz_one() {
    t=$1
    corpus="$OUT/corpus-$t"
    mkdir -p "$corpus"
    cp tests/fuzz/corpus/$t/* "$corpus/" 2>/dev/null || true
    if ! "$OUT/fuzz_$t" -max_total_time="$SECS" -max_len=65536 -print_final_stats=0 \
        "$corpus" >"$OUT/fuzz_$t.log" 2>&1; then
        echo "fuzz: $t FAILED; see $OUT/fuzz_$t.log" >&2
        tail -n 40 "$OUT/fuzz_$t.log" >&2
        return 1
    fi
    echo "fuzz: $t: $(grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$OUT/fuzz_$t.log" | tail -n 1)"
}
rc=0
for pair in "qmp vm_def" "netdoc stack_yaml" "ere http"; do
    # shellcheck disable=SC2086
    set -- $pair
    echo "fuzz: $1 and $2 for ${SECS}s"
    fuzz_one "$1" &
    p1=$!
    fuzz_one "$2" &
    p2=$!
    wait $p1 || rc=1
    wait $p2 || rc=1
done
exit $rc
