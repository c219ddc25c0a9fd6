/* test_executors.c - the reference executor and the replay give the same
 * bits: every value and every gradient of every node, forward, backward
 * and accumulating, on the lecture's graphs, on random graphs of every op
 * (scalars and tensors, broadcasting, both dtypes, gradients as nodes; a
 * check fails if an op of ops.def appears in none) and on an MLP. */
#include "internal.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

/* Every node's values and gradients, as bytes. */
typedef struct snapshot {
    unsigned char *bytes;
    size_t n;
} snapshot;

static snapshot take(nb_graph *g)
{
    size_t elt = nb_graph_dtype(g) == NB_F32 ? 4 : 8, n = 0;
    for (size_t i = 0; i < nb_graph_size(g); i++)
        n += 2 * nb_size(nb_graph_node(g, i)) * elt;
    snapshot s = { malloc(n ? n : 1), n };
    unsigned char *p = s.bytes;
    for (size_t i = 0; i < nb_graph_size(g); i++) {
        nb_node *x = nb_graph_node(g, i);
        size_t bytes = nb_size(x) * elt;
        memcpy(p, nb_values(x), bytes);
        if (nb_grads(x))
            memcpy(p + bytes, nb_grads(x), bytes);
        else
            memset(p + bytes, 0, bytes); /* as nb_zero_grad leaves one */
        p += 2 * bytes;
    }
    return s;
}

/* Forward, backward, then backward accumulating into the leaves, with
 * either executor: each run twice, so that the replay runs (a plan's first
 * run is the reference executor's); a snapshot after each. */
static void run(nb_graph *g, nb_node *f, int replay, snapshot out[3])
{
    nb_set_replay(g, replay);
    for (int k = 0; k < 2; k++)
        CHECK(nb_forward(g, f) == NB_OK);
    out[0] = take(g);
    for (int k = 0; k < 2; k++)
        CHECK(nb_backward(g, f) == NB_OK);
    out[1] = take(g);
    CHECK(nb_backward_seed(g, f, NULL, 1) == NB_OK);
    out[2] = take(g);
    CHECK(!replay || g->replay != NULL);
}

/* The two executors on g from root f, at its leaves' values and again at
 * values moved a little: the same bytes everywhere.  *checked counts the
 * graphs compared. */
static void agree(nb_graph *g, nb_node *f, int *checked)
{
    for (int round = 0; round < 2; round++) {
        snapshot ref[3], rep[3];
        run(g, f, 0, ref);
        nb_zero_grad(g);
        run(g, f, 1, rep);
        int same = 1;
        for (int k = 0; k < 3; k++) {
            same &= ref[k].n == rep[k].n && memcmp(ref[k].bytes, rep[k].bytes, ref[k].n) == 0;
            free(ref[k].bytes);
            free(rep[k].bytes);
        }
        CHECK(same);
        for (size_t i = 0; i < nb_graph_size(g); i++) { /* new leaf values */
            nb_node *x = nb_graph_node(g, i);
            if (nb_is_leaf(x) && nb_wants_grad(x))
                for (size_t j = 0; j < nb_size(x); j++)
                    nb_set_at(x, j, nb_value_at(x, j) * 0.875 + 0.0625);
        }
        nb_zero_grad(g);
    }
    ++*checked;
}

/* ---- The lecture's graphs ---------------------------------------------------- */

