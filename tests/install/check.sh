#!/bin/sh
# After `meson install`: the installed program runs, and programs built
# with the README's command against the installed libraries (found through
# pkg-config: nabla, nabla_nn) compile and run, with no ldconfig or
# LD_LIBRARY_PATH by hand.  Used by .ci/run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install check: $*" >&2; exit 1; }

version=$(nabla --version) || fail "nabla --version did not run"
echo "$version"
case $version in "nabla "*) ;; *) fail "nabla --version printed '$version'" ;; esac

# shellcheck disable=SC2046 # pkg-config's output is meant to be split
cc "$here/prog.c" -o "$tmp/prog" $(pkg-config --cflags --libs nabla)
out=$("$tmp/prog") || fail "a program linked with nabla did not run"
[ "$out" = "-4 -4 3" ] || fail "prog printed '$out', not '-4 -4 3'"
echo "nabla: $out"

# shellcheck disable=SC2046
cc "$here/prog_nn.c" -o "$tmp/prog_nn" $(pkg-config --cflags --libs nabla_nn)
out=$("$tmp/prog_nn") || fail "a program linked with nabla_nn did not run"
[ "$out" = "sigmoid 0.5 0.25" ] || fail "prog_nn printed '$out', not 'sigmoid 0.5 0.25'"
echo "nabla_nn: $out"
echo "install check: ok"
