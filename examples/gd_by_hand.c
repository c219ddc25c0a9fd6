/* gd_by_hand.c - the lecture's gradient descent by hand, on the engine.
 *
 * L(w0, w1) = sum_i (y_i - w1 x_i - w0)^2 on (0,0), (1,1), (1,2), eta = 0.1,
 * starting at w0 = w1 = 1.  The first steps are exact decimals:
 *   step 1: w0 = 0.6,   w1 = 0.8
 *   step 2: w0 = 0.52,  w1 = 0.84
 *   step 3: w0 = 0.472, w1 = 0.896
 *   step 100: w0 = 0.0000642, w1 = 1.4999178
 * The slide's figures after step 2 differ from these: they carry an
 * arithmetic slip made at step 2 and propagated from there; the values above
 * are the exact iterates.  The limit is the least-squares fit: the point at
 * x = 0 forces w0 = 0, and the two points at x = 1 average to w1 = 1.5.
 *
 * Usage: gd_by_hand [steps]   (default 100; the checks need at least 100) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla_nn.h"

static int near(const char *what, double got, double want, double tol)
{
    int ok = fabs(got - want) <= tol;
    if (!ok)
        fprintf(stderr, "FAIL %s = %.9f, expected %.9f\n", what, got, want);
    return ok;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 100;
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *w0 = nb_param(g, "w0", 0, NULL, (double[]){ 1 });
    nb_node *w1 = nb_param(g, "w1", 0, NULL, (double[]){ 1 });
    nb_node *x = nb_constant(g, "x", 1, (int[]){ 3 }, (double[]){ 0, 1, 1 });
    nb_node *y = nb_constant(g, "y", 1, (int[]){ 3 }, (double[]){ 0, 1, 2 });
    /* r = y - w1 x - w0;  L = sum r^2 */
    nb_node *r = nb_sub(g, nb_sub(g, y, nb_mul(g, w1, x)), w0);
    nb_node *L = nb_sum(g, nb_mul(g, r, r));
    nb_err err = { 0 };
    nb_optimizer *sgd = L ? nb_optimizer_new(g, &(nb_optimizer_opts){ .lr = 0.1 }, &err) : NULL;
    if (!sgd) {
        fprintf(stderr, "gd_by_hand: %s\n", L ? err.msg : nb_errmsg(g));
        nb_graph_free(g);
        return 1;
    }
    int ok = 1;
    printf("step       w0           w1     L before the step\n");
    for (int step = 1; step <= steps; step++) {
        if (nb_forward(g, L) != NB_OK || nb_backward(g, L) != NB_OK) {
            fprintf(stderr, "gd_by_hand: %s\n", nb_errmsg(g));
            ok = 0;
            break;
        }
        double loss = nb_value_scalar(L);
        nb_optimizer_step(sgd);
        double a = nb_value_scalar(w0), b = nb_value_scalar(w1);
        printf("%4d  %11.7f  %11.7f  %11.7f\n", step, a, b, loss);
        if (step == 1)
            ok &= near("step 1 w0", a, 0.6, 1e-12) & near("step 1 w1", b, 0.8, 1e-12);
        if (step == 2)
            ok &= near("step 2 w0", a, 0.52, 1e-12) & near("step 2 w1", b, 0.84, 1e-12);
        if (step == 3)
            ok &= near("step 3 w0", a, 0.472, 1e-12) & near("step 3 w1", b, 0.896, 1e-12);
        if (step == 100)
            ok &= near("step 100 w0", a, 0.0000642, 5e-8) &
                  near("step 100 w1", b, 1.4999178, 5e-8);
    }
    /* keep going: the iterates converge to the least-squares fit */
    for (int step = 0; step < 1000; step++)
        if (nb_forward(g, L) != NB_OK || nb_backward(g, L) != NB_OK || nb_optimizer_step(sgd))
            break;
    printf("after %d more steps: w0 = %.9f, w1 = %.9f (limit w0 = 0, w1 = 1.5)\n", 1000,
           nb_value_scalar(w0), nb_value_scalar(w1));
    ok &= near("limit w0", nb_value_scalar(w0), 0, 1e-9) &
          near("limit w1", nb_value_scalar(w1), 1.5, 1e-9);
    nb_optimizer_free(sgd);
    nb_graph_free(g);
    printf("%s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
