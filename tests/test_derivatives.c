/* test_derivatives.c - gradients as nodes (nb_grad_graph), Hessians, and
 * user-defined ops, through the public header: known values, any order,
 * closed forms, and every error a user can make.  (Each op's rule against
 * its kernel, and H v against finite differences for every op, are in
 * test_ops_grad.c.) */
#include "nabla.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* d^k/dx^k of x^4 e^x at x = 0.7, k = 1..4, as nodes of nodes */
static void any_order(nb_dtype dtype)
{
    nb_graph *g = nb_graph_new(dtype);
    double x0 = 0.7, tol = dtype == NB_F32 ? 1e-4 : 1e-12;
    nb_node *x = nb_scalar(g, "x", x0);
    nb_node *f = nb_mul(g, nb_pow(g, x, 4), nb_exp(g, x));
    /* (x^4 e^x)^(k) = e^x sum_j C(k,j) (x^4)^(j) */
    double p[5] = { pow(x0, 4), 4 * pow(x0, 3), 12 * x0 * x0, 24 * x0, 24 },
           c[5][5] = { { 1 } };
    for (int k = 1; k < 5; k++)
        for (int j = 0; j <= k; j++)
            c[k][j] = (j ? c[k - 1][j - 1] : 0) + (j < k ? c[k - 1][j] : 0);
    nb_node *d = f;
    for (int k = 1; k <= 4; k++) {
        nb_node *next = NULL;
        CHECK(nb_grad_graph(g, d, NULL, 1, &x, &next) == NB_OK);
        if (!next)
            break;
        d = next;
        double want = 0;
        for (int j = 0; j <= k; j++)
            want += c[k][j] * p[j];
        want *= exp(x0);
        CHECK(nb_forward(g, d) == NB_OK);
        CHECK_NEAR(nb_value_scalar(d), want, tol * fabs(want));
        /* the nodes follow the leaves: evaluate again elsewhere */
        CHECK(nb_set_scalar(x, 1.3) == NB_OK);
        CHECK(nb_forward(g, d) == NB_OK);
        CHECK(nb_set_scalar(x, x0) == NB_OK);
        CHECK(nb_forward(g, d) == NB_OK);
        CHECK_NEAR(nb_value_scalar(d), want, tol * fabs(want));
    }
    nb_graph_free(g);
}

/* The lecture's f = (x + y) z: its gradient as nodes, and its Hessian,
 * whose only nonzero entries are d2f/dxdz = d2f/dydz = 1. */
static void lecture_hessian(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *v[3] = { nb_scalar(g, "x", -2), nb_scalar(g, "y", 5), nb_scalar(g, "z", -4) };
    nb_node *f = nb_mul(g, nb_add(g, v[0], v[1]), v[2]), *grad[3];
    double H[9], want[9] = { 0, 0, 1, 0, 0, 1, 1, 1, 0 };

    CHECK(nb_grad_graph(g, f, NULL, 3, v, grad) == NB_OK);
    CHECK_NEAR(nb_value_scalar(grad[0]), -4, 0);
    CHECK_NEAR(nb_value_scalar(grad[1]), -4, 0);
    CHECK_NEAR(nb_value_scalar(grad[2]), 3, 0);
    nb_hessian *h = nb_hessian_new(g, f, 3, v);
    CHECK(h && nb_hessian_size(h) == 3);
    CHECK(h && nb_hessian_dense(h, H) == NB_OK);
    for (int i = 0; i < 9; i++)
        CHECK_NEAR(H[i], want[i], 0);
    nb_graph_free(g);
}

/* Logistic regression's loss L(w) = mean bce(Xw, t) has the Hessian
 * X^T diag(p (1 - p)) X / n, p = sigmoid(Xw): the closed form against
 * nb_hessian_dense, and H v against it. */
static void logistic_hessian(void)
{
    enum { N = 7, D = 3 };
    double X[N * D], t[N], w0[D] = { 0.3, -0.5, 0.2 };
    for (int i = 0; i < N * D; i++)
        X[i] = sin(1.7 * i + 0.3);
    for (int i = 0; i < N; i++)
        t[i] = i % 3 == 0;
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_constant(g, "X", 2, (int[]){ N, D }, X);
    nb_node *w = nb_param(g, "w", 2, (int[]){ D, 1 }, w0);
    nb_node *tt = nb_constant(g, "t", 2, (int[]){ N, 1 }, t);
    nb_node *L = nb_bce_logits(g, nb_matmul(g, x, w), tt);
    nb_hessian *h = nb_hessian_new(g, L, 1, &w);
    double H[D * D], want[D * D] = { 0 };

    CHECK(h && nb_hessian_dense(h, H) == NB_OK);
    for (int i = 0; i < N; i++) {
        double z = 0;
        for (int j = 0; j < D; j++)
            z += X[i * D + j] * w0[j];
        double p = 1 / (1 + exp(-z)), s = p * (1 - p) / N;
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++)
                want[a * D + b] += s * X[i * D + a] * X[i * D + b];
    }
    for (int i = 0; i < D * D; i++)
        CHECK_NEAR(H[i], want[i], 1e-15);
    double v[D] = { 1, -2, 0.5 }, hv[D];
    CHECK(nb_hessian_vec(h, v, hv) == NB_OK);
    for (int a = 0; a < D; a++) {
        double s = 0;
        for (int b = 0; b < D; b++)
            s += want[a * D + b] * v[b];
        CHECK_NEAR(hv[a], s, 1e-15);
    }
    nb_graph_free(g);
}

