/* train.c - `nabla train MODEL`: options, the data set (a CSV file, the
 * bundled digits, Fashion-MNIST), the model (linear, logistic, softmax, MLP)
 * built with the model layer (nabla_nn.h), nb_train, the summary or JSON.
 * Checkpoints (--save, --resume) are in train_ckpt.c. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train.h"

#ifndef NB_DATADIR
#define NB_DATADIR "/usr/local/share/nabla"
#endif

static const char train_help[] =
    "usage: nabla train MODEL --data DATA [options]\n"
    "\n"
    "Train a model with mini-batch SGD or Adam and report its test metrics.\n"
    "\n"
    "  MODEL              linear (least squares), logistic (binary), softmax\n"
    "                     (multiclass) or mlp (hidden layers)\n"
    "  --data DATA        a CSV file (plain or .gz), or a data set by name:\n"
    "                     iris, breast-cancer, advertising, digits (shipped\n"
    "                     with nabla) or fashion-mnist (Debian package\n"
    "                     dataset-fashion-mnist)\n"
    "  --data-dir DIR     where the named sets live; by default they are looked\n"
    "                     for in " NB_DATADIR " and then in the source\n"
    "                     tree's data/, Fashion-MNIST in " NB_FASHION_MNIST_DIR "\n"
    "  --label COLUMN     the CSV column to predict: a header name, or a number\n"
    "                     (1 = first, -1 = last; default the last).  Numbers are\n"
    "                     targets or classes 0, 1, ...; names (setosa, ...) are\n"
    "                     classes, numbered in sorted order (printed)\n"
    "  --target COLUMN    the same as --label\n"
    "  --drop COLS        CSV columns to leave out, such as an ID: header names\n"
    "                     or numbers, separated by commas (id,3)\n"
    "  --sep C            the CSV separator: one character, tab or space (runs\n"
    "                     of blanks); default ',' if the first line has one,\n"
    "                     else ';' if it has one, else blanks.  Fields may be\n"
    "                     \"quoted\"; a header is recognised by its names\n"
    "  --max-bytes N      read at most N bytes of CSV text (after gunzip), such\n"
    "                     as 4G (default 1G); a longer file is an error\n"
    "  --test-data FILE   the test rows from another CSV file, read with the\n"
    "                     same options (instead of --test-fraction)\n"
    "  --test-fraction F  rows held out for testing, 0 <= F < 1 (default 0.2;\n"
    "                     Fashion-MNIST has its own test set)\n"
    "  --no-standardize   keep CSV features as they are (default: scaled to mean\n"
    "                     0, std 1 on the training rows)\n"
    "  --hidden W1,W2,... hidden layer widths, mlp only (default 100)\n"
    "  --activation ACT   relu, sigmoid or tanh, mlp only (default relu)\n"
    "  --loss LOSS        mse or l1 (linear; default mse), bce (logistic),\n"
    "                     xent or hinge (softmax; default xent), any for mlp\n"
    "                     (default xent for whole-number targets, else mse)\n"
    "  --epochs N         passes over the training rows (default 10)\n";

/* the rest of the help: C11 promises string literals of 4095 bytes only */
static const char train_help_more[] =
    "  --epochs N         passes over the training rows (default 10)\n"
    "  --batch N          rows per step, 0 = all (default 32)\n"
    "  --optimizer OPT    sgd (default) or adam, each as PyTorch's\n"
    "  --lr RATE          learning rate (default 0.1 for sgd, 0.001 for adam)\n"
    "  --momentum M       SGD momentum, 0 <= M < 1 (default 0; not with adam)\n"
    "  --weight-decay D   L2 weight decay, added to the gradient (default 0)\n"
    "  --beta1 B, --beta2 B\n"
    "                     Adam's decay rates, 0 < B < 1 (default 0.9, 0.999)\n"
    "  --eps E            Adam's epsilon, E > 0 (default 1e-8)\n"
    "  --seed N           seed of the split, initialisation and shuffles (42)\n"
    "  --threads N        threads (default: the cores): data-parallel workers\n"
    "                     when a step is big enough, else OpenBLAS's\n"
    "  --dtype f32|f64    element type of the model (default f32)\n"
    "  --loss-csv FILE    write epoch,train_loss,test_loss,test_accuracy rows\n"
    "  --plot FILE        draw the train and test loss and the test accuracy\n"
    "                     or R2 per epoch: FILE.svg, or FILE.png through\n"
    "                     rsvg-convert (Debian librsvg2-bin) or ImageMagick\n"
    "  --save FILE        write the trained model as a safetensors checkpoint\n"
    "                     (atomically: the old file survives a failed save; a\n"
    "                     model whose parameters are not finite is not saved)\n"
    "                     with what 'nabla predict' needs: feature names,\n"
    "                     label, classes and the standardisation\n"
    "  --resume FILE      continue from a checkpoint; its metadata gives the\n"
    "                     model, widths, activation, loss and dtype (options\n"
    "                     that disagree are an error).  Only parameters are\n"
    "                     saved: --resume restarts the optimiser state (SGD's\n"
    "                     momentum, Adam's m, v and step count start at 0)\n"
    "  --json             print one JSON object on stdout at the end (progress\n"
    "                     goes to stderr):\n"
    "                     {\"model\", \"epochs\", \"optimizer\", \"train_loss\",\n"
    "                     \"test_loss\", \"test_accuracy\" (classifiers) or\n"
    "                     \"test_r2\" (regression), \"seconds\",\n"
    "                     \"samples_per_second\"}\n"
    "  --quiet            no progress lines\n"
    "  --detect-anomaly   check every op's output as it is computed and stop at\n"
    "                     the first one that makes inf or NaN from finite\n"
    "                     inputs, naming it (slower)\n"
    "  -h, --help         this help\n"
    "\n"
    "exit status: 0 success; 1 a data or training error (missing or malformed\n"
    "file, with its line and column; a diverging loss; a checkpoint that cannot\n"
    "be read or written); 2 a bad argument.  Messages go to stderr.\n"
    "\n"
    "examples:\n"
    "  nabla train softmax --data iris --epochs 100 --save iris.safetensors\n"
    "  nabla predict --model iris.safetensors --data iris\n"
    "  nabla train linear --data advertising --label sales --plot curves.svg\n"
    "  nabla train mlp --data digits --hidden 50 --activation sigmoid --json\n"
    "  nabla train mlp --data digits --optimizer adam --lr 0.001 --epochs 5\n"
    "  nabla train mlp --data fashion-mnist --hidden 256,128 --epochs 5 --batch 100\n";

