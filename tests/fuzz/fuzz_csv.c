/* fuzz_csv.c - libFuzzer target for the CSV loader (src/nn/csv.c).  The
 * first two bytes pick the options (header mode, target column, no target;
 * separator, dropped columns, a model's features and classes, a byte
 * limit), the rest is the file, plain or gzip-compressed.  It must load a
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
    must(all->n > 0 && all->d >= 0 && all->x && all->y && all->line && all->names);
    for (int k = 0; all->classes && k < all->n_classes; k++)
        must(all->classes[k] != NULL);
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
    static const char seps[] = { 0, ',', ';', '\t', ' ', '|', '"', 0 };
    static const char *const drops[] = { NULL, "1", "a,2", "b" };
    static const char *const feats[] = { "a", "b", "2" }, *const classes[] = { "x", "y" };
    if (size < 2)
        return 0;
    /* byte 0: header, target, name, no target; byte 1: separator, dropped
     * columns, a model's features and classes, a byte limit */
    nb_csv_opts o = { .header = (nb_csv_header)(data[0] % 3),
                      .target = (data[0] >> 2) % 5 - 2,
                      .target_name = (data[0] & 0x40) ? "y" : NULL,
                      .no_target = (data[0] & 0x80) != 0,
                      .sep = seps[data[1] & 7],
                      .drop = drops[(data[1] >> 3) & 3],
                      .features = (data[1] & 0x20) ? feats : NULL,
                      .n_features = (data[1] & 0x20) ? 3 : 0,
                      .label_optional = (data[1] & 0x20) != 0,
                      .classes = (data[1] & 0x40) ? classes : NULL,
                      .n_classes = (data[1] & 0x40) ? 2 : 0,
                      .max_bytes = (data[1] & 0x80) ? 100 : 0 };
    const char *path = fuzz_file(data + 2, size - 2);
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
