/* checkpoint_mlp.c - MLP checkpoints: the architecture as safetensors
 * metadata, a model rebuilt from it, parameters restored.  The file format
 * itself (parsing, validation, atomic saving) is checkpoint.c. */
#include "nabla_nn.h"
#include "nn_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "nabla-mlp/1"

static const char *const init_names[] = { "auto", "normal", "he", "glorot", "zero" };
static const char *const own_keys[] = { "format", "widths",   "activation", "loss", "dtype",
                                        "init",   "init_std", "seed",       "l1",   "l2" };
#define N_OWN (sizeof own_keys / sizeof *own_keys)

nb_status nb_mlp_save(const nb_mlp *m, const char *path, const nb_meta_kv *extra,
                      size_t n_extra, nb_err *err)
{
    if (!m || !path || (n_extra && !extra))
        return nb_err_set(err, NB_ERR_ARG, "save: NULL argument");
    const nb_mlp_opts *o = nb_mlp_options(m);
    char widths[16 * 12] = "", init_std[32], seed[32], l1[32], l2[32];
    size_t at = 0;
    for (int i = 0; i < o->n_widths && at < sizeof widths; i++)
        at += (size_t)snprintf(widths + at, sizeof widths - at, "%s%d", i ? "," : "",
                               o->widths[i]);
    if (at >= sizeof widths)
        return nb_err_set(err, NB_ERR_ARG, "save: too many layers to describe");
    snprintf(init_std, sizeof init_std, "%.17g", o->init_std);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    snprintf(l1, sizeof l1, "%.17g", o->l1);
    snprintf(l2, sizeof l2, "%.17g", o->l2);
    const char *vals[N_OWN] = { FORMAT,
                                widths,
                                nb_act_name(o->act),
                                nb_loss_name(o->loss),
                                o->dtype == NB_F32 ? "f32" : "f64",
                                init_names[o->init],
                                init_std,
                                seed,
                                l1,
                                l2 };
    if (n_extra > SIZE_MAX / sizeof(nb_meta_kv) - N_OWN)
        return nb_err_set(err, NB_ERR_ARG, "save: %zu metadata entries", n_extra);
    nb_meta_kv *kv = nb__nn_malloc((N_OWN + n_extra) * sizeof *kv);
    if (!kv)
        return nb_err_set(err, NB_ERR_NOMEM, "save: out of memory");
    for (size_t i = 0; i < N_OWN; i++)
        kv[i] = (nb_meta_kv){ own_keys[i], vals[i] };
    nb_status s = NB_OK;
    for (size_t i = 0; i < n_extra && s == NB_OK; i++) {
        for (size_t k = 0; k < N_OWN + i && s == NB_OK; k++)
            if (extra[i].key && strcmp(extra[i].key, kv[k].key) == 0)
                s = nb_err_set(err, NB_ERR_ARG, "save: metadata key '%s' given twice",
                               extra[i].key);
        kv[N_OWN + i] = extra[i];
    }
    if (s == NB_OK)
        s = nb_safetensors_save(nb_mlp_graph(m), path, kv, N_OWN + n_extra, err);
    free(kv);
    return s;
}

/* ---- The architecture from metadata --------------------------------------------- */

static nb_status missing(const char *key, nb_err *err)
{
    return nb_err_set(err, NB_ERR_FORMAT,
                      "__metadata__ has no valid '%s': not a nabla MLP "
                      "checkpoint (format " FORMAT ")",
                      key);
}