/* ---- Arguments ------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
int train_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int status = cli_vusage("train", TRAIN_USAGE, fmt, ap);
    va_end(ap);
    return status;
}

static int get_int(const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return train_usage("%s: '%s' is not a whole number in [%ld, %ld]", opt, s, lo, hi);
    *out = (int)v;
    return 0;
}

static int get_num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return train_usage("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
    *out = v;
    return 0;
}

/* 0 < v < 1: Adam's betas (0 would mean the default in nb_optimizer_opts) */
static int get_fraction(const char *opt, const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0 && v < 1))
        return train_usage("%s: '%s' is not a number in (0, 1)", opt, s);
    *out = v;
    return 0;
}

static int get_widths(const char *s, train_args *a)
{
    const char *p = s;
    a->n_hidden = 0;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 100000 || a->n_hidden == TRAIN_MAX_HIDDEN ||
            (*end && *end != ','))
            return train_usage("--hidden: '%s' is not a list of up to %d widths "
                               "1..100000 such as 256,128",
                               s, TRAIN_MAX_HIDDEN);
        a->hidden[a->n_hidden++] = (int)v;
        p = *end ? end + 1 : end;
        if (*end && !*p)
            return train_usage("--hidden: '%s' ends with a comma", s);
    }
    return a->n_hidden ? 0 : train_usage("--hidden needs at least one width");
}

/* Options that take a value: --name VALUE or --name=VALUE. */
static const char *const valued[] = {
    "--data",   "--data-dir",   "--target",    "--test-fraction",
    "--hidden", "--activation", "--loss",      "--epochs",
    "--batch",  "--lr",         "--momentum",  "--weight-decay",
    "--seed",   "--threads",    "--dtype",     "--loss-csv",
    "--save",   "--resume",     "--optimizer", "--beta1",
    "--beta2",  "--eps",        "--label",     "--drop",
    "--sep",    "--max-bytes",  "--test-data", "--plot",
    NULL,
};

