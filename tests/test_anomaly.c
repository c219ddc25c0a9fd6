/* test_anomaly.c - errors: every error code with a message naming the op
 * and the shapes, and anomaly mode naming the first op that made inf or
 * NaN, forward and backward. */
#include "check.h"
#include "nabla.h"

#include <string.h>

#define HAS(msg, part) (strstr((msg), (part)) != NULL)

static void errors_name_the_op_and_shapes(void)
{
    nb_graph *g = nb_graph_new(NB_F64), *h = nb_graph_new(NB_F64), *f = nb_graph_new(NB_F32);
    nb_node *a = nb_variable(g, "a", 2, (int[]){ 3, 4 }, NULL);
    nb_node *b = nb_variable(g, "b", 2, (int[]){ 2, 4 }, NULL);

    CHECK(nb_add(g, a, b) == NULL && nb_error(g) == NB_ERR_SHAPE);
    CHECK(HAS(nb_errmsg(g), "add") && HAS(nb_errmsg(g), "3x4") && HAS(nb_errmsg(g), "2x4"));
    /* a nested expression keeps the first, innermost error */
    CHECK(nb_exp(g, nb_mul(g, nb_sigmoid(g, nb_add(g, a, b)), a)) == NULL);
    CHECK(nb_error(g) == NB_ERR_SHAPE && HAS(nb_errmsg(g), "add: shapes 3x4 and 2x4"));
    CHECK(nb_forward(g, a) == NB_ERR_SHAPE); /* a failed graph refuses to run */
    nb_error_clear(g);
    CHECK(nb_error(g) == NB_OK && nb_forward(g, a) == NB_OK);

    CHECK(nb_matmul(g, a, b) == NULL);
    CHECK(HAS(nb_errmsg(g), "matmul: (3x4)(2x4): inner dimensions differ"));
    nb_error_clear(g);
    CHECK(nb_exp(g, NULL) == NULL && nb_error(g) == NB_ERR_ARG);
    CHECK(HAS(nb_errmsg(g), "exp: input 1 is NULL"));
    nb_error_clear(g);
    CHECK(nb_mul(g, a, nb_scalar(h, "x", 1)) == NULL && nb_error(g) == NB_ERR_GRAPH);
    CHECK(HAS(nb_errmsg(g), "mul: input 2 belongs to another graph"));
    nb_error_clear(g);
    CHECK(nb_add(g, nb_scalar(f, "x", 1), a) == NULL && nb_error(g) == NB_ERR_DTYPE);
    CHECK(HAS(nb_errmsg(g), "add: input 1 is f32 but the graph is f64"));
    nb_error_clear(g);
    float fv[12] = { 0 };
    CHECK(nb_write(a, fv, NB_F32) == NB_ERR_DTYPE);
    CHECK(nb_variable(g, "big", 4, (int[]){ 1 << 30, 1 << 30, 1 << 30, 1 << 30 }, NULL) ==
          NULL);
    CHECK(nb_error(g) == NB_ERR_SIZE && HAS(nb_errmsg(g), "overflow"));
    nb_error_clear(g);
    CHECK(nb_variable(g, "neg", 2, (int[]){ 3, -1 }, NULL) == NULL &&
          nb_error(g) == NB_ERR_ARG);
    CHECK(HAS(nb_errmsg(g), "not positive"));
    nb_error_clear(g);
    CHECK(nb_scalar(g, "a", 1) == NULL && HAS(nb_errmsg(g), "'a' is already taken"));
    nb_error_clear(g);
    CHECK(nb_sum_axis(g, a, 2, 0) == NULL && HAS(nb_errmsg(g), "axis 2 is out of range"));
    nb_error_clear(g);
    CHECK(nb_reshape(g, a, 2, (int[]){ 5, 2 }) == NULL);
    CHECK(HAS(nb_errmsg(g), "reshape: 3x4 (12 elements) cannot become 5x2"));
    nb_error_clear(g);
    nb_node *lab = nb_constant(g, "lab", 1, (int[]){ 2 }, NULL);
    CHECK(nb_softmax_xent(g, a, lab) == NULL);
    CHECK(HAS(nb_errmsg(g), "softmax_xent: scores 3x4 have 3 rows but labels 2 have 2"));
    nb_error_clear(g);
    CHECK(nb_param(g, NULL, 0, NULL, NULL) == NULL && HAS(nb_errmsg(g), "needs a name"));
    nb_error_clear(g);

    /* a domain error names the gate that made it */
    nb_node *x = nb_scalar(g, "x", -1), *l = nb_log(g, x), *out = nb_add_const(g, l, 1);
    CHECK(nb_forward(g, out) == NB_ERR_NONFINITE);
    char want[64];
    snprintf(want, sizeof want, "log (node %zu): NaN", nb_index(l));
    CHECK(HAS(nb_errmsg(g), want));
    nb_node *z = nb_scalar(g, "z", 0), *r = nb_reciprocal(g, z);
    CHECK(nb_forward(g, nb_mul(g, r, x)) == NB_ERR_NONFINITE);
    CHECK(HAS(nb_errmsg(g), "reciprocal") && HAS(nb_errmsg(g), ": inf at element 0"));
    CHECK(nb_error(g) == NB_OK); /* run-time errors do not stick */
    CHECK(nb_set_scalar(x, 2) == NB_OK && nb_forward(g, out) == NB_OK);
    nb_node *bad = nb_softmax_xent(g, nb_variable(g, "s", 2, (int[]){ 2, 3 }, NULL),
                                   nb_constant(g, "l3", 1, (int[]){ 2 }, (double[]){ 0, 3 }));
    CHECK(nb_forward(g, bad) == NB_ERR_NONFINITE && HAS(nb_errmsg(g), "softmax_xent"));
    CHECK(strcmp(nb_status_str(NB_ERR_SHAPE), "shape mismatch") == 0);
    CHECK(nb_forward(NULL, a) == NB_ERR_ARG && nb_exp(NULL, a) == NULL);
    CHECK(nb_set_at(l, 0, 1) == NB_ERR_ARG && nb_set_at(x, 1, 1) == NB_ERR_ARG);
    CHECK(isnan(nb_value_at(x, 1)));
    nb_graph_free(f);
    nb_graph_free(h);
    nb_graph_free(g);
}

