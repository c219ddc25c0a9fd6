#!/bin/sh
# Run by `meson install` (not for a DESTDIR install: a package runs ldconfig
# when it is installed).  The libraries are found by the dynamic linker's
# cache, which knows nothing of new files until ldconfig refreshes it: without
# this, `nabla` and every program linked with -lnabla fail with
# "libnabla.so.0: cannot open shared object file" after a first install.
# $1 is the directory the libraries went to.
libdir=$1
[ "$(uname -s)" = Linux ] || exit 0
PATH=$PATH:/usr/sbin:/sbin
if [ "$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null 2>&1; then
    echo "Running ldconfig, so that programs find the libraries in $libdir"
    ldconfig || echo "warning: ldconfig failed: run it as root" >&2
elif ! ldconfig -p 2>/dev/null | grep -q "$libdir/libnabla\.so\.0 *$"; then
    echo "note: libnabla is in $libdir; run 'sudo ldconfig' if that is a system" \
         "directory, or add it to LD_LIBRARY_PATH" >&2
fi
exit 0
