/* softmax_regression.c - softmax regression on Fisher's iris (150 x 4, three
 * species, data/iris.csv): standardised features, a fixed seeded 80/20
 * split, scores x W1 + b1 for the 3 classes, softmax cross-entropy,
 * mini-batch SGD.  Asserts test accuracy >= 0.93.  With 30 test rows the
 * accuracy moves in steps of 1/30 and depends on the split: seed 1 gives
 * 0.967; some other seeds give 0.933, and seed 7 gives 0.900.
 *
 * Usage: softmax_regression [epochs]   (default 200) */
#include <stdio.h>
#include <stdlib.h>

#include "nabla_nn.h"

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 200;
    nb_err err = { 0 };
    nb_data all = { 0 }, train = { 0 }, test = { 0 };
    nb_scaler sc = { 0 };
    nb_mlp *m = NULL;
    nb_train_result res;

    int ok = nb_csv_load(NB_DATA_DIR "/iris.csv", NULL, &all, &err) == NB_OK &&
             nb_data_split(&all, 0.2, 1, &train, &test, &err) == NB_OK &&
             nb_scaler_fit(&sc, &train, &err) == NB_OK &&
             nb_scaler_apply(&sc, &train, &err) == NB_OK &&
             nb_scaler_apply(&sc, &test, &err) == NB_OK;
    if (ok)
        printf("iris: %zu training and %zu test rows, %d classes\n", train.n, test.n,
               train.n_classes);
    ok = ok &&
         (m = nb_mlp_new(
              &(nb_mlp_opts){
                  .widths = (int[]){ 4, 3 }, .n_widths = 2, .loss = NB_LOSS_XENT, .seed = 1 },
              &err));
    ok = ok && nb_train(m, &train, &test,
                        &(nb_train_opts){ .epochs = epochs,
                                          .batch = 16,
                                          .lr = 0.1,
                                          .seed = 3,
                                          .eval_every = 20,
                                          .progress = stdout },
                        &res, &err) == NB_OK;
    if (ok) {
        printf("test accuracy %.4f, %.3f s\n", res.test_accuracy, res.seconds);
        ok = res.test_accuracy >= 0.93;
        printf("%s\n", ok ? "OK" : "FAILED: test accuracy below 0.93");
    } else {
        fprintf(stderr, "softmax_regression: %s\n", err.msg);
    }
    nb_mlp_free(m);
    nb_scaler_free(&sc);
    nb_data_free(&all);
    nb_data_free(&train);
    nb_data_free(&test);
    return ok ? 0 : 1;
}
