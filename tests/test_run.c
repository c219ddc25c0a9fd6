/* test_run.c - running a graph: fan-out, overwriting and accumulating
 * gradients, seeds, replays in place, plans that visit only ancestors, long
 * chains without recursion, graphs on several threads, local gradients. */
#include "check.h"
#include "nabla.h"

#include <string.h>
#include <pthread.h>

#define HAS(msg, part) (strstr((msg), (part)) != NULL)

static void fan_out_adds_gradients(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 3);
    nb_node *sq = nb_mul(g, x, x), *twice = nb_add(g, x, x);

    CHECK(nb_backward(g, sq) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(x), 6, 0);
    CHECK(nb_backward(g, twice) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(x), 2, 0);
    /* diamond: a = 2x, b = x^2, c = a b = 2x^3, dc/dx = 6x^2 */
    nb_node *a = nb_mul_const(g, x, 2), *b = nb_mul(g, x, x), *c = nb_mul(g, a, b);
    CHECK(nb_backward(g, c) == NB_OK);
    CHECK_NEAR(nb_value_scalar(c), 54, 0);
    CHECK_NEAR(nb_grad_scalar(x), 54, 0);
    CHECK_NEAR(nb_grad_scalar(a), 9, 0);
    CHECK_NEAR(nb_grad_scalar(b), 6, 0);
    nb_graph_free(g);
}

static void backward_overwrites_and_accumulates_on_request(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 2), *y = nb_scalar(g, "y", 5);
    nb_node *f = nb_mul(g, nb_exp(g, x), y);

    CHECK(nb_backward(g, f) == NB_OK);
    double dx = nb_grad_scalar(x), dy = nb_grad_scalar(y);
    CHECK_NEAR(dx, 5 * exp(2.0), 1e-12);
    CHECK(nb_backward(g, f) == NB_OK); /* same again, not doubled */
    CHECK_NEAR(nb_grad_scalar(x), dx, 0);
    CHECK(nb_backward_seed(g, f, NULL, 1) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(x), 2 * dx, 0); /* accumulated on request */
    CHECK_NEAR(nb_grad_scalar(y), 2 * dy, 0);
    nb_zero_grad(g);
    CHECK_NEAR(nb_grad_scalar(x), 0, 0);
    double three = 3;
    CHECK(nb_backward_seed(g, f, &three, 0) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(x), 3 * dx, 1e-12);
    nb_graph_free(g);
}

/* Gradients through matmuls: overwritten by each backward, summed when
 * accumulating, checked against finite differences; an input used by
 * several matmuls sums them all. */
static void matmul_gradients_overwrite_and_accumulate(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_variable(g, "x", 2, (int[]){ 2, 3 }, (double[]){ 1, 2, 3, 4, 5, 6 });
    nb_node *w = nb_variable(g, "w", 2, (int[]){ 3, 2 }, (double[]){ 1, -1, 2, 0, -3, 1 });
    nb_node *v = nb_variable(g, "v", 2, (int[]){ 2, 2 }, (double[]){ 1, 2, 3, 4 });
    nb_node *h = nb_tanh(g, nb_matmul(g, x, w)); /* x, w: used once, by matmul */
    nb_node *z = nb_matmul(g, h, v);
    nb_node *u = nb_matmul(g, v, v); /* v used thrice */
    nb_node *f = nb_add(g, nb_sum(g, nb_mul(g, z, z)), nb_sum(g, u));

    CHECK(nb_backward(g, f) == NB_OK);
    double dw[6], dv[4], dx[6];
    for (size_t i = 0; i < 6; i++) {
        dw[i] = nb_grad_at(w, i);
        dx[i] = nb_grad_at(x, i);
    }
    for (size_t i = 0; i < 4; i++)
        dv[i] = nb_grad_at(v, i);
    nb_gradcheck_result r[3];
    CHECK(nb_gradcheck(g, f, (nb_node *[]){ x, w, v }, 3, NULL, r) == NB_OK);
    CHECK(r[0].pass && r[1].pass && r[2].pass);
    CHECK(nb_backward(g, f) == NB_OK); /* again: the same */
    CHECK(nb_grad_at(w, 4) == dw[4] && nb_grad_at(x, 5) == dx[5] && nb_grad_at(v, 3) == dv[3]);
    CHECK(nb_backward_seed(g, f, NULL, 1) == NB_OK); /* accumulated: twice */
    for (size_t i = 0; i < 6; i++)
        CHECK_NEAR(nb_grad_at(w, i), 2 * dw[i], 1e-12 * fabs(dw[i]));
    for (size_t i = 0; i < 4; i++)
        CHECK_NEAR(nb_grad_at(v, i), 2 * dv[i], 1e-12 * fabs(dv[i]));
    CHECK(nb_backward(g, f) == NB_OK); /* and overwrites again */
    for (size_t i = 0; i < 6; i++)
        CHECK(nb_grad_at(w, i) == dw[i] && nb_grad_at(x, i) == dx[i]);
    nb_node *s = nb_sum(g, nb_mul(g, w, w)); /* another root, then back */
    CHECK(nb_backward(g, s) == NB_OK);
    CHECK_NEAR(nb_grad_at(w, 4), -6, 0);
    CHECK(nb_backward(g, f) == NB_OK && nb_grad_at(w, 4) == dw[4]);
    nb_graph_free(g);
}