static nb_status parse_widths(const char *s, int *widths, int max, int *n, nb_err *err)
{
    *n = 0;
    while (s && *s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 1 || v > 1000000000L || *n == max ||
            (*end && (*end != ',' || !end[1])))
            return nb_err_set(err, NB_ERR_FORMAT,
                              "__metadata__ 'widths' is not a list of "
                              "2 to %d positive widths",
                              max);
        widths[(*n)++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return *n >= 2 ? NB_OK : missing("widths", err);
}

/* A tensor of exactly rows x cols (cols 0: a vector of rows). */
static nb_status expect(const nb_safetensors *st, const char *name, int rows, int cols,
                        nb_err *err)
{
    const nb_tensor *t = nb_safetensors_find(st, name);
    int rank = cols ? 2 : 1;
    if (!t)
        return nb_err_set(err, NB_ERR_FORMAT,
                          "no tensor '%s', which the metadata's widths "
                          "imply",
                          name);
    if (t->rank != rank || t->dim[0] != (size_t)rows || (cols && t->dim[1] != (size_t)cols))
        return nb_err_set(err, NB_ERR_FORMAT,
                          "tensor '%s' does not have the shape [%d%s%.0d] "
                          "the metadata's widths imply",
                          name, rows, cols ? ", " : "", cols);
    return NB_OK;
}

static int find_name(const char *v, const char *(*name)(int), int count)
{
    for (int i = 0; v && i < count; i++)
        if (strcmp(v, name(i)) == 0)
            return i;
    return -1;
}

static const char *act_name_i(int i) { return nb_act_name((nb_act)i); }
static const char *loss_name_i(int i) { return nb_loss_name((nb_loss)i); }
static const char *init_name_i(int i) { return init_names[i]; }

/* Optional numbers: absent means 0. */
static nb_status get_number(const nb_safetensors *st, const char *key, double *out, nb_err *err)
{
    const char *v = nb_safetensors_meta(st, key);
    char *end;
    *out = 0;
    if (!v)
        return NB_OK;
    *out = strtod(v, &end);
    return end != v && !*end && isfinite(*out) && *out >= 0 ? NB_OK : missing(key, err);
}

nb_status nb_mlp_checkpoint_opts(const nb_safetensors *st, nb_mlp_opts *opts, int *widths,
                                 int max_widths, nb_err *err)
{
    const char *fmt = nb_safetensors_meta(st, "format");
    const char *dt = nb_safetensors_meta(st, "dtype");
    int n = 0;
    *opts = (nb_mlp_opts){ 0 };
    if (!fmt || strcmp(fmt, FORMAT) != 0)
        return missing("format", err);
    nb_status s = parse_widths(nb_safetensors_meta(st, "widths"), widths, max_widths, &n, err);
    if (s != NB_OK)
        return s;
    int act = find_name(nb_safetensors_meta(st, "activation"), act_name_i, NB_ACT_RELU + 1);
    int loss = find_name(nb_safetensors_meta(st, "loss"), loss_name_i, NB_LOSS_HINGE + 1);
    int init = find_name(nb_safetensors_meta(st, "init"), init_name_i, NB_INIT_ZERO + 1);
    if (act < 0 || loss < 0)
        return missing(act < 0 ? "activation" : "loss", err);
    if (!dt || (strcmp(dt, "f32") && strcmp(dt, "f64")))
        return missing("dtype", err);
    *opts = (nb_mlp_opts){ .dtype = dt[1] == '3' ? NB_F32 : NB_F64,
                           .widths = widths,
                           .n_widths = n,
                           .act = (nb_act)act,
                           .loss = (nb_loss)loss,
                           .init = init < 0 ? NB_INIT_AUTO : (nb_init)init };
    const char *seed = nb_safetensors_meta(st, "seed");
    opts->seed = seed ? strtoull(seed, NULL, 10) : 0;
    if ((s = get_number(st, "init_std", &opts->init_std, err)) != NB_OK ||
        (s = get_number(st, "l1", &opts->l1, err)) != NB_OK ||
        (s = get_number(st, "l2", &opts->l2, err)) != NB_OK)
        return s;
    for (int l = 0; l + 1 < n && s == NB_OK; l++) {
        char wn[16], bn[16];
        snprintf(wn, sizeof wn, "W%d", l + 1);
        snprintf(bn, sizeof bn, "b%d", l + 1);
        s = expect(st, wn, widths[l], widths[l + 1], err);
        if (s == NB_OK)
            s = expect(st, bn, widths[l + 1], 0, err);
    }
    if (s == NB_OK && st->n != 2 * (size_t)(n - 1))
        s = nb_err_set(err, NB_ERR_FORMAT, "%zu tensors, but %d layers need %d", st->n, n - 1,
                       2 * (n - 1));
    return s;
}

/* ---- Loading ----------------------------------------------------------------------- */

/* Prefix err's message with the file's name. */
static nb_status in_file(const char *path, nb_status s, nb_err *err)
{
    if (err && s != NB_OK) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        nb_err_set(err, s, "%s: %s", path, msg);
    }
    return s;
}

/* The file's architecture, if it records one, must be the model's. */
static nb_status check_arch(const nb_mlp *m, const nb_safetensors *st, nb_err *err)
{
    const nb_mlp_opts *o = nb_mlp_options(m);
    nb_mlp_opts fo;
    int w[64];

    if (!nb_safetensors_meta(st, "format"))
        return NB_OK; /* bare tensors (from numpy, say): the shapes decide */
    nb_status s = nb_mlp_checkpoint_opts(st, &fo, w, 64, err);
    if (s != NB_OK)
        return s;
    int same = fo.n_widths == o->n_widths;
    for (int i = 0; same && i < fo.n_widths; i++)
        same = fo.widths[i] == o->widths[i];
    if (!same)
        return nb_err_set(err, NB_ERR_FORMAT, "its widths %s are not the model's",
                          nb_safetensors_meta(st, "widths"));
    if (fo.act != o->act || fo.loss != o->loss)
        return nb_err_set(err, NB_ERR_FORMAT,
                          "it has activation %s and loss %s, the model "
                          "%s and %s",
                          nb_act_name(fo.act), nb_loss_name(fo.loss), nb_act_name(o->act),
                          nb_loss_name(o->loss));
    return NB_OK;
}

nb_status nb_mlp_restore(nb_mlp *m, const char *path, nb_err *err)
{
    nb_safetensors st;
    if (!m || !path)
        return nb_err_set(err, NB_ERR_ARG, "restore: NULL argument");
    nb_status s = nb_safetensors_read(path, &st, err);
    if (s != NB_OK)
        return s;
    if ((s = check_arch(m, &st, err)) != NB_OK)
        s = in_file(path, s, err);
    else
        s = nb_safetensors_restore(nb_mlp_graph(m), &st, path, err);
    nb_safetensors_free(&st);
    return s;
}

nb_mlp *nb_mlp_open(const char *path, nb_safetensors *out, nb_err *err)
{
    nb_safetensors st;
    nb_mlp_opts o;
    int widths[64];
    nb_mlp *m = NULL;

    if (out)
        *out = (nb_safetensors){ 0 };
    if (!path || nb_safetensors_read(path, &st, err) != NB_OK)
        return path ? NULL : (nb_err_set(err, NB_ERR_ARG, "open: NULL path"), NULL);
    nb_status s = nb_mlp_checkpoint_opts(&st, &o, widths, 64, err);
    if (s != NB_OK)
        in_file(path, s, err);
    else if ((m = nb_mlp_new(&o, err)) &&
             nb_safetensors_restore(nb_mlp_graph(m), &st, path, err) != NB_OK) {
        nb_mlp_free(m);
        m = NULL;
    }
    if (out && m)
        *out = st;
    else
        nb_safetensors_free(&st);
    return m;
}
