#!/bin/sh
# run_train_tests.sh NABLA DATA_DIR - `nabla train` and its checkpoints
# on the small data sets in DATA_DIR (digits, iris, advertising,
# breast_cancer): metrics, JSON, errors and exit statuses.  Prints each
# failed check and a summary line; exits 1 if any check failed.  A few
# seconds in all; under `meson test --setup=valgrind` every command runs
# under valgrind, as in run_cli_tests.sh.

NABLA=${1:?usage: run_train_tests.sh PATH/TO/nabla DATA_DIR}
DATA=${2:?usage: run_train_tests.sh PATH/TO/nabla DATA_DIR}
case $NABLA in /*) ;; *) NABLA=$PWD/$NABLA ;; esac
case $DATA in /*) ;; *) DATA=$PWD/$DATA ;; esac
TMP=$(mktemp -d) || exit 1

. "$(dirname "$0")/harness.sh"

# json_key KEY: the number after "KEY": in stdout
json_key() { sed -n "s/.*\"$1\": \([-0-9.e+]*\).*/\1/p" "$TMP/out"; }
# at_least KEY MIN: the JSON value of KEY is >= MIN
at_least() {
    v=$(json_key "$1")
    if [ -n "$v" ] && awk "BEGIN { exit !($v >= $2) }"; then good
    else bad "$1 is '$v', wanted >= $2"; fi
}
# below KEY MAX: the JSON value of KEY is < MAX
below() {
    v=$(json_key "$1")
    if [ -n "$v" ] && awk "BEGIN { exit !($v < $2) }"; then good
    else bad "$1 is '$v', wanted < $2"; fi
}
NUM='-?[0-9][0-9.e+-]*'
# json_shape MODEL EPOCHS METRIC [OPTIMIZER]: exactly one line, the documented
# object (optimizer sgd unless given)
json_shape() {
    if [ "$(wc -l <"$TMP/out")" -eq 1 ] && grep -Eq "^\{\"model\": \"$1\", \"epochs\": $2, \
\"optimizer\": \"${4:-sgd}\", \"train_loss\": $NUM, \"test_loss\": $NUM, \"$3\": $NUM, \"seconds\": $NUM, \
\"samples_per_second\": $NUM\}$" "$TMP/out"; then good; else bad "not the JSON object"; fi
}

cd "$TMP" || exit 1
cp "$DATA/iris.csv" "$DATA/advertising.csv" "$DATA/breast_cancer.csv" "$DATA/digits.csv.gz" .

# ---- help ---------------------------------------------------------------------------
t "train --help" 0 train --help
for opt in "linear (least squares)" --data --data-dir --target --test-fraction --hidden \
           --activation --loss --epochs --batch --optimizer --lr --momentum --weight-decay \
           --beta1 --beta2 --eps --seed --threads --dtype --loss-csv --save --resume \
           "restarts the optimiser state" --json "exit status"; do
    out_has "$opt"
done
t "--help lists train" 0 --help
out_has "train MODEL --data DATA"

# ---- the four models on real data ---------------------------------------------------
t "mlp on digits" 0 train mlp --data digits --data-dir "$TMP" --hidden 50 --epochs 10 --json
json_shape mlp 10 test_accuracy; at_least test_accuracy 0.95
t "mlp on digits, installed or source data dir" 0 train mlp --data digits --epochs 3 --quiet
out_matches '^mlp: train loss [0-9.]+, test loss [0-9.]+, test accuracy 0\.9[0-9]+ \(3 epochs'
err_empty
t "softmax on iris" 0 train softmax --data iris.csv --epochs 100 --json --quiet
json_shape softmax 100 test_accuracy; at_least test_accuracy 0.93; err_empty
t "logistic on breast_cancer" 0 train logistic --data breast_cancer.csv --epochs 20 --json \
    --quiet
json_shape logistic 20 test_accuracy; at_least test_accuracy 0.95
t "linear on advertising" 0 train linear --data advertising.csv --target sales --epochs 50 \
    --json --quiet
json_shape linear 50 test_r2; at_least test_r2 0.85
t "mlp regression, f64, tanh, momentum" 0 train mlp --data advertising.csv --target -1 \
    --hidden 8 --activation tanh --lr 0.001 --momentum 0.9 --weight-decay 1e-4 --epochs 40 \
    --batch 16 --dtype f64 --seed 7 --threads 1 --json --quiet
json_shape mlp 40 test_r2; at_least test_r2 0.8

# ---- Adam ------------------------------------------------------------------------------
t "adam: mlp on digits" 0 train mlp --data digits --hidden 50 --epochs 10 --optimizer adam \
    --lr 0.003 --json --quiet
json_shape mlp 10 test_accuracy adam; at_least test_accuracy 0.95; below train_loss 0.1
err_empty
sed 's/, "seconds.*//' "$TMP/out" >adam
t "sgd at the same rate" 0 train mlp --data digits --hidden 50 --epochs 10 --optimizer sgd \
    --lr 0.003 --json --quiet