static int set_choice(const char *opt, const char *v, train_args *a)
{
    if (strcmp(opt, "--activation") == 0) {
        a->act = nb_act_parse(v);
        if (a->act <= NB_ACT_NONE)
            return train_usage("--activation: '%s' is not relu, sigmoid or tanh", v);
    } else if (strcmp(opt, "--loss") == 0) {
        if ((a->loss = nb_loss_parse(v)) < 0)
            return train_usage("--loss: '%s' is not mse, l1, bce, xent or hinge", v);
    } else if (strcmp(opt, "--optimizer") == 0) {
        int k = nb_optim_parse(v);
        if (k < 0)
            return train_usage("--optimizer: '%s' is not sgd or adam", v);
        a->optim = (nb_optim)k;
    } else if (strcmp(opt, "--dtype") == 0) {
        if (strcmp(v, "f32") && strcmp(v, "f64"))
            return train_usage("--dtype: '%s' is not f32 or f64", v);
        a->dtype = v[1] == '3' ? NB_F32 : NB_F64;
        a->dtype_set = 1;
    } else {
        return -1;
    }
    return 0;
}

static int set_number(const char *opt, const char *v, train_args *a)
{
    if (strcmp(opt, "--test-fraction") == 0)
        return a->test_fraction_set = 1, get_num(opt, v, 0, 0.99, &a->test_fraction);
    if (strcmp(opt, "--epochs") == 0)
        return get_int(opt, v, 1, 1000000, &a->epochs);
    if (strcmp(opt, "--batch") == 0)
        return get_int(opt, v, 0, 100000000, &a->batch);
    if (strcmp(opt, "--threads") == 0)
        return get_int(opt, v, 1, 1024, &a->threads);
    if (strcmp(opt, "--lr") == 0)
        return get_num(opt, v, 1e-300, 1e6, &a->lr);
    if (strcmp(opt, "--momentum") == 0)
        return get_num(opt, v, 0, 0.999999, &a->momentum);
    if (strcmp(opt, "--weight-decay") == 0)
        return get_num(opt, v, 0, 1e6, &a->weight_decay);
    if (strcmp(opt, "--beta1") == 0 || strcmp(opt, "--beta2") == 0)
        return get_fraction(opt, v, opt[6] == '1' ? &a->beta1 : &a->beta2);
    if (strcmp(opt, "--eps") == 0)
        return get_num(opt, v, 1e-300, 1e6, &a->eps);
    if (strcmp(opt, "--seed") == 0) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (end == v || *end || errno || v[0] == '-')
            return train_usage("--seed: '%s' is not a whole number >= 0", v);
        a->seed = (uint64_t)s;
        return 0;
    }
    return -1;
}

static int set_option(const char *opt, const char *v, train_args *a)
{
    const char **path = strcmp(opt, "--data") == 0        ? &a->data
                        : strcmp(opt, "--data-dir") == 0  ? &a->data_dir
                        : strcmp(opt, "--target") == 0    ? &a->label
                        : strcmp(opt, "--label") == 0     ? &a->label
                        : strcmp(opt, "--drop") == 0      ? &a->drop
                        : strcmp(opt, "--test-data") == 0 ? &a->test_data
                        : strcmp(opt, "--loss-csv") == 0  ? &a->loss_csv
                        : strcmp(opt, "--plot") == 0      ? &a->plot
                        : strcmp(opt, "--save") == 0      ? &a->save
                        : strcmp(opt, "--resume") == 0    ? &a->resume
                                                          : NULL;
    if (strcmp(opt, "--sep") == 0)
        return parse_sep(opt, v, &a->sep, train_usage);
    if (strcmp(opt, "--max-bytes") == 0)
        return parse_bytes(opt, v, &a->max_bytes, train_usage);
    if (path) {
        if (!*v)
            return train_usage("%s needs a non-empty value", opt);
        *path = v;
        return 0;
    }
    if (strcmp(opt, "--hidden") == 0)
        return get_widths(v, a);
    int rc = set_choice(opt, v, a);
    return rc >= 0 ? rc : set_number(opt, v, a);
}

static int set_flag(const char *s, train_args *a)
{
    if (strcmp(s, "--json") == 0)
        a->json = 1;
    else if (strcmp(s, "--quiet") == 0)
        a->quiet = 1;
    else if (strcmp(s, "--no-standardize") == 0)
        a->no_standardize = 1;
    else if (strcmp(s, "--detect-anomaly") == 0)
        a->anomaly = 1;
    else
        return train_usage("unknown option %s", s);
    return 0;
}