static void lecture_graphs(nb_dtype dt, int *checked)
{
    nb_graph *g = nb_graph_new(dt); /* f = (x + y) z */
    nb_node *x = nb_scalar(g, "x", -2), *y = nb_scalar(g, "y", 5), *z = nb_scalar(g, "z", -4);
    agree(g, nb_mul(g, nb_add(g, x, y), z), checked);
    nb_graph_free(g);

    g = nb_graph_new(dt); /* the sigmoid neuron, gate by gate */
    nb_node *w0 = nb_scalar(g, "w0", 2), *x0 = nb_scalar(g, "x0", -1);
    nb_node *w1 = nb_scalar(g, "w1", -3), *x1 = nb_scalar(g, "x1", -2),
            *w2 = nb_scalar(g, "w2", -3);
    nb_node *s = nb_add(g, nb_add(g, nb_mul(g, w0, x0), nb_mul(g, w1, x1)), w2);
    agree(g, nb_reciprocal(g, nb_add_const(g, nb_exp(g, nb_mul_const(g, s, -1)), 1)), checked);
    nb_graph_free(g);

    g = nb_graph_new(dt); /* apples and oranges, with tax */
    nb_node *apple = nb_scalar(g, "apple", 100), *n_apple = nb_scalar(g, "n_apple", 2);
    nb_node *orange = nb_scalar(g, "orange", 150), *n_orange = nb_scalar(g, "n_orange", 3);
    nb_node *tax = nb_scalar(g, "tax", 1.1);
    agree(g, nb_mul(g, nb_add(g, nb_mul(g, apple, n_apple), nb_mul(g, orange, n_orange)), tax),
          checked);
    nb_graph_free(g);

    g = nb_graph_new(dt); /* the gates: copy, max, x * x */
    x = nb_scalar(g, "x", 3), y = nb_scalar(g, "y", -4), z = nb_scalar(g, "z", 2);
    nb_node *w = nb_scalar(g, "w", -1);
    nb_node *q = nb_mul(g, nb_add(g, nb_mul(g, x, y), nb_max(g, z, w)), nb_mul(g, x, x));
    agree(g, nb_add(g, q, nb_mul(g, q, nb_tanh(g, q))), checked);
    nb_graph_free(g);
}

/* ---- Random graphs ------------------------------------------------------------ */

static unsigned long rng = 12345;

static unsigned pick(unsigned n)
{
    rng = rng * 6364136223846793005ul + 1442695040888963407ul;
    return (unsigned)(rng >> 33) % n;
}

static double value(void) { return (double)pick(2001) / 1000.0 - 1.0; }

enum { SCALAR, ROW, MATRIX, KINDS }; /* (), (4), (3x4) */
static const int ROWS = 3, COLS = 4;

static nb_node *leaf(nb_graph *g, int kind, int variable)
{
    double data[12];
    int rank = kind == SCALAR ? 0 : kind == ROW ? 1 : 2;
    const int *dim = kind == ROW ? (const int[]){ COLS } : (const int[]){ ROWS, COLS };
    for (int i = 0; i < 12; i++)
        data[i] = value();
    return variable ? nb_variable(g, NULL, rank, dim, data)
                    : nb_constant(g, NULL, rank, dim, data);
}

/* x made safe for log, sqrt and pow: |x| + 0.5 */
static nb_node *positive(nb_graph *g, nb_node *x) { return nb_add_const(g, nb_abs(g, x), 0.5); }

/* max_axis, min_axis and argmax of the matrix m, made into a node of the
 * given kind (a of that kind is there to be multiplied by an argmax, which
 * passes no gradient itself) */
static nb_node *axis_reduction(nb_graph *g, int kind, nb_node *a, nb_node *m)
{
    unsigned which = pick(3);

    if (kind == SCALAR) {
        nb_node *flat = nb_reshape(g, m, 1, (int[]){ ROWS * COLS });
        return which == 0   ? nb_max_axis(g, flat, 0, 0)
               : which == 1 ? nb_min_axis(g, flat, -1, 0)
                            : nb_mul(g, a, nb_sum(g, nb_argmax(g, m, 1, 0)));
    }
    if (kind == ROW)
        return which == 0   ? nb_max_axis(g, m, 0, 0)
               : which == 1 ? nb_min_axis(g, m, -2, 0)
                            : nb_mul(g, a, nb_argmax(g, m, 0, 0));
    return which == 0   ? nb_sub(g, m, nb_max_axis(g, m, 1, 1))
           : which == 1 ? nb_add(g, m, nb_min_axis(g, m, 0, 1))
                        : nb_mul(g, a, nb_argmax(g, m, -1, 1));
}