/* A scalar chain of n steps from x: its root. */
static nb_node *chain(nb_graph *g, nb_node *x, int n)
{
    for (int i = 0; i < n; i++)
        x = nb_relu(g, nb_add_const(g, nb_mul_const(g, x, 0.999), 0.001));
    return x;
}

static void *build_and_free_chain(void *ok)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *y = chain(g, nb_scalar(g, "y", 0.5), 5000);
    int done =
        nb_backward(g, y) == NB_OK && nb_forward(g, y) == NB_OK && nb_backward(g, y) == NB_OK;
    nb_graph_free(g); /* its blocks wait in the shared cache */
    *(int *)ok = done;
    return NULL;
}

/* Graphs built on other threads share the arena's block cache and the
 * recycled graph with this one; each still runs right. */
static void graphs_built_on_threads(void)
{
    pthread_t t[2];
    int ok[2] = { 0, 0 };
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, build_and_free_chain, &ok[i]) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(t[i], NULL) == 0 && ok[i]);
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *y0 = nb_scalar(g, "y0", 0.5), *y = chain(g, y0, 15000);
    CHECK(nb_backward(g, y) == NB_OK && nb_forward(g, y) == NB_OK &&
          nb_backward(g, y) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(y0), pow(0.999, 15000), 1e-12);
    nb_graph_free(g);
}

static void tensor_root_needs_a_seed(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_variable(g, "x", 1, (int[]){ 3 }, (double[]){ 1, 2, 3 });
    nb_node *y = nb_mul(g, x, x);

    CHECK(nb_backward(g, y) == NB_ERR_SHAPE);
    CHECK(HAS(nb_errmsg(g), "not a scalar") && HAS(nb_errmsg(g), "3"));
    CHECK(nb_backward_seed(g, y, (double[]){ 1, 10, 100 }, 0) == NB_OK);
    CHECK_NEAR(nb_grad_at(x, 0), 2, 0);
    CHECK_NEAR(nb_grad_at(x, 1), 40, 0);
    CHECK_NEAR(nb_grad_at(x, 2), 600, 0);
    nb_graph_free(g);
}

/* A training-style loop: build once, change leaves, forward, backward; no
 * byte of the arena is taken after the first backward. */
