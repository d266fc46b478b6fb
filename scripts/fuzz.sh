#!/bin/sh
# Builds the libFuzzer targets in tests/fuzz with clang (ASan+UBSan) and
# runs each for SECONDS (default 20) from its seed corpus.  Exits non-zero
# when a target finds a crash, a leak or undefined behaviour.
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
# shellcheck disable=SC2086
clang $CFLAGS -o "$OUT/fuzz_qmp" tests/fuzz/fuzz_qmp.c src/host/vm/qmp.c $LIBSRC $LIBS
# shellcheck disable=SC2086
clang $CFLAGS -o "$OUT/fuzz_vm_def" tests/fuzz/fuzz_vm_def.c src/host/vm/vm.c $LIBSRC $LIBS
# shellcheck disable=SC2086
clang $CFLAGS -o "$OUT/fuzz_netdoc" tests/fuzz/fuzz_netdoc.c src/host/net/netdoc.c $LIBSRC $LIBS
# shellcheck disable=SC2086
clang $CFLAGS -o "$OUT/fuzz_stack_yaml" tests/fuzz/fuzz_stack_yaml.c src/stack/yaml.c $LIBSRC \
    $LIBS -lyaml
# shellcheck disable=SC2086
clang $CFLAGS -o "$OUT/fuzz_ere" tests/fuzz/fuzz_ere.c src/lib/ere.c $LIBSRC $LIBS
# shellcheck disable=SC2086
clang $CFLAGS -o "$OUT/fuzz_http" tests/fuzz/fuzz_http.c src/lib/httpd.c $LIBSRC $LIBS -lmicrohttpd
rc=0
for t in qmp vm_def netdoc stack_yaml ere http; do
    corpus="$OUT/corpus-$t"
    mkdir -p "$corpus"
    cp tests/fuzz/corpus/$t/* "$corpus/" 2>/dev/null || true
    echo "fuzz: $t for ${SECS}s"
    if ! "$OUT/fuzz_$t" -max_total_time="$SECS" -max_len=65536 -print_final_stats=0 \
        "$corpus" >"$OUT/fuzz_$t.log" 2>&1; then
        echo "fuzz: $t FAILED; see $OUT/fuzz_$t.log" >&2
        tail -n 40 "$OUT/fuzz_$t.log" >&2
        rc=1
    else
        grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$OUT/fuzz_$t.log" | tail -n 1 || true
    fi
done
exit $rc
