/* derivatives.c - every op's backward written as ops of the graph, and the
 * gradients and Hessians built from them.
 *
 * The kernels' backward (kernels.c) computes numbers; a rule here builds
 * the same quantity as nodes: given y = op(inputs) and a node gy for
 * d(root)/dy, the node for what y passes to input k.  nb_grad_graph walks
 * the plan back to front as nb_backward does, calls the rules and adds up
 * the contributions with add nodes, in the order backward sums them, so
 * its nodes give backward's numbers (to the last bits or so) and can be
 * evaluated, replayed and differentiated again: a Hessian is the gradient
 * of a gradient.  Adding an op means adding its rule to the table at the
 * end; tests/test_derivatives.c holds every rule to its op's kernel. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* What the rules share: the graph and the constant 1 that seeds a scalar
 * root, which a rule multiplies away instead of making a mul-by-1 gate. */
typedef struct rule_ctx {
    nb_graph *g;
    nb_node *one;
} rule_ctx;

/* y's contribution to input k, from gy; NULL with no error recorded: none
 * (a step, or labels). */
typedef nb_node *(*rule_fn)(const rule_ctx *c, nb_node *y, nb_node *gy, int k);

/* ---- Helpers ------------------------------------------------------------------ */

static nb_node *mul(const rule_ctx *c, nb_node *a, nb_node *b)
{
    if (a == c->one)
        return b;
    if (b == c->one)
        return a;
    return nb_mul(c->g, a, b);
}

static nb_node *constant(const rule_ctx *c, double v) { return nb_const_scalar(c->g, v); }

static int dims_of(const nb_node *x, int *dim)
{
    for (int d = 0; d < x->rank; d++)
        dim[d] = nb__ext_of(x)->dim[d];
    return x->rank;
}

/* v, of a broadcast result's shape, summed back to x's shape: the
 * gradient of an input that broadcasting stretched. */
static nb_node *sum_to(const rule_ctx *c, nb_node *v, const nb_node *x)
{
    int dim[NB_MAX_RANK], rank;

    if (!v || (v->rank == x->rank && nb__size(v) == nb__size(x)))
        return v;
    if (x->rank == 0)
        return nb_sum(c->g, v);
    int pad = v->rank - x->rank;
    for (int d = 0; d < v->rank && v; d++) {
        int xd = d < pad ? 1 : nb__ext_of(x)->dim[d - pad];
        if (xd == 1 && nb__ext_of(v)->dim[d] != 1)
            v = nb_sum_axis(c->g, v, d, 1);
    }
    rank = dims_of(x, dim);
    return v && nb__size(v) == nb__size(x) && v->rank != rank ? nb_reshape(c->g, v, rank, dim)
                                                              : v;
}

/* v broadcast to x's shape */
static nb_node *expand_to(const rule_ctx *c, nb_node *v, const nb_node *x)
{
    int dim[NB_MAX_RANK], rank = dims_of(x, dim);
    return nb__expand(c->g, v, rank, dim);
}

/* a - b, exactly as the kernels' a - b */
static nb_node *sub(const rule_ctx *c, nb_node *a, nb_node *b)
{
    return nb_add(c->g, a, nb_neg(c->g, b));
}

/* the rows' sums along the last axis, kept, so they broadcast back */
static nb_node *row_sum(const rule_ctx *c, nb_node *x) { return nb_sum_axis(c->g, x, -1, 1); }

/* gy / rows for the batch losses: gy is their scalar upstream gradient */
static nb_node *per_row(const rule_ctx *c, nb_node *gy, const nb_node *scores)
{
    size_t rows = nb__size(scores) / (size_t)nb__dim(scores, scores->rank - 1);
    return nb_mul_const(c->g, gy, 1.0 / (double)rows);
}

/* ---- The rules, one per op, in ops.def's order ------------------------------- */

static nb_node *add_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    return sum_to(c, gy, y->in[k]);
}

static nb_node *mul_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    return sum_to(c, mul(c, gy, y->in[1 - k]), y->in[k]);
}

