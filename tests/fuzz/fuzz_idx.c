/* fuzz_idx.c - libFuzzer target for the IDX loader (src/nn/idx.c): any
 * bytes, plain or gzip-compressed, as an IDX file of unsigned bytes.  It
 * must load exactly the size its header promises or fail with a message;
 * never crash, leak, trip a sanitizer or allocate what the file does not
 * hold.  Built with -Dfuzz=true; tests/fuzz/run.sh builds and runs it. */
#include "fuzz_common.h"

#include "nabla_nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    nb_idx idx;
    nb_err err = { 0 };
    if (!path)
        return 0;
    if (nb_idx_load(path, &idx, &err) == NB_OK) {
        size_t n = 1;
        must(idx.rank >= 1 && idx.rank <= 4 && idx.data);
        for (int i = 0; i < idx.rank; i++)
            n *= (size_t)idx.dim[i];
        must(n == idx.size);
        volatile unsigned char sink = idx.data[idx.size - 1]; /* all of it readable */
        (void)sink;
    } else {
        must(err.msg[0] != '\0' && idx.data == NULL);
    }
    nb_idx_free(&idx);
    return 0;
}