/* One argument (and its value) at argv[*i]; 0 or an exit status. */
static int parse_one(int argc, char **argv, int *i, train_args *a)
{
    const char *s = argv[*i];
    if (s[0] != '-' || s[1] != '-') {
        if (a->model || s[0] == '-')
            return train_usage("unexpected argument '%s'", s);
        a->model = s;
        return 0;
    }
    const char *eq = strchr(s, '=');
    size_t len = eq ? (size_t)(eq - s) : strlen(s);
    for (int k = 0; valued[k]; k++) {
        if (strlen(valued[k]) != len || strncmp(s, valued[k], len) != 0)
            continue;
        if (!eq && *i + 1 >= argc)
            return train_usage("%s needs a value", valued[k]);
        return set_option(valued[k], eq ? eq + 1 : argv[++*i], a);
    }
    return eq ? train_usage("unknown option %.*s", (int)len, s) : set_flag(s, a);
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n > k && strcmp(s + n - k, tail) == 0;
}

static int check_args(train_args *a)
{
    static const char *const models[] = { "linear", "logistic", "softmax", "mlp" };
    if (!a->model)
        return train_usage("missing MODEL (linear, logistic, softmax or mlp)");
    a->kind = -1;
    for (int k = 0; k < 4; k++)
        if (strcmp(a->model, models[k]) == 0)
            a->kind = k;
    if (a->kind < 0)
        return train_usage("unknown MODEL '%s' (linear, logistic, softmax or mlp)", a->model);
    if (!a->data)
        return train_usage("missing --data (a CSV file, digits or fashion-mnist)");
    if (a->kind != MODEL_MLP && (a->n_hidden || a->act > 0))
        return train_usage("--hidden and --activation are for mlp, not %s", a->model);
    static const int allowed[4][NB_LOSS_HINGE + 1] = {
        [MODEL_LINEAR] = { [NB_LOSS_MSE] = 1, [NB_LOSS_L1] = 1 },
        [MODEL_LOGISTIC] = { [NB_LOSS_BCE] = 1 },
        [MODEL_SOFTMAX] = { [NB_LOSS_XENT] = 1, [NB_LOSS_HINGE] = 1 },
        [MODEL_MLP] = { 1, 1, 1, 1, 1 },
    };
    if (a->optim == NB_OPTIM_ADAM && a->momentum > 0)
        return train_usage("--momentum is for --optimizer sgd; Adam has --beta1");
    if (a->optim == NB_OPTIM_SGD && (a->beta1 > 0 || a->beta2 > 0 || a->eps > 0))
        return train_usage("--beta1, --beta2 and --eps are for --optimizer adam");
    if (a->loss >= 0 && !allowed[a->kind][a->loss])
        return train_usage("--loss %s does not fit a %s model", nb_loss_name(a->loss),
                           a->model);
    if (strcmp(a->data, "fashion-mnist") == 0 && a->test_fraction_set)
        return train_usage("--test-fraction: fashion-mnist comes with its own test set");
    int fm = strcmp(a->data, "fashion-mnist") == 0;
    if (fm && (a->label || a->drop || a->sep || a->test_data))
        return train_usage("--label, --drop, --sep and --test-data are for CSV files, not %s",
                           a->data);
    if (a->test_data && a->test_fraction_set)
        return train_usage("--test-data and --test-fraction: give one of them");
    if (a->plot && !ends_with(a->plot, ".svg") && !ends_with(a->plot, ".png"))
        return train_usage("--plot %s: the name must end in .svg or .png", a->plot);
    return 0;
}

/* -1: parsed; otherwise the exit status (0 after --help). */
static int parse_train_args(int argc, char **argv, train_args *a)
{
    *a = (train_args){ .act = -1,
                       .loss = -1,
                       .epochs = 10,
                       .batch = 32,
                       .seed = 42,
                       .test_fraction = 0.2,
                       .dtype = NB_F32 };
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(train_help, stdout);
            fputs(train_help_more, stdout);
            return 0;
        }
    }
    for (int i = 0; i < argc; i++) {
        int rc = parse_one(argc, argv, &i, a);
        if (rc)
            return rc;
    }
    int rc = check_args(a);
    return rc ? rc : -1;
}