/* A seed makes a vector-Jacobian product: d(sum_i s_i y_i)/dx for
 * y = x^2 elementwise is 2 s x. */
static void seeded(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_variable(g, "x", 1, (int[]){ 3 }, (double[]){ 1, 2, 3 });
    nb_node *s = nb_constant(g, "s", 1, (int[]){ 3 }, (double[]){ 0.5, -1, 2 });
    nb_node *y = nb_mul(g, x, x), *out = NULL;

    CHECK(nb_grad_graph(g, y, s, 1, &x, &out) == NB_OK);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(nb_value_at(out, (size_t)i), 2 * nb_value_at(s, (size_t)i) * (i + 1), 0);
    nb_graph_free(g);
}

/* A leaf the root does not depend on gets zeros; constants and bad
 * arguments are refused with a message, and the graph stays usable. */
static void errors(void)
{
    nb_graph *g = nb_graph_new(NB_F64), *other = nb_graph_new(NB_F64);
    nb_node *x = nb_variable(g, "x", 1, (int[]){ 2 }, (double[]){ 1, 2 });
    nb_node *u = nb_scalar(g, "unused", 3);
    nb_node *c = nb_const_scalar(g, 2), *f = nb_sum(g, nb_mul(g, x, x)), *out[2];

    CHECK(nb_grad_graph(g, f, NULL, 1, &u, out) == NB_OK);
    CHECK(out[0] && nb_value_scalar(out[0]) == 0 && !nb_wants_grad(out[0]));
    CHECK(nb_grad_graph(g, f, NULL, 1, &c, out) == NB_ERR_ARG);
    CHECK(strstr(nb_errmsg(g), "constant") != NULL);
    CHECK(nb_grad_graph(g, nb_mul(g, x, x), NULL, 1, &x, out) == NB_ERR_SHAPE);
    CHECK(strstr(nb_errmsg(g), "seed") != NULL);
    CHECK(nb_grad_graph(g, f, x, 1, &x, out) == NB_ERR_SHAPE);
    nb_node *y = nb_scalar(other, "y", 1);
    CHECK(nb_grad_graph(g, f, NULL, 1, &y, out) == NB_ERR_GRAPH);
    CHECK(nb_grad_graph(g, NULL, NULL, 1, &x, out) == NB_ERR_ARG);
    CHECK(nb_hessian_new(g, f, 1, (nb_node *[]){ f }) == NULL);
    CHECK(strstr(nb_errmsg(g), "not a leaf") != NULL);
    CHECK(nb_error(g) == NB_OK);
    CHECK(nb_grad_graph(g, f, NULL, 1, &x, out) == NB_OK);
    CHECK_NEAR(nb_value_at(out[0], 1), 4, 0);
    /* linear in x: the Hessian is 0, though nothing of s reaches x */
    nb_node *lin = nb_sum(g, nb_mul_const(g, x, 3));
    nb_hessian *h = nb_hessian_new(g, lin, 1, &x);
    double H[4] = { 9, 9, 9, 9 };
    CHECK(h && nb_hessian_dense(h, H) == NB_OK);
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(H[i], 0, 0);
    nb_graph_free(other);
    nb_graph_free(g);
}

/* ---- User-defined ops ------------------------------------------------------- */

/* y = x^3, refusing x > 10 in forward and a gradient above 1e6 in backward */
static nb_status cube_forward(const nb_op_call *c)
{
    for (size_t i = 0, n = nb_size(c->output); i < n; i++) {
        double x =
            c->dtype == NB_F32 ? ((const float *)c->in[0])[i] : ((const double *)c->in[0])[i];
        if (x > 10) {
            snprintf(c->msg, c->msg_size, "x = %g is above 10 at element %zu", x, i);
            return NB_ERR_ARG;
        }
        if (c->dtype == NB_F32)
            ((float *)c->out)[i] = (float)(x * x * x);
        else
            ((double *)c->out)[i] = x * x * x;
    }
    return NB_OK;
}

