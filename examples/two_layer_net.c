/* two_layer_net.c - the lecture's two-layer network: input - 50 hidden
 * units - 10 classes, softmax cross-entropy, mini-batch SGD with batch 100
 * and lr 0.1, in float32.
 *   default     8x8 digits (data/digits.csv.gz, pixels / 16), 64-50-10 ReLU,
 *               a seeded 80/20 split: asserts test accuracy >= 0.95.
 *   --fashion   Fashion-MNIST (Debian package dataset-fashion-mnist),
 *               784-50-10 ReLU, 5 epochs: asserts test accuracy >= 0.85.
 * Options: --fashion[=DIR]  --epochs N  --sigmoid  --loss-csv FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla_nn.h"

typedef struct args {
    int fashion, epochs, sigmoid;
    const char *dir, *loss_csv;
} args;

static int parse(int argc, char **argv, args *a)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fashion"))
            a->fashion = 1;
        else if (!strncmp(argv[i], "--fashion=", 10))
            a->fashion = 1, a->dir = argv[i] + 10;
        else if (!strcmp(argv[i], "--sigmoid"))
            a->sigmoid = 1;
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            a->epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--loss-csv") && i + 1 < argc)
            a->loss_csv = argv[++i];
        else
            return 0;
    }
    return 1;
}

/* digits: pixels 0..16 scaled to [0, 1], split 80/20 */
static nb_status load_digits(nb_data *train, nb_data *test, nb_err *err)
{
    nb_data all = { 0 };
    nb_status s = nb_csv_load(NB_DATA_DIR "/digits.csv.gz", NULL, &all, err);
    for (size_t i = 0; s == NB_OK && i < all.n * (size_t)all.d; i++)
        all.x[i] /= 16;
    all.n_classes = 10;
    if (s == NB_OK)
        s = nb_data_split(&all, 0.2, 11, train, test, err);
    nb_data_free(&all);
    return s;
}

int main(int argc, char **argv)
{
    args a = { 0 };
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: two_layer_net [--fashion[=DIR]] [--epochs N] [--sigmoid] "
                        "[--loss-csv FILE]\n");
        return 2;
    }
    nb_err err = { 0 };
    nb_data train = { 0 }, test = { 0 };
    nb_mlp *m = NULL;
    nb_train_result res;
    int epochs = a.epochs > 0 ? a.epochs : a.fashion ? 5 : 60;
    double want = a.fashion ? 0.85 : 0.95;

    int ok = (a.fashion ? nb_fashion_mnist_load(a.dir, &train, &test, &err)
                        : load_digits(&train, &test, &err)) == NB_OK;
    if (ok)
        printf("%s: %zu training and %zu test images of %d pixels\n",
               a.fashion ? "Fashion-MNIST" : "digits", train.n, test.n, train.d);
    ok = ok && (m = nb_mlp_new(&(nb_mlp_opts){ .dtype = NB_F32,
                                               .widths = (int[]){ train.d, 50, 10 },
                                               .n_widths = 3,
                                               .act = a.sigmoid ? NB_ACT_SIGMOID : NB_ACT_RELU,
                                               .loss = NB_LOSS_XENT,
                                               .seed = 1 },
                               &err));
    ok = ok && nb_train(m, &train, &test,
                        &(nb_train_opts){ .epochs = epochs,
                                          .batch = 100,
                                          .lr = 0.1,
                                          .seed = 2,
                                          .eval_every = a.fashion ? 1 : 10,
                                          .progress = stdout,
                                          .loss_csv = a.loss_csv },
                        &res, &err) == NB_OK;
    if (ok) {
        printf("test accuracy %.4f after %d epochs, %.2f s training, %.0f samples/s\n",
               res.test_accuracy, epochs, res.seconds, res.samples_per_second);
        ok = res.test_accuracy >= want;
        printf(ok ? "OK\n" : "FAILED: test accuracy below %.2f\n", want);
    } else {
        fprintf(stderr, "two_layer_net: %s\n", err.msg);
    }
    nb_mlp_free(m);
    nb_data_free(&train);
    nb_data_free(&test);
    return ok ? 0 : 1;
}
