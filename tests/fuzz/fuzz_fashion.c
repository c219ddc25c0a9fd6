/* fuzz_fashion.c - libFuzzer target for the Fashion-MNIST loader
 * (nb_fashion_mnist_load in src/nn/idx.c), the whole path `nabla train
 * --data fashion-mnist --data-dir DIR` takes.  The input is four files,
 * plain or gzip-compressed: three big-endian 16-bit lengths, then the
 * training images and labels and the test images, and the rest is the
 * test labels.  Either both parts load as n x 784 pixels in [0, 1] with
 * labels 0..9, or the load fails with a message and nothing allocated;
 * never a crash, leak or sanitizer report.  Built with -Dfuzz=true;
 * tests/fuzz/run.sh builds and runs it. */
#include "fuzz_common.h"

#include <string.h>

#include "nabla_nn.h"

static const char *const names[4] = { "train-images-idx3-ubyte.gz",
                                      "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                                      "t10k-labels-idx1-ubyte.gz" };

static void check_part(const nb_data *d)
{
    must(d->n >= 1 && d->d == 784 && d->n_classes == 10 && d->x8 && !d->x && d->y);
    for (size_t i = 0; i < d->n; i++)
        must(d->y[i] >= 0 && d->y[i] <= 9 && d->y[i] == (int)d->y[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_dir();
    char path[4][128];
    size_t at = 6;
    if (!dir || size < 6)
        return 0;
    for (int k = 0; k < 4; k++) {
        size_t len = k < 3 ? (size_t)data[2 * k] << 8 | data[2 * k + 1] : size - at;
        if (len > size - at)
            len = size - at;
        snprintf(path[k], sizeof path[k], "%s/%s", dir, names[k]);
        if (fuzz_write(path[k], data + at, len) != 0)
            return 0;
        at += len;
    }
    nb_data train, test;
    nb_err err = { 0 };
    if (nb_fashion_mnist_load(dir, &train, &test, &err) == NB_OK) {
        check_part(&train);
        check_part(&test);
    } else {
        must(err.msg[0] != '\0' && train.x8 == NULL && test.x8 == NULL);
        must(strstr(err.msg, dir) != NULL || err.code == NB_ERR_NOMEM);
    }
    nb_data_free(&train);
    nb_data_free(&test);
    for (int k = 0; k < 4; k++)
        unlink(path[k]);
    return 0;
}
