/* test_lecture.c - the lecture's worked examples, gate by gate, with the
 * exact values of the slides. */
#include "nabla.h"
#include "check.h"

static void add_mul_matches_slide(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", -2), *y = nb_scalar(g, "y", 5), *z = nb_scalar(g, "z", -4);
    nb_node *q = nb_add(g, x, y), *f = nb_mul(g, q, z);

    CHECK(nb_backward(g, f) == NB_OK);
    CHECK_NEAR(nb_value_scalar(q), 3, 0);
    CHECK_NEAR(nb_value_scalar(f), -12, 0);
    CHECK_NEAR(nb_grad_scalar(x), -4, 0);
    CHECK_NEAR(nb_grad_scalar(y), -4, 0);
    CHECK_NEAR(nb_grad_scalar(z), 3, 0);
    CHECK_NEAR(nb_grad_scalar(q), -4, 0);
    nb_graph_free(g);
}

/* f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))), by gates or with the fused op */
static void neuron_matches_slide(int fused, nb_dtype dtype, double tol)
{
    nb_graph *g = nb_graph_new(dtype);
    nb_node *w0 = nb_scalar(g, "w0", 2), *x0 = nb_scalar(g, "x0", -1);
    nb_node *w1 = nb_scalar(g, "w1", -3), *x1 = nb_scalar(g, "x1", -2);
    nb_node *w2 = nb_scalar(g, "w2", -3);
    nb_node *s = nb_add(g, nb_add(g, nb_mul(g, w0, x0), nb_mul(g, w1, x1)), w2);
    nb_node *f;

    if (fused)
        f = nb_sigmoid(g, s);
    else
        f = nb_reciprocal(g, nb_add_const(g, nb_exp(g, nb_mul_const(g, s, -1)), 1));
    CHECK(f != NULL);
    CHECK(nb_backward(g, f) == NB_OK);
    CHECK_NEAR(nb_value_scalar(s), 1, tol);
    CHECK_NEAR(nb_value_scalar(f), 0.7310585786, tol);
    CHECK_NEAR(nb_grad_scalar(w0), -0.1966119332, tol);
    CHECK_NEAR(nb_grad_scalar(x0), 0.3932238665, tol);
    CHECK_NEAR(nb_grad_scalar(w1), -0.3932238665, tol);
    CHECK_NEAR(nb_grad_scalar(x1), -0.5898357997, tol);
    CHECK_NEAR(nb_grad_scalar(w2), 0.1966119332, tol);
    nb_graph_free(g);
}

/* 100 x 2 x 1.1 = 220; with oranges 150 x 3: 715 */
static void apple_shopping_matches_slide(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *apple = nb_scalar(g, "apple", 100), *n_apple = nb_scalar(g, "apple_num", 2);
    nb_node *tax = nb_scalar(g, "tax", 1.1);
    nb_node *price = nb_mul(g, nb_mul(g, apple, n_apple), tax);

    CHECK(nb_backward(g, price) == NB_OK);
    CHECK_NEAR(nb_value_scalar(price), 220, 1e-12);
    CHECK_NEAR(nb_grad_scalar(apple), 2.2, 1e-12);
    CHECK_NEAR(nb_grad_scalar(n_apple), 110, 1e-12);
    CHECK_NEAR(nb_grad_scalar(tax), 200, 1e-12);

    nb_node *orange = nb_scalar(g, "orange", 150), *n_orange = nb_scalar(g, "orange_num", 3);
    nb_node *both = nb_add(g, nb_mul(g, apple, n_apple), nb_mul(g, orange, n_orange));
    nb_node *total = nb_mul(g, both, tax);
    CHECK(nb_backward(g, total) == NB_OK);
    CHECK_NEAR(nb_value_scalar(total), 715, 1e-12);
    CHECK_NEAR(nb_grad_scalar(apple), 2.2, 1e-12);
    CHECK_NEAR(nb_grad_scalar(n_apple), 110, 1e-12);
    CHECK_NEAR(nb_grad_scalar(orange), 3.3, 1e-12);
    CHECK_NEAR(nb_grad_scalar(n_orange), 165, 1e-12);
    CHECK_NEAR(nb_grad_scalar(tax), 650, 1e-12);
    nb_graph_free(g);
}

/* z = (x + y)^2, dz/dx = dz/dy = 2 (x + y); and the four gates' patterns */
static void chain_and_gate_patterns(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 1.5), *y = nb_scalar(g, "y", -4);
    nb_node *t = nb_add(g, x, y), *z = nb_mul(g, t, t); /* t used twice: copy gate */

    CHECK(nb_backward(g, z) == NB_OK);
    CHECK_NEAR(nb_value_scalar(z), 6.25, 1e-15);
    CHECK_NEAR(nb_grad_scalar(x), 2 * (1.5 - 4), 1e-15);
    CHECK_NEAR(nb_grad_scalar(y), 2 * (1.5 - 4), 1e-15);
    nb_node *zp = nb_pow(g, t, 2);
    CHECK(nb_backward(g, zp) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(x), -5, 1e-15);

    /* upstream 2.0 into each gate: add distributes, mul swaps, max routes */
    nb_node *a = nb_scalar(g, "a", 3), *b = nb_scalar(g, "b", -1);
    nb_node *add = nb_add(g, a, b), *mul = nb_mul(g, a, b), *max = nb_max(g, a, b);
    double two = 2;
    CHECK(nb_backward_seed(g, add, &two, 0) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(a), 2, 0);
    CHECK_NEAR(nb_grad_scalar(b), 2, 0);
    CHECK(nb_backward_seed(g, mul, &two, 0) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(a), 2 * -1, 0);
    CHECK_NEAR(nb_grad_scalar(b), 2 * 3, 0);
    CHECK(nb_backward_seed(g, max, &two, 0) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(a), 2, 0);
    CHECK_NEAR(nb_grad_scalar(b), 0, 0);
    /* copy gate: a used by two branches gets the sum */
    nb_node *copy = nb_add(g, nb_mul_const(g, a, 3), nb_mul_const(g, a, 4));
    CHECK(nb_backward(g, copy) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(a), 7, 0);
    nb_graph_free(g);
}

int main(void)
{
    add_mul_matches_slide();
    neuron_matches_slide(0, NB_F64, 5e-11);
    neuron_matches_slide(1, NB_F64, 5e-11);
    neuron_matches_slide(0, NB_F32, 1e-6);
    neuron_matches_slide(1, NB_F32, 1e-6);
    apple_shopping_matches_slide();
    chain_and_gate_patterns();
    return check_summary();
}
