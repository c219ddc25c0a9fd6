/* test_memory.c - where values live: views over another graph's values,
 * the scalar store moving as a graph grows, and allocation failure at every
 * allocation, which is an error and leaves the graph usable. */
#include "internal.h"
#include "check.h"

#include <string.h>

#define HAS(msg, part) (strstr((msg), (part)) != NULL)

/* A view reads its source's values in place, keeps its own gradient, and
 * refuses elements outside the source or another dtype's source. */
static void views_share_values_not_gradients(void)
{
    nb_graph *src = nb_graph_new(NB_F64), *g = nb_graph_new(NB_F64);
    nb_node *W = nb_param(src, "W", 2, (int[]){ 2, 3 }, (double[]){ 1, 2, 3, 4, 5, 6 });
    nb_node *s = nb_variable(src, "s", 1, (int[]){ 1 }, (double[]){ 2 });
    nb_node *V = nb_view(g, "W", W, 0, 2, (int[]){ 2, 3 }, NB_LEAF_PARAM);
    nb_node *row = nb_view(g, "row", W, 3, 1, (int[]){ 3 }, NB_LEAF_CONSTANT);
    nb_node *sv = nb_view(g, "s", s, 0, 0, NULL, NB_LEAF_VARIABLE);
    nb_node *x = nb_constant(g, "x", 2, (int[]){ 1, 2 }, (double[]){ 1, -1 });
    /* L = sum(x V) * s + sum(row): dV = s x^T 1, ds = sum(x V) */
    nb_node *L = nb_add(g, nb_mul(g, nb_sum(g, nb_matmul(g, x, V)), sv), nb_sum(g, row));

    CHECK(V && row && sv && L && nb_param_count(g) == 1 && nb_lookup(g, "W") == V);
    CHECK(nb_forward(g, L) == NB_OK && nb_backward(g, L) == NB_OK);
    CHECK_NEAR(nb_value_scalar(L), (1 - 4 + 2 - 5 + 3 - 6) * 2 + 15, 0);
    CHECK_NEAR(nb_grad_at(V, 0), 2, 0);
    CHECK_NEAR(nb_grad_at(V, 5), -2, 0);
    CHECK_NEAR(nb_grad_scalar(sv), -9, 0);
    CHECK(nb_grads(W) == NULL && nb_grads(row) == NULL);
    /* writes to the source are seen, and the other way round; three runs,
     * so the scalar view also goes through the written tape */
    for (int run = 0; run < 3; run++) {
        nb_set_at(W, 0, 1 + run);
        nb_set_scalar(s, 3);
        CHECK(nb_forward(g, L) == NB_OK && nb_backward(g, L) == NB_OK);
        CHECK_NEAR(nb_value_scalar(L), (run - 9) * 3 + 15, 0);
        CHECK_NEAR(nb_grad_scalar(sv), run - 9, 0);
    }
    nb_set_at(V, 5, 7);
    CHECK(nb_value_at(W, 5) == 7);
    /* errors */
    nb_graph *f = nb_graph_new(NB_F32);
    CHECK(!nb_view(g, "a", W, 4, 1, (int[]){ 3 }, NB_LEAF_CONSTANT) &&
          nb_error(g) == NB_ERR_SHAPE && HAS(nb_errmsg(g), "does not fit"));
    nb_error_clear(g);
    CHECK(!nb_view(g, "a", W, 7, 0, NULL, NB_LEAF_CONSTANT) && nb_error(g) == NB_ERR_SHAPE);
    nb_error_clear(g);
    CHECK(!nb_view(g, "a", W, 0, 2, (int[]){ 1 << 30, 1 << 30 }, NB_LEAF_CONSTANT) &&
          nb_error(g) == NB_ERR_SHAPE);
    nb_error_clear(g);
    CHECK(!nb_view(g, "a", W, 0, 1, (int[]){ 0 }, NB_LEAF_CONSTANT) &&
          nb_error(g) == NB_ERR_SHAPE);
    nb_error_clear(g);
    CHECK(!nb_view(g, "a", NULL, 0, 0, NULL, NB_LEAF_CONSTANT) && nb_error(g) == NB_ERR_ARG);
    nb_error_clear(g);
    CHECK(!nb_view(g, "a", nb_scalar(src, "t", 1), 0, 0, NULL, NB_LEAF_CONSTANT) &&
          nb_error(g) == NB_ERR_ARG && HAS(nb_errmsg(g), "scalar"));
    nb_error_clear(g);
    CHECK(!nb_view(g, "a", W, 0, 0, NULL, (nb_leaf)7) && nb_error(g) == NB_ERR_ARG);
    nb_error_clear(g);
    CHECK(!nb_view(g, "W", W, 0, 0, NULL, NB_LEAF_PARAM) && nb_error(g) == NB_ERR_ARG &&
          HAS(nb_errmsg(g), "already taken"));
    nb_error_clear(g);
    CHECK(!nb_view(g, NULL, W, 0, 0, NULL, NB_LEAF_PARAM) && nb_error(g) == NB_ERR_ARG);
    CHECK(!nb_view(f, "a", W, 0, 0, NULL, NB_LEAF_CONSTANT) && nb_error(f) == NB_ERR_DTYPE);
    CHECK(!nb_view(NULL, "a", W, 0, 0, NULL, NB_LEAF_CONSTANT));
    nb_graph_free(f);
    nb_graph_free(g); /* before its source's graph */
    nb_graph_free(src);
}

