/* predict.c - `nabla predict --model FILE --data DATA`: a model saved by
 * `nabla train --save` applied to new rows, as its metadata says (feature
 * names, label, classes, standardisation): predictions as CSV on stdout,
 * and the loss and accuracy or R2 on stderr when the rows have labels. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train.h"

#define CHUNK_ROWS 1000

static const char predict_help[] =
    "usage: nabla predict --model FILE --data DATA [options]\n"
    "\n"
    "Apply a model saved by 'nabla train --save' to the rows of DATA: one\n"
    "prediction per row as CSV on stdout (the class name or number for a\n"
    "classifier, the value for a regression).  When DATA has the label column,\n"
    "the loss and the accuracy or R2 follow on stderr.\n"
    "\n"
    "  --model FILE       the checkpoint; its metadata gives the features (found\n"
    "                     by header name, in any order; other columns are\n"
    "                     ignored), the label, the classes and the\n"
    "                     standardisation learnt in training\n"
    "  --data DATA        a CSV file (plain or .gz), or a data set by name: iris,\n"
    "                     breast-cancer, advertising, digits, or fashion-mnist\n"
    "                     (its test set)\n"
    "  --data-dir DIR     where the named sets live (as for nabla train)\n"
    "  --sep C            the CSV separator (default: the one the model was\n"
    "                     trained with, else guessed as nabla train does)\n"
    "  --max-bytes N      read at most N bytes of CSV text (default 1G)\n"
    "  --json             the metrics as one JSON object on stderr:\n"
    "                     {\"rows\", \"loss\", \"accuracy\" or \"r2\"}\n"
    "  -h, --help         this help\n"
    "\n"
    "exit status: 0 success; 1 a data or model error (a checkpoint without the\n"
    "metadata, saved by an older nabla; a missing feature; an unknown label,\n"
    "named by its line); 2 a bad argument.\n"
    "\n"
    "examples:\n"
    "  nabla train softmax --data iris --epochs 100 --save iris.safetensors\n"
    "  nabla predict --model iris.safetensors --data iris\n";

typedef struct predict_args {
    const char *model, *data, *data_dir;
    char sep;
    size_t max_bytes;
    int json;
} predict_args;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int
predict_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int status = cli_vusage("predict", CLI_EXIT_USAGE, fmt, ap);
    va_end(ap);
    return status;
}

/* -1: parsed; otherwise the exit status (0 after --help). */
static int parse_predict_args(int argc, char **argv, predict_args *a)
{
    static const char *const valued[] = { "--model", "--data",      "--data-dir",
                                          "--sep",   "--max-bytes", NULL };
    *a = (predict_args){ 0 };
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return fputs(predict_help, stdout), 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *eq = strchr(s, '=');
        size_t len = eq ? (size_t)(eq - s) : strlen(s);
        int k = 0;
        while (valued[k] && !(strlen(valued[k]) == len && strncmp(s, valued[k], len) == 0))
            k++;
        if (!valued[k]) {
            if (eq || strcmp(s, "--json") != 0)
                return predict_usage("unknown argument %.*s", (int)(len < 100 ? len : 100), s);
            a->json = 1;
            continue;
        }
        if (!eq && i + 1 >= argc)
            return predict_usage("%s needs a value", valued[k]);
        const char *v = eq ? eq + 1 : argv[++i];
        if (!*v)
            return predict_usage("%s needs a non-empty value", valued[k]);
        int rc = k == 0   ? (a->model = v, 0)
                 : k == 1 ? (a->data = v, 0)
                 : k == 2 ? (a->data_dir = v, 0)
                 : k == 3 ? parse_sep(valued[k], v, &a->sep, predict_usage)
                          : parse_bytes(valued[k], v, &a->max_bytes, predict_usage);
        if (rc)
            return rc;
    }
    if (!a->model || !a->data)
        return predict_usage("missing %s", a->model ? "--data" : "--model");
    return -1;
}

/* ---- The data, as the model saw it in training ----------------------------------- */

