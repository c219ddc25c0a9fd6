/* newton_logistic.c - logistic regression on the Wisconsin breast cancer
 * data (569 x 30, data/breast_cancer.csv) by Newton's method, with the
 * Hessian from the engine, beside gradient descent on the same loss.
 *
 *     L(w) = mean_i bce(x_i . w, t_i) + (lambda / 2) |w|^2
 *
 * x_i is row i standardised (mean 0, population standard deviation 1 per
 * feature, over all 569 rows) with a 1 appended for the bias, so w has 31
 * weights; lambda = 0.01 makes the optimum unique (the data are nearly
 * separable).  Newton: w -= H^-1 grad, H from nb_hessian_dense, solved by
 * Cholesky.  Gradient descent: w -= grad / M with M = the largest
 * eigenvalue of H at w = 0, a bound on every H here (p (1 - p) <= 1/4).
 *
 * Both run until the loss is within 1e-10 of the optimum L* (Newton's
 * loss once its gradient is below 1e-12); it prints iterations and wall
 * time for each, and the weights, and asserts that both reach L* and that
 * their weights agree.  tests: newton_logistic_scipy.py compares the
 * weights with scipy's optimum.
 *
 * Usage: newton_logistic [--weights]   (--weights: print w, 17 digits) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla_nn.h"

#define LAMBDA 0.01
#define D      31 /* 30 features and the bias */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Solve A x = b in place (b becomes x) for symmetric positive definite A
 * (n x n, destroyed): Cholesky, A = L L^T.  0 if A is not positive
 * definite. */
static int cholesky_solve(double *A, double *b, int n)
{
    for (int j = 0; j < n; j++) {
        double s = A[j * n + j];
        for (int k = 0; k < j; k++)
            s -= A[j * n + k] * A[j * n + k];
        if (!(s > 0))
            return 0;
        A[j * n + j] = sqrt(s);
        for (int i = j + 1; i < n; i++) {
            double t = A[i * n + j];
            for (int k = 0; k < j; k++)
                t -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = t / A[j * n + j];
        }
    }
    for (int i = 0; i < n; i++) { /* L y = b */
        for (int k = 0; k < i; k++)
            b[i] -= A[i * n + k] * b[k];
        b[i] /= A[i * n + i];
    }
    for (int i = n; i-- > 0;) { /* L^T x = y */
        for (int k = i + 1; k < n; k++)
            b[i] -= A[k * n + i] * b[k];
        b[i] /= A[i * n + i];
    }
    return 1;
}

/* The largest eigenvalue of symmetric A, by power iteration */
static double largest_eigenvalue(const double *A, int n)
{
    double v[D], w[D], lambda = 0;
    for (int i = 0; i < n; i++)
        v[i] = 1;
    for (int it = 0; it < 1000; it++) {
        double norm = 0;
        for (int i = 0; i < n; i++) {
            w[i] = 0;
            for (int j = 0; j < n; j++)
                w[i] += A[i * n + j] * v[j];
            norm += w[i] * w[i];
        }
        norm = sqrt(norm);
        for (int i = 0; i < n; i++)
            v[i] = w[i] / norm;
        if (fabs(norm - lambda) <= 1e-14 * norm)
            break;
        lambda = norm;
    }
    return lambda;
}

typedef struct problem {
    nb_graph *g;
    nb_node *w, *loss;
    nb_hessian *h;
} problem;

/* loss and gradient at the weights in p->w */
static int loss_grad(problem *p, double *loss, double *grad)
{
    if (nb_forward(p->g, p->loss) != NB_OK || nb_backward(p->g, p->loss) != NB_OK)
        return 0;
    *loss = nb_value_scalar(p->loss);
    return nb_read_grad(p->w, grad, NB_F64) == NB_OK;
}

static double norm(const double *v)
{
    double s = 0;
    for (int i = 0; i < D; i++)
        s += v[i] * v[i];
    return sqrt(s);
}

