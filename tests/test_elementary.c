/* test_elementary.c - the elementary ops at known values, in both dtypes:
 * values and gradients where the naive formula loses every digit (log1p,
 * expm1, softplus in their tails), the conventions at kinks and ties
 * (leaky_relu at 0, clamp at its bounds, first maximum and minimum along an
 * axis), argmax passing no gradient, the same ties in the gradients
 * written as ops, and the errors.  Finite differences
 * away from kinks are test_ops_grad's. */
#include "check.h"
#include "nabla.h"

#include <string.h>

/* f(x) and df/dx at x, for a scalar op, in dtype; 0 if it could not build */
static int at(nb_dtype dt, nb_node *(*op)(nb_graph *, nb_node *), double x, double *y,
              double *dy)
{
    nb_graph *g = nb_graph_new(dt);
    nb_node *v = nb_scalar(g, "x", x), *f = op(g, v);
    int ok = f && nb_backward(g, f) == NB_OK;

    *y = ok ? nb_value_scalar(f) : NAN;
    *dy = ok ? nb_grad_scalar(v) : NAN;
    nb_graph_free(g);
    return ok;
}

/* value and gradient within rel of want (relative; absolute below 1) */
static void check_at(nb_dtype dt, nb_node *(*op)(nb_graph *, nb_node *), double x,
                     double want_y, double want_dy, double rel)
{
    double y, dy;
    CHECK(at(dt, op, x, &y, &dy));
    CHECK_NEAR(y, want_y, rel * fmax(fabs(want_y), dt == NB_F32 ? 1e-30 : 1e-300));
    CHECK_NEAR(dy, want_dy, rel * fmax(fabs(want_dy), dt == NB_F32 ? 1e-30 : 1e-300));
}

static nb_node *leaky(nb_graph *g, nb_node *x) { return nb_leaky_relu(g, x, 0.1); }

static void known_values(nb_dtype dt)
{
    double r = dt == NB_F32 ? 2e-7 : 4e-16; /* a couple of ulps */

    check_at(dt, nb_sqrt, 2.25, 1.5, 1 / 3.0, r);
    check_at(dt, nb_sin, 0.5, 0.479425538604203, 0.8775825618903728, r);
    check_at(dt, nb_cos, 0.5, 0.8775825618903728, -0.479425538604203, r);
    check_at(dt, nb_sin, -2.5, -0.5984721441039565, -0.8011436155469337, r);
    check_at(dt, nb_cos, -2.5, -0.8011436155469337, 0.5984721441039565, r);
    /* log1p and expm1 near 0: ln(1 + 1e-10) from a rounded 1 + 1e-10 is off
     * in the 8th digit (f64) or 0 (f32) */
    check_at(dt, nb_log1p, 1e-10, 9.9999999995e-11, 1 / (1 + 1e-10), r);
    check_at(dt, nb_log1p, 3, 1.3862943611198906, 0.25, r);
    check_at(dt, nb_expm1, 1e-10, 1.00000000005e-10, 1.0000000001, r);
    check_at(dt, nb_expm1, 1.5, 3.481689070338065, 4.4816890703380645, r);
    /* far below 0 expm1 is -1 and y + 1 would be 0; the gradient is e^x */
    check_at(dt, nb_expm1, -50, -1, 1.9287498479639178e-22, r);
    /* softplus: ln 2 at 0; x where e^x overflows; e^x where 1 + e^x is 1 */
    check_at(dt, nb_softplus, 0, 0.6931471805599453, 0.5, r);
    check_at(dt, nb_softplus, 2, 2.1269280110429727, 0.8807970779778823, r);
    check_at(dt, nb_softplus, -2, 0.12692801104297252, 0.11920292202211755, r);
    check_at(dt, nb_softplus, 800, 800, 1, r);
    check_at(dt, nb_softplus, -50, 1.9287498479639178e-22, 1.9287498479639178e-22, r);
    /* leaky_relu: alpha x below 0, and alpha at 0 itself, as relu'(0) = 0 */
    check_at(dt, leaky, -2, -0.2, 0.1, r);
    check_at(dt, leaky, 0, 0, 0.1, r);
    check_at(dt, leaky, 3, 3, 1, r);
}

/* sqrt(0) has an infinite derivative; sqrt and log1p outside their domain
 * give NaN, which a run reports */
static void domain_edges(nb_dtype dt)
{
    double y, dy;
    CHECK(at(dt, nb_sqrt, 0, &y, &dy) && y == 0 && isinf(dy) && dy > 0);
    nb_graph *g = nb_graph_new(dt);
    nb_node *x = nb_scalar(g, "x", -1), *s = nb_sqrt(g, x), *l = nb_log1p(g, x);
    CHECK(isnan(nb_value_scalar(s)) && isinf(nb_value_scalar(l)) && nb_value_scalar(l) < 0);
    CHECK(nb_forward(g, s) == NB_ERR_NONFINITE && strstr(nb_errmsg(g), "sqrt"));
    CHECK(nb_forward(g, l) == NB_ERR_NONFINITE && strstr(nb_errmsg(g), "log1p"));
    nb_graph_free(g);
}

