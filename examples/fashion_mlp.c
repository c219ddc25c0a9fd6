/* fashion_mlp.c - a larger Fashion-MNIST MLP: 784-256-128-10 ReLU, He
 * initialisation, softmax cross-entropy, SGD with momentum 0.9, batch 128,
 * float32, and a step schedule: the learning rate 0.02, then 0.002 for the
 * last quarter of the epochs (two nb_train calls).  It must beat the
 * published MLP rows of the Fashion-MNIST benchmark (scikit-learn
 * MLPClassifier 0.871, a 256-128-100 MLP 0.8833): exits non-zero below 0.89
 * test accuracy.  Prints its training time.
 * Needs the Debian package dataset-fashion-mnist; not a default test.
 * Usage: fashion_mlp [EPOCHS (default 16)] [THREADS (default 1)] */
#include <stdio.h>
#include <stdlib.h>

#include "nabla_nn.h"

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 16, threads = argc > 2 ? atoi(argv[2]) : 1;
    nb_err err = { 0 };
    nb_data train = { 0 }, test = { 0 };
    nb_mlp *m = NULL;
    nb_train_result res, fine;

    if (epochs < 1 || threads < 1) {
        fprintf(stderr, "usage: fashion_mlp [EPOCHS] [THREADS]\n");
        return 2;
    }
    /* the pixels stay bytes: f32 batches are gathered from them directly */
    int ok = nb_fashion_mnist_load(NULL, &train, &test, &err) == NB_OK;
    if (ok)
        printf("Fashion-MNIST: %zu training and %zu test images; %s\n", train.n, test.n,
               (nb_set_threads(threads), nb_backend()));
    ok = ok && (m = nb_mlp_new(&(nb_mlp_opts){ .dtype = NB_F32,
                                               .widths = (int[]){ 784, 256, 128, 10 },
                                               .n_widths = 4,
                                               .act = NB_ACT_RELU,
                                               .init = NB_INIT_HE,
                                               .loss = NB_LOSS_XENT,
                                               .seed = 1 },
                               &err));
    int coarse = epochs - epochs / 4;
    nb_train_opts o = { .epochs = coarse,
                        .batch = 128,
                        .lr = 0.02,
                        .momentum = 0.9,
                        .seed = 2,
                        .progress = stdout };
    ok = ok && nb_train(m, &train, &test, &o, &res, &err) == NB_OK;
    if (ok && epochs > coarse) {
        printf("learning rate 0.002 for %d more epochs\n", epochs - coarse);
        o.epochs = epochs - coarse, o.lr = 0.002, o.seed = 3;
        ok = nb_train(m, &train, &test, &o, &fine, &err) == NB_OK;
        res.test_accuracy = fine.test_accuracy;
        res.seconds += fine.seconds;
    }
    if (ok) {
        printf("784-256-128-10 ReLU: test accuracy %.4f after %d epochs; training %.1f s "
               "(%.0f samples/s)\n",
               res.test_accuracy, epochs, res.seconds,
               (double)epochs * (double)train.n / res.seconds);
        ok = res.test_accuracy >= 0.89;
        printf(ok ? "OK: beats the published MLP rows (0.871, 0.8833)\n"
                  : "FAILED: test accuracy below 0.89\n");
    } else {
        fprintf(stderr, "fashion_mlp: %s\n", err.msg);
    }
    nb_mlp_free(m);
    nb_data_free(&train);
    nb_data_free(&test);
    return ok ? 0 : 1;
}
