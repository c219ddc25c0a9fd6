# harness.sh - sourced by the nabla command's test scripts, after they set
# NABLA (the program) and TMP (a scratch directory): runs the program and
# checks what it printed.  Each check adds to passed or failed; summary
# prints the closing line and says whether all passed.
#
# NABLA_WRAP="valgrind ..." runs every command under that wrapper.  When the
# script itself runs under valgrind (meson test --setup=valgrind), it wraps
# the commands in valgrind on its own: valgrind does not follow children.
# Any memory error then shows as exit status 99.

VG="--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect -q"
if [ -z "${NABLA_WRAP+set}" ]; then
    case ${LD_PRELOAD-} in
    *vgpreload*) NABLA_WRAP="$(command -v valgrind) $VG" ;;
    *) NABLA_WRAP= ;;
    esac
fi

passed=0 failed=0 name=

bad() {
    failed=$((failed + 1))
    printf 'FAIL %s: %s\n' "$name" "$1"
    printf '  stdout:\n'; sed -n '1,20s/^/    | /p' "$TMP/out"
    printf '  stderr:\n'; sed -n '1,20s/^/    | /p' "$TMP/err"
}
good() { passed=$((passed + 1)); }

# t NAME STATUS ARGS...: run nabla ARGS, check the exit status.
t() {
    name=$1 want=$2
    shift 2
    $NABLA_WRAP "$NABLA" "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    if [ "$got" -eq "$want" ]; then good; else bad "exit status $got, wanted $want"; fi
    # a sanitizer build that reports and carries on (UBSan's default)
    if grep -Eq 'runtime error:|Sanitizer' "$TMP/err"; then bad "sanitizer report"; fi
}
out_is() {
    printf '%s\n' "$1" >"$TMP/want"
    if cmp -s "$TMP/want" "$TMP/out"; then good; else bad "stdout is not: $1"; fi
}
out_matches() { if grep -Eq -- "$1" "$TMP/out"; then good; else bad "stdout does not match: $1"; fi; }
out_has() { if grep -Fq -- "$1" "$TMP/out"; then good; else bad "stdout lacks: $1"; fi; }
out_lacks() { if grep -Fq -- "$1" "$TMP/out"; then bad "stdout has: $1"; else good; fi; }
err_has() { if grep -Fq -- "$1" "$TMP/err"; then good; else bad "stderr lacks: $1"; fi; }
out_empty() { if [ -s "$TMP/out" ]; then bad "stdout is not empty"; else good; fi; }
err_empty() { if [ -s "$TMP/err" ]; then bad "stderr is not empty"; else good; fi; }

# the closing line; true if every check passed
summary() {
    echo "$passed passed, $failed failed${NABLA_WRAP:+ (each command run under $NABLA_WRAP)}"
    [ "$failed" -eq 0 ]
}