/* max(a, b): b gets gy where b > a, a the rest (ties) */
static nb_node *max_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    nb_node *to_b = mul(c, gy, nb__gt(c->g, y->in[1], y->in[0]));
    return sum_to(c, k == 1 ? to_b : sub(c, gy, to_b), y->in[k]);
}

/* min(a, b): b gets gy where b < a, a the rest */
static nb_node *min_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    nb_node *to_b = mul(c, gy, nb__gt(c->g, y->in[0], y->in[1]));
    return sum_to(c, k == 1 ? to_b : sub(c, gy, to_b), y->in[k]);
}

static nb_node *neg_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)y, (void)k;
    return nb_neg(c->g, gy);
}

static nb_node *exp_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return mul(c, gy, y);
}

static nb_node *log_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return mul(c, gy, nb_reciprocal(c->g, y->in[0]));
}

/* -gy y y */
static nb_node *reciprocal_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return nb_mul(c->g, nb_mul(c->g, nb_neg(c->g, gy), y), y);
}

/* sigmoid(x) sigmoid(-x): y (1 - y) without the rounding of 1 - y in the
 * tails, as the kernel's e^-|x| / (1 + e^-|x|)^2 */
static nb_node *sigmoid_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return mul(c, gy, nb_mul(c->g, y, nb_sigmoid(c->g, nb_neg(c->g, y->in[0]))));
}

static nb_node *tanh_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return mul(c, gy, sub(c, constant(c, 1), nb_mul(c->g, y, y)));
}

static nb_node *relu_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return mul(c, gy, nb__gt(c->g, y->in[0], constant(c, 0)));
}

/* sign(x) = [x > 0] - [0 > x], 0 at 0 */
static nb_node *abs_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    nb_node *x = y->in[0], *zero = constant(c, 0);
    (void)k;
    return mul(c, gy, sub(c, nb__gt(c->g, x, zero), nb__gt(c->g, zero, x)));
}

/* (gy p) x^(p - 1), in the kernel's order; nothing to the exponent */
static nb_node *pow_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    nb_node *x = y->in[0], *p = y->in[1];
    if (k == 1)
        return NULL;
    return nb_mul(c->g, nb_mul(c->g, gy, p), nb__pow_node(c->g, x, nb_add_const(c->g, p, -1)));
}

/* gy (0.5 / y): the kernel's 0.5 / y as 0.5 times 1/y, within an ulp */
static nb_node *sqrt_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return mul(c, gy, nb_mul_const(c->g, nb_reciprocal(c->g, y), 0.5));
}

static nb_node *log1p_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return mul(c, gy, nb_reciprocal(c->g, nb_add_const(c->g, y->in[0], 1)));
}

/* gy e^x, as the kernel: not y + 1, which cancels to 0 for very negative x */
static nb_node *expm1_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return mul(c, gy, nb_exp(c->g, y->in[0]));
}

static nb_node *softplus_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return mul(c, gy, nb_sigmoid(c->g, y->in[0]));
}

static nb_node *sin_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return mul(c, gy, nb_cos(c->g, y->in[0]));
}

/* (-gy) sin x, in the kernel's order */
static nb_node *cos_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return nb_mul(c->g, nb_neg(c->g, gy), nb_sin(c->g, y->in[0]));
}

/* gy times the slope m + (1 - m) alpha, m = [x > 0]: exactly 1 above 0 and
 * alpha at 0 and below, the kernel's tie; nothing to the slope */
static nb_node *leaky_relu_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    if (k == 1)
        return NULL;
    nb_node *m = nb__gt(c->g, y->in[0], constant(c, 0));
    nb_node *slope = nb_add(c->g, m, nb_mul(c->g, sub(c, constant(c, 1), m), y->in[1]));
    return sum_to(c, mul(c, gy, slope), y->in[0]);
}

static nb_node *no_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)c, (void)y, (void)gy, (void)k;
    return NULL; /* a step, or labels: nothing flows back */
}

static nb_node *gt_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    return no_rule(c, y, gy, k);
}