/* Build and run a small model with the n-th allocation failing, for
 * n = 0, 1, 2, ... until it succeeds: each failure is NB_ERR_NOMEM or a
 * NULL graph, and (under ASan/valgrind) leaks nothing. */
static int build_and_run(void)
{
    nb_graph *g = nb_graph_new(NB_F32);
    if (!g)
        return NB_ERR_NOMEM;
    nb_node *X = nb_constant(g, "X", 2, (int[]){ 8, 3 }, NULL);
    nb_node *W = nb_param(g, "W", 2, (int[]){ 3, 4 }, NULL);
    nb_node *b = nb_param(g, "b", 1, (int[]){ 4 }, NULL);
    nb_node *lab = nb_constant(g, "labels", 1, (int[]){ 8 }, NULL);
    nb_node *L = nb_softmax_xent(g, nb_relu(g, nb_add(g, nb_matmul(g, X, W), b)), lab);
    nb_status s = L ? nb_backward(g, L) : nb_error(g);
    if (s == NB_OK)
        s = nb_lookup(g, "W") == W ? NB_OK : NB_ERR_ARG;
    nb_graph_free(g);
    return s;
}

/* Names on a graph's short list, then in uthash's table once there are
 * more than a few: each found, each taken name refused, before and after
 * the table is made, with the n-th allocation failing too. */
static int many_names(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x[20];
    char name[16];
    int ok = g != NULL;

    for (int i = 0; ok && i < 20; i++) {
        snprintf(name, sizeof name, "x%d", i);
        ok = (x[i] = nb_scalar(g, name, i)) != NULL;
        if (ok && (i == 3 || i == 15)) { /* a taken name: refused, nothing added */
            ok = !nb_scalar(g, "x1", 0) && nb_error(g) == NB_ERR_ARG &&
                 strstr(nb_errmsg(g), "already taken") && nb_graph_size(g) == (size_t)i + 1;
            CHECK(ok);
            nb_error_clear(g);
        }
    }
    int s = ok ? NB_OK : g ? nb_error(g) : NB_ERR_NOMEM;
    for (int i = 0; g && i < 20 && nb_graph_size(g) > (size_t)i;
         i++) { /* even after a failure */
        snprintf(name, sizeof name, "x%d", i);
        CHECK(nb_lookup(g, name) == x[i] && strcmp(nb_name(x[i]), name) == 0);
    }
    CHECK(!ok || nb_lookup(g, "x20") == NULL);
    nb_graph_free(g);
    return s;
}