/* ---- Data ------------------------------------------------------------------- */

static nb_status load_csv(const train_args *a, const char *path, nb_data *all, nb_err *err)
{
    nb_csv_opts co = { .sep = a->sep, .drop = a->drop, .max_bytes = a->max_bytes };
    nb_status s = csv_label_opts(a->label, &co, err);
    return s == NB_OK ? nb_csv_load(path, &co, all, err) : s;
}

/* Why the labels are not classes 0, 1, ...: the first that is not one,
 * with its line; "" if they all are. */
static void label_problem(const nb_data *d, char *why, size_t size)
{
    *why = '\0';
    for (size_t i = 0; i < d->n; i++) {
        double y = d->y[i];
        const char *what = y < 0           ? "is negative"
                           : y != floor(y) ? "is not a whole number"
                           : y > 1e6       ? "is above 1000000, the most classes nabla counts"
                                           : NULL;
        if (what) {
            snprintf(why, size, " (line %zu: label %.10g %s)", d->line ? d->line[i] : i + 1, y,
                     what);
            return;
        }
    }
}

/* train and test from a->data, as the file has them (standardised later):
 * classes counted over every row before the split, so both parts have
 * them all. */
static nb_status train_load_data(const train_args *a, nb_data *train, nb_data *test,
                                 nb_err *err)
{
    nb_data all = { 0 };
    char path[4096];
    nb_status s;

    if (strcmp(a->data, "fashion-mnist") == 0)
        return nb_fashion_mnist_load(a->data_dir, train, test, err);
    if ((s = data_path(a->data, a->data_dir, path, sizeof path, err)) != NB_OK ||
        (s = load_csv(a, path, &all, err)) != NB_OK)
        return s;
    if (all.n_classes == 0 && nb_data_classes(&all) > 0)
        all.n_classes = nb_data_classes(&all);
    if (a->test_data) { /* read as a model is applied: the training file's columns, classes */
        nb_csv_opts co = { .sep = a->sep,
                           .max_bytes = a->max_bytes,
                           .features = (const char *const *)all.names,
                           .n_features = all.d,
                           .target_name = all.label,
                           .no_target = !all.label,
                           .classes = (const char *const *)all.classes,
                           .n_classes = all.n_classes };
        *train = all;
        return nb_csv_load(a->test_data, &co, test, err);
    }
    s = nb_data_split(&all, a->test_fraction, a->seed, train, test, err);
    nb_data_free(&all);
    return s;
}

/* Standardise train and test with sc, fitted on train unless it holds a
 * checkpoint's. */
static nb_status standardise(const train_args *a, nb_data *train, nb_data *test, nb_scaler *sc,
                             nb_err *err)
{
    if (a->no_standardize || strcmp(a->data, "fashion-mnist") == 0)
        return NB_OK; /* pixels are in [0, 1] already */
    nb_status s = sc->mean ? NB_OK : nb_scaler_fit(sc, train, err);
    if (s == NB_OK)
        s = nb_scaler_apply(sc, train, err);
    if (s == NB_OK && test->n)
        s = nb_scaler_apply(sc, test, err);
    return s;
}

/* The class names, when the file gives them (as labels or in a scikit-learn
 * header), so that the numbers in the output can be read. */
static void print_classes(const train_args *a, const nb_data *d)
{
    if (!d->classes || a->json || a->quiet)
        return;
    printf("classes:");
    for (int k = 0; k < d->n_classes; k++)
        printf(" %d=%s", k, d->classes[k]);
    printf("\n");
}

/* ---- Model ------------------------------------------------------------------ */

/* The loss for a->kind when --loss was not given. */
static nb_loss default_loss(const train_args *a, int classes)
{
    switch (a->kind) {
    case MODEL_LINEAR:
        return NB_LOSS_MSE;
    case MODEL_LOGISTIC:
        return NB_LOSS_BCE;
    case MODEL_SOFTMAX:
        return NB_LOSS_XENT;
    default:
        return classes >= 2 ? NB_LOSS_XENT : NB_LOSS_MSE;
    }
}

/* Widths, loss and activation for the data; an error names what does not
 * fit (a logistic model on three classes). */