int main(int argc, char **argv)
{
    int print_weights = argc > 1 && strcmp(argv[1], "--weights") == 0;
    nb_err err = { 0 };
    nb_data data = { 0 };

    if (nb_csv_load(NB_DATA_DIR "/breast_cancer.csv", NULL, &data, &err) != NB_OK) {
        fprintf(stderr, "newton_logistic: %s\n", err.msg);
        return 1;
    }
    size_t n = data.n;
    double *x = malloc(n * D * sizeof *x), *t = malloc(n * sizeof *t);
    if (!x || !t || data.d != D - 1)
        return 1;
    for (int j = 0; j < D - 1; j++) { /* standardise each feature */
        double mean = 0, var = 0;
        for (size_t i = 0; i < n; i++)
            mean += data.x[i * (D - 1) + (size_t)j];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++)
            var += pow(data.x[i * (D - 1) + (size_t)j] - mean, 2);
        double sd = sqrt(var / (double)n);
        for (size_t i = 0; i < n; i++)
            x[i * D + (size_t)j] = (data.x[i * (D - 1) + (size_t)j] - mean) / sd;
    }
    for (size_t i = 0; i < n; i++) {
        x[i * D + D - 1] = 1;
        t[i] = data.y[i];
    }

    problem p = { nb_graph_new(NB_F64), NULL, NULL, NULL };
    nb_graph *g = p.g;
    nb_node *X = nb_constant(g, "X", 2, (int[]){ (int)n, D }, x);
    nb_node *T = nb_constant(g, "t", 2, (int[]){ (int)n, 1 }, t);
    p.w = nb_param(g, "w", 2, (int[]){ D, 1 }, NULL);
    nb_node *bce = nb_bce_logits(g, nb_matmul(g, X, p.w), T);
    p.loss = nb_add(g, bce, nb_mul_const(g, nb_sum(g, nb_mul(g, p.w, p.w)), LAMBDA / 2));
    p.h = p.loss ? nb_hessian_new(g, p.loss, 1, &p.w) : NULL;
    if (!p.h) {
        fprintf(stderr, "newton_logistic: %s\n", nb_errmsg(g));
        return 1;
    }

    /* Newton, from w = 0, until the gradient is below 1e-12: its loss is
     * L*; the iteration and time at which it came within 1e-10 of L* are
     * counted afterwards from the recorded losses. */
    double H[D * D], grad[D], step[D], loss = 0, losses[64], times[64];
    double w_newton[D], t0 = now(), M = 0;
    int it = 0, ok = 1;
    for (; it < 64; it++) {
        ok = loss_grad(&p, &loss, grad);
        losses[it] = loss;
        times[it] = now() - t0;
        if (!ok || norm(grad) < 1e-12)
            break;
        ok = nb_hessian_dense(p.h, H) == NB_OK;
        if (ok && it == 0)
            M = largest_eigenvalue(H, D);
        memcpy(step, grad, sizeof step);
        ok = ok && cholesky_solve(H, step, D);
        if (!ok)
            break;
        double *w = nb_values(p.w);
        for (int i = 0; i < D; i++)
            w[i] -= step[i];
    }
    if (!ok || it == 64) {
        fprintf(stderr, "newton_logistic: Newton did not converge: %s\n", nb_errmsg(g));
        return 1;
    }
    double best = loss;
    int newton_its = 0;
    while (losses[newton_its] - best > 1e-10)
        newton_its++;
    double newton_time = times[newton_its];
    nb_read(p.w, w_newton, NB_F64);
    printf("L* = %.15f, |grad| = %.2e after %d Newton steps\n", best, norm(grad), it);

    /* Gradient descent from w = 0 with step 1/M, until within 1e-10 of L* */
    memset(nb_values(p.w), 0, D * sizeof(double));
    int gd_its = 0;
    t0 = now();
    for (; gd_its < 10000000; gd_its++) {
        if (!loss_grad(&p, &loss, grad)) {
            fprintf(stderr, "newton_logistic: %s\n", nb_errmsg(g));
            return 1;
        }
        if (loss - best <= 1e-10)
            break;
        double *w = nb_values(p.w);
        for (int i = 0; i < D; i++)
            w[i] -= grad[i] / M;
    }
    double gd_time = now() - t0, w_gd[D], diff = 0;
    nb_read(p.w, w_gd, NB_F64);
    for (int i = 0; i < D; i++)
        diff = fmax(diff, fabs(w_gd[i] - w_newton[i]));

    printf("to within 1e-10 of L*:\n");
    printf("  Newton           %7d iterations  %9.4f s  (Hessian from the engine)\n",
           newton_its, newton_time);
    printf("  gradient descent %7d iterations  %9.4f s  (step 1/%.4f)\n", gd_its, gd_time, M);
    printf("max |w_gd - w_newton| = %.2e\n", diff);
    if (print_weights)
        for (int i = 0; i < D; i++)
            printf("w %d %.17g\n", i, w_newton[i]);

    int failed = !(newton_its <= 10) || !(loss - best <= 1e-10) || !(diff < 1e-4);
    printf("%s\n", failed ? "FAILED" : "ok: both reach L*, Newton in a handful of steps");
    nb_graph_free(g);
    nb_data_free(&data);
    free(x);
    free(t);
    return failed;
}
