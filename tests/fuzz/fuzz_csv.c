/* fuzz_csv.c - libFuzzer target for the CSV loader (src/nn/csv.c).  The
 * first byte picks the options (header mode, target column, no target),
 * the rest is the file, plain or gzip-compressed.  It must load a
 * consistent data set or fail with a message naming the place; never
 * crash, leak or trip a sanitizer.  A loaded set is split, standardised
 * and counted, as `nabla train` does.  Built with -Dfuzz=true;
 * tests/fuzz/run.sh builds and runs it. */
#include "fuzz_common.h"

#include <math.h>

#include "nabla_nn.h"

static void use(nb_data *all)
{
    nb_data train = { 0 }, test = { 0 };
    nb_scaler sc = { 0 };
    nb_err err = { 0 };
    must(all->n > 0 && all->d >= 0 && all->x && all->y);
    (void)nb_data_classes(all);
    if (nb_data_split(all, 0.25, 1, &train, &test, &err) == NB_OK &&
        nb_scaler_fit(&sc, &train, &err) == NB_OK) {
        must(nb_scaler_apply(&sc, &train, &err) == NB_OK);
        must(test.n == 0 || nb_scaler_apply(&sc, &test, &err) == NB_OK);
    }
    nb_scaler_free(&sc);
    nb_data_free(&train);
    nb_data_free(&test);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    nb_csv_opts o = { .header = (nb_csv_header)(data[0] % 3),
                      .target = (data[0] >> 2) % 5 - 2,
                      .target_name = (data[0] & 0x40) ? "y" : NULL,
                      .no_target = (data[0] & 0x80) != 0 };
    const char *path = fuzz_file(data + 1, size - 1);
    nb_data all;
    nb_err err = { 0 };
    if (!path)
        return 0;
    if (nb_csv_load(path, &o, &all, &err) == NB_OK)
        use(&all);
    else
        must(err.msg[0] != '\0' && all.x == NULL);
    nb_data_free(&all);
    return 0;
}
