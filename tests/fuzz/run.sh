#!/bin/sh
# run.sh [SECONDS [LIBFUZZER_FLAGS...]] - build the libFuzzer target for
# the nabla command's expression parser (fuzz_expr.c) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, then fuzz it for SECONDS
# (default 30) from the seed corpus in corpus/expr.  Extra flags, such as
# -max_len=120000 or -jobs=2, go to libFuzzer after the defaults and
# override them.  Exits non-zero if it finds a crash, a leak or undefined
# behaviour; the input is saved as BUILD/fuzz-crash-*.
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

if ! command -v "${CC:-clang}" >/dev/null 2>&1; then
    echo "run.sh: ${CC:-clang} not found (Debian: apt-get install clang)" >&2
    exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
    CC=${CC:-clang} meson setup "$build" "$root" -Dfuzz=true \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all'
fi
ninja -C "$build" src/cli/fuzz_expr

work=$(mktemp -d)
status=0
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/src/cli/fuzz_expr" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=4096 -dict="$here/expr.dict" -artifact_prefix="$build/fuzz-" \
    -print_final_stats=1 "$@" "$work" "$here/corpus/expr" || status=$?
rm -rf "$work"
exit "$status"
