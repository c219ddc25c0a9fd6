/* advertising.c - multivariable linear regression on advertising.csv (TV,
 * radio, newspaper budgets -> sales), two ways:
 *   - gradient descent (MSE, full batch) on standardised inputs, with the
 *     weights mapped back to the raw units: w_j = v_j / s_j and
 *     intercept = c - sum_j v_j m_j / s_j (m, s: feature mean and std);
 *   - closed-form least squares: the normal equations (X'X) beta = X'y with
 *     an intercept column, solved by Gaussian elimination.
 * Both must match the published fit (intercept 2.938889, TV 0.0457646,
 * radio 0.1885300, newspaper -0.0010375) to 1e-4 relative.
 *
 * Usage: advertising [epochs]   (default 1000) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla_nn.h"

#define P 4 /* intercept + 3 features */

/* Solve A beta = b (P x P) by elimination with partial pivoting. */
static void solve(double A[P][P], double b[P], double beta[P])
{
    for (int k = 0; k < P; k++) {
        int piv = k;
        for (int i = k + 1; i < P; i++)
            if (fabs(A[i][k]) > fabs(A[piv][k]))
                piv = i;
        for (int j = 0; j < P; j++) {
            double t = A[k][j];
            A[k][j] = A[piv][j];
            A[piv][j] = t;
        }
        double t = b[k];
        b[k] = b[piv];
        b[piv] = t;
        for (int i = k + 1; i < P; i++) {
            double f = A[i][k] / A[k][k];
            for (int j = k; j < P; j++)
                A[i][j] -= f * A[k][j];
            b[i] -= f * b[k];
        }
    }
    for (int k = P - 1; k >= 0; k--) {
        double s = b[k];
        for (int j = k + 1; j < P; j++)
            s -= A[k][j] * beta[j];
        beta[k] = s / A[k][k];
    }
}

static void least_squares(const nb_data *d, double beta[P])
{
    double A[P][P] = { { 0 } }, b[P] = { 0 };
    for (size_t i = 0; i < d->n; i++) {
        double row[P] = { 1, d->x[3 * i], d->x[3 * i + 1], d->x[3 * i + 2] };
        for (int j = 0; j < P; j++) {
            for (int k = 0; k < P; k++)
                A[j][k] += row[j] * row[k];
            b[j] += row[j] * d->y[i];
        }
    }
    solve(A, b, beta);
}

int main(int argc, char **argv)
{
    static const double ref[P] = { 2.938889, 0.0457646, 0.1885300, -0.0010375 };
    static const char *const names[P] = { "intercept", "TV", "radio", "newspaper" };
    int epochs = argc > 1 ? atoi(argv[1]) : 1000;
    nb_err err = { 0 };
    nb_data data = { 0 };
    nb_scaler sc = { 0 };
    nb_mlp *m = NULL;
    double cf[P], gd[P];
    int ok = nb_csv_load(NB_DATA_DIR "/advertising.csv",
                         &(nb_csv_opts){ .target_name = "sales" }, &data, &err) == NB_OK;
    if (ok) {
        least_squares(&data, cf); /* on the raw data */
        ok = nb_scaler_fit(&sc, &data, &err) == NB_OK &&
             nb_scaler_apply(&sc, &data, &err) == NB_OK;
    }
    ok = ok && (m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 3, 1 },
                                               .n_widths = 2,
                                               .loss = NB_LOSS_MSE,
                                               .init = NB_INIT_ZERO },
                               &err));
    ok = ok && nb_train(m, &data, NULL,
                        &(nb_train_opts){ .epochs = epochs,
                                          .lr = 0.1,
                                          .no_shuffle = 1,
                                          .eval_every = epochs / 5 + 1,
                                          .progress = stdout },
                        NULL, &err) == NB_OK;
    if (!ok) {
        fprintf(stderr, "advertising: %s\n", err.msg);
        nb_mlp_free(m);
        nb_scaler_free(&sc);
        nb_data_free(&data);
        return 1;
    }
    /* map the standardised fit back to raw units */
    gd[0] = nb_value_scalar(nb_mlp_param(m, "b1"));
    for (int j = 0; j < 3; j++) {
        double v = nb_value_at(nb_mlp_param(m, "W1"), (size_t)j);
        gd[j + 1] = v / sc.std[j];
        gd[0] -= v * sc.mean[j] / sc.std[j];
    }
    printf("%-10s %14s %14s %14s\n", "", "gradient", "closed form", "published");
    for (int j = 0; j < P; j++) {
        printf("%-10s %14.7f %14.7f %14.7f\n", names[j], gd[j], cf[j], ref[j]);
        ok &= fabs(gd[j] - ref[j]) <= 1e-4 * fabs(ref[j]);
        ok &= fabs(cf[j] - ref[j]) <= 1e-4 * fabs(ref[j]);
    }
    printf("%s\n", ok ? "OK: both agree with the published fit to 1e-4 relative" : "FAILED");
    nb_mlp_free(m);
    nb_scaler_free(&sc);
    nb_data_free(&data);
    return ok ? 0 : 1;
}