/* A node of the given kind from two of the pool's, by a random op. */
static nb_node *grow(nb_graph *g, nb_node *pool[][16], const int *count, int kind)
{
    nb_node *a = pool[kind][pick((unsigned)count[kind])];
    int other = pick(3) == 0 ? SCALAR : kind; /* broadcasting, now and then */
    if (kind == MATRIX && pick(3) == 0)
        other = ROW;
    nb_node *b = pool[other][pick((unsigned)count[other])];
    nb_node *m = pool[MATRIX][pick((unsigned)count[MATRIX])];
    switch (pick(kind == SCALAR ? 29 : kind == ROW ? 26 : 28)) {
    case 0:
        return nb_add(g, a, b);
    case 1:
        return nb_mul(g, a, b);
    case 2:
        return nb_max(g, a, b);
    case 3:
        return nb_min(g, a, b);
    case 4:
        return nb_sub(g, a, b);
    case 5:
        return nb_div(g, a, positive(g, b));
    case 6:
        return nb_neg(g, a);
    case 7:
        return nb_exp(g, nb_mul_const(g, a, 0.5));
    case 8:
        return nb_log(g, positive(g, a));
    case 9:
        return nb_reciprocal(g, positive(g, a));
    case 10:
        return nb_sigmoid(g, a);
    case 11:
        return nb_tanh(g, a);
    case 12:
        return nb_relu(g, a);
    case 13:
        return nb_abs(g, a);
    case 14:
        return nb_pow(g, positive(g, a), 1.5);
    case 15:
        return nb_mul(g, a, a);
    case 16:
        return nb_sqrt(g, positive(g, a));
    case 17:
        return nb_log1p(g, nb_abs(g, a)); /* x > -1 */
    case 18:
        return nb_expm1(g, a);
    case 19:
        return nb_softplus(g, nb_mul_const(g, a, 4));
    case 20:
        return nb_sin(g, nb_mul_const(g, a, 3));
    case 21:
        return nb_cos(g, nb_mul_const(g, a, 3));
    case 22:
        return nb_leaky_relu(g, a, 0.2);
    case 23:
        return nb_clamp(g, a, -0.3, 0.4);
    case 24:
        return axis_reduction(g, kind, a, m);
    case 25:
        return kind == MATRIX ? nb_softmax(g, m)
               : kind == ROW  ? nb_sum_axis(g, m, 0, 0)
                              : nb_sum(g, m);
    case 26:
        if (kind == MATRIX)
            return nb_log_softmax(g, m);
        return pick(2) ? nb_softmax_xent(
                             g, m, nb_constant(g, NULL, 1, (int[]){ 3 }, (double[]){ 0, 3, 1 }))
                       : nb_softmax_xent_onehot(g, m, nb_softmax(g, leaf(g, MATRIX, 0)));
    case 27:
        return kind == MATRIX
                   ? nb_reshape(g, nb_transpose(g, nb_reshape(g, m, 2, (int[]){ COLS, ROWS })),
                                2, (int[]){ ROWS, COLS })
                   : nb_bce_logits(g, m, nb_sigmoid(g, leaf(g, MATRIX, 0)));
    default:
        return pick(2) ? nb_sum(g, nb_matmul(g, m, nb_transpose(g, m)))
                       : nb_hinge(g, m,
                                  nb_constant(g, NULL, 1, (int[]){ 3 }, (double[]){ 2, 0, 1 }));
    }
}

static int ops_seen[NB_OP_COUNT];