static void replay_recomputes_in_place(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *w = nb_param(g, "w", 2, (int[]){ 2, 1 }, (double[]){ 0.5, -0.25 });
    nb_node *X = nb_constant(g, "X", 2, (int[]){ 3, 2 }, (double[]){ 1, 2, 3, 4, 5, 6 });
    nb_node *t = nb_constant(g, "t", 2, (int[]){ 3, 1 }, (double[]){ 1, 0, 1 });
    nb_node *L = nb_bce_logits(g, nb_matmul(g, X, w), t);

    CHECK(L && nb_backward(g, L) == NB_OK);
    size_t bytes = nb_graph_bytes(g);
    for (int step = 0; step < 50; step++) {
        double *wv = nb_values(w);
        const double *dw = nb_grads(w);
        for (int i = 0; i < 2; i++)
            wv[i] -= 0.1 * dw[i];
        CHECK(nb_forward(g, L) == NB_OK && nb_backward(g, L) == NB_OK);
    }
    CHECK(nb_graph_bytes(g) == bytes);
    /* the replayed graph agrees with one built fresh at the new values */
    nb_graph *h = nb_graph_new(NB_F64);
    double wv[2];
    CHECK(nb_read(w, wv, NB_F64) == NB_OK);
    nb_node *w2 = nb_param(h, "w", 2, (int[]){ 2, 1 }, wv);
    nb_node *L2 = nb_bce_logits(
        h,
        nb_matmul(h, nb_constant(h, NULL, 2, (int[]){ 3, 2 }, (double[]){ 1, 2, 3, 4, 5, 6 }),
                  w2),
        nb_constant(h, NULL, 2, (int[]){ 3, 1 }, (double[]){ 1, 0, 1 }));
    CHECK(nb_backward(h, L2) == NB_OK);
    CHECK_NEAR(nb_value_scalar(L), nb_value_scalar(L2), 0);
    CHECK_NEAR(nb_grad_at(w, 0), nb_grad_at(w2, 0), 0);
    CHECK_NEAR(nb_grad_at(w, 1), nb_grad_at(w2, 1), 0);
    CHECK(nb_lookup(g, "w") == w && nb_lookup(g, "X") == X && nb_lookup(g, "nope") == NULL);
    CHECK(nb_param_count(g) == 1 && nb_param_at(g, 0) == w && nb_param_at(g, 1) == NULL);
    nb_graph_free(h);
    nb_graph_free(g);
}

/* Backward visits root's ancestors only, and only paths from a variable
 * to the root get a gradient at all. */
static void leaf_root_runs(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 4);

    CHECK(nb_forward(g, x) == NB_OK && nb_backward(g, x) == NB_OK);
    CHECK(nb_grad_scalar(x) == 1 && nb_value_scalar(x) == 4);
    nb_node *c = nb_const_scalar(g, 2);
    CHECK(nb_forward(g, c) == NB_OK && nb_backward(g, c) == NB_OK && nb_grad_scalar(c) == 0);
    nb_graph_free(g);
}

static void gradients_only_where_needed(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 1), *c = nb_const_scalar(g, 4);
    nb_node *cc = nb_exp(g, c); /* constants only */
    nb_node *f = nb_mul(g, x, cc);
    nb_node *other = nb_tanh(g, x); /* not an ancestor of f */

    CHECK(nb_backward(g, f) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(x), exp(4.0), 1e-12);
    CHECK(nb_grads(c) == NULL && nb_grads(cc) == NULL && nb_grads(other) == NULL);
    CHECK(!nb_wants_grad(cc) && nb_wants_grad(f));
    CHECK(nb_grads(f) != NULL && nb_grads(x) != NULL);
    nb_graph_free(g);
}

/* The scalar-chain workload, y <- relu(0.999 y + 0.001), 250,000 steps
 * (1,000,000 nodes), against the same arithmetic done by hand. */
static void million_node_chain_runs_without_recursion(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *y0 = nb_scalar(g, "y0", 0.5), *y = y0;
    double v = 0.5, d = 1;

    for (int i = 0; i < 250000; i++) {
        y = nb_relu(g, nb_add_const(g, nb_mul_const(g, y, 0.999), 0.001));
        v = v * 0.999 + 0.001;
        d *= v > 0 ? 0.999 : 0;
        v = v > 0 ? v : 0;
    }
    CHECK(nb_graph_size(g) == 1 + 250000 * 5);
    CHECK(nb_backward(g, y) == NB_OK);
    CHECK_NEAR(nb_value_scalar(y), v, 0);
    CHECK_NEAR(nb_grad_scalar(y0), d, 0);
    CHECK(nb_set_scalar(y0, 0.25) == NB_OK && nb_forward(g, y) == NB_OK);
    CHECK(nb_value_scalar(y) > 0.99 && nb_backward(g, y) == NB_OK);
    /* the op nodes with their values and gradients take 64 bytes each */
    CHECK(nb_graph_bytes(g) / nb_graph_size(g) <= 64);
    nb_graph_free(g);
}

/* Edge cases of a first backward: a leaf as root, a tensor root with a
 * seed, accumulate on the first call, a named scalar and tensors mixed with
 * scalars. */
