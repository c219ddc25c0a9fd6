/* custom_op.c - an op the library lacks, defined in C: the error function
 * erf(x) = 2/sqrt(pi) int_0^x e^-t^2 dt, elementwise, with
 *     erf'(x) = 2/sqrt(pi) e^-x^2          (backward, in numbers)
 *     erf''(x) = -2x erf'(x)               (from grad, its backward as ops)
 * It is used inside a small expression, f(x) = sum(erf(x) * x), whose
 * gradient is checked against finite differences (nb_gradcheck) and whose
 * Hessian (diagonal: 2 erf'(x) + x erf''(x)) is checked against that
 * formula and against finite differences of the gradient.  Both dtypes.
 * Exits 0 when every check passes.
 *
 * Usage: custom_op */
#include <math.h>
#include <stdio.h>

#include "nabla.h"

#define TWO_OVER_SQRT_PI 1.1283791670955126

/* y = erf(x), in the graph's dtype */
static nb_status erf_forward(const nb_op_call *c)
{
    for (size_t i = 0, n = nb_size(c->output); i < n; i++) {
        if (c->dtype == NB_F32)
            ((float *)c->out)[i] = erff(((const float *)c->in[0])[i]);
        else
            ((double *)c->out)[i] = erf(((const double *)c->in[0])[i]);
    }
    return NB_OK;
}

/* dx += dy 2/sqrt(pi) e^-x^2 */
static nb_status erf_backward(const nb_op_call *c)
{
    if (!c->grad_in[0])
        return NB_OK;
    for (size_t i = 0, n = nb_size(c->output); i < n; i++) {
        if (c->dtype == NB_F32) {
            float x = ((const float *)c->in[0])[i];
            ((float *)c->grad_in[0])[i] +=
                ((const float *)c->grad_out)[i] * (float)TWO_OVER_SQRT_PI * expf(-x * x);
        } else {
            double x = ((const double *)c->in[0])[i];
            ((double *)c->grad_in[0])[i] +=
                ((const double *)c->grad_out)[i] * TWO_OVER_SQRT_PI * exp(-x * x);
        }
    }
    return NB_OK;
}

/* the same as ops, so that the gradient can be differentiated again */
static nb_node *erf_grad(nb_graph *g, nb_node *y, nb_node *gy, int k, void *user)
{
    nb_node *x = nb_input(y, 0);
    (void)k, (void)user;
    return nb_mul(g, gy,
                  nb_mul_const(g, nb_exp(g, nb_neg(g, nb_mul(g, x, x))), TWO_OVER_SQRT_PI));
}

static const nb_op_type erf_op = { "erf", 1, erf_forward, erf_backward, erf_grad, NULL };

static nb_node *nb_erf(nb_graph *g, nb_node *x)
{
    return nb_custom(g, &erf_op, (nb_node *[]){ x }, -1, NULL);
}

/* One dtype: returns the number of failed checks. */
static int check(nb_dtype dtype)
{
    const double xs[5] = { -1.5, -0.4, 0.1, 0.7, 2.0 };
    const char *name = dtype == NB_F32 ? "f32" : "f64";
    double tol = dtype == NB_F32 ? 1e-5 : 1e-12;
    int failed = 0;
    nb_graph *g = nb_graph_new(dtype);
    nb_node *x = nb_variable(g, "x", 1, (int[]){ 5 }, xs);
    nb_node *f = nb_sum(g, nb_mul(g, nb_erf(g, x), x));

    if (!f || nb_backward(g, f) != NB_OK) {
        fprintf(stderr, "%s: %s\n", name, nb_errmsg(g));
        nb_graph_free(g);
        return 1;
    }
    /* first order: df/dx_i = erf(x_i) + x_i erf'(x_i), against the formula
     * and against central differences */
    printf("%s: f = %.10f; op of the erf node: %s\n", name, nb_value_scalar(f),
           nb_op_name(nb_input(nb_input(f, 0), 0)));
    for (int i = 0; i < 5; i++) {
        double d1 = TWO_OVER_SQRT_PI * exp(-xs[i] * xs[i]);
        double want = erf(xs[i]) + xs[i] * d1;
        failed += !(fabs(nb_grad_at(x, (size_t)i) - want) <= tol * fmax(1, fabs(want)));
    }
    nb_gradcheck_result r;
    failed += nb_gradcheck(g, f, &x, 1, NULL, &r) != NB_OK || !r.pass;
    printf("%s: gradient check: max relative error %.2e (%s)\n", name, r.max_rel_err,
           r.pass ? "pass" : "FAIL");

    /* second order: H is diagonal, H_ii = 2 erf'(x_i) + x_i erf''(x_i) */
    nb_hessian *h = nb_hessian_new(g, f, 1, &x);
    double H[25];
    if (!h || nb_hessian_dense(h, H) != NB_OK) {
        fprintf(stderr, "%s: %s\n", name, nb_errmsg(g));
        nb_graph_free(g);
        return failed + 1;
    }
    double worst = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            double d1 = TWO_OVER_SQRT_PI * exp(-xs[i] * xs[i]), d2 = -2 * xs[i] * d1;
            double want = i == j ? 2 * d1 + xs[i] * d2 : 0;
            worst = fmax(worst, fabs(H[i * 5 + j] - want) / fmax(1, fabs(want)));
        }
    failed += !(worst <= tol);
    printf("%s: Hessian against the formula: max error %.2e (%s)\n", name, worst,
           worst <= tol ? "pass" : "FAIL");
    /* and against finite differences of the gradient, along v */
    double v[5] = { 0.3, -0.2, 0.5, 0.1, -0.4 }, hv[5];
    nb_gradcheck_result r2;
    failed += nb_hessian_vec(h, v, hv) != NB_OK;
    failed += nb_gradcheck(g, nb_hessian_root(h), &x, 1, NULL, &r2) != NB_OK || !r2.pass;
    printf("%s: second-order gradient check: max relative error %.2e (%s)\n", name,
           r2.max_rel_err, r2.pass ? "pass" : "FAIL");
    nb_graph_free(g);
    return failed;
}

int main(void)
{
    int failed = check(NB_F64) + check(NB_F32);
    printf("%s\n", failed ? "FAILED" : "all checks pass");
    return failed != 0;
}