static void random_graphs(nb_dtype dt, int n_graphs, int *checked)
{
    for (int k = 0; k < n_graphs; k++) {
        nb_graph *g = nb_graph_new(dt);
        nb_node *pool[KINDS][16];
        int count[KINDS] = { 0 };
        for (int kind = 0; kind < KINDS; kind++)
            for (int i = 0; i < 3; i++)
                pool[kind][count[kind]++] = leaf(g, kind, i > 0);
        for (int step = 0; step < 30; step++) {
            int kind = (int)pick(KINDS);
            nb_node *y = grow(g, pool, count, kind);
            if (!y)
                break;
            if (count[kind] < 16)
                pool[kind][count[kind]++] = y;
            else
                pool[kind][pick(16)] = y;
        }
        CHECK(nb_error(g) == NB_OK);
        if (nb_error(g) != NB_OK)
            fprintf(stderr, "random graph %d: %s\n", k, nb_errmsg(g));
        nb_node *f = nb_const_scalar(g, 0);
        for (int kind = 0; kind < KINDS; kind++)
            for (int i = 0; i < count[kind]; i++)
                f = nb_add(g, f, kind == SCALAR ? pool[kind][i] : nb_sum(g, pool[kind][i]));
        /* every other graph: f plus its gradient with respect to a variable
         * of each kind, as nodes (the masks, expands and one-hots of the
         * rules), so that both executors also run second order */
        nb_node *wrt[KINDS] = { pool[SCALAR][1], pool[ROW][1], pool[MATRIX][1] }, *d[KINDS];
        if (k % 2 && f && nb_wants_grad(f)) {
            CHECK(nb_grad_graph(g, f, NULL, KINDS, wrt, d) == NB_OK);
            for (int kind = 0; kind < KINDS; kind++)
                f = nb_add(g, f, nb_sum(g, nb_mul(g, d[kind], d[kind])));
        }
        for (size_t i = 0; i < nb_graph_size(g); i++)
            ops_seen[nb_graph_node(g, i)->op] = 1;
        if (f && nb_wants_grad(f))
            agree(g, f, checked);
        nb_graph_free(g);
    }
}

/* ---- An MLP ----------------------------------------------------------------------- */

static void mlp(nb_dtype dt, int *checked)
{
    nb_graph *g = nb_graph_new(dt);
    double x[8 * 5], w1[5 * 6], b1[6], w2[6 * 3], b2[3], y[8];
    for (int i = 0; i < 40; i++)
        x[i] = value();
    for (int i = 0; i < 30; i++)
        w1[i] = value() * 0.5;
    for (int i = 0; i < 18; i++)
        w2[i] = value() * 0.5;
    for (int i = 0; i < 6; i++)
        b1[i] = value() * 0.1;
    for (int i = 0; i < 3; i++)
        b2[i] = value() * 0.1;
    for (int i = 0; i < 8; i++)
        y[i] = i % 3;
    nb_node *X = nb_constant(g, "X", 2, (int[]){ 8, 5 }, x);
    nb_node *W1 = nb_param(g, "W1", 2, (int[]){ 5, 6 }, w1),
            *B1 = nb_param(g, "b1", 1, (int[]){ 6 }, b1);
    nb_node *W2 = nb_param(g, "W2", 2, (int[]){ 6, 3 }, w2),
            *B2 = nb_param(g, "b2", 1, (int[]){ 3 }, b2);
    nb_node *h = nb_relu(g, nb_add(g, nb_matmul(g, X, W1), B1));
    nb_node *s = nb_add(g, nb_matmul(g, h, W2), B2);
    nb_node *loss = nb_softmax_xent(g, s, nb_constant(g, "y", 1, (int[]){ 8 }, y));
    nb_node *f = nb_add(g, loss, nb_mul_const(g, nb_sum(g, nb_mul(g, W1, W1)), 1e-3));
    agree(g, f, checked);
    nb_graph_free(g);
}

/* A product that the next op adds to, which the replay runs as one pair,
 * in every arrangement: the sum on either side, inputs shared between the
 * two, the product added to itself, products of constants (no gradient)
 * added to a variable, and a pair with no gradient at all. */
