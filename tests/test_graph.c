/* test_graph.c - the graph machinery: fan-out, replay, accumulation, plans
 * that visit only ancestors, long chains without recursion, every error
 * code with its message, allocation failure, numerical stability. */
#include "internal.h"
#include "check.h"

#include <string.h>
#include <threads.h>

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
    CHECK(nb_backward(g, f) == NB_OK);           /* same again, not doubled */
    CHECK_NEAR(nb_grad_scalar(x), dx, 0);
    CHECK(nb_backward_seed(g, f, NULL, 1) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(x), 2 * dx, 0);    /* accumulated on request */
    CHECK_NEAR(nb_grad_scalar(y), 2 * dy, 0);
    nb_zero_grad(g);
    CHECK_NEAR(nb_grad_scalar(x), 0, 0);
    double three = 3;
    CHECK(nb_backward_seed(g, f, &three, 0) == NB_OK);
    CHECK_NEAR(nb_grad_scalar(x), 3 * dx, 1e-12);
    nb_graph_free(g);
}

/* Gradients with one contribution from a matmul are overwritten, not
 * cleared and added to (run.c, NB__FRESH): the same values as accumulating
 * into zeros, backward after backward, and accumulation still adds. */
static void matmul_overwrites_fresh_gradients(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_variable(g, "x", 2, (int[]){ 2, 3 }, (double[]){ 1, 2, 3, 4, 5, 6 });
    nb_node *w = nb_variable(g, "w", 2, (int[]){ 3, 2 }, (double[]){ 1, -1, 2, 0, -3, 1 });
    nb_node *v = nb_variable(g, "v", 2, (int[]){ 2, 2 }, (double[]){ 1, 2, 3, 4 });
    nb_node *h = nb_tanh(g, nb_matmul(g, x, w));          /* x, w: used once, by matmul */
    nb_node *z = nb_matmul(g, h, v);                       /* h, v: the same */
    nb_node *u = nb_matmul(g, v, v);                       /* v used thrice now */
    nb_node *f = nb_add(g, nb_sum(g, nb_mul(g, z, z)), nb_sum(g, u));

    CHECK(nb_backward(g, f) == NB_OK);
    CHECK((x->flags & NB__FRESH) && (w->flags & NB__FRESH) && (h->flags & NB__FRESH));
    CHECK(!(v->flags & NB__FRESH) && !(z->flags & NB__FRESH) && !(u->flags & NB__FRESH));
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
    CHECK(nb_backward(g, f) == NB_OK);                      /* again: the same */
    CHECK(nb_grad_at(w, 4) == dw[4] && nb_grad_at(x, 5) == dx[5] && nb_grad_at(v, 3) == dv[3]);
    CHECK(nb_backward_seed(g, f, NULL, 1) == NB_OK);        /* accumulated: twice */
    for (size_t i = 0; i < 6; i++)
        CHECK_NEAR(nb_grad_at(w, i), 2 * dw[i], 1e-12 * fabs(dw[i]));
    for (size_t i = 0; i < 4; i++)
        CHECK_NEAR(nb_grad_at(v, i), 2 * dv[i], 1e-12 * fabs(dv[i]));
    CHECK(w->flags & NB__FRESH);                            /* the mark came back */
    CHECK(nb_backward(g, f) == NB_OK);                      /* and overwrites again */
    for (size_t i = 0; i < 6; i++)
        CHECK(nb_grad_at(w, i) == dw[i] && nb_grad_at(x, i) == dx[i]);
    /* a plan without a matmul clears the marks it meets */
    nb_node *s = nb_sum(g, nb_mul(g, w, w));
    CHECK(nb_backward(g, s) == NB_OK && !(w->flags & NB__FRESH));
    CHECK_NEAR(nb_grad_at(w, 4), -6, 0);
    CHECK(nb_backward(g, f) == NB_OK && (w->flags & NB__FRESH));
    CHECK(nb_grad_at(w, 4) == dw[4]);
    nb_graph_free(g);
}

/* A plan's first run walks the plan itself, later runs write and run the
 * tape (run.c): the same values and gradients, up to the order of sums. */