typedef struct saved {
    char **features, **classes;
    int n_features, n_classes;
    const char *label, *input;
} saved;

static nb_status read_saved(const nb_safetensors *st, const char *path, saved *sv, nb_err *err)
{
    const char *f = nb_safetensors_meta(st, "features");
    const char *c = nb_safetensors_meta(st, "classes");
    sv->input = nb_safetensors_meta(st, "input");
    sv->label = nb_safetensors_meta(st, "label");
    if (!sv->input)
        return nb_err_set(err, NB_ERR_FORMAT,
                          "%s: the checkpoint does not say how to read data for it (no "
                          "'input', 'features' or scaler in its metadata): it was saved by an "
                          "older nabla or another program; train it again with --save",
                          path);
    if (strcmp(sv->input, "csv") == 0 &&
        (!f || !meta_get_strings(f, &sv->features, &sv->n_features)))
        return nb_err_set(err, NB_ERR_FORMAT,
                          "%s: __metadata__ 'features' is not a list of names", path);
    if (c && !meta_get_strings(c, &sv->classes, &sv->n_classes))
        return nb_err_set(err, NB_ERR_FORMAT,
                          "%s: __metadata__ 'classes' is not a list of names", path);
    return NB_OK;
}

static nb_status load(const predict_args *a, const nb_safetensors *st, nb_mlp *m,
                      const saved *sv, nb_data *d, nb_err *err)
{
    const nb_mlp_opts *o = nb_mlp_options(m);
    int outputs = o->widths[o->n_widths - 1];
    char path[4096];
    nb_status s;

    if (strcmp(sv->input, "fashion-mnist") == 0) {
        nb_data train = { 0 };
        if (strcmp(a->data, "fashion-mnist") != 0)
            return nb_err_set(err, NB_ERR_FORMAT,
                              "%s: the model reads Fashion-MNIST images, not %s", a->model,
                              a->data);
        s = nb_fashion_mnist_load(a->data_dir, &train, d, err);
        nb_data_free(&train);
        return s;
    }
    if (strcmp(a->data, "fashion-mnist") == 0)
        return nb_err_set(err, NB_ERR_FORMAT, "%s: the model reads CSV rows, not fashion-mnist",
                          a->model);
    const char *sep = nb_safetensors_meta(st, "sep");
    nb_csv_opts co = { .sep = a->sep                    ? a->sep
                              : sep && strlen(sep) == 1 ? sep[0]
                                                        : 0,
                       .max_bytes = a->max_bytes,
                       .features = (const char *const *)sv->features,
                       .n_features = sv->n_features,
                       .target_name = sv->label,
                       .no_target = !sv->label,
                       .label_optional = 1,
                       .classes = (const char *const *)sv->classes };
    if (nb_loss_is_classifier(o->loss))
        co.n_classes = o->loss == NB_LOSS_BCE ? 2 : outputs;
    if (sv->classes && sv->n_classes != co.n_classes)
        return nb_err_set(err, NB_ERR_FORMAT, "%s: %d class names for a model with %d classes",
                          a->model, sv->n_classes, co.n_classes);
    if ((s = data_path(a->data, a->data_dir, path, sizeof path, err)) != NB_OK ||
        (s = nb_csv_load(path, &co, d, err)) != NB_OK)
        return s;
    nb_scaler sc;
    if ((s = meta_scaler(st, a->model, d->d, &sc, err)) == NB_OK && sc.mean)
        s = nb_scaler_apply(&sc, d, err);
    nb_scaler_free(&sc);
    return s;
}

/* ---- Predictions ------------------------------------------------------------------- */