sed 's/, "seconds.*//' "$TMP/out" >sgd
if cmp -s adam sgd; then bad "--optimizer adam and sgd give the same run"; else good; fi
t "adam: every option, f64" 0 train softmax --data iris.csv --epochs 100 --optimizer=adam \
    --lr 0.03 --beta1 0.8 --beta2 0.99 --eps 1e-6 --weight-decay 1e-4 --dtype f64 --json --quiet
json_shape softmax 100 test_accuracy adam; at_least test_accuracy 0.9
below train_loss 0.1
t "adam: linear" 0 train linear --data advertising.csv --target sales --epochs 50 \
    --optimizer adam --lr 0.5 --json --quiet
json_shape linear 50 test_r2 adam; at_least test_r2 0.9
t "adam: default rate" 0 train softmax --data iris.csv --epochs 3 --optimizer adam --json \
    --quiet
sed 's/, "seconds.*//' "$TMP/out" >run1
t "adam: --lr 0.001" 0 train softmax --data iris.csv --epochs 3 --optimizer adam --lr 0.001 \
    --json --quiet
sed 's/, "seconds.*//' "$TMP/out" >run2
if cmp -s run1 run2; then good; else bad "adam's default --lr is not 0.001"; fi

t "progress lines" 0 train softmax --data iris.csv --epochs 3
out_matches '^epoch 3/3  loss [0-9.]+  test loss [0-9.]+  test accuracy [0-9.]+'
out_matches '^softmax: train loss'
t "--json: progress on stderr" 0 train softmax --data iris.csv --epochs 2 --json
err_has "epoch 2/2"; json_shape softmax 2 test_accuracy
t "--loss-csv" 0 train softmax --data iris.csv --epochs 4 --loss-csv curve.csv --quiet
if [ "$(sed -n 1p curve.csv)" = "epoch,train_loss,test_loss,test_accuracy" ] &&
   [ "$(wc -l <curve.csv)" -eq 5 ]; then good; else bad "curve.csv"; fi
t "hinge, no test set" 0 train softmax --data iris.csv --loss hinge --test-fraction 0 \
    --epochs 5 --json --quiet
if grep -q '"test_loss": null, "test_accuracy": null' "$TMP/out"; then good
else bad "no test set: null metrics"; fi
t "same seed, same result" 0 train mlp --data digits --epochs 2 --seed 3 --json --quiet
sed 's/, "seconds.*//' "$TMP/out" >run1
t "same seed, same result (again)" 0 train mlp --data digits --epochs 2 --seed 3 --json --quiet
sed 's/, "seconds.*//' "$TMP/out" >run2
if cmp -s run1 run2; then good; else bad "two runs with --seed 3 differ"; fi

# ---- bad arguments: exit 2 ----------------------------------------------------------
usage() {
    t "usage: $1" 2 train $2
    err_has "$1"; err_has "(see nabla train --help)"; out_empty
}
usage "missing MODEL" ""
usage "unknown MODEL 'tree'" "tree --data iris.csv"
usage "missing --data" "mlp"
usage "--hidden and --activation are for mlp, not linear" "linear --data iris.csv --hidden 4"
usage "--hidden: '4,,2' is not a list" "mlp --data iris.csv --hidden 4,,2"
usage "--hidden: '4,' ends with a comma" "mlp --data iris.csv --hidden 4,"
usage "--activation: 'gelu' is not relu" "mlp --data iris.csv --activation gelu"
usage "--loss mse does not fit a logistic model" "logistic --data iris.csv --loss mse"
usage "--loss: 'huber' is not" "mlp --data iris.csv --loss huber"
usage "--epochs: '0' is not a whole number" "mlp --data iris.csv --epochs 0"
usage "--batch: 'x' is not a whole number" "mlp --data iris.csv --batch x"
usage "--lr: '-0.1' is not a number" "mlp --data iris.csv --lr -0.1"
usage "--momentum: '1' is not a number" "mlp --data iris.csv --momentum 1"
usage "--test-fraction: '1' is not a number" "mlp --data iris.csv --test-fraction 1"
usage "--seed: '-1' is not a whole number" "mlp --data iris.csv --seed -1"
usage "--dtype: 'f16' is not f32 or f64" "mlp --data iris.csv --dtype f16"
usage "--optimizer: 'rmsprop' is not sgd or adam" "mlp --data iris.csv --optimizer rmsprop"
usage "--optimizer needs a value" "mlp --data iris.csv --optimizer"
usage "--beta1: '1' is not a number in (0, 1)" "mlp --data iris.csv --optimizer adam --beta1 1"
usage "--beta1: '-0.1' is not a number in (0, 1)" \
    "mlp --data iris.csv --optimizer adam --beta1=-0.1"
usage "--beta2: '0' is not a number in (0, 1)" "mlp --data iris.csv --optimizer adam --beta2 0"
usage "--beta2: 'x' is not a number in (0, 1)" "mlp --data iris.csv --optimizer adam --beta2 x"
usage "--eps: '0' is not a number" "mlp --data iris.csv --optimizer adam --eps 0"
usage "--momentum is for --optimizer sgd; Adam has --beta1" \
    "mlp --data iris.csv --optimizer adam --momentum 0.9"