static void first_run_walks_the_plan_later_runs_the_tape(void)
{
    for (int dt = 0; dt < 2; dt++) {
        nb_graph *g = nb_graph_new(dt ? NB_F32 : NB_F64);
        nb_node *x[8], *s = nb_const_scalar(g, 0.5);
        for (int i = 0; i < 8; i++) {
            x[i] = nb_scalar(g, NULL, 0.1 * i - 0.3);
            s = nb_add(g, s, nb_mul(g, nb_sigmoid(g, x[i]), nb_tanh(g, nb_mul(g, x[i], s))));
        }
        nb_node *v = nb_variable(g, "v", 1, (int[]){ 3 }, (double[]){ 1, -2, 3 });
        nb_node *f = nb_add(g, nb_mul(g, s, s), nb_sum(g, nb_tanh(g, nb_mul(g, v, s))));
        double walk[9], tape[9], value = nb_value_scalar(f);
        CHECK(nb_backward(g, f) == NB_OK && !g->has_tape);       /* the walk */
        for (int i = 0; i < 8; i++)
            walk[i] = nb_grad_scalar(x[i]);
        walk[8] = nb_grad_at(v, 2);
        CHECK(nb_forward(g, f) == NB_OK && g->has_tape);         /* the tape from now on */
        CHECK(nb_value_scalar(f) == value);
        CHECK(nb_backward(g, f) == NB_OK);
        for (int i = 0; i < 8; i++)
            tape[i] = nb_grad_scalar(x[i]);
        tape[8] = nb_grad_at(v, 2);
        for (int i = 0; i < 9; i++)
            CHECK_NEAR(walk[i], tape[i], (dt ? 1e-6 : 1e-14) * fmax(1, fabs(tape[i])));
        CHECK(walk[8] != 0);
        /* a new plan's first backward walks again, forward writes the
         * tape at once; anomaly mode always runs the tape */
        nb_node *h = nb_mul(g, f, f);
        CHECK(nb_backward(g, h) == NB_OK && !g->has_tape);
        CHECK_NEAR(nb_grad_at(v, 2), 2 * nb_value_scalar(f) * tape[8],
                   (dt ? 1e-5 : 1e-13) * fabs(tape[8]) * fabs(nb_value_scalar(f)));
        nb_node *h2 = nb_mul(g, h, f);
        CHECK(nb_forward(g, h2) == NB_OK && g->has_tape);
        nb_set_anomaly(g, 1);
        CHECK(nb_backward(g, nb_exp(g, f)) == NB_OK && g->has_tape);
        nb_graph_free(g);
    }
}

/* Values and gradients of a replay, for comparing tapes bit for bit. */
static void replay_into(nb_graph *g, nb_node *f, nb_node *const *x, int n, double *out)
{
    CHECK(nb_forward(g, f) == NB_OK && nb_backward(g, f) == NB_OK);
    out[0] = nb_value_scalar(f);
    for (int i = 0; i < n; i++)
        out[1 + i] = nb_grad_at(x[i], 0);
}

/* The packed tape (32-bit offsets from the arena's lowest block) and the
 * wide one (pointers) run the same steps in the same order: the same bits.
 * Wide where the arena spans too much for 32-bit offsets (made up here by
 * moving its recorded end), in anomaly mode, and when a test turns packing
 * off. */
