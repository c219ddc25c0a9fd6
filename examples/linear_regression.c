/* linear_regression.c - the lecture's linear regression: 1000 points
 * x ~ U(-10, 10), y = 2x + 3 + N(0, 0.2^2), a 1 -> 1 linear model, L1 loss,
 * SGD with lr 0.01 for 1000 full-batch epochs.  Recovers w = 2, b = 3
 * (asserted within 0.05).
 *
 * Usage: linear_regression [epochs]   (default 1000) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla_nn.h"

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 1000;
    nb_err err = { 0 };
    nb_data data = { 0 };
    nb_rng rng;

    /* seeded synthetic data */
    nb_rng_seed(&rng, 1);
    if (nb_data_alloc(&data, 1000, 1, &err) != NB_OK) {
        fprintf(stderr, "linear_regression: %s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < data.n; i++) {
        data.x[i] = -10 + 20 * nb_rng_uniform(&rng);
        data.y[i] = 2 * data.x[i] + 3 + 0.2 * nb_rng_normal(&rng);
    }

    /* y = x W1 + b1, W1 and b1 start at 0 */
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 1, 1 },
                                           .n_widths = 2,
                                           .loss = NB_LOSS_L1,
                                           .init = NB_INIT_ZERO },
                           &err);
    nb_train_result res;
    int ok = m && nb_train(m, &data, NULL,
                           &(nb_train_opts){ .epochs = epochs,
                                             .lr = 0.01,
                                             .no_shuffle = 1,
                                             .eval_every = epochs / 10 + 1,
                                             .progress = stdout },
                           &res, &err) == NB_OK;
    if (!ok) {
        fprintf(stderr, "linear_regression: %s\n", err.msg);
        nb_mlp_free(m);
        nb_data_free(&data);
        return 1;
    }
    double w = nb_value_scalar(nb_mlp_param(m, "W1")),
           b = nb_value_scalar(nb_mlp_param(m, "b1"));
    printf("w = %.4f (true 2), b = %.4f (true 3), L1 loss %.4f, %.3f s\n", w, b, res.train_loss,
           res.seconds);
    ok = fabs(w - 2) <= 0.05 && fabs(b - 3) <= 0.05;
    printf("%s\n", ok ? "OK" : "FAILED: w or b is more than 0.05 off");
    nb_mlp_free(m);
    nb_data_free(&data);
    return ok ? 0 : 1;
}