nb_status train_model_opts(const train_args *a, const nb_data *train, nb_mlp_opts *o,
                           int *widths, nb_err *err)
{
    int classes = nb_data_classes(train);
    nb_loss loss = a->loss >= 0 ? (nb_loss)a->loss : default_loss(a, classes);
    int out = 1, n = 0;

    if (loss == NB_LOSS_XENT || loss == NB_LOSS_HINGE) {
        char why[160];
        label_problem(train, why, sizeof why);
        if (classes < 2)
            return nb_err_set(err, NB_ERR_FORMAT,
                              "%s: the %s loss needs class labels "
                              "0, 1, ... as targets (found %s%s)",
                              a->data, nb_loss_name(loss),
                              classes < 0 ? "labels that are not classes" : "one class", why);
        out = classes;
    } else if (loss == NB_LOSS_BCE && classes != 2 && classes != 1) {
        char why[160];
        label_problem(train, why, sizeof why);
        return nb_err_set(err, NB_ERR_FORMAT,
                          "%s: a logistic model needs 0/1 targets "
                          "(found %s%s; try softmax)",
                          a->data, classes < 0 ? "labels that are not classes" : "more classes",
                          why);
    }
    widths[n++] = train->d;
    for (int i = 0; a->kind == MODEL_MLP && i < (a->n_hidden ? a->n_hidden : 1); i++)
        widths[n++] = a->n_hidden ? a->hidden[i] : 100;
    widths[n++] = out;
    *o = (nb_mlp_opts){ .dtype = a->dtype,
                        .widths = widths,
                        .n_widths = n,
                        .act = a->act > 0 ? (nb_act)a->act : NB_ACT_RELU,
                        .loss = loss,
                        .seed = a->seed };
    if (a->kind != MODEL_MLP) {
        o->act = NB_ACT_NONE;
        o->init = NB_INIT_ZERO;
    }
    return NB_OK;
}

/* ---- Output ----------------------------------------------------------------- */

static void json_num(const char *key, double v)
{
    if (isfinite(v))
        printf(", \"%s\": %.17g", key, v);
    else
        printf(", \"%s\": null", key);
}

static void print_result(const train_args *a, const nb_mlp *m, const nb_train_result *r)
{
    int classify = nb_loss_is_classifier(nb_mlp_options(m)->loss);
    if (a->json) {
        printf("{\"model\": \"%s\", \"epochs\": %d, \"optimizer\": \"%s\"", a->model, r->epochs,
               nb_optim_name(a->optim));
        json_num("train_loss", r->train_loss);
        json_num("test_loss", r->test_loss);
        json_num(classify ? "test_accuracy" : "test_r2",
                 classify ? r->test_accuracy : r->test_r2);
        json_num("seconds", r->seconds);
        json_num("samples_per_second", r->samples_per_second);
        printf("}\n");
        return;
    }
    printf("%s: train loss %.6f", a->model, r->train_loss);
    if (!isnan(r->test_loss))
        printf(", test loss %.6f, test %s %.4f", r->test_loss, classify ? "accuracy" : "R2",
               classify ? r->test_accuracy : r->test_r2);
    printf(" (%d epoch%s, %.2f s, %.0f samples/s)\n", r->epochs, r->epochs == 1 ? "" : "s",
           r->seconds, r->samples_per_second);
}

/* ---- nabla train -------------------------------------------------------------- */

static int fail(const nb_err *err)
{
    fprintf(stderr, "nabla train: %s%s\n", err->msg,
            err->code == NB_ERR_NONFINITE ? " (the loss diverged: try a lower --lr)" : "");
    return err->code == NB_ERR_ARG ? TRAIN_USAGE : TRAIN_ERROR;
}