static nb_node *sum_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return expand_to(c, gy, y->in[0]);
}

/* gy with the reduced axis put back as 1, then stretched along it */
static nb_node *sum_axis_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    nb_node *x = y->in[0];
    int dim[NB_MAX_RANK], rank = dims_of(x, dim);
    (void)k;
    dim[nb__ext_of(y)->axis] = 1;
    if (!nb__ext_of(y)->keepdim)
        gy = nb_reshape(c->g, gy, rank, dim);
    return expand_to(c, gy, x);
}

/* gy, with the reduced axis put back as 1, times the mask [k == argmax]
 * along the axis: the first maximum of each line gets gy, as in the kernel,
 * and the mask's own derivative is 0.  k == i is 1 - [k > i] - [i > k]. */
static nb_node *max_axis_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    nb_node *x = y->in[0];
    int axis = nb__ext_of(y)->axis, dim[NB_MAX_RANK], rank = dims_of(x, dim), m = dim[axis];
    (void)k;
    dim[axis] = 1;
    if (!nb__ext_of(y)->keepdim)
        gy = nb_reshape(c->g, gy, rank, dim);
    nb_node *first = nb_argmax(c->g, x, axis, 1);
    double *iota = malloc((size_t)m * sizeof *iota);
    if (!iota) {
        nb__fail(c->g, NB_ERR_NOMEM, "grad_graph: max_axis: out of memory");
        return NULL;
    }
    for (int i = 0; i < m; i++)
        iota[i] = i;
    for (int d = 0; d < rank; d++)
        dim[d] = d == axis ? m : 1;
    nb_node *kk = nb_constant(c->g, NULL, rank, dim, iota); /* k along the axis */
    free(iota);
    nb_node *ne = nb_add(c->g, nb__gt(c->g, kk, first), nb__gt(c->g, first, kk));
    return mul(c, gy, sub(c, constant(c, 1), ne));
}

/* an index: nothing flows back */
static nb_node *argmax_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    return no_rule(c, y, gy, k);
}

/* da = gy b^T, db = a^T gy */
static nb_node *matmul_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    if (k == 0)
        return nb_matmul(c->g, gy, nb_transpose(c->g, y->in[1]));
    return nb_matmul(c->g, nb_transpose(c->g, y->in[0]), gy);
}

static nb_node *transpose_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)y, (void)k;
    return nb_transpose(c->g, gy);
}

static nb_node *reshape_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    int dim[NB_MAX_RANK], rank = dims_of(y->in[0], dim);
    (void)k;
    return nb_reshape(c->g, gy, rank, dim);
}

static nb_node *expand_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return sum_to(c, gy, y->in[0]);
}

static nb_node *onehot_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    return no_rule(c, y, gy, k);
}

/* y (gy - sum_j gy_j y_j), per row */
static nb_node *softmax_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return nb_mul(c->g, y, sub(c, gy, row_sum(c, mul(c, gy, y))));
}

/* gy - e^y sum_j gy_j, per row */
static nb_node *log_softmax_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    (void)k;
    return sub(c, gy, nb_mul(c->g, nb_exp(c->g, y), row_sum(c, gy)));
}

/* the labels as one-hot rows, in the scores' shape */
static nb_node *onehot_like(const rule_ctx *c, nb_node *labels, const nb_node *scores)
{
    int dim[NB_MAX_RANK], rank = dims_of(scores, dim);
    nb_node *t = nb__onehot(c->g, labels, nb__dim(scores, scores->rank - 1));
    return t ? nb_reshape(c->g, t, rank, dim) : NULL;
}

/* (softmax(s) - onehot(labels)) gy / rows; nothing to the labels */
static nb_node *softmax_xent_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    nb_node *s = y->in[0];
    if (k == 1)
        return NULL;
    nb_node *t = onehot_like(c, y->in[1], s);
    return nb_mul(c->g, sub(c, nb_softmax(c->g, s), t), per_row(c, gy, s));
}