/* clamp's gradient is 1 on [lo, hi], the bounds included, 0 outside */
static void clamp_bounds(nb_dtype dt)
{
    nb_graph *g = nb_graph_new(dt);
    double xs[] = { -3, -1, 0.5, 2, 5 }, want_y[] = { -1, -1, 0.5, 2, 2 };
    double want_d[] = { 0, 1, 1, 1, 0 };
    nb_node *x = nb_variable(g, "x", 1, (int[]){ 5 }, xs), *c = nb_clamp(g, x, -1, 2);

    CHECK(c && nb_backward(g, nb_sum(g, c)) == NB_OK);
    for (size_t i = 0; i < 5; i++) {
        CHECK(nb_value_at(c, i) == want_y[i]);
        CHECK(nb_grad_at(x, i) == want_d[i]);
    }
    CHECK(!nb_clamp(g, x, 2, 1) && nb_error(g) == NB_ERR_ARG);
    CHECK(strstr(nb_errmsg(g), "clamp: the lower bound 2") != NULL);
    nb_error_clear(g);
    CHECK(!nb_clamp(g, x, NAN, 1) && nb_error(g) == NB_ERR_ARG);
    nb_error_clear(g);
    CHECK(!nb_clamp(g, NULL, 0, 1) && nb_error(g) == NB_ERR_ARG); /* a NULL input */
    nb_graph_free(g);
}

/* Ties along an axis: the first maximum (minimum) takes the gradient, and
 * argmax names it. */
static void axis_ties(nb_dtype dt)
{
    nb_graph *g = nb_graph_new(dt);
    double xs[] = { 1, 3, 3, 2, /**/ 5, 5, 5, 0, /**/ -1, -4, -4, -1 };
    nb_node *x = nb_variable(g, "x", 2, (int[]){ 3, 4 }, xs);
    nb_node *mx = nb_max_axis(g, x, 1, 0), *mn = nb_min_axis(g, x, -1, 1);
    nb_node *am = nb_argmax(g, x, 1, 0);

    CHECK(mx && mn && am && nb_rank(mx) == 1 && nb_rank(mn) == 2 && nb_dim(mn, 1) == 1);
    double want_max[] = { 3, 5, -1 }, want_min[] = { 1, 0, -4 }, want_arg[] = { 1, 0, 0 };
    for (size_t i = 0; i < 3; i++) {
        CHECK(nb_value_at(mx, i) == want_max[i]);
        CHECK(nb_value_at(mn, i) == want_min[i]);
        CHECK(nb_value_at(am, i) == want_arg[i]);
    }
    double want_dmax[] = { 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 };
    double want_dmin[] = { 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0 };
    CHECK(nb_backward(g, nb_sum(g, mx)) == NB_OK);
    for (size_t i = 0; i < 12; i++)
        CHECK(nb_grad_at(x, i) == want_dmax[i]);
    CHECK(nb_backward(g, nb_sum(g, mn)) == NB_OK);
    for (size_t i = 0; i < 12; i++)
        CHECK(nb_grad_at(x, i) == want_dmin[i]);
    /* argmax times weights: x depends on nothing through it */
    nb_node *w = nb_constant(g, "w", 1, (int[]){ 3 }, (double[]){ 2, 3, 4 });
    nb_node *L = nb_sum(g, nb_mul(g, am, w));
    CHECK(L && nb_value_scalar(L) == 2 && nb_backward(g, L) == NB_OK);
    for (size_t i = 0; i < 12; i++)
        CHECK(nb_grad_at(x, i) == 0);
    /* along axis 0, kept: one line per column */
    nb_node *a0 = nb_argmax(g, x, 0, 1), *m0 = nb_max_axis(g, x, -2, 1);
    double want_a0[] = { 1, 1, 1, 0 }, want_m0[] = { 5, 5, 5, 2 };
    CHECK(a0 && m0 && nb_rank(a0) == 2 && nb_dim(a0, 0) == 1 && nb_dim(a0, 1) == 4);
    for (size_t i = 0; i < 4; i++)
        CHECK(nb_value_at(a0, i) == want_a0[i] && nb_value_at(m0, i) == want_m0[i]);
    nb_graph_free(g);
}

/* a NaN in a line is its max, its min and its argmax; lines without one
 * are untouched */
static void axis_nan(nb_dtype dt)
{
    nb_graph *g = nb_graph_new(dt);
    double xs[] = { 1, NAN, 3, NAN, /**/ 4, 2, 8, 6 };
    nb_node *x = nb_variable(g, "x", 2, (int[]){ 2, 4 }, xs);
    nb_node *mx = nb_max_axis(g, x, 1, 0), *mn = nb_min_axis(g, x, 1, 0);
    nb_node *am = nb_argmax(g, x, 1, 0);

    CHECK(isnan(nb_value_at(mx, 0)) && isnan(nb_value_at(mn, 0)) && nb_value_at(am, 0) == 1);
    CHECK(nb_value_at(mx, 1) == 8 && nb_value_at(mn, 1) == 2 && nb_value_at(am, 1) == 2);
    CHECK(nb_forward(g, nb_sum(g, mx)) == NB_ERR_NONFINITE);
    nb_graph_free(g);
}

