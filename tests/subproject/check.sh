#!/bin/sh
# nabla as a meson subproject: a parent project (this directory's
# meson.build and main.c) with nabla's sources in subprojects/nabla builds
# and runs, and nabla builds its two libraries and nothing else (no
# tests, examples, benchmarks or program).  Used by .ci/run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "subproject check: $*" >&2; exit 1; }

mkdir -p "$tmp/parent/subprojects/nabla"
cp "$here/meson.build" "$here/main.c" "$tmp/parent/"
# the working tree's files (tracked or new, not ignored), not a build
(cd "$src" && git ls-files --cached --others --exclude-standard -z |
    xargs -0 tar -cf -) | tar -xf - -C "$tmp/parent/subprojects/nabla"

# --force-fallback-for: the subproject even where nabla is installed
meson setup "$tmp/build" "$tmp/parent" --force-fallback-for=nabla,nabla_nn >"$tmp/setup.log" ||
    { cat "$tmp/setup.log"; fail "meson setup failed"; }
meson compile -C "$tmp/build" >"$tmp/compile.log" ||
    { cat "$tmp/compile.log"; fail "meson compile failed"; }
out=$("$tmp/build/parent") || fail "the parent's program did not run"
[ "$out" = "1.5 0.75" ] || fail "the parent's program printed '$out', not '1.5 0.75'"

built=$(meson introspect --targets "$tmp/build" | python3 -c '
import json, sys
print(" ".join(sorted(t["name"] for t in json.load(sys.stdin) if t["subproject"] == "nabla")))')
want="nabla nabla nabla_kernels_f32 nabla_kernels_f64 nabla_nn nabla_nn"
[ "$built" = "$want" ] || fail "the subproject builds '$built', not only '$want'"
echo "subproject check: ok (parent prints $out; nabla builds $built)"
