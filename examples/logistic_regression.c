/* logistic_regression.c - logistic regression on the Wisconsin breast cancer
 * data (569 x 30, data/breast_cancer.csv): features standardised with the
 * training set's mean and std, a fixed seeded 80/20 split, binary
 * cross-entropy on the logit x W1 + b1, full-batch gradient descent.
 * Prints the loss curve; asserts test accuracy >= 0.95.
 *
 * Usage: logistic_regression [epochs]   (default 300) */
#include <stdio.h>
#include <stdlib.h>

#include "nabla_nn.h"

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 300;
    nb_err err = { 0 };
    nb_data all = { 0 }, train = { 0 }, test = { 0 };
    nb_scaler sc = { 0 };
    nb_mlp *m = NULL;
    nb_train_result res;

    int ok = nb_csv_load(NB_DATA_DIR "/breast_cancer.csv", NULL, &all, &err) == NB_OK &&
             nb_data_split(&all, 0.2, 2024, &train, &test, &err) == NB_OK &&
             nb_scaler_fit(&sc, &train, &err) == NB_OK &&
             nb_scaler_apply(&sc, &train, &err) == NB_OK &&
             nb_scaler_apply(&sc, &test, &err) == NB_OK;
    if (ok)
        printf("breast cancer: %zu training and %zu test rows of %d features\n", train.n,
               test.n, train.d);
    ok = ok && (m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 30, 1 },
                                               .n_widths = 2,
                                               .loss = NB_LOSS_BCE,
                                               .init = NB_INIT_ZERO },
                               &err));
    /* the loss curve: one line every 20 epochs */
    ok = ok && nb_train(m, &train, &test,
                        &(nb_train_opts){ .epochs = epochs,
                                          .lr = 0.5,
                                          .no_shuffle = 1,
                                          .eval_every = 20,
                                          .progress = stdout },
                        &res, &err) == NB_OK;
    if (ok) {
        printf("test accuracy %.4f (%d of %zu wrong), %.3f s\n", res.test_accuracy,
               (int)((1 - res.test_accuracy) * (double)test.n + 0.5), test.n, res.seconds);
        ok = res.test_accuracy >= 0.95;
        printf("%s\n", ok ? "OK" : "FAILED: test accuracy below 0.95");
    } else {
        fprintf(stderr, "logistic_regression: %s\n", err.msg);
    }
    nb_mlp_free(m);
    nb_scaler_free(&sc);
    nb_data_free(&all);
    nb_data_free(&train);
    nb_data_free(&test);
    return ok ? 0 : 1;
}
