#!/bin/sh
# run.sh [SECONDS [LIBFUZZER_FLAGS...]] - build the libFuzzer targets with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer, then fuzz each for
# SECONDS (default 30) from its seed corpus in corpus/NAME:
#   expr         the nabla command's expression parser (src/cli/expr.c)
#   safetensors  the checkpoint parser, from bytes (src/nn/checkpoint*.c)
#   checkpoint   restore from a file: nb_mlp_open (--resume), nb_mlp_restore
#   idx          the IDX loader (src/nn/idx.c)
#   fashion      the Fashion-MNIST loader: four IDX files in a directory
#   csv          the CSV loader (src/nn/csv.c)
# FUZZ_TARGETS="csv idx" picks some.  CI runs `run.sh 30`; for a real
# search run each for an hour, `run.sh 3600` (about 6 hours in all; with
# FUZZ_TARGETS, one at a time), and add any input it saves to
# regressions/NAME once it is fixed.  Extra flags, such as -max_len=120000
# or -jobs=2, go to libFuzzer after the defaults and override them.  Every
# target runs; the exit status is non-zero if any found a crash, a leak or
# undefined behaviour, whose input is saved as BUILD/fuzz-NAME-crash-*.
#
# Environment: FUZZ_BUILD_DIR (default build-fuzz at the top of the
# repository), CC (default clang).  New inputs go to a temporary directory,
# not into the seed corpus.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-30}
[ $# -gt 0 ] && shift
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
targets=${FUZZ_TARGETS:-expr safetensors checkpoint idx fashion csv}

if ! command -v "${CC:-clang}" >/dev/null 2>&1; then
    echo "run.sh: ${CC:-clang} not found (Debian: apt-get install clang)" >&2
    exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
    CC=${CC:-clang} meson setup "$build" "$root" -Dfuzz=true \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all'
fi

exe() { if [ "$1" = expr ]; then echo src/cli/fuzz_expr; else echo "tests/fuzz/fuzz_$1"; fi; }
for t in $targets; do
    ninja -C "$build" "$(exe "$t")"
done

failed=
for t in $targets; do
    echo "== fuzz_$t: $secs s"
    work=$(mktemp -d)
    dict=
    [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
    status=0
    # shellcheck disable=SC2086 # $dict is one word or none
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$build/$(exe "$t")" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -max_len=4096 $dict -artifact_prefix="$build/fuzz-$t-" \
        -print_final_stats=1 "$@" "$work" "$here/corpus/$t" || status=$?
    rm -rf "$work"
    if [ "$status" -ne 0 ]; then
        echo "== fuzz_$t FAILED (status $status)"
        failed="$failed $t"
    fi
done
if [ -n "$failed" ]; then
    echo "run.sh: failures in:$failed" >&2
    exit 1
fi
echo "run.sh: no failures in: $targets"