/* ds = (softmax(s) sum_j t_j - t) gy / rows, dt = -log_softmax(s) gy / rows */
static nb_node *softmax_xent_onehot_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    nb_node *s = y->in[0], *t = y->in[1], *scale = per_row(c, gy, s);
    if (k == 1)
        return nb_mul(c->g, nb_neg(c->g, nb_log_softmax(c->g, s)), scale);
    return nb_mul(c->g, sub(c, nb_mul(c->g, nb_softmax(c->g, s), row_sum(c, t)), t), scale);
}

/* dx = (sigmoid(x) - t) gy / n, dt = -x gy / n */
static nb_node *bce_logits_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    nb_node *x = y->in[0];
    nb_node *scale = nb_mul_const(c->g, gy, 1.0 / (double)nb__size(x));
    if (k == 1)
        return nb_mul(c->g, nb_neg(c->g, x), scale);
    return nb_mul(c->g, sub(c, nb_sigmoid(c->g, x), y->in[1]), scale);
}

/* m = [s_j - s_y + 1 > 0] for j != y; ds = (m - onehot sum_j m_j) gy / rows */
static nb_node *hinge_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    nb_node *s = y->in[0];
    if (k == 1)
        return NULL;
    nb_node *t = onehot_like(c, y->in[1], s);
    nb_node *margin = nb_add_const(c->g, sub(c, s, row_sum(c, nb_mul(c->g, s, t))), 1);
    nb_node *others = nb_add_const(c->g, nb_neg(c->g, t), 1);
    nb_node *m = nb_mul(c->g, nb__gt(c->g, margin, constant(c, 0)), others);
    return nb_mul(c->g, sub(c, m, nb_mul(c->g, t, row_sum(c, m))), per_row(c, gy, s));
}

static nb_node *custom_rule(const rule_ctx *c, nb_node *y, nb_node *gy, int k)
{
    return nb__custom_grad(c->g, y, gy, k);
}

static const rule_fn rules[NB_OP_COUNT] = {
#define NB_OP(E, stem, arity, kind, change) [NB_OP_##E] = stem##_rule,
#include "ops.def"
#undef NB_OP
};

/* ---- Gradients as nodes -------------------------------------------------------- */

static nb_status check_nodes(nb_graph *g, size_t n, nb_node *const *x, const char *what)
{
    if (n && !x)
        return nb__report(g, NB_ERR_ARG, "%s: no nodes given", what);
    for (size_t i = 0; i < n; i++) {
        if (!x[i])
            return nb__report(g, NB_ERR_ARG, "%s: node %zu is NULL", what, i + 1);
        if (!nb__owned(g, x[i]))
            return nb__report(g, NB_ERR_GRAPH, "%s: node %zu belongs to another graph", what,
                              i + 1);
        if (!(x[i]->flags & NB__WANTS_GRAD))
            return nb__report(g, NB_ERR_ARG,
                              "%s: node %zu (%s%s%s) is a constant: it has no gradient", what,
                              i + 1, nb_op_name(x[i]), nb_name(x[i]) ? " " : "",
                              nb_name(x[i]) ? nb_name(x[i]) : "");
    }
    return NB_OK;
}

/* The nodes of the plan, and for each (by id) whether it depends on one of
 * wrt: only those pass gradients on. */
static nb_status walk(nb_graph *g, nb_node *root, size_t n, nb_node *const *wrt,
                      nb_node ***order, size_t *len, unsigned char **reach)
{
    nb_status s = nb__plan_for(g, root);
    if (s != NB_OK)
        return s;
    size_t ids = (size_t)root->id + 1;
    *len = g->plan.n;
    *order = malloc(*len * sizeof **order);
    *reach = calloc(ids, 1);
    if (!*order || !*reach)
        return nb__report(g, NB_ERR_NOMEM, "grad_graph: out of memory");
    memcpy(*order, g->plan.node, *len * sizeof **order);
    for (size_t i = 0; i < n; i++)
        if (wrt[i]->id < ids)
            (*reach)[wrt[i]->id] = 1;
    for (size_t i = 0; i < *len; i++) {
        const nb_node *y = (*order)[i];
        for (int k = 0; k < y->n_in; k++)
            (*reach)[y->id] |= (*reach)[y->in[k]->id];
    }
    return NB_OK;
}