static nb_status cube_backward(const nb_op_call *c)
{
    for (size_t i = 0, n = nb_size(c->output); i < n && c->grad_in[0]; i++) {
        double x =
            c->dtype == NB_F32 ? ((const float *)c->in[0])[i] : ((const double *)c->in[0])[i];
        double dy = c->dtype == NB_F32 ? ((const float *)c->grad_out)[i]
                                       : ((const double *)c->grad_out)[i];
        if (fabs(dy) > 1e6)
            return NB_ERR_NONFINITE; /* no message: the status names it */
        if (c->dtype == NB_F32)
            ((float *)c->grad_in[0])[i] += (float)(dy * 3 * x * x);
        else
            ((double *)c->grad_in[0])[i] += dy * 3 * x * x;
    }
    return NB_OK;
}

static const nb_op_type cube = { "cube", 1, cube_forward, cube_backward, NULL, NULL };

static void custom_ops(nb_dtype dtype)
{
    nb_graph *g = nb_graph_new(dtype);
    nb_node *x = nb_scalar(g, "x", 2), *w = nb_scalar(g, "w", 1);
    nb_node *y = nb_custom(g, &cube, &x, -1, NULL), *f = nb_mul(g, y, w);
    double d = 0;

    CHECK(y && strcmp(nb_op_name(y), "cube") == 0 && nb_arity(y) == 1);
    CHECK_NEAR(nb_value_scalar(y), 8, 0);
    CHECK(nb_local_grad(g, y, 0, &d) == NB_OK);
    CHECK_NEAR(d, 12, 0);
    for (int run = 0; run < 3; run++) { /* the reference executor, then the replay */
        CHECK(nb_forward(g, f) == NB_OK && nb_backward(g, f) == NB_OK);
        CHECK_NEAR(nb_grad_scalar(x), 12, 0);
    }
    /* a failing callback: the run returns its status and message */
    CHECK(nb_set_scalar(x, 11) == NB_OK);
    for (int run = 0; run < 2; run++) {
        CHECK(nb_forward(g, f) == NB_ERR_ARG);
        CHECK(strstr(nb_errmsg(g), "cube (node 2): x = 11 is above 10") != NULL);
    }
    CHECK(nb_set_scalar(x, 2) == NB_OK && nb_forward(g, f) == NB_OK);
    CHECK(nb_set_scalar(w, 1e7) == NB_OK && nb_forward(g, f) == NB_OK);
    CHECK(nb_backward(g, f) == NB_ERR_NONFINITE);
    CHECK(strstr(nb_errmsg(g), "cube (node 2), backward: non-finite") != NULL);
    CHECK(nb_set_scalar(w, 1) == NB_OK && nb_forward(g, f) == NB_OK);
    CHECK(nb_backward(g, f) == NB_OK);
    CHECK(nb_error(g) == NB_OK);
    /* no grad: second order is refused, naming the op */
    nb_node *out = NULL;
    CHECK(nb_grad_graph(g, f, NULL, 1, &x, &out) == NB_ERR_ARG);
    CHECK(strstr(nb_errmsg(g), "cube") != NULL && strstr(nb_errmsg(g), "grad") != NULL);
    nb_error_clear(g);
    /* a failing constructor is a construction error */
    nb_node *big = nb_scalar(g, "big", 12);
    CHECK(nb_custom(g, &cube, &big, -1, NULL) == NULL);
    CHECK(nb_error(g) == NB_ERR_ARG && strstr(nb_errmsg(g), "above 10") != NULL);
    nb_error_clear(g);
    /* bad types and arguments */
    nb_op_type bad = cube;
    bad.arity = 3;
    CHECK(nb_custom(g, &bad, &x, -1, NULL) == NULL && nb_error(g) == NB_ERR_ARG);
    nb_error_clear(g);
    bad = cube, bad.backward = NULL;
    CHECK(nb_custom(g, &bad, &x, -1, NULL) == NULL && nb_error(g) == NB_ERR_ARG);
    nb_error_clear(g);
    CHECK(nb_custom(g, NULL, &x, -1, NULL) == NULL && nb_error(g) == NB_ERR_ARG);
    nb_error_clear(g);
    CHECK(nb_custom(g, &cube, (nb_node *[]){ NULL }, -1, NULL) == NULL);
    nb_error_clear(g);
    /* an explicit shape: a tensor made from a scalar's cube is refused by
     * nothing but the callback's own loop, so give one that fits */
    nb_node *v = nb_variable(g, "v", 2, (int[]){ 2, 2 }, (double[]){ 1, 2, 3, 4 });
    nb_node *cv = nb_custom(g, &cube, &v, 1, (int[]){ 4 });
    CHECK(cv && nb_rank(cv) == 1 && nb_dim(cv, 0) == 4 && nb_value_at(cv, 3) == 64);
    CHECK(nb_custom(g, &cube, &v, 1, (int[]){ 0 }) == NULL && nb_error(g) == NB_ERR_ARG);
    nb_graph_free(g);
}

int main(void)
{
    any_order(NB_F64);
    any_order(NB_F32);
    lecture_hessian();
    logistic_hessian();
    seeded();
    errors();
    custom_ops(NB_F64);
    custom_ops(NB_F32);
    return check_summary();
}
