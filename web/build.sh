#!/bin/sh
# web/build.sh [OUTDIR] - the browser page: the engine, the expression parser
# and web/nabla_web.c compiled to WebAssembly by Emscripten (Debian package
# emscripten), embedded in nabla.js, beside the page's plain files.  OUTDIR
# defaults to web/dist; open OUTDIR/index.html from disk, no server needed.
# Exit status 77 (meson's "skipped") when emcc is not installed.
set -eu
web=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$web")
out=${1:-$web/dist}

emcc=${EMCC:-$(command -v emcc || true)}
if [ -z "$emcc" ]; then
    echo "web: emcc not found, the page is not built (apt-get install emscripten)" >&2
    exit 77
fi
# Debian's emscripten runs its JS tools with node and Debian's node-acorn,
# in /usr/share/nodejs, where a node from elsewhere (nodesource) won't look.
if [ -d /usr/share/nodejs ]; then
    export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
fi
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The library's own flags (meson.build): C11, no OpenBLAS (the portable
# kernel), and no -ffast-math, which would delete the engine's isfinite;
# -Os, as the page's graphs are small and -O2 makes nabla.js 75% bigger.
# Without -pthread Emscripten links stub pthread functions, enough for the
# engine's locks in a single-threaded page.
# uthash is one header: Emscripten's sysroot has its own libc headers, so
# only that file is taken from the host's include directory.
uthash=""
for d in ${UTHASH_DIR:-} /usr/include /usr/local/include; do
    [ -f "$d/uthash.h" ] && uthash=$d/uthash.h && break
done
if [ -z "$uthash" ]; then
    echo "web: uthash.h not found (apt-get install uthash-dev)" >&2
    exit 1
fi
mkdir -p "$tmp/include"
cp "$uthash" "$tmp/include/"
cflags="-std=c11 -Os -DNB_HAVE_OPENBLAS=0 -I$root/include -I$root/src -I$root/src/cli -I$tmp/include"
# kernels.c is built once per element type, as meson does
"$emcc" $cflags -DNB_KERNELS_F32=0 -c "$root/src/kernels.c" -o "$tmp/kernels_f64.o"
"$emcc" $cflags -DNB_KERNELS_F32=1 -c "$root/src/kernels.c" -o "$tmp/kernels_f32.o"
# every other file in src/ is the engine, as in meson.build's nabla_src
set --
for f in "$root"/src/*.c; do
    case $f in */kernels.c) ;; *) set -- "$@" "$f" ;; esac
done
"$emcc" $cflags -o "$out/nabla.js" "$@" \
    "$tmp/kernels_f64.o" "$tmp/kernels_f32.o" \
    "$root/src/cli/expr.c" "$web/nabla_web.c" \
    -sMODULARIZE=1 -sEXPORT_NAME=NablaModule -sSINGLE_FILE=1 -sFILESYSTEM=0 \
    -sENVIRONMENT=web,node -sALLOW_MEMORY_GROWTH=1 \
    -sEXPORTED_FUNCTIONS=_nbw_eval,_nbw_step,_nbw_lecture,_nbw_lectures \
    -sEXPORTED_RUNTIME_METHODS=ccall,cwrap,UTF8ToString

for f in index.html app.js style.css; do
    cp "$web/$f" "$out/$f"
done
echo "web: built $out/index.html"
