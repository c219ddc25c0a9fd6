/* fuzz_safetensors.c - libFuzzer target for the safetensors loader
 * (src/nn/checkpoint.c, checkpoint_mlp.c).  Any bytes are a file: parsing
 * must accept it whole or reject it with a message, never crash, leak,
 * trip a sanitizer or allocate more than the file could hold.  An accepted
 * file's tensors must tile its data section; one whose metadata describes
 * an MLP is rebuilt and its parameters restored, as `nabla train --resume`
 * would.  Built with -Dfuzz=true; tests/fuzz/run.sh builds and runs it. */
#include "fuzz_common.h"

#include <string.h>

#include "nabla_nn.h"

static void use(const nb_safetensors *st, size_t size)
{
    size_t bytes = 0;
    for (size_t i = 0; i < st->n; i++) {
        const nb_tensor *t = &st->t[i];
        must(t->name && t->rank >= 0 && t->rank <= NB_ST_MAX_RANK);
        bytes += t->size * (t->dtype == NB_F32 ? 4 : 8);
        must(nb_safetensors_find(st, t->name) == t);
    }
    must(bytes <= size);
    nb_mlp_opts o;
    int widths[16];
    nb_err err = { 0 };
    if (nb_mlp_checkpoint_opts(st, &o, widths, 16, &err) != NB_OK) {
        must(err.msg[0] != '\0');
        return;
    }
    nb_mlp *m = nb_mlp_new(&o, &err);
    if (m) {
        nb_status s = nb_safetensors_restore(nb_mlp_graph(m), st, "fuzz", &err);
        must(s == NB_OK || err.msg[0] != '\0');
        nb_mlp_free(m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_safetensors st;
    nb_err err = { 0 };
    nb_status s = nb_safetensors_parse(data, size, "fuzz", &st, &err);
    if (s == NB_OK)
        use(&st, size);
    else
        must(err.msg[0] != '\0' && st.n == 0 && st.t == NULL);
    /* nothing here runs out of memory (ASan stops the run first), so a
     * header cJSON rejects must never be taken for an allocation failure */
    must(s != NB_ERR_NOMEM);
    nb_safetensors_free(&st);
    return 0;
}
