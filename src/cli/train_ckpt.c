/* train_ckpt.c - checkpoints for `nabla train`: --save writes the trained
 * model with its architecture and epoch count (nb_mlp_save: atomic, and
 * never with non-finite parameters); --resume rebuilds the model from a
 * checkpoint and checks it against the options and the data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

nb_status train_save(const train_args *a, const nb_mlp *m, int epochs, nb_err *err)
{
    char ep[16];
    snprintf(ep, sizeof ep, "%d", epochs);
    nb_meta_kv extra[] = { { "model", a->model }, { "epochs", ep } };
    return nb_mlp_save(m, a->save, extra, 2, err);
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

int train_resume(const train_args *a, const nb_data *train, nb_mlp **m, int *done)
{
    nb_safetensors st;
    nb_err err = { 0 };

    *m = nb_mlp_open(a->resume, &st, &err);
    if (!*m) {
        fprintf(stderr, "nabla train: %s\n", err.msg);
        return TRAIN_ERROR;
    }
    const nb_mlp_opts *o = nb_mlp_options(*m);
    int rc = check_options(a, &st, o);
    if (rc == 0)
        rc = check_data(a, train, o);
    const char *ep = nb_safetensors_meta(&st, "epochs");
    *done = ep ? atoi(ep) : 0;
    nb_safetensors_free(&st);
    if (rc) {
        nb_mlp_free(*m);
        *m = NULL;
    }
    return rc;
}
