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
           "restarts the optimiser state" --json "exit status" --label --drop --sep --max-bytes \
           --test-data --plot "nabla predict --model"; do
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
mkfifo fifo.safetensors
t "--save onto a FIFO" 1 train softmax --data iris.csv --epochs 1 --save fifo.safetensors
err_has "fifo.safetensors: is a FIFO, not a regular file"
if [ -p fifo.safetensors ]; then good; else bad "fifo.safetensors replaced"; fi

# ---- data sets by name; real CSV files ------------------------------------------------
t "iris by name" 0 train softmax --data iris --epochs 100 --json --quiet
json_shape softmax 100 test_accuracy; at_least test_accuracy 0.93
t "breast-cancer by name" 0 train logistic --data breast-cancer --epochs 20 --json --quiet
at_least test_accuracy 0.95
t "advertising by name, the label last" 0 train linear --data advertising --epochs 50 --json \
    --quiet
at_least test_r2 0.85
t "iris.csv where there is none" 1 train softmax --data nowhere/../iris-missing.csv
err_has "cannot open"
mkdir empty && cd empty
t "iris.csv: a hint at the shipped copy" 1 train softmax --data iris.csv
err_has "the copy shipped with nabla is --data iris"
cd ..
t "classes printed, 1 epoch" 0 train softmax --data iris --epochs 1
out_has "classes: 0=setosa 1=versicolor 2=virginica"
out_matches '\(1 epoch, '

# iris as people have it: an ID, species names, ';' and a header; split by hand so
# that training's test accuracy and predict's can be compared
awk -F, 'NR == 1 { print "id;sepal length;sepal width;petal length;petal width;species"; next }
    { split("setosa versicolor virginica", sp, " ")
      printf "\"r%d\";%s;%s;%s;%s;%s\n", NR, $1, $2, $3, $4, sp[$5 + 1] }' iris.csv >iris2.csv
awk 'NR == 1 || NR % 5 != 0' iris2.csv >iris-train.csv
awk 'NR == 1 || NR % 5 == 0' iris2.csv >iris-test.csv
t "train on names, ';', --drop, --test-data" 0 train softmax --data iris-train.csv \
    --test-data iris-test.csv --label species --drop id --sep ';' --epochs 60 --save ir.safetensors \
    --json --quiet
at_least test_accuracy 0.9
train_acc=$(json_key test_accuracy) train_loss=$(json_key test_loss)
t "predict: the same accuracy and loss as training reported" 0 predict --model ir.safetensors \
    --data iris-test.csv --json
grep -q '"rows": 30' "$TMP/err" && good || bad "predict: not 30 rows"
if grep -q "\"loss\": $train_loss, \"accuracy\": $train_acc}" "$TMP/err"; then good
else bad "predict's metrics are not training's ($train_loss, $train_acc)"; fi
if [ "$(sed -n 1p "$TMP/out")" = prediction ] && [ "$(wc -l <"$TMP/out")" -eq 31 ] &&
   [ "$(sed 1d "$TMP/out" | sort -u | tr '\n' ' ')" = "setosa versicolor virginica " ]
then good; else bad "predictions are not 30 class names"; fi
# the scaler in the checkpoint is the training rows' mean, to the bit
mean=$(awk -F';' 'NR > 1 { s += $2; n++ } END { printf "%.17g", s / n }' iris-train.csv)
if LC_ALL=C grep -aq "\"scaler_mean\":\"\[$mean," ir.safetensors; then good
else bad "scaler_mean does not start with $mean"; fi
if LC_ALL=C grep -aq '"classes":"\[\\"setosa\\",\\"versicolor\\",\\"virginica\\"\]"' \
    ir.safetensors && LC_ALL=C grep -aq '"label":"species"' ir.safetensors; then good
else bad "classes and label in the checkpoint"; fi
grep -v versicolor iris-test.csv >two-classes.csv
t "--test-data with two of the three classes" 0 train softmax --data iris-train.csv \
    --test-data two-classes.csv --label species --drop id --epochs 60 --save ir2.safetensors \
    --json --quiet
train_acc=$(json_key test_accuracy)
t "predict: the same accuracy on two classes" 0 predict --model ir2.safetensors \
    --data two-classes.csv --json