nb_status nb_grad_graph(nb_graph *g, nb_node *root, nb_node *seed, size_t n,
                        nb_node *const *wrt, nb_node **out)
{
    char s0[NB__SHAPE_STR], s1[NB__SHAPE_STR];

    if (!g)
        return NB_ERR_ARG;
    if (g->status != NB_OK)
        return g->status;
    if (!root || (n && !out))
        return nb__report(g, NB_ERR_ARG, "grad_graph: %s is NULL", root ? "out" : "root");
    if (!nb__owned(g, root) || (seed && !nb__owned(g, seed)))
        return nb__report(g, NB_ERR_GRAPH, "grad_graph: %s belongs to another graph",
                          nb__owned(g, root) ? "seed" : "root");
    if (!seed && root->rank != 0)
        return nb__report(g, NB_ERR_SHAPE,
                          "grad_graph: root is %s, not a scalar: give a seed of that shape",
                          nb__shape_str(root, s0));
    if (seed && (seed->rank != root->rank || nb__size(seed) != nb__size(root) ||
                 (root->rank && memcmp(nb__ext_of(seed)->dim, nb__ext_of(root)->dim,
                                       sizeof nb__ext_of(root)->dim) != 0)))
        return nb__report(g, NB_ERR_SHAPE, "grad_graph: seed %s is not root's shape %s",
                          nb__shape_str(seed, s0), nb__shape_str(root, s1));
    nb_status s = check_nodes(g, n, wrt, "grad_graph");
    if (s != NB_OK)
        return s;

    nb_node **order = NULL, **acc = NULL;
    unsigned char *reach = NULL;
    size_t len = 0;
    rule_ctx c = { g, NULL };
    if ((s = walk(g, root, n, wrt, &order, &len, &reach)) != NB_OK)
        goto done;
    if (!(acc = calloc((size_t)root->id + 1, sizeof *acc))) {
        s = nb__report(g, NB_ERR_NOMEM, "grad_graph: out of memory");
        goto done;
    }
    acc[root->id] = seed ? seed : (c.one = constant(&c, 1));
    for (size_t i = len; i-- > 0 && g->status == NB_OK;) {
        nb_node *y = order[i];
        if (y->op == NB_OP_LEAF || !acc[y->id] || !reach[y->id])
            continue;
        for (int k = 0; k < y->n_in; k++) {
            nb_node *x = y->in[k];
            if (!(x->flags & NB__WANTS_GRAD) || !reach[x->id])
                continue;
            nb_node *d = rules[y->op](&c, y, acc[y->id], k);
            if (d)
                acc[x->id] = acc[x->id] ? nb_add(g, acc[x->id], d) : d;
        }
    }
    for (size_t i = 0; i < n && g->status == NB_OK; i++) {
        nb_node *x = wrt[i];
        int dim[NB_MAX_RANK], rank = dims_of(x, dim);
        out[i] = x->id <= root->id && acc[x->id] ? acc[x->id]
                                                 : nb_constant(g, NULL, rank, dim, NULL);
    }
    s = g->status; /* a rule's constructor failed: its error is recorded */
done:
    free(order);
    free(reach);
    free(acc);
    return s;
}

/* ---- Second order ----------------------------------------------------------------
 * Reverse over reverse: the gradient nodes g_i = d root / d x_i, then
 * s = sum_i <g_i, v_i> with v_i constants, whose gradient (numeric
 * backward) is H v.  Each Hessian-vector product is one forward and one
 * backward of s, so it replays like any graph; a dense Hessian is N of
 * them, with v the unit vectors. */

struct nb_hessian {
    nb_graph *g;
    size_t n, total; /* wrt nodes, and their elements */
    nb_node **wrt, **grad, **v;
    nb_node *s;
};