static void allocation_failure_is_an_error(void)
{
    for (long n = 0; n < 200; n++) {
        nb__alloc_fail_after(n);
        int s = many_names();
        nb__alloc_fail_after(-1);
        CHECK(s == NB_OK || s == NB_ERR_NOMEM);
        if (s == NB_OK)
            break;
    }
    CHECK(many_names() == NB_OK);

    int failures = 0, s;
    for (long n = 0; (nb__alloc_fail_after(n), s = build_and_run()) != NB_OK; n++) {
        CHECK(s == NB_ERR_NOMEM);
        failures++;
        if (n > 1000)
            break;
    }
    nb__alloc_fail_after(-1);
    CHECK(s == NB_OK && failures >= 10);
    nb_graph *g = nb_graph_new(NB_F64);
    nb__alloc_fail_after(0);
    CHECK(nb_variable(g, "v", 1, (int[]){ 100000 }, NULL) == NULL);
    CHECK(nb_error(g) == NB_ERR_NOMEM && HAS(nb_errmsg(g), "out of memory"));
    nb_graph_free(g);
}

/* A scalar graph's backward with the n-th allocation failing: NB_ERR_NOMEM,
 * and the graph still runs: backward again gives the gradients of a graph
 * that never failed. */
static nb_node *scalar_chain(nb_graph *g, nb_node **x, nb_node **y)
{
    nb_node *s = *x = nb_scalar(g, "x", 0.5);
    *y = nb_scalar(g, "y", -0.9);
    for (int i = 0; i < 700; i++) /* the store grows while it is built and run */
        s = nb_add(g, nb_tanh(g, nb_mul(g, s, *y)), *x);
    return s;
}

static void backward_survives_allocation_failure(void)
{
    nb_graph *ref = nb_graph_new(NB_F64);
    nb_node *rx, *ry, *rs = scalar_chain(ref, &rx, &ry);
    CHECK(nb_backward(ref, rs) == NB_OK);
    int failures = 0;
    for (long n = 0; n < 1000; n++) {
        nb_graph *g = nb_graph_new(NB_F64);
        CHECK(
            nb_const_scalar(g, 1.0)); /* not an ancestor of s: the plan is a list of its own */
        nb_node *x, *y, *s = scalar_chain(g, &x, &y);
        nb__alloc_fail_after(n);
        nb_status st = nb_backward(g, s);
        nb__alloc_fail_after(-1);
        if (st != NB_OK) {
            CHECK(st == NB_ERR_NOMEM && HAS(nb_errmsg(g), "out of memory"));
            failures++;
            CHECK(nb_backward(g, s) == NB_OK);
        }
        CHECK_NEAR(nb_grad_scalar(x), nb_grad_scalar(rx), 1e-12 * fabs(nb_grad_scalar(rx)));
        CHECK_NEAR(nb_grad_scalar(y), nb_grad_scalar(ry), 1e-12 * fabs(nb_grad_scalar(ry)));
        nb_graph_free(g);
        if (st == NB_OK)
            break;
    }
    CHECK(failures >= 1);
    /* every node an ancestor of s: the node index is the plan, and the
     * gradients are beside the values, so backward allocates nothing */
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x, *y, *s = scalar_chain(g, &x, &y);
    nb__alloc_fail_after(0);
    CHECK(nb_backward(g, s) == NB_OK);
    nb__alloc_fail_after(-1);
    CHECK(nb_grad_scalar(x) == nb_grad_scalar(rx) && nb_grad_scalar(y) == nb_grad_scalar(ry));
    int made = 1;
    for (int i = 0; i < 100000; i++) /* the node index moves: the plan goes with it */
        made &= nb_add_const(g, x, 1.0) != NULL;
    CHECK(made);
    nb_set_scalar(x, nb_value_scalar(x)); /* and runs forward again */
    for (int k = 0; k < 3; k++)
        CHECK(nb_backward(g, s) == NB_OK && nb_grad_scalar(x) == nb_grad_scalar(rx));
    nb_graph_free(g);
    nb_graph_free(ref);
}