usage "--beta1, --beta2 and --eps are for --optimizer adam" "mlp --data iris.csv --beta2 0.9"
usage "--beta1, --beta2 and --eps are for --optimizer adam" \
    "mlp --data iris.csv --optimizer sgd --eps 1e-8"
usage "--lr needs a value" "mlp --data iris.csv --lr"
usage "unknown option --learning-rate" "mlp --data iris.csv --learning-rate 1"
usage "--test-fraction: fashion-mnist comes with its own test set" \
    "mlp --data fashion-mnist --test-fraction 0.1"
usage "--label, --drop, --sep and --test-data are for CSV files" "mlp --data fashion-mnist --target 3"

# ---- data errors: exit 1 ------------------------------------------------------------
printf 'a,b,c\n1,2,0\n4,x,1\n' >bad.csv
t "bad CSV" 1 train logistic --data bad.csv
err_has "bad.csv:3:3: field 2 (b): expected a number, found 'x'"; out_empty
t "missing file" 1 train mlp --data nosuch.csv
err_has "nosuch.csv: cannot open"
t "digits not in --data-dir" 1 train mlp --data digits --data-dir "$TMP/nowhere"
err_has "nowhere/digits.csv.gz: cannot open"
t "fashion-mnist not in --data-dir" 1 train mlp --data fashion-mnist --data-dir "$TMP"
err_has "dataset-fashion-mnist"
t "logistic on three classes" 1 train logistic --data iris.csv
err_has "a logistic model needs 0/1 targets"
t "softmax on regression targets" 1 train softmax --data advertising.csv
err_has "needs class labels"
t "no such target column" 1 train linear --data advertising.csv --target profit
err_has "no column named 'profit'"
t "diverging loss" 1 train linear --data advertising.csv --lr 100 --epochs 50
err_has "the loss diverged: try a lower --lr"
t "diverging loss, anomaly mode" 1 train linear --data advertising.csv --lr 100 --epochs 50 \
    --detect-anomaly
err_has "from finite input"
t "loss CSV not writable" 1 train softmax --data iris.csv --loss-csv "$TMP/nowhere/c.csv"
err_has "cannot write"

# ---- checkpoints ----------------------------------------------------------------------
t "--save" 0 train mlp --data digits --hidden 30 --epochs 3 --save d.safetensors --json --quiet
json_shape mlp 3 test_accuracy
if [ -s d.safetensors ] && ! ls d.safetensors.tmp-* >/dev/null 2>&1; then good
else bad "d.safetensors not written, or a temporary file left"; fi
if grep -aq '"widths":"64,30,10"' d.safetensors && grep -aq '"epochs":"3"' d.safetensors
then good; else bad "metadata in d.safetensors"; fi
cp d.safetensors d0.safetensors
t "--resume continues" 0 train mlp --data digits --resume d.safetensors --epochs 3 \
    --save d.safetensors --json --quiet
at_least test_accuracy 0.94
if grep -aq '"epochs":"6"' d.safetensors; then good; else bad "epochs 6 after resuming"; fi
t "--resume with adam" 0 train mlp --data digits --resume d0.safetensors --optimizer adam \
    --lr 0.001 --epochs 2 --json --quiet
json_shape mlp 2 test_accuracy adam; at_least test_accuracy 0.9
t "--resume with agreeing options" 0 train mlp --data digits --resume d0.safetensors \
    --hidden 30 --activation relu --loss xent --dtype f32 --epochs 1 --quiet
t "--resume, another model" 2 train softmax --data digits --resume d0.safetensors
err_has "holds a mlp model, not softmax"
t "--resume, other widths" 2 train mlp --data digits --resume d0.safetensors --hidden 20
err_has "--hidden disagrees with --resume d0.safetensors (widths 64,30,10)"
t "--resume, other activation" 2 train mlp --data digits --resume d0.safetensors \
    --activation tanh
err_has "--activation tanh disagrees"
t "--resume, other dtype" 2 train mlp --data digits --resume d0.safetensors --dtype f64
err_has "--dtype f64 disagrees"
t "--resume, data that do not fit" 1 train mlp --data iris.csv --resume d0.safetensors
err_has "iris.csv has 4 features and 3 outputs, the model in d0.safetensors 64 inputs"
t "--resume, missing file" 1 train mlp --data digits --resume nosuch.safetensors
err_has "nosuch.safetensors: cannot open"
head -c 100 d0.safetensors >cut.safetensors
t "--resume, truncated file" 1 train mlp --data digits --resume cut.safetensors
err_has "cut.safetensors: the header length"
t "--save of a diverged model" 1 train linear --data advertising.csv --lr 100 --epochs 50 \
    --save div.safetensors
if [ -e div.safetensors ]; then bad "div.safetensors written"; else good; fi
t "--save into a missing directory" 1 train softmax --data iris.csv --epochs 1 \
    --save nowhere/x.safetensors
err_has "cannot create a temporary file"

cd / && rm -rf "$TMP"
summary