nb_hessian *nb_hessian_new(nb_graph *g, nb_node *root, size_t n, nb_node *const *wrt)
{
    if (!g || g->status != NB_OK)
        return NULL;
    if (n == 0 || !wrt) {
        nb__report(g, NB_ERR_ARG, "hessian: no nodes given");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (wrt[i] && wrt[i]->op != NB_OP_LEAF) {
            nb__report(g, NB_ERR_ARG, "hessian: node %zu is %s, not a leaf", i + 1,
                       nb_op_name(wrt[i]));
            return NULL;
        }
    nb_hessian *h = nb__arena_alloc(&g->arena, sizeof *h, 8);
    nb_node **arr = h ? nb__arena_alloc(&g->arena, 3 * n * sizeof *arr, 8) : NULL;
    if (!arr) {
        nb__report(g, NB_ERR_NOMEM, "hessian: out of memory");
        return NULL;
    }
    *h = (nb_hessian){ g, n, 0, arr, arr + n, arr + 2 * n, NULL };
    memcpy(h->wrt, wrt, n * sizeof *wrt);
    if (nb_grad_graph(g, root, NULL, n, wrt, h->grad) != NB_OK)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int dim[NB_MAX_RANK], rank = dims_of(wrt[i], dim);
        nb_node *v = h->v[i] = nb_constant(g, NULL, rank, dim, NULL);
        nb_node *dot = nb_mul(g, h->grad[i], v);
        dot = rank ? nb_sum(g, dot) : dot;
        h->s = h->s ? nb_add(g, h->s, dot) : dot;
        h->total += nb__size(wrt[i]);
    }
    return g->status == NB_OK ? h : NULL;
}

size_t nb_hessian_size(const nb_hessian *h) { return h ? h->total : 0; }
nb_node *nb_hessian_grad(const nb_hessian *h, size_t i)
{
    return h && i < h->n ? h->grad[i] : NULL;
}
nb_node *nb_hessian_root(const nb_hessian *h) { return h ? h->s : NULL; }
nb_node *nb_hessian_vector(const nb_hessian *h, size_t i)
{
    return h && i < h->n ? h->v[i] : NULL;
}

nb_status nb_hessian_vec(nb_hessian *h, const double *v, double *hv)
{
    if (!h || !v || !hv)
        return h ? nb__report(h->g, NB_ERR_ARG, "hessian_vec: %s is NULL", v ? "hv" : "v")
                 : NB_ERR_ARG;
    nb_graph *g = h->g;
    for (size_t i = 0, at = 0; i < h->n; i++)
        for (size_t j = 0, m = nb__size(h->v[i]); j < m; j++)
            nb_set_at(h->v[i], j, v[at++]);
    /* Accumulate into zeros, so that a leaf s does not reach reads 0
     * rather than an older gradient. */
    for (size_t i = 0; i < h->n; i++)
        if (nb__grad(h->wrt[i]))
            memset(nb__grad(h->wrt[i]), 0, nb__size(h->wrt[i]) * nb__elt(g));
    nb_status s = nb_forward_backward(g, h->s, NULL, 1);
    if (s != NB_OK)
        return s;
    for (size_t i = 0, at = 0; i < h->n; i++)
        for (size_t j = 0, m = nb__size(h->wrt[i]); j < m; j++)
            hv[at++] = nb_grad_at(h->wrt[i], j);
    return NB_OK;
}

nb_status nb_hessian_dense(nb_hessian *h, double *H)
{
    if (!h || !H)
        return h ? nb__report(h->g, NB_ERR_ARG, "hessian_dense: H is NULL") : NB_ERR_ARG;
    size_t n = h->total;
    double *e = calloc(n, sizeof *e);
    if (!e)
        return nb__report(h->g, NB_ERR_NOMEM, "hessian_dense: out of memory");
    nb_status s = NB_OK;
    for (size_t i = 0; i < n && s == NB_OK; i++) {
        e[i] = 1;
        s = nb_hessian_vec(h, e, H + i * n);
        e[i] = 0;
    }
    free(e);
    return s;
}