/* The scalar store moves as the graph grows, by construction and by a
 * backward's gradients: values, gradients, plans and replays follow it.
 * On a graph made new, since a recycled one may keep the mapped store of
 * a huge graph, which has room for any graph and never moves. */
static void store_moves_with_the_graph(void)
{
    for (int dt = 0; dt < 2; dt++) {
        nb_graph *held[2] = { nb_graph_new(NB_F64),
                              nb_graph_new(NB_F64) }; /* the waiting ones */
        nb_graph *g = nb_graph_new(dt ? NB_F32 : NB_F64);
        CHECK(g && g->store_cap == 0);
        nb_node *x = nb_scalar(g, "x", 0.5), *s = x;
        for (int i = 0; i < 100; i++)
            s = nb_add(g, nb_mul(g, s, nb_const_scalar(g, 0.5)), x);
        CHECK(nb_backward(g, s) == NB_OK && nb_forward(g, s) == NB_OK &&
              nb_backward(g, s) == NB_OK && g->replay != NULL);
        double v = nb_value_scalar(s), dx = nb_grad_scalar(x);
        size_t cap = g->store_cap;
        for (int i = 0; i < 1000000 && g->store_cap == cap; i++) /* until it grows */
            nb_neg(g, x);
        CHECK(g->store_cap > cap); /* it moved (maybe back to where it was) */
        CHECK(nb_value_scalar(s) == v && nb_grad_scalar(x) == dx);
        CHECK(nb_set_scalar(x, 0.25) == NB_OK && nb_forward(g, s) == NB_OK &&
              nb_backward(g, s) == NB_OK);
        CHECK_NEAR(nb_value_scalar(s), 0.5, 1e-6); /* s = 2x in the limit */
        CHECK_NEAR(nb_grad_scalar(x), 2, 1e-6);
        nb_graph_free(g);
        nb_graph_free(held[0]);
        nb_graph_free(held[1]);
    }
}

/* Freeing the graph that waits for reuse a second time does nothing: the
 * next two graphs are distinct, live and usable.  (Released, it would leave
 * the slot pointing at freed memory and nb_graph_new would hand it out.)
 * Not under AddressSanitizer, whose builds keep no graph for reuse and
 * report the second free. */
static void freeing_a_graph_twice_spares_the_next_graphs(void)
{
    if (NB__ASAN)
        return;
    nb_graph *g = nb_graph_new(NB_F64);
    CHECK(nb_scalar(g, "x", 1.0) != NULL);
    nb_graph_free(g);
    nb_graph_free(g);
    nb_graph *a = nb_graph_new(NB_F64), *b = nb_graph_new(NB_F32);
    CHECK(a && b && a != b);
    nb_node *x = nb_scalar(a, "x", 2.0), *y = nb_scalar(b, "x", 3.0);
    CHECK(x && y && nb_value_at(x, 0) == 2.0 && nb_value_at(y, 0) == 3.0);
    CHECK(nb_graph_dtype(a) == NB_F64 && nb_graph_dtype(b) == NB_F32);
    nb_graph_free(a);
    nb_graph_free(b);
    nb_graph_free(a); /* both wait: one in this thread's slot, one in the shared slot */
    nb_graph_free(b);
    nb_graph *c = nb_graph_new(NB_F64), *d = nb_graph_new(NB_F64), *e = nb_graph_new(NB_F64);
    CHECK(c && d && e && c != d && d != e && c != e);
    CHECK(nb_scalar(c, "x", 1.0) && nb_scalar(d, "x", 2.0) && nb_scalar(e, "x", 3.0));
    CHECK(nb_value_scalar(nb_lookup(c, "x")) == 1.0 &&
          nb_value_scalar(nb_lookup(d, "x")) == 2.0);
    nb_graph_free(c);
    nb_graph_free(d);
    nb_graph_free(e);
}