if grep -q "\"rows\": 20, \"loss\": [0-9.e-]*, \"accuracy\": $train_acc}" "$TMP/err"; then good
else bad "predict's accuracy is not training's $train_acc"; fi
# columns found by name: other order, no ID, no label: predictions only
awk -F';' -v OFS=';' '{ print $5, $4, $3, $2 }' iris-test.csv >unlabelled.csv
t "predict: columns by name, no label" 0 predict --model ir.safetensors --data unlabelled.csv
err_empty
sed 1d "$TMP/out" >p1
t "predict: the same rows with labels" 0 predict --model ir.safetensors --data iris-test.csv
sed 1d "$TMP/out" >p2
if cmp -s p1 p2; then good; else bad "predictions depend on column order"; fi
printf 'id;sepal length;sepal width;petal length;petal width;species\nx;5;3;1;0.2;setosa\nx;5;3;1;0.2;rose\n' >rose.csv
t "predict: an unknown class names its line" 1 predict --model ir.safetensors --data rose.csv
err_has "rose.csv:3:13: label 'rose' is not one of the model's 3 classes (setosa, versicolor, virginica)"
printf 'id;sepal length;sepal width;petal length;species\nx;5;3;1;setosa\n' >short.csv
t "predict: a missing feature" 1 predict --model ir.safetensors --data short.csv
err_has "no column 'petal width', a feature the model needs"
LC_ALL=C sed 's/"input"/"inpux"/' ir.safetensors >old.safetensors
t "predict: an old checkpoint" 1 predict --model old.safetensors --data iris-test.csv
err_has "saved by an older nabla"; out_empty
t "predict: digits by name" 0 predict --model d0.safetensors --data digits
err_has "digits: 1797 rows"; out_matches '^[0-9]$'
t "predict: regression" 0 train linear --data advertising --epochs 50 --save ad.safetensors \
    --quiet
t "predict: R2" 0 predict --model ad.safetensors --data advertising --json
if grep -Eq '^\{"rows": 200, "loss": [0-9.e+-]+, "r2": 0\.[89][0-9]*\}$' "$TMP/err"; then good
else bad "predict's R2"; fi
usage_p() { t "predict usage: $1" 2 predict $2; err_has "$1"; err_has "(see nabla predict --help)"; }
usage_p "missing --model" "--data iris"
usage_p "missing --data" "--model ir.safetensors"
usage_p "unknown argument --bogus" "--model ir.safetensors --data iris --bogus"
usage_p "--sep: 'ab' is not one character" "--model ir.safetensors --data iris --sep ab"
t "predict --help" 0 predict --help
out_has "--model FILE"; out_has "examples:"

# classes from the whole file: a class with one row trains whatever the split
{ cat iris.csv; echo "6,3,5,2,3"; } | sed 1d >iris4.csv
for seed in 1 2 3 4 5; do
    t "a rare class, seed $seed" 0 train softmax --data iris4.csv --seed $seed --epochs 2 \
        --save rare.safetensors --quiet
    if LC_ALL=C grep -aq '"widths":"4,4"' rare.safetensors; then good; else bad "not 4 classes"; fi
done
printf 'a,b,y\n1,2,0\n3,4,2000000\n' >big.csv
t "a label above the class limit" 1 train softmax --data big.csv
err_has "line 3: label 2000000 is above 1000000"
printf 'a,b\n1,2,0\n3,4,1\n' >narrow.csv
t "a header shorter than its rows" 1 train softmax --data narrow.csv
err_has "narrow.csv:2:5: field 3: more than the 2 fields of the header"
printf 'a,b,y\n1,,0\n' >hole.csv
t "a missing value" 1 train softmax --data hole.csv
err_has "hole.csv:2:3: field 2 (b): missing value"
t "--max-bytes" 1 train softmax --data iris --max-bytes 1k
err_has "more than 1024 bytes of text"
usage "--max-bytes: 'lots' is not a size" "softmax --data iris --max-bytes lots"
usage "--test-data and --test-fraction" "softmax --data iris --test-data iris.csv --test-fraction 0.1"

# ---- --plot --------------------------------------------------------------------------
t "--plot svg" 0 train softmax --data iris --epochs 30 --plot curves.svg --quiet
if head -c 4 curves.svg | grep -q '<svg' && [ "$(grep -c '<polyline' curves.svg)" -eq 3 ] &&
   grep -q 'test accuracy' curves.svg; then good; else bad "curves.svg"; fi
usage "--plot curves.pdf: the name must end in .svg or .png" \
    "softmax --data iris --plot curves.pdf"
if command -v rsvg-convert >/dev/null 2>&1; then
    t "--plot png" 0 train linear --data advertising --epochs 5 --plot -c.png --quiet
    if [ "$(head -c 4 -- -c.png | tail -c 3)" = PNG ]; then good; else bad "-c.png is no PNG"; fi
else
    t "--plot png without a converter" 1 train linear --data advertising --epochs 5 \
        --plot c.png --quiet
    err_has "librsvg2-bin"
fi

cd / && rm -rf "$TMP"
summary
