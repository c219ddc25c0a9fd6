/* mlp_regression.c - the lecture's MLP regression: y = 8x^2 + 7x + 3 + N(0, 1)
 * on x ~ U(-15, 15), a 1-10-6-1 ReLU network, L1 loss, mini-batch SGD with
 * momentum.  x and y are standardised for training (y back to its units
 * for the error).  The network must beat the best straight line (least
 * squares) by a wide margin: its test mean absolute error below 1/20 of
 * the line's.
 *
 * Usage: mlp_regression [epochs]   (default 300) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla_nn.h"

static nb_status make_data(nb_data *d, size_t n, nb_rng *rng, nb_err *err)
{
    nb_status s = nb_data_alloc(d, n, 1, err);
    for (size_t i = 0; s == NB_OK && i < n; i++) {
        double x = -15 + 30 * nb_rng_uniform(rng);
        d->x[i] = x;
        d->y[i] = 8 * x * x + 7 * x + 3 + nb_rng_normal(rng);
    }
    return s;
}

/* Mean |y - (a + b x)| on test of the least-squares line through train. */
static double line_mae(const nb_data *train, const nb_data *test)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0, e = 0;
    for (size_t i = 0; i < train->n; i++)
        mx += train->x[i] / (double)train->n, my += train->y[i] / (double)train->n;
    for (size_t i = 0; i < train->n; i++) {
        sxy += (train->x[i] - mx) * (train->y[i] - my);
        sxx += (train->x[i] - mx) * (train->x[i] - mx);
    }
    double b = sxy / sxx, a = my - b * mx;
    for (size_t i = 0; i < test->n; i++)
        e += fabs(test->y[i] - a - b * test->x[i]) / (double)test->n;
    return e;
}

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 300;
    nb_err err = { 0 };
    nb_data train = { 0 }, test = { 0 };
    nb_scaler sc = { 0 };
    nb_mlp *m = NULL;
    nb_train_result res;
    nb_rng rng;

    nb_rng_seed(&rng, 6);
    int ok = make_data(&train, 1000, &rng, &err) == NB_OK &&
             make_data(&test, 200, &rng, &err) == NB_OK;
    double line = ok ? line_mae(&train, &test) : 0, ym = 0, ys = 0;
    /* standardise x with the scaler, y by hand (L1 is scale-equivariant) */
    ok = ok && nb_scaler_fit(&sc, &train, &err) == NB_OK &&
         nb_scaler_apply(&sc, &train, &err) == NB_OK &&
         nb_scaler_apply(&sc, &test, &err) == NB_OK;
    for (size_t i = 0; ok && i < train.n; i++)
        ym += train.y[i] / (double)train.n;
    for (size_t i = 0; ok && i < train.n; i++)
        ys += (train.y[i] - ym) * (train.y[i] - ym) / (double)train.n;
    ys = sqrt(ys);
    for (size_t i = 0; ok && i < train.n; i++)
        train.y[i] = (train.y[i] - ym) / ys;
    for (size_t i = 0; ok && i < test.n; i++)
        test.y[i] = (test.y[i] - ym) / ys;
    ok = ok && (m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 1, 10, 6, 1 },
                                               .n_widths = 4,
                                               .act = NB_ACT_RELU,
                                               .loss = NB_LOSS_L1,
                                               .seed = 3 },
                               &err));
    ok = ok && nb_train(m, &train, &test,
                        &(nb_train_opts){ .epochs = epochs,
                                          .batch = 32,
                                          .lr = 0.003,
                                          .momentum = 0.9,
                                          .seed = 4,
                                          .eval_every = 30,
                                          .progress = stdout },
                        &res, &err) == NB_OK;
    if (ok) {
        double mlp = res.test_loss * ys; /* the L1 loss is the MAE, in units of ys */
        printf("test mean absolute error: MLP %.3f, best straight line %.3f (ratio %.4f), "
               "%.2f s\n",
               mlp, line, mlp / line, res.seconds);
        ok = mlp < 0.05 * line;
        printf("%s\n", ok ? "OK" : "FAILED: the MLP is not 20x better than a line");
    } else {
        fprintf(stderr, "mlp_regression: %s\n", err.msg);
    }
    nb_mlp_free(m);
    nb_scaler_free(&sc);
    nb_data_free(&train);
    nb_data_free(&test);
    return ok ? 0 : 1;
}