/* A recycled graph keeps its names table, with none of the names of its
 * last life: each is free again, and a lookup finds only the new node. */
static void a_recycled_graph_forgets_its_names(void)
{
    for (int round = 0; round < 3; round++) {
        nb_graph *g = nb_graph_new(NB_F64);
        char name[16];
        nb_node *x[40];
        for (int i = 0; i < 40; i++) { /* the table grows */
            snprintf(name, sizeof name, "x%d", i + round);
            CHECK((x[i] = nb_scalar(g, name, i)) != NULL);
        }
        for (int i = 0; i < 40; i++) {
            snprintf(name, sizeof name, "x%d", i + round);
            CHECK(nb_lookup(g, name) == x[i]);
        }
        snprintf(name, sizeof name, "x%d", 40 + round);
        CHECK(nb_lookup(g, name) == NULL && nb_lookup(g, "y") == NULL);
        CHECK(nb_scalar(g, "x5", 0) == NULL && nb_error(g) == NB_ERR_ARG);
        nb_graph_free(g);
    }
}

/* A huge graph's memory waits, idle, for the next graph: its big arena
 * blocks and its mapped node index and store, whose contents the kernel
 * may have dropped.  Graphs made from them, of the same size, smaller and
 * bigger, give what a fresh one gives, to the bit. */
static double huge_chain(long steps, double *dy0, size_t *nodes)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *y0 = nb_scalar(g, "y0", 0.5), *y = y0;
    for (long s = 0; s < steps; s++)
        y = nb_relu(g, nb_add_const(g, nb_mul_const(g, y, 0.999999), 0.001));
    CHECK(y && nb_backward(g, y) == NB_OK);
    double v = nb_value_scalar(y);
    *dy0 = nb_grad_scalar(y0);
    *nodes = nb_graph_size(g);
    nb_graph_free(g);
    return v;
}

static void huge_graphs_leave_memory_to_the_next(void)
{
    double dy[4], y[4];
    size_t n[4];
    y[0] = huge_chain(300000, &dy[0], &n[0]);
    y[1] = huge_chain(300000, &dy[1], &n[1]);
    y[2] = huge_chain(200000, &dy[2], &n[2]);
    y[3] = huge_chain(600000, &dy[3], &n[3]); /* bigger: more blocks than were kept */
    CHECK(n[0] == 1500001 && n[1] == n[0] && n[2] == 1000001 && n[3] == 3000001);
    CHECK(y[1] == y[0] && dy[1] == dy[0] && dy[0] > 0 && dy[3] > 0 && dy[3] < dy[0]);
    double want = 0.5, d = 1; /* the chain by hand, 200,000 steps */
    for (long s = 0; s < 200000; s++) {
        double z = want * 0.999999 + 0.001;
        d = z > 0 ? d * 0.999999 : 0;
        want = z > 0 ? z : 0;
    }
    CHECK(y[2] == want && dy[2] == d);
    nb_graph *g = nb_graph_new(NB_F64); /* a tensor bigger than any kept block */
    nb_node *big = nb_variable(g, "big", 1, (int[]){ 4000000 }, NULL);
    nb_node *m = big ? nb_mean(g, nb_add_const(g, big, 2)) : NULL;
    CHECK(m && nb_backward(g, m) == NB_OK && nb_value_scalar(m) == 2 &&
          nb_grad_at(big, 3999999) == 1.0 / 4000000);
    nb_graph_free(g);
}

int main(void)
{
    views_share_values_not_gradients();
    allocation_failure_is_an_error();
    backward_survives_allocation_failure();
    store_moves_with_the_graph();
    freeing_a_graph_twice_spares_the_next_graphs();
    a_recycled_graph_forgets_its_names();
    huge_graphs_leave_memory_to_the_next();
    return check_summary();
}
