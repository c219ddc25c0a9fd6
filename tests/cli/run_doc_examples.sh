#!/bin/sh
# run_doc_examples.sh NABLA SOURCE_DIR - every example command the user is
# shown, run verbatim, in the order shown and in one scratch folder (so that
# a --save before a --resume or a predict works as it does for a reader):
# the lines "  nabla ..." of `nabla --help` and of each command's --help, the
# man page's EXAMPLES, and the `nabla ...` lines of the README's sh blocks.
# Each must exit 0.  A command that needs Graphviz (--png) or Fashion-MNIST
# is skipped, and said so, only when that is not installed.

NABLA=${1:?usage: run_doc_examples.sh PATH/TO/nabla SOURCE_DIR}
SRC=${2:?usage: run_doc_examples.sh PATH/TO/nabla SOURCE_DIR}
case $NABLA in /*) ;; *) NABLA=$PWD/$NABLA ;; esac
case $SRC in /*) ;; *) SRC=$PWD/$SRC ;; esac
TMP=$(mktemp -d) || exit 1
mkdir "$TMP/bin" "$TMP/run" && ln -s "$NABLA" "$TMP/bin/nabla" || exit 1
PATH=$TMP/bin:$PATH
export PATH

# the commands, one per line, each prefixed with where it was found
{
    for cmd in "" grad lecture train predict; do
        nabla $cmd --help | sed -n "s/^  \(nabla .*\)/--help $cmd	\1/p"
    done
    sed -n '/^\.SH EXAMPLES/,/^\.SH/{/^nabla /p}' "$SRC/src/cli/nabla.1" |
        sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/^/man page	/'
    awk '/^```sh$/ { sh = 1; next } /^```/ { sh = 0 } sh && /^nabla / { print "README\t" $0 }' \
        "$SRC/README.md"
} >"$TMP/commands"

passed=0 failed=0 skipped=0
cd "$TMP/run" || exit 1
while IFS='	' read -r where cmd; do
    case $cmd in
    *--png*) command -v dot >/dev/null 2>&1 || { skipped=$((skipped + 1))
        echo "SKIP ($where, no Graphviz): $cmd"; continue; } ;;
    esac
    case $cmd in
    *fashion-mnist*) [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
        skipped=$((skipped + 1))
        echo "SKIP ($where, no dataset-fashion-mnist): $cmd"; continue; } ;;
    esac
    if sh -c "$cmd" >out 2>err </dev/null; then
        passed=$((passed + 1))
        echo "ok   ($where) $cmd"
    else
        failed=$((failed + 1))
        echo "FAIL ($where, exit status $?) $cmd"
        sed -n '1,10s/^/    | /p' err
    fi
done <"$TMP/commands"
cd / && rm -rf "$TMP"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 10 ]
