/* fuzz_checkpoint.c - libFuzzer target for checkpoint restore, the paths
 * `nabla train --resume FILE` and nb_mlp_restore take from a file name:
 * nb_mlp_open (read, validate, rebuild the model the metadata describes,
 * restore its parameters) and nb_mlp_restore into existing models.  A
 * failed restore must leave the model's parameters as they were (the file
 * is validated whole before the model is touched); nothing may crash,
 * leak or trip a sanitizer.  Built with -Dfuzz=true; tests/fuzz/run.sh
 * builds and runs it. */
#include "fuzz_common.h"

#include <string.h>

#include "nabla_nn.h"

/* Every parameter of m, in order, as doubles into buf (room for max). */
static size_t params_of(nb_mlp *m, double *buf, size_t max)
{
    const nb_graph *g = nb_mlp_graph(m);
    size_t k = 0;
    for (size_t i = 0; i < nb_param_count(g); i++) {
        const nb_node *w = nb_param_at(g, i);
        for (size_t j = 0; j < nb_size(w) && k < max; j++)
            buf[k++] = nb_value_at(w, j);
    }
    return k;
}

/* Restore path into a model of the given widths and dtype: all or nothing. */
static void restore_into(const char *path, const int *widths, int n, nb_dtype dtype)
{
    nb_mlp_opts o = {
        .dtype = dtype, .widths = widths, .n_widths = n, .loss = NB_LOSS_XENT, .seed = 7
    };
    nb_err err = { 0 };
    nb_mlp *m = nb_mlp_new(&o, &err);
    double before[64], after[64];
    if (!m)
        return;
    size_t k = params_of(m, before, 64);
    if (nb_mlp_restore(m, path, &err) != NB_OK) {
        must(err.msg[0] != '\0');
        must(params_of(m, after, 64) == k && memcmp(before, after, k * sizeof *after) == 0);
    }
    nb_mlp_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    nb_safetensors st;
    nb_err err = { 0 };
    if (!path)
        return 0;
    nb_mlp *m = nb_mlp_open(path, &st, &err);
    if (m) {
        const nb_mlp_opts *o = nb_mlp_options(m);
        must(o->n_widths >= 2 && st.n == 2 * (size_t)(o->n_widths - 1));
        nb_safetensors_free(&st);
        nb_mlp_free(m);
    } else {
        must(err.msg[0] != '\0' && st.n == 0 && st.t == NULL);
        must(err.code != NB_ERR_NOMEM); /* as in fuzz_safetensors */
    }
    restore_into(path, (int[]){ 4, 3 }, 2, NB_F32); /* the shapes of the seeds */
    restore_into(path, (int[]){ 2, 1 }, 2, NB_F64);
    return 0;
}