/* Anomaly mode stops at the op that made the first inf/NaN, even when the
 * root is finite, in forward and in backward, and in constructors. */
static void anomaly_mode_names_the_first_bad_op(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 1);
    nb_node *e = nb_exp(g, nb_mul_const(g, x, -1));
    nb_node *f = nb_reciprocal(g, nb_add_const(g, e, 1)); /* sigmoid by gates */
    char want[96];

    CHECK(nb_set_scalar(x, -800) == NB_OK);
    CHECK(nb_forward(g, f) == NB_OK && nb_value_scalar(f) == 0); /* finite root */
    nb_set_anomaly(g, 1);
    CHECK(nb_forward(g, f) == NB_ERR_NONFINITE);
    snprintf(want, sizeof want, "exp (node %zu): inf at element 0", nb_index(e));
    CHECK(HAS(nb_errmsg(g), want));
    /* backward: sqrt(x) at 0 is 0, its derivative is not finite */
    nb_node *z = nb_scalar(g, "z", 0), *r = nb_pow(g, z, 0.5), *out = nb_mul_const(g, r, 3);
    CHECK(out != NULL && nb_forward(g, out) == NB_OK);
    CHECK(nb_backward(g, out) == NB_ERR_NONFINITE);
    snprintf(want, sizeof want, "backward of pow (node %zu): gradient inf", nb_index(r));
    CHECK(HAS(nb_errmsg(g), want) && HAS(nb_errmsg(g), "input 1 (scalar)"));
    nb_set_anomaly(g, 0);
    CHECK(nb_backward(g, out) == NB_OK && isinf(nb_grad_scalar(z)));
    /* constructors: the failing op gives NULL and a sticky error */
    nb_set_anomaly(g, 1);
    nb_node *neg = nb_scalar(g, "neg", -1);
    CHECK(nb_add_const(g, nb_log(g, neg), 1) == NULL && nb_error(g) == NB_ERR_NONFINITE);
    CHECK(HAS(nb_errmsg(g), "log (node") && HAS(nb_errmsg(g), "NaN"));
    nb_graph_free(g);
}

int main(void)
{
    errors_name_the_op_and_shapes();
    anomaly_mode_names_the_first_bad_op();
    return check_summary();
}
