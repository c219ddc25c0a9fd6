/* train_ckpt.c - checkpoints for `nabla train`: --save writes the trained
 * model with its architecture and epoch count (nb_mlp_save: atomic, and
 * never with non-finite parameters); --resume rebuilds the model from a
 * checkpoint and checks it against the options and the data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

/* The metadata keys `nabla predict` reads: "input" (csv or fashion-mnist),
 * "features", "label", "classes" (JSON arrays of strings), "sep", and
 * "scaler_mean", "scaler_std" (JSON arrays of numbers, exact). */
nb_status train_save(const train_args *a, const nb_mlp *m, int epochs, const nb_data *train,
                     const nb_scaler *sc, nb_err *err)
{
    char ep[16], sep[2] = { a->sep, 0 };
    int csv = strcmp(a->data, "fashion-mnist") != 0;
    char *features = csv && train->names ? meta_strings(train->names, train->d) : NULL;
    char *classes = train->classes ? meta_strings(train->classes, train->n_classes) : NULL;
    char *mean = sc ? meta_numbers(sc->mean, sc->d) : NULL;
    char *std = sc ? meta_numbers(sc->std, sc->d) : NULL;
    nb_meta_kv extra[10] = { { "model", a->model },
                             { "epochs", ep },
                             { "data", a->data },
                             { "input", csv ? "csv" : "fashion-mnist" } };
    size_t n = 4;
    nb_status s = NB_OK;

    snprintf(ep, sizeof ep, "%d", epochs);
    if ((csv && train->names && !features) || (train->classes && !classes) ||
        (sc && (!mean || !std)))
        s = nb_err_set(err, NB_ERR_NOMEM, "save: out of memory");
    if (features)
        extra[n++] = (nb_meta_kv){ "features", features };
    if (csv && train->label)
        extra[n++] = (nb_meta_kv){ "label", train->label };
    if (classes)
        extra[n++] = (nb_meta_kv){ "classes", classes };
    if (a->sep)
        extra[n++] = (nb_meta_kv){ "sep", sep };
    if (mean && std) {
        extra[n++] = (nb_meta_kv){ "scaler_mean", mean };
        extra[n++] = (nb_meta_kv){ "scaler_std", std };
    }
    if (s == NB_OK)
        s = nb_mlp_save(m, a->save, extra, n, err);
    free(features);
    free(classes);
    free(mean);
    free(std);
    return s;
}

/* Options given on the command line must agree with the checkpoint. */
static int check_options(const train_args *a, const nb_safetensors *st, const nb_mlp_opts *o)
{
    const char *model = nb_safetensors_meta(st, "model");
    if (model && strcmp(model, a->model) != 0)
        return train_usage("--resume %s holds a %s model, not %s", a->resume, model, a->model);
    int same = a->n_hidden == 0 || a->n_hidden == o->n_widths - 2;
    for (int i = 0; same && a->n_hidden && i < a->n_hidden; i++)
        same = a->hidden[i] == o->widths[i + 1];
    if (!same)
        return train_usage("--hidden disagrees with --resume %s (widths %s)", a->resume,
                           nb_safetensors_meta(st, "widths"));
    if (a->act > 0 && a->act != (int)o->act)
        return train_usage("--activation %s disagrees with --resume %s (%s)",
                           nb_act_name(a->act), a->resume, nb_act_name(o->act));
    if (a->loss >= 0 && a->loss != (int)o->loss)
        return train_usage("--loss %s disagrees with --resume %s (%s)", nb_loss_name(a->loss),
                           a->resume, nb_loss_name(o->loss));
    if (a->dtype_set && a->dtype != o->dtype)
        return train_usage("--dtype %s disagrees with --resume %s (%s)",
                           a->dtype == NB_F32 ? "f32" : "f64", a->resume,
                           o->dtype == NB_F32 ? "f32" : "f64");
    return 0;
}

/* The data must fit the checkpoint's inputs and outputs. */
static int check_data(const train_args *a, const nb_data *train, const nb_mlp_opts *o)
{
    train_args same = *a;
    nb_mlp_opts want;
    int w[TRAIN_MAX_HIDDEN + 2];
    nb_err err = { 0 };

    same.loss = (int)o->loss;
    same.n_hidden = 0;
    if (train_model_opts(&same, train, &want, w, &err) != NB_OK) {
        fprintf(stderr, "nabla train: %s\n", err.msg);
        return TRAIN_ERROR;
    }
    int in = o->widths[0], out = o->widths[o->n_widths - 1];
    if (want.widths[0] != in || want.widths[want.n_widths - 1] != out) {
        fprintf(stderr,
                "nabla train: %s has %d features and %d outputs, the model in %s "
                "%d inputs and %d outputs\n",
                a->data, want.widths[0], want.widths[want.n_widths - 1], a->resume, in, out);
        return TRAIN_ERROR;
    }
    return 0;
}

/* The data's features must be the ones the checkpoint was trained on. */
static int check_features(const train_args *a, const nb_data *train, const nb_safetensors *st)
{
    char **names = NULL;
    int n = 0, same = 1;
    const char *saved = nb_safetensors_meta(st, "features");
    if (!saved || !train->names || !meta_get_strings(saved, &names, &n))
        return 0;
    same = n == train->d;
    for (int j = 0; same && j < n; j++)
        same = strcmp(names[j], train->names[j]) == 0;
    free_strings(&names, n);
    if (same)
        return 0;
    fprintf(stderr, "nabla train: the features of %s are not those %s was trained on (%s)\n",
            a->data, a->resume, saved);
    return TRAIN_ERROR;
}

int train_resume(const train_args *a, const nb_data *train, nb_mlp **m, int *done,
                 nb_scaler *sc)
{
    nb_safetensors st;
    nb_err err = { 0 };

    *sc = (nb_scaler){ 0 };
    *m = nb_mlp_open(a->resume, &st, &err);
    if (!*m) {
        fprintf(stderr, "nabla train: %s\n", err.msg);
        return TRAIN_ERROR;
    }
    const nb_mlp_opts *o = nb_mlp_options(*m);
    int rc = check_options(a, &st, o);
    if (rc == 0)
        rc = check_data(a, train, o);
    if (rc == 0)
        rc = check_features(a, train, &st);
    /* the checkpoint's standardisation, so resuming sees the same inputs */
    if (rc == 0 && !a->no_standardize &&
        meta_scaler(&st, a->resume, o->widths[0], sc, &err) != NB_OK) {
        fprintf(stderr, "nabla train: %s\n", err.msg);
        rc = TRAIN_ERROR;
    }
    const char *ep = nb_safetensors_meta(&st, "epochs");
    *done = ep ? atoi(ep) : 0;
    nb_safetensors_free(&st);
    if (rc) {
        nb_mlp_free(*m);
        *m = NULL;
    }
    return rc;
}