static void run_edge_cases(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 3);
    CHECK(nb_backward(g, x) == NB_OK && nb_grad_scalar(x) == 1);
    nb_graph_free(g);

    g = nb_graph_new(NB_F64);
    nb_node *v = nb_variable(g, "v", 1, (int[]){ 3 }, (double[]){ 1, 2, 3 });
    nb_node *s = nb_scalar(g, "s", 2);
    nb_node *y = nb_mul(g, nb_mul(g, v, v), s); /* s v^2 */
    CHECK(nb_backward_seed(g, y, (double[]){ 1, 10, 100 }, 0) == NB_OK);
    CHECK(nb_grad_at(v, 0) == 4 && nb_grad_at(v, 1) == 80 && nb_grad_at(v, 2) == 1200);
    CHECK(nb_grad_scalar(s) == 1 + 40 + 900);
    nb_graph_free(g);

    g = nb_graph_new(NB_F32);
    x = nb_scalar(g, "x", 0.5);
    nb_node *f = nb_add(
        g, nb_sum(g, nb_mul(g, nb_variable(g, "w", 1, (int[]){ 2 }, (double[]){ 1, -1 }), x)),
        nb_mul(g, x, x));                            /* (1 - 1) x + x^2 */
    CHECK(nb_backward_seed(g, f, NULL, 1) == NB_OK); /* accumulate, first call */
    CHECK(nb_grad_scalar(x) == 1.0f);
    CHECK(nb_backward_seed(g, f, NULL, 1) == NB_OK && nb_grad_scalar(x) == 2.0f);
    CHECK(nb_backward(g, f) == NB_OK && nb_grad_scalar(x) == 1.0f);
    nb_graph_free(g);
}

static void local_grads_are_the_slides(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", -2), *y = nb_scalar(g, "y", 5);
    nb_node *m = nb_mul(g, x, y), *mx = nb_max(g, x, y), *e = nb_exp(g, x);
    double v;

    CHECK(nb_local_grad(g, m, 0, &v) == NB_OK && v == 5);
    CHECK(nb_local_grad(g, m, 1, &v) == NB_OK && v == -2);
    CHECK(nb_local_grad(g, mx, 0, &v) == NB_OK && v == 0);
    CHECK(nb_local_grad(g, mx, 1, &v) == NB_OK && v == 1);
    CHECK(nb_local_grad(g, e, 0, &v) == NB_OK && v == exp(-2.0));
    CHECK(nb_local_grad(g, e, 1, &v) == NB_ERR_ARG);
    CHECK(nb_local_grad(g, x, 0, &v) == NB_ERR_ARG);
    CHECK(nb_backward(g, m) == NB_OK); /* local_grad left the gradients alone */
    CHECK(nb_local_grad(g, m, 0, &v) == NB_OK && nb_grad_scalar(x) == 5);
    /* x*x: each slot's own local gradient (the mul gate swaps), f32 too */
    nb_node *sq = nb_mul(g, x, x);
    CHECK(nb_local_grad(g, sq, 0, &v) == NB_OK && v == -2);
    CHECK(nb_local_grad(g, sq, 1, &v) == NB_OK && v == -2);
    nb_graph *h = nb_graph_new(NB_F32);
    nb_node *z = nb_scalar(h, "z", 1.5), *zz = nb_mul(h, z, z);
    CHECK(nb_local_grad(h, zz, 1, &v) == NB_OK && v == 1.5);
    CHECK(nb_local_grad(h, nb_sigmoid(h, z), 0, &v) == NB_OK &&
          fabs(v - 0.14914645207033284) < 1e-7);
    nb_graph_free(h);
    CHECK(strcmp(nb_op_name(m), "mul") == 0 && strcmp(nb_op_name(x), "variable") == 0);
    CHECK(nb_input(m, 1) == y && nb_arity(m) == 2 && nb_input(m, 2) == NULL);
    nb_graph_free(g);
}

int main(void)
{
    fan_out_adds_gradients();
    backward_overwrites_and_accumulates_on_request();
    matmul_gradients_overwrite_and_accumulate();
    graphs_built_on_threads();
    tensor_root_needs_a_seed();
    replay_recomputes_in_place();
    gradients_only_where_needed();
    leaf_root_runs();
    million_node_chain_runs_without_recursion();
    run_edge_cases();
    local_grads_are_the_slides();
    return check_summary();
}