static void packed_and_wide_tapes_agree(void)
{
    for (int dt = 0; dt < 2; dt++) {
        nb_graph *g = nb_graph_new(dt ? NB_F32 : NB_F64);
        nb_node *x[6], *c = nb_const_scalar(g, 0.75);
        for (int i = 0; i < 5; i++)
            x[i] = nb_scalar(g, NULL, 0.3 * i - 0.7);
        x[5] = nb_variable(g, "v", 1, (int[]){ 3 }, (double[]){ 0.5, -1, 2 });
        nb_node *k = nb_exp(g, nb_mul(g, c, c));        /* constants only: no gradient */
        nb_node *s = nb_add(g, nb_mul(g, x[0], x[0]), nb_div(g, x[1], k));
        s = nb_sub(g, nb_add(g, s, nb_max(g, nb_sigmoid(g, x[2]), nb_mul_const(g, c, 0.5))), nb_mul(g, nb_tanh(g, x[3]), c));
        s = nb_add(g, s, nb_pow(g, nb_abs(g, x[4]), 1.5));
        nb_node *f = nb_add(g, nb_mul(g, s, s), nb_sum(g, nb_relu(g, nb_mul(g, x[5], s))));
        double packed[7], wide[7], far[7], again[7];
        CHECK(f != NULL && nb_backward(g, f) == NB_OK);  /* the first run walks */
        replay_into(g, f, x, 6, packed);
        size_t with_grad = 0;
        for (size_t i = 0; i < g->tape.n; i++)
            with_grad += g->tape.node[i]->grad != NULL;
        CHECK(g->has_tape && g->tape.packed && g->tape.n_bwd == with_grad &&
              with_grad < g->tape.n);
        nb__tape_packing = 0;
        g->has_tape = 0;
        replay_into(g, f, x, 6, wide);
        CHECK(g->has_tape && !g->tape.packed);
        nb__tape_packing = 1;
        uintptr_t hi = g->arena.hi;
        g->arena.hi = g->arena.lo + ((uintptr_t)INT32_MAX + 1) * (dt ? 4 : 8);
        g->has_tape = 0;
        replay_into(g, f, x, 6, far);
        CHECK(!g->tape.packed);
        g->arena.hi = hi;
        nb_set_anomaly(g, 1);
        replay_into(g, f, x, 6, again);
        CHECK(!g->tape.packed && memcmp(again, wide, sizeof wide) == 0);
        nb_set_anomaly(g, 0);
        replay_into(g, f, x, 6, again);
        CHECK(g->tape.packed && memcmp(again, packed, sizeof packed) == 0);
        CHECK(memcmp(packed, wide, sizeof wide) == 0 && memcmp(far, wide, sizeof wide) == 0);
        for (int i = 1; i < 7; i++)
            CHECK(packed[i] != 0);
        nb_graph_free(g);
    }
}

/* A scalar chain of n steps from x: its root. */
static nb_node *chain(nb_graph *g, nb_node *x, int n)
{
    for (int i = 0; i < n; i++)
        x = nb_relu(g, nb_add_const(g, nb_mul_const(g, x, 0.999), 0.001));
    return x;
}

static int build_and_free_chain(void *arg)
{
    (void)arg;
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *y = chain(g, nb_scalar(g, "y", 0.5), 5000);
    int ok = nb_backward(g, y) == NB_OK;
    nb_graph_free(g);                   /* its blocks wait in the shared cache */
    return ok;
}

/* glibc gives each thread its own heap, terabytes from the main one; blocks
 * freed by one thread and cached must not join a graph of another thread's
 * heap, or its tape could not be packed. */