static void product_sums(nb_dtype dt, int *checked)
{
    nb_graph *g = nb_graph_new(dt);
    nb_node *x = nb_scalar(g, "x", 0.7), *w = nb_scalar(g, "w", -1.3);
    nb_node *c = nb_const_scalar(g, 0.4);
    nb_node *s = nb_add(g, x, nb_mul(g, x, x));
    s = nb_add(g, nb_mul(g, w, s), s);
    s = nb_add(g, s, nb_mul(g, c, c));
    nb_node *m = nb_mul(g, s, w);
    s = nb_add(g, m, m);
    nb_node *k = nb_add(g, nb_mul(g, c, c), c);
    s = nb_add(g, nb_mul(g, s, k), x);
    s = nb_add(g, nb_mul(g, nb_mul(g, s, x), w), nb_mul(g, s, c));
    CHECK(nb_error(g) == NB_OK);
    agree(g, s, checked);
    nb_graph_free(g);
}

/* Pairs that continue each other's sum (b + w0 x0 + w1 x1 + ...), which
 * the replay runs as one loop with the sum and its gradient in registers:
 * the product on either side, a sum or products that something later
 * reads again (their gradients are not written first), products that read
 * the sum they add to, a chain that starts from constants, and a gradient
 * of -0. */
static void product_chains(nb_dtype dt, int *checked)
{
    nb_graph *g = nb_graph_new(dt);
    nb_node *x[4], *w[4], *c = nb_const_scalar(g, 0.3);
    for (int i = 0; i < 4; i++) {
        x[i] = nb_scalar(g, NULL, 0.4 * i - 0.7);
        w[i] = nb_scalar(g, NULL, 0.9 - 0.5 * i);
    }
    nb_node *neuron = x[0], *left = w[0], *self = x[1], *consts = c, *mid = NULL;
    for (int i = 0; i < 4; i++) {
        neuron = nb_add(g, neuron, nb_mul(g, w[i], x[i]));
        left = nb_add(g, nb_mul(g, x[i], w[i]), left);
        mid = i == 1 ? left : mid;
        self = nb_add(g, self, i % 2 ? nb_mul(g, self, w[i]) : nb_mul(g, w[i], self));
    }
    for (int i = 0; i < 6; i++)
        consts = nb_add(g, consts, i < 2 ? nb_mul(g, c, c) : nb_mul(g, w[i - 2], x[i - 2]));
    nb_node *shared = w[3], *products = c, *m[4]; /* products read again later */
    for (int i = 0; i < 4; i++)
        shared = nb_add(g, shared, m[i] = nb_mul(g, x[i], w[(i + 1) % 4]));
    for (int i = 0; i < 4; i++)
        products = nb_add(g, products, nb_mul_const(g, m[i], i + 1));
    nb_node *negzero = x[2];
    for (int i = 0; i < 3; i++)
        negzero = nb_add(g, negzero, nb_mul(g, x[i], x[i + 1]));
    nb_node *f = nb_add(g, nb_relu(g, neuron), nb_mul(g, left, mid));
    f = nb_add(g, f, nb_add(g, self, consts));
    f = nb_add(g, f, nb_mul_const(g, negzero, -0.0));
    f = nb_add(g, f, nb_mul(g, shared, products));
    CHECK(nb_error(g) == NB_OK);
    agree(g, f, checked);
    nb_graph_free(g);
}

int main(void)
{
    int checked = 0;
    for (int dt = 0; dt < 2; dt++) {
        lecture_graphs(dt ? NB_F32 : NB_F64, &checked);
        random_graphs(dt ? NB_F32 : NB_F64, 300, &checked);
        mlp(dt ? NB_F32 : NB_F64, &checked);
        product_sums(dt ? NB_F32 : NB_F64, &checked);
        product_chains(dt ? NB_F32 : NB_F64, &checked);
    }
    printf("%d graphs: reference and replay agree to the bit\n", checked);
    for (int op = NB_OP_LEAF + 1; op < NB_OP_COUNT; op++) {
        if (op == NB_OP_CUSTOM) /* a user's callbacks: test_derivatives runs both executors */
            continue;
        CHECK(ops_seen[op]);
        if (!ops_seen[op])
            fprintf(stderr, "no random graph has %s\n", nb__ops[op].name);
    }
    CHECK(checked > 500);
    return check_summary();
}