static void print_prediction(const nb_mlp *m, const saved *sv, const double *out)
{
    const nb_mlp_opts *o = nb_mlp_options(m);
    int c = o->widths[o->n_widths - 1], best = 0;
    if (!nb_loss_is_classifier(o->loss)) {
        printf("%.9g\n", out[0]);
        return;
    }
    if (o->loss == NB_LOSS_BCE)
        best = out[0] > 0;
    for (int j = 1; o->loss != NB_LOSS_BCE && j < c; j++)
        if (out[j] > out[best])
            best = j;
    if (sv->classes)
        printf("%s\n", sv->classes[best]);
    else
        printf("%d\n", best);
}

static nb_status predict_rows(nb_mlp *m, const nb_data *d, const saved *sv, nb_err *err)
{
    const nb_mlp_opts *o = nb_mlp_options(m);
    size_t c = (size_t)o->widths[o->n_widths - 1];
    double *out = malloc(CHUNK_ROWS * c * sizeof *out);
    double *x = malloc(CHUNK_ROWS * (size_t)d->d * sizeof *x);
    nb_status s = out && x ? NB_OK : nb_err_set(err, NB_ERR_NOMEM, "predict: out of memory");
    if (s == NB_OK)
        printf("prediction\n");
    for (size_t at = 0; at < d->n && s == NB_OK; at += CHUNK_ROWS) {
        size_t rows = d->n - at < CHUNK_ROWS ? d->n - at : CHUNK_ROWS;
        /* the rows as doubles, whichever form the data set keeps them in */
        if ((s = nb_data_rows(d, at, rows, x, err)) == NB_OK)
            s = nb_mlp_predict(m, x, (int)rows, out, err);
        for (size_t i = 0; s == NB_OK && i < rows; i++)
            print_prediction(m, sv, out + i * c);
    }
    free(x);
    free(out);
    return s;
}

static void print_metrics(const predict_args *a, const nb_mlp *m, const nb_data *d,
                          const nb_eval *ev)
{
    int classify = nb_loss_is_classifier(nb_mlp_options(m)->loss);
    double v = classify ? ev->accuracy : ev->r2;
    if (a->json) {
        fprintf(stderr, "{\"rows\": %zu, \"loss\": %.17g, \"%s\": ", d->n, ev->loss,
                classify ? "accuracy" : "r2");
        if (isfinite(v))
            fprintf(stderr, "%.17g}\n", v);
        else
            fprintf(stderr, "null}\n");
        return;
    }
    fprintf(stderr, "%s: %zu rows, loss %.6f, %s %.4f\n", a->data, d->n, ev->loss,
            classify ? "accuracy" : "R2", v);
}

int cmd_predict(int argc, char **argv)
{
    predict_args a;
    nb_safetensors st = { 0 };
    saved sv = { 0 };
    nb_data d = { 0 };
    nb_err err = { 0 };
    nb_eval ev;
    int rc = parse_predict_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    nb_mlp *m = nb_mlp_open(a.model, &st, &err);
    nb_status s = m ? read_saved(&st, a.model, &sv, &err) : err.code;
    if (s == NB_OK)
        s = load(&a, &st, m, &sv, &d, &err);
    /* an f32 model evaluates from one float (or byte) copy, as in training */
    if (s == NB_OK && nb_mlp_options(m)->dtype == NB_F32)
        s = nb_data_convert(&d, NB_F32, &err);
    if (s == NB_OK)
        s = predict_rows(m, &d, &sv, &err);
    int labelled = d.label || (sv.input && strcmp(sv.input, "fashion-mnist") == 0);
    if (s == NB_OK && labelled && (s = nb_mlp_evaluate(m, &d, &ev, &err)) == NB_OK)
        print_metrics(&a, m, &d, &ev);
    if (s != NB_OK) {
        fflush(stdout);
        fprintf(stderr, "nabla predict: %s\n", err.msg);
        rc = err.code == NB_ERR_ARG ? CLI_EXIT_USAGE : CLI_EXIT_ERROR;
    } else {
        rc = 0;
    }
    free_strings(&sv.features, sv.n_features);
    free_strings(&sv.classes, sv.n_classes);
    nb_data_free(&d);
    nb_safetensors_free(&st);
    nb_mlp_free(m);
    return rc;
}