static void tapes_stay_packed_across_threads(void)
{
    thrd_t t;
    int ok = 0;
    CHECK(thrd_create(&t, build_and_free_chain, NULL) == thrd_success &&
          thrd_join(t, &ok) == thrd_success && ok);
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *y0 = nb_scalar(g, "y0", 0.5), *y = chain(g, y0, 15000);
    CHECK(nb_backward(g, y) == NB_OK && nb_forward(g, y) == NB_OK && nb_backward(g, y) == NB_OK);
    CHECK(g->has_tape && g->tape.packed);
    CHECK(g->arena.hi - g->arena.lo < ((uintptr_t)1 << 31));
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
    nb_node *L2 = nb_bce_logits(h, nb_matmul(h, nb_constant(h, NULL, 2, (int[]){ 3, 2 },
                                                          (double[]){ 1, 2, 3, 4, 5, 6 }),
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
    nb_node *cc = nb_exp(g, c);                   /* constants only */
    nb_node *f = nb_mul(g, x, cc);
    nb_node *other = nb_tanh(g, x);               /* not an ancestor of f */

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
    CHECK(nb_forward(g, a) == NB_ERR_SHAPE);         /* a failed graph refuses to run */
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
    CHECK(nb_variable(g, "big", 4, (int[]){ 1 << 30, 1 << 30, 1 << 30, 1 << 30 }, NULL) == NULL);
    CHECK(nb_error(g) == NB_ERR_SIZE && HAS(nb_errmsg(g), "overflow"));
    nb_error_clear(g);
    CHECK(nb_variable(g, "neg", 2, (int[]){ 3, -1 }, NULL) == NULL && nb_error(g) == NB_ERR_ARG);
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
    CHECK(nb_error(g) == NB_OK);                      /* run-time errors do not stick */
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

static void allocation_failure_is_an_error(void)
{
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

/* The one-sweep first backward on its edge cases: a leaf as root, a tensor
 * root with a seed, accumulate on the first call, a named scalar (which has
 * an ext) and tensors mixed with scalars. */
static void first_backward_edge_cases(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 3);
    CHECK(nb_backward(g, x) == NB_OK && nb_grad_scalar(x) == 1);
    nb_graph_free(g);

    g = nb_graph_new(NB_F64);
    nb_node *v = nb_variable(g, "v", 1, (int[]){ 3 }, (double[]){ 1, 2, 3 });
    nb_node *s = nb_scalar(g, "s", 2);
    nb_node *y = nb_mul(g, nb_mul(g, v, v), s);                 /* s v^2 */
    CHECK(nb_backward_seed(g, y, (double[]){ 1, 10, 100 }, 0) == NB_OK);
    CHECK(nb_grad_at(v, 0) == 4 && nb_grad_at(v, 1) == 80 && nb_grad_at(v, 2) == 1200);
    CHECK(nb_grad_scalar(s) == 1 + 40 + 900);
    nb_graph_free(g);

    g = nb_graph_new(NB_F32);
    x = nb_scalar(g, "x", 0.5);
    nb_node *f = nb_add(g, nb_sum(g, nb_mul(g, nb_variable(g, "w", 1, (int[]){ 2 },
                                                           (double[]){ 1, -1 }), x)),
                        nb_mul(g, x, x));                       /* (1 - 1) x + x^2 */
    CHECK(nb_backward_seed(g, f, NULL, 1) == NB_OK);            /* accumulate, first call */
    CHECK(nb_grad_scalar(x) == 1.0f);
    CHECK(nb_backward_seed(g, f, NULL, 1) == NB_OK && nb_grad_scalar(x) == 2.0f);
    CHECK(nb_backward(g, f) == NB_OK && nb_grad_scalar(x) == 1.0f);
    nb_graph_free(g);
}

/* The tensor loops of elementwise ops may run an AVX2 clone (target_clones,
 * internal.h); a scalar node runs the op's one-element kernel, built for the
 * baseline.  Both must give the same bits, value and gradient. */
typedef nb_node *(*unary_fn)(nb_graph *, nb_node *);
typedef nb_node *(*binary_fn)(nb_graph *, nb_node *, nb_node *);

static void tensor_loops_match_scalar_kernels(nb_dtype dt)
{
    enum { N = 37 };
    static const unary_fn unary[] = { nb_sigmoid, nb_tanh, nb_exp, nb_relu, nb_abs, nb_neg,
                                      nb_reciprocal, nb_log };
    static const binary_fn binary[] = { nb_add, nb_mul, nb_max, nb_min };
    double xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[i] = (i - 18) * 0.731 + (i % 3) * 1e-3;
        ys[i] = ((i * 7) % 11 - 5) * 0.37;
    }
    for (size_t f = 0; f < 8 + 4; f++) {
        nb_graph *g = nb_graph_new(dt);
        int log_op = f == 7;
        nb_node *x = nb_variable(g, "x", 1, (int[]){ N }, xs);
        nb_node *y = nb_variable(g, "y", 1, (int[]){ N }, ys);
        nb_node *t = f < 8 ? unary[f](g, log_op ? nb_abs(g, x) : x) : binary[f - 8](g, x, y);
        nb_node *s[N], *sx[N], *sy[N];
        for (int i = 0; i < N; i++) {
            sx[i] = nb_scalar(g, NULL, xs[i]);
            sy[i] = nb_scalar(g, NULL, ys[i]);
            s[i] = f < 8 ? unary[f](g, log_op ? nb_abs(g, sx[i]) : sx[i])
                         : binary[f - 8](g, sx[i], sy[i]);
        }
        double seed[N];
        for (int i = 0; i < N; i++)
            seed[i] = 1 + 0.25 * i;
        CHECK(nb_backward_seed(g, t, seed, 0) == NB_OK);
        int same = 1;
        for (int i = 0; i < N; i++) {
            CHECK(nb_backward_seed(g, s[i], &seed[i], 0) == NB_OK);
            same &= nb_value_at(t, (size_t)i) == nb_value_scalar(s[i]) &&
                    nb_grad_at(x, (size_t)i) == nb_grad_scalar(sx[i]) &&
                    (f < 8 || nb_grad_at(y, (size_t)i) == nb_grad_scalar(sy[i]));
        }
        CHECK(same);
        nb_graph_free(g);
    }
}

/* A scalar graph's first backward (one sweep, run.c) with the n-th
 * allocation failing: NB_ERR_NOMEM, and the graph still runs: backward
 * again gives the gradients of a graph that never failed. */
static nb_node *scalar_chain(nb_graph *g, nb_node **x, nb_node **y)
{
    nb_node *s = *x = nb_scalar(g, "x", 0.5);
    *y = nb_scalar(g, "y", -0.9);
    for (int i = 0; i < 700; i++)       /* values and gradients over several slabs */
        s = nb_add(g, nb_tanh(g, nb_mul(g, s, *y)), *x);
    return s;
}

static void first_backward_survives_allocation_failure(void)
{
    nb_graph *ref = nb_graph_new(NB_F64);
    nb_node *rx, *ry, *rs = scalar_chain(ref, &rx, &ry);
    CHECK(nb_backward(ref, rs) == NB_OK);
    int failures = 0;
    for (long n = 0; n < 1000; n++) {
        nb_graph *g = nb_graph_new(NB_F64);
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
    CHECK(failures >= 3);
    nb_graph_free(ref);
}

/* sigmoid: fused and gate-by-gate agree wherever the composition is
 * finite and exact (its reciprocal gate's local gradient -y^2 still a normal
 * number; past that the composition itself loses its digits), and the fused
 * op is finite in value and gradient for |x| <= 1000 */
static void sigmoid_is_stable(nb_dtype dtype)
{
    nb_graph *g = nb_graph_new(dtype);
    nb_node *x = nb_scalar(g, "x", 0);
    nb_node *fused = nb_sigmoid(g, x);
    nb_node *gates = nb_reciprocal(g, nb_add_const(g, nb_exp(g, nb_mul_const(g, x, -1)), 1));
    double tol = dtype == NB_F32 ? 1e-6 : 1e-15, dtol = dtype == NB_F32 ? 1e-5 : 1e-13;
    double tiny = dtype == NB_F32 ? 1.1754943508222875e-38 : 2.2250738585072014e-308;
    int compared = 0;

    for (double v = -1000; v <= 1000; v += 0.5) {
        nb_set_scalar(x, v);
        CHECK(nb_forward(g, fused) == NB_OK && nb_backward(g, fused) == NB_OK);
        double y = nb_value_scalar(fused), dy = nb_grad_scalar(x);
        CHECK(isfinite(y) && isfinite(dy) && y >= 0 && y <= 1 && dy >= 0);
        nb_status s = nb_forward(g, gates);
        if (s != NB_OK || nb_backward(g, gates) != NB_OK || !isfinite(nb_grad_scalar(x)) ||
            y * y < tiny)
            continue;
        compared++;
        CHECK_NEAR(nb_value_scalar(gates), y, tol * fmax(1, y));
        CHECK_NEAR(nb_grad_scalar(x), dy, dtol * dy);
    }
    CHECK(compared > (dtype == NB_F32 ? 200 : 1000));
    nb_graph_free(g);
}

/* The f32 tensor kernels (a vectorisable exp of their own) against f64
 * everywhere on [-110, 110): sigmoid and its gradient within a few float
 * ulps (absolutely within the smallest subnormal in the far tail), and
 * softmax over rows spanning 110, whose exps take the same path (within
 * the rounding of x - lse near 110, 4e-6). */
static void f32_exp_kernels_match_f64(void)
{
    enum { N = 22000 };
    static double xs[N];
    nb_graph *g64 = nb_graph_new(NB_F64), *g32 = nb_graph_new(NB_F32);
    for (int i = 0; i < N; i++)
        xs[i] = (double)(float)(-110 + 0.01 * i);
    nb_node *x64 = nb_variable(g64, "x", 1, (int[]){ N }, xs);
    nb_node *x32 = nb_variable(g32, "x", 1, (int[]){ N }, xs);
    nb_node *y64 = nb_sigmoid(g64, x64), *y32 = nb_sigmoid(g32, x32);
    nb_node *s64 = nb_sum(g64, y64), *s32 = nb_sum(g32, y32);
    int bad = 0;

    CHECK(nb_backward(g64, s64) == NB_OK && nb_backward(g32, s32) == NB_OK);
    for (int i = 0; i < N; i++) {
        double y = nb_value_at(y64, (size_t)i), d = nb_grad_at(x64, (size_t)i);
        bad += fabs(nb_value_at(y32, (size_t)i) - y) > 4e-7 * y + 1.5e-45;
        bad += fabs(nb_grad_at(x32, (size_t)i) - d) > 1e-6 * d + 1.5e-45;
    }
    CHECK(bad == 0);
    nb_node *p64 = nb_softmax(g64, nb_reshape(g64, x64, 2, (int[]){ 2, N / 2 }));
    nb_node *p32 = nb_softmax(g32, nb_reshape(g32, x32, 2, (int[]){ 2, N / 2 }));
    CHECK(p64 && p32);
    bad = 0;
    for (int i = 0; p64 && p32 && i < N; i++) {
        double p = nb_value_at(p64, (size_t)i);
        bad += fabs(nb_value_at(p32, (size_t)i) - p) > 3e-5 * p + 1.5e-45;
    }
    CHECK(bad == 0);
    nb_graph_free(g64);
    nb_graph_free(g32);
}

/* Big logits: softmax, cross-entropies and bce stay finite and exact. */
static void losses_are_stable(nb_dtype dtype)
{
    nb_graph *g = nb_graph_new(dtype);
    nb_node *s = nb_variable(g, "s", 2, (int[]){ 2, 3 },
                             (double[]){ 1000, -1000, 0, -1000, 999, 1000 });
    nb_node *lab = nb_constant(g, "lab", 1, (int[]){ 2 }, (double[]){ 1, 2 });
    nb_node *xent = nb_softmax_xent(g, s, lab);

    CHECK(nb_backward(g, xent) == NB_OK);
    /* row 1: lse = 1000, loss 2000; row 2: lse = 1000 + log(1 + e^-1), loss that */
    CHECK_NEAR(nb_value_scalar(xent), (2000 + log1p(exp(-1.0))) / 2, 1e-3);
    CHECK_NEAR(nb_grad_at(s, 0), 0.5, 1e-6);
    CHECK_NEAR(nb_grad_at(s, 1), -0.5, 1e-6);
    nb_node *sm = nb_softmax(g, s);
    CHECK(nb_forward(g, sm) == NB_OK && nb_value_at(sm, 0) == 1);
    nb_node *x = nb_variable(g, "x", 1, (int[]){ 4 }, (double[]){ -1000, 1000, -800, 800 });
    nb_node *t = nb_constant(g, "t", 1, (int[]){ 4 }, (double[]){ 1, 0, 0, 1 });
    nb_node *bce = nb_bce_logits(g, x, t);
    CHECK(nb_backward(g, bce) == NB_OK);
    CHECK_NEAR(nb_value_scalar(bce), (1000 + 1000 + 0 + 0) / 4.0, 1e-3);
    CHECK_NEAR(nb_grad_at(x, 0), -0.25, 1e-7);
    CHECK_NEAR(nb_grad_at(x, 1), 0.25, 1e-7);
    CHECK_NEAR(nb_grad_at(x, 3), 0, 1e-7);
    nb_graph_free(g);
}

/* softmax_xent takes rows 8 at a time and the rest one by one: rows 16-18
 * of 19 repeat rows 1, 9 and 14, so they go both ways and must come out
 * the same to the bit; every gradient is (softmax - onehot) / rows and the
 * loss the mean of lse - s_y, worked out here in long double.  A block's
 * loss is also its rows' losses one by one, to the bit. */
static void softmax_xent_blocks_are_rows(nb_dtype dtype)
{
    enum { R = 19, C = 10 };
    static const int copy_of[3] = { 1, 9, 14 };
    double s[R * C], lab[R];
    for (int i = 0; i < R; i++) {
        int from = i < 16 ? i : copy_of[i - 16];
        for (int j = 0; j < C; j++)
            s[i * C + j] = from == 9 ? (j == 3 ? 900 : -900 + j)         /* extreme row */
                                     : sin(1.7 * from + 0.9 * j) * 4 + from * 0.1;
        lab[i] = (from * 7 + 3) % C;
    }
    nb_graph *g = nb_graph_new(dtype);
    nb_node *sv = nb_variable(g, "s", 2, (int[]){ R, C }, s);
    nb_node *L = nb_softmax_xent(g, sv, nb_constant(g, "lab", 1, (int[]){ R }, lab));
    double tol = dtype == NB_F32 ? 2e-6 : 1e-14;
    long double total = 0;

    CHECK(nb_backward(g, L) == NB_OK);
    for (int i = 0; i < R; i++) {
        long double m = -INFINITY, sum = 0;
        for (int j = 0; j < C; j++)
            m = s[i * C + j] > m ? s[i * C + j] : m;
        for (int j = 0; j < C; j++)
            sum += expl(s[i * C + j] - m);
        total += m + logl(sum) - s[i * C + (int)lab[i]];
        for (int j = 0; j < C; j++) {
            double want = (double)((expl(s[i * C + j] - m) / sum - (j == (int)lab[i])) / R);
            CHECK_NEAR(nb_grad_at(sv, (size_t)(i * C + j)), want, tol);
            if (i >= 16)
                CHECK(nb_grad_at(sv, (size_t)(i * C + j)) ==
                      nb_grad_at(sv, (size_t)(copy_of[i - 16] * C + j)));
        }
    }
    CHECK_NEAR(nb_value_scalar(L), (double)(total / R), tol * 100);
    nb_graph_free(g);

    /* the loss too: rows 0-7 as one block against each row alone, their
     * losses summed in the graph's dtype in the same order */
    nb_graph *block = nb_graph_new(dtype);
    nb_node *L8 = nb_softmax_xent(block, nb_constant(block, "s", 2, (int[]){ 8, C }, s),
                                  nb_constant(block, "lab", 1, (int[]){ 8 }, lab));
    double sum64 = 0;
    float sum32 = 0;
    CHECK(nb_forward(block, L8) == NB_OK);
    for (int i = 0; i < 8; i++) {
        nb_graph *one = nb_graph_new(dtype);
        nb_node *L1 = nb_softmax_xent(one, nb_constant(one, "s", 2, (int[]){ 1, C }, s + i * C),
                                      nb_constant(one, "lab", 1, (int[]){ 1 }, lab + i));
        CHECK(nb_forward(one, L1) == NB_OK);
        sum64 += nb_value_scalar(L1);
        sum32 += (float)nb_value_scalar(L1);
        nb_graph_free(one);
    }
    CHECK(dtype == NB_F32 ? nb_value_scalar(L8) == (double)(sum32 / 8)
                          : nb_value_scalar(L8) == sum64 / 8);
    nb_graph_free(block);
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
    CHECK(nb_backward(g, m) == NB_OK);     /* local_grad left the gradients alone */
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

/* the checker itself: a kink inside the finite-difference step fails */
static void gradcheck_reports_a_mismatch(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 0), *r = nb_relu(g, x);
    nb_gradcheck_result res;

    CHECK(nb_gradcheck(g, r, &x, 1, NULL, &res) == NB_OK);
    CHECK(!res.pass && res.analytic == 0 && fabs(res.numeric - 0.5) < 1e-9);
    nb_set_scalar(x, 1);
    CHECK(nb_gradcheck(g, r, &x, 1, NULL, &res) == NB_OK && res.pass);
    CHECK(nb_value_scalar(x) == 1 && nb_value_scalar(r) == 1);   /* restored */
    nb_graph_free(g);
}

/* Anomaly mode stops at the op that made the first inf/NaN, even when the
 * root is finite, in forward and in backward, and in constructors. */
static void anomaly_mode_names_the_first_bad_op(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 1);
    nb_node *e = nb_exp(g, nb_mul_const(g, x, -1));
    nb_node *f = nb_reciprocal(g, nb_add_const(g, e, 1));     /* sigmoid by gates */
    char want[96];

    CHECK(nb_set_scalar(x, -800) == NB_OK);
    CHECK(nb_forward(g, f) == NB_OK && nb_value_scalar(f) == 0);   /* finite root */
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

/* A view reads its source's values in place, keeps its own gradient, and
 * refuses elements outside the source or another dtype's source. */
static void views_share_values_not_gradients(void)
{
    nb_graph *src = nb_graph_new(NB_F64), *g = nb_graph_new(NB_F64);
    nb_node *W = nb_param(src, "W", 2, (int[]){ 2, 3 }, (double[]){ 1, 2, 3, 4, 5, 6 });
    nb_node *s = nb_scalar(src, "s", 2);
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
    CHECK(!nb_view(g, "a", W, 0, 0, NULL, (nb_leaf)7) && nb_error(g) == NB_ERR_ARG);
    nb_error_clear(g);
    CHECK(!nb_view(g, "W", W, 0, 0, NULL, NB_LEAF_PARAM) && nb_error(g) == NB_ERR_ARG &&
          HAS(nb_errmsg(g), "already taken"));
    nb_error_clear(g);
    CHECK(!nb_view(g, NULL, W, 0, 0, NULL, NB_LEAF_PARAM) && nb_error(g) == NB_ERR_ARG);
    CHECK(!nb_view(f, "a", W, 0, 0, NULL, NB_LEAF_CONSTANT) && nb_error(f) == NB_ERR_DTYPE);
    CHECK(!nb_view(NULL, "a", W, 0, 0, NULL, NB_LEAF_CONSTANT));
    nb_graph_free(f);
    nb_graph_free(g);     /* before its source's graph */
    nb_graph_free(src);
}

int main(void)
{
    views_share_values_not_gradients();
    fan_out_adds_gradients();
    backward_overwrites_and_accumulates_on_request();
    matmul_overwrites_fresh_gradients();
    first_run_walks_the_plan_later_runs_the_tape();
    packed_and_wide_tapes_agree();
    tapes_stay_packed_across_threads();
    tensor_root_needs_a_seed();
    replay_recomputes_in_place();
    gradients_only_where_needed();
    leaf_root_runs();
    million_node_chain_runs_without_recursion();
    errors_name_the_op_and_shapes();
    allocation_failure_is_an_error();
    first_backward_survives_allocation_failure();
    first_backward_edge_cases();
    tensor_loops_match_scalar_kernels(NB_F64);
    tensor_loops_match_scalar_kernels(NB_F32);
    sigmoid_is_stable(NB_F64);
    sigmoid_is_stable(NB_F32);
    f32_exp_kernels_match_f64();
    losses_are_stable(NB_F64);
    losses_are_stable(NB_F32);
    softmax_xent_blocks_are_rows(NB_F64);
    softmax_xent_blocks_are_rows(NB_F32);
    local_grads_are_the_slides();
    gradcheck_reports_a_mismatch();
    anomaly_mode_names_the_first_bad_op();
    return check_summary();
}
