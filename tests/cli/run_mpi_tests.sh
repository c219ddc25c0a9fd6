#!/bin/sh
# run_mpi_tests.sh NABLA DATA_DIR MPIRUN - `mpirun -n N nabla train` with 1,
# 2 and 4 ranks (oversubscribed) on the bundled digits: the same losses as
# one process within 1e-10 (f64), one progress line per epoch and one JSON
# object, --save from rank 0 and --resume broadcast, one rank's missing file
# or a diverging loss stopping the job with the message, a batch smaller
# than the job refused.  meson's timeout turns a hang into a failure.

NABLA=${1:?usage: run_mpi_tests.sh PATH/TO/nabla DATA_DIR MPIRUN}
DATA=${2:?usage: run_mpi_tests.sh PATH/TO/nabla DATA_DIR MPIRUN}
MPIRUN=${3:?usage: run_mpi_tests.sh PATH/TO/nabla DATA_DIR MPIRUN}
case $NABLA in /*) ;; *) NABLA=$PWD/$NABLA ;; esac
TMP=$(mktemp -d) || exit 1
NABLA_WRAP=
. "$(dirname "$0")/harness.sh"

# OpenMPI: as root, and more ranks than cores
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

# run NAME STATUS RANKS COMMAND...: mpirun -n RANKS COMMAND
run() {
    name=$1 want=$2 n=$3
    shift 3
    "$MPIRUN" -n "$n" "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    if [ "$got" -eq "$want" ]; then good; else bad "exit status $got, wanted $want"; fi
}
# job NAME STATUS RANKS ARGS...: mpirun -n RANKS nabla ARGS
job() {
    name=$1 want=$2 n=$3
    shift 3
    run "$name" "$want" "$n" "$NABLA" "$@"
}
json_key() { sed -n "s/.*\"$1\": \([-0-9.e+]*\).*/\1/p" "$TMP/out"; }
# same KEY VALUE: the JSON value of KEY is within 1e-10 of VALUE, relative
same() {
    v=$(json_key "$1")
    if [ -n "$v" ] && awk "BEGIN { d = $v - $2; if (d < 0) d = -d;
                                   exit !(d <= 1e-10 * ($2 < 0 ? -$2 : $2)) }"; then good
    else bad "$1 is '$v', wanted $2 within 1e-10"; fi
}

TRAIN="train mlp --data digits --data-dir $DATA --hidden 32 --dtype f64 --epochs 3 --batch 50"
t alone 0 $TRAIN --json --quiet
want_train=$(json_key train_loss) want_test=$(json_key test_loss)
want_acc=$(json_key test_accuracy)
for n in 1 2 4; do
    job "ranks-$n" 0 $n $TRAIN --json --quiet
    same train_loss "$want_train"
    same test_loss "$want_test"
    same test_accuracy "$want_acc"
    # rank 0 speaks for the job: one JSON object
    if [ "$(wc -l <"$TMP/out")" -eq 1 ]; then good; else bad "not one line of JSON"; fi
done

# one progress line per epoch, and one summary
job progress 0 2 $TRAIN
if [ "$(grep -c '^epoch 1/3  loss' "$TMP/out")" -eq 1 ]; then good; else bad "epoch 1 not once"; fi
if grep -q '#' "$TMP/out"; then bad "a live bar"; else good; fi
if [ "$(grep -c '^mlp: train loss' "$TMP/out")" -eq 1 ]; then good; else bad "summary not once"; fi

# --save from rank 0, --resume read on rank 0 and broadcast: the same as
# resuming alone
job save 0 2 $TRAIN --quiet --save "$TMP/m.safetensors" --plot "$TMP/m.svg"
if [ -s "$TMP/m.safetensors" ] && [ -s "$TMP/m.svg" ]; then good; else bad "no checkpoint or plot"; fi
if ls "$TMP" | grep -q 'tmp-'; then bad "a temporary file was left"; else good; fi
t resume-alone 0 train mlp --data digits --data-dir "$DATA" --epochs 2 --batch 50 \
    --resume "$TMP/m.safetensors" --json --quiet
want_resume=$(json_key test_loss)
job resume 0 2 train mlp --data digits --data-dir "$DATA" --epochs 2 --batch 50 \
    --resume "$TMP/m.safetensors" --json --quiet
same test_loss "$want_resume"
job resume-missing 1 2 train mlp --data digits --data-dir "$DATA" --resume "$TMP/none.st"
err_has "none.st"

# one rank's missing file stops every rank, with that rank's message
run missing-on-rank-1 1 2 sh -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then d=/nonexistent.csv;
    else d=digits; fi; exec "$0" train softmax --data "$d" --data-dir "$1" --epochs 1' \
    "$NABLA" "$DATA"
err_has "rank 1: /nonexistent.csv: cannot open"
# a diverging loss
job diverges 1 2 $TRAIN --lr 1e6 --quiet
err_has "the loss diverged"
# more ranks than rows in a batch
job small-batch 2 4 $TRAIN --batch 3 --quiet
err_has "rows cannot be split over 4 processes"

rm -rf "$TMP"
summary