static int run_training(const job *j, const train_args *a, nb_mlp *m, const nb_data *train,
                        const nb_data *test, const nb_scaler *sc, int done, nb_err *err)
{
    double lr = a->lr > 0 ? a->lr : a->optim == NB_OPTIM_ADAM ? 0.001 : 0.1;
    int classify = nb_loss_is_classifier(nb_mlp_options(m)->loss);
    char title[256];
    snprintf(title, sizeof title, "nabla train %s --data %s", a->model, a->data);
    plot *p = a->plot ? plot_new(title, classify) : NULL;
    if (a->plot && !p)
        return fail(&(nb_err){ NB_ERR_NOMEM, "--plot: out of memory" });
    nb_train_opts to = { .epochs = a->epochs,
                         .batch = a->batch,
                         .lr = lr,
                         .momentum = a->momentum,
                         .weight_decay = a->weight_decay,
                         .method = a->optim,
                         .beta1 = a->beta1,
                         .beta2 = a->beta2,
                         .eps = a->eps,
                         .seed = a->seed + (uint64_t)done,
                         .loss_csv = a->loss_csv,
                         .eval_every = a->epochs > 20 ? a->epochs / 20 : 1,
                         .threads = a->threads,
                         .progress = a->quiet  ? NULL
                                     : a->json ? stderr
                                               : stdout,
                         .on_epoch = p ? plot_epoch : NULL,
                         .on_epoch_arg = p };
    nb_train_result r;
    nb_status s = nb_train(m, train, test->n ? test : NULL, &to, &r, err);
    /* the plot and the checkpoint are written once, by rank 0 */
    if (s == NB_OK && p && j->rank == 0)
        s = plot_write(p, a->plot, err);
    plot_free(p);
    if (s != NB_OK)
        return fail(err);
    if (a->save && j->rank == 0 &&
        train_save(a, m, done + a->epochs, train, sc->mean ? sc : NULL, err) != NB_OK)
        return fail(err);
    print_result(a, m, &r);
    return 0;
}

/* The model: new, or from --resume (read on rank 0 and broadcast); 0 or
 * the exit status. */
static int make_model(const job *j, const train_args *a, const nb_data *train, nb_mlp **m,
                      int *done, nb_scaler *sc, nb_err *err)
{
    int widths[TRAIN_MAX_HIDDEN + 2];
    nb_mlp_opts o;

    if (a->resume) {
        int rc = j->rank == 0 ? train_resume(a, train, m, done, sc) : 0;
        if ((rc = job_rc(j, rc)) != 0)
            return rc;
        return job_share_resume(j, m, done, sc, err) != NB_OK ? fail(err) : 0;
    }
    nb_status s = train_model_opts(a, train, &o, widths, err);
    if (s == NB_OK && !(*m = nb_mlp_new(&o, err)))
        s = err->code;
    return job_agree(j, s, err) != NB_OK ? fail(err) : 0;
}

/* Standardisation and the float copies an f32 model gathers from. */
static nb_status prepare(const train_args *a, nb_mlp *m, nb_data *train, nb_data *test,
                         nb_scaler *sc, nb_err *err)
{
    nb_status s = standardise(a, train, test, sc, err);
    /* one copy of the features, in the form an f32 model gathers from (an
     * f64 model reads any form, so Fashion-MNIST's bytes stay) */
    if (s == NB_OK && nb_mlp_options(m)->dtype == NB_F32 &&
        (s = nb_data_convert(train, NB_F32, err)) == NB_OK && test->n)
        s = nb_data_convert(test, NB_F32, err);
    return s;
}

static int train_job(const job *j, int argc, char **argv)
{
    train_args a;
    nb_data train = { 0 }, test = { 0 };
    nb_scaler sc = { 0 };
    nb_err err = { 0 };
    int done = 0, rc = parse_train_args(argc, argv, &a);
    nb_mlp *m = NULL;

    if (rc >= 0)
        return rc;
    if (a.threads)
        nb_set_threads(a.threads);
    /* every step that can fail on one rank is agreed on by all */
    if (job_agree(j, train_load_data(&a, &train, &test, &err), &err) != NB_OK)
        rc = fail(&err);
    else
        rc = make_model(j, &a, &train, &m, &done, &sc, &err);
    if (rc == 0 && job_agree(j, prepare(&a, m, &train, &test, &sc, &err), &err) != NB_OK)
        rc = fail(&err);
    else if (rc == 0 && job_attach(j, m, &err) != NB_OK)
        rc = fail(&err);
    else if (rc == 0) {
        print_classes(&a, &train);
        nb_set_anomaly(nb_mlp_graph(m), a.anomaly);
        rc = run_training(j, &a, m, &train, &test, &sc, done, &err);
    }
    nb_mlp_free(m);
    nb_scaler_free(&sc);
    nb_data_free(&train);
    nb_data_free(&test);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    job j;
    int threads_given = 0;
    for (int i = 0; i < argc; i++)
        threads_given |= strcmp(argv[i], "--threads") == 0;
    job_start(&j, threads_given);
    return job_end(&j, train_job(&j, argc, argv));
}