/* The gradients written as ops (nb_grad_graph) keep the kernels' ties:
 * the first maximum and minimum along an axis, leaky_relu's slope at 0,
 * clamp's bounds; to the bit, against nb_backward. */
static void rules_keep_the_ties(nb_dtype dt)
{
    nb_graph *g = nb_graph_new(dt);
    double xs[] = { 1, 3, 3, 2, /**/ 5, 5, 5, 0, /**/ -1, -4, -4, -1 };
    double vs[] = { -1, 0, 2, 0, -1, 2, 0.5, 5, 0, 0, 0, 0 };
    nb_node *x = nb_variable(g, "x", 2, (int[]){ 3, 4 }, xs);
    nb_node *v = nb_variable(g, "v", 2, (int[]){ 3, 4 }, vs);
    nb_node *w = nb_constant(g, "w", 1, (int[]){ 4 }, (double[]){ 0.5, 1.5, 2.5, 3.5 });
    nb_node *f[] = {
        nb_sum(g, nb_mul(g, nb_max_axis(g, x, 0, 0), w)),
        nb_sum(g, nb_mul(g, nb_max_axis(g, x, 1, 1), nb_const_scalar(g, 3))),
        nb_sum(g, nb_mul(g, nb_min_axis(g, x, -1, 0), nb_argmax(g, x, 1, 0))),
        nb_sum(g, nb_mul(g, nb_leaky_relu(g, v, 0.25), w)),
        nb_sum(g, nb_mul(g, nb_clamp(g, v, -1, 2), w)),
    };
    nb_node *x_or_v[] = { x, x, x, v, v };
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        nb_node *d = NULL;
        CHECK(nb_grad_graph(g, f[k], NULL, 1, &x_or_v[k], &d) == NB_OK && d);
        CHECK(nb_backward(g, f[k]) == NB_OK);
        for (size_t i = 0; d && i < 12; i++) {
            CHECK(nb_value_at(d, i) == nb_grad_at(x_or_v[k], i));
            if (nb_value_at(d, i) != nb_grad_at(x_or_v[k], i))
                fprintf(stderr, "f%zu element %zu: rule %g, backward %g\n", k, i,
                        nb_value_at(d, i), nb_grad_at(x_or_v[k], i));
        }
    }
    /* and the values themselves: leaky_relu's slope at its four zeros, the
     * first maxima along axis 0 (5 at row 1 in the first three columns) */
    CHECK(nb_backward(g, f[3]) == NB_OK);
    CHECK(nb_grad_at(v, 1) == 0.25 * 1.5 && nb_grad_at(v, 8) == 0.25 * 0.5);
    CHECK(nb_backward(g, f[0]) == NB_OK);
    CHECK(nb_grad_at(x, 4) == 0.5 && nb_grad_at(x, 5) == 1.5 && nb_grad_at(x, 6) == 2.5);
    CHECK(nb_grad_at(x, 3) == 3.5 && nb_grad_at(x, 1) == 0 && nb_grad_at(x, 9) == 0);
    nb_graph_free(g);
}

static void axis_errors(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_variable(g, "x", 2, (int[]){ 3, 4 }, NULL), *s = nb_scalar(g, "s", 1);

    CHECK(!nb_max_axis(g, x, 2, 0) && nb_error(g) == NB_ERR_ARG);
    CHECK(strcmp(nb_errmsg(g), "max_axis: axis 2 is out of range for 3x4") == 0);
    nb_error_clear(g);
    CHECK(!nb_argmax(g, x, -3, 0) && nb_error(g) == NB_ERR_ARG);
    CHECK(strcmp(nb_errmsg(g), "argmax: axis -3 is out of range for 3x4") == 0);
    nb_error_clear(g);
    CHECK(!nb_min_axis(g, s, 0, 0) && nb_error(g) == NB_ERR_ARG);
    CHECK(strstr(nb_errmsg(g), "max_axis: axis 0 is out of range for scalar") != NULL);
    nb_error_clear(g);
    CHECK(!nb_leaky_relu(g, x, INFINITY) && nb_error(g) == NB_ERR_ARG);
    CHECK(strcmp(nb_errmsg(g), "leaky_relu: the slope inf is not finite") == 0);
    nb_error_clear(g);
    CHECK(!nb_sqrt(g, NULL) && !nb_leaky_relu(g, NULL, 0.1) && !nb_argmax(g, NULL, 0, 0));
    nb_graph_free(g);
}

int main(void)
{
    for (int dt = 0; dt < 2; dt++) {
        nb_dtype d = dt ? NB_F32 : NB_F64;
        known_values(d);
        domain_edges(d);
        clamp_bounds(d);
        axis_ties(d);
        axis_nan(d);
        rules_keep_the_ties(d);
    }
    axis_errors();
    return check_summary();
}
