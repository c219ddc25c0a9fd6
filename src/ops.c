/* ops.c - every op's shape rule and constructor, and the op table.  An op's
 * kernels (forward, backward, and forward_at for incremental evaluation)
 * are in kernels.c, once for double and once for float; its list entry is
 * in ops.def.  Composite ops, built from primitives with no backward of
 * their own, are at the end. */
#include "internal.h"

#include "shape.h"

#include <limits.h>
#include <math.h>
#include <string.h>

/* ---- Elementwise ops ------------------------------------------------------
 * Their math is in elementwise.h.  A unary op keeps its input's shape; a
 * binary op broadcasts. */

static nb_status same_shape(nb_graph *g, nb_node *y)
{
    const nb_node *x = y->in[0];
    return nb__set_shape(g, y, x->rank, nb__ext_of(x) ? nb__ext_of(x)->dim : NULL);
}

/* NumPy's rule: align on the right; each pair of dims is equal or has a 1. */
static nb_status broadcast_shape(nb_graph *g, nb_node *y)
{
    const nb_node *a = y->in[0], *b = y->in[1];
    int rank = a->rank > b->rank ? a->rank : b->rank, dim[NB_MAX_RANK];

    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int da = ia >= 0 ? nb__ext_of(a)->dim[ia] : 1,
            db = ib >= 0 ? nb__ext_of(b)->dim[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
            return nb__fail(g, NB_ERR_SHAPE, "%s: shapes %s and %s do not broadcast (%d vs %d)",
                            nb__ops[y->op].name, nb__shape_str(a, sa), nb__shape_str(b, sb), da,
                            db);
        }
        dim[i] = da > db ? da : db;
    }
    return nb__set_shape(g, y, rank, dim);
}

/* ... and the elements of y that read element i of input k, in increasing
 * order: x's coordinates of i where x spans y's dim, every index where x
 * is stretched along it. */
static size_t bcast_spread(const nb_node *y, int k, size_t i, size_t *out, size_t cap)
{
    const nb_node *x = y->in[k];
    size_t nx = nb__size(x), count = nb__size(y) / nx, n = 0;
    size_t xd[NB_MAX_RANK], yd[NB_MAX_RANK], c[NB_MAX_RANK], idx[NB_MAX_RANK] = { 0 };
    int xpad = NB_MAX_RANK - x->rank, ypad = NB_MAX_RANK - y->rank, d;

    if (count > cap)
        return count;
    if (count == 1) {
        out[0] = i;
        return 1;
    }
    for (d = NB_MAX_RANK; d-- > 0;) {
        xd[d] = d < xpad ? 1 : (size_t)nb__ext_of(x)->dim[d - xpad];
        yd[d] = d < ypad ? 1 : (size_t)nb__ext_of(y)->dim[d - ypad];
        c[d] = i % xd[d];
        i /= xd[d];
    }
    do {
        size_t o = 0;
        for (d = 0; d < NB_MAX_RANK; d++)
            o = o * yd[d] + (xd[d] == yd[d] ? c[d] : idx[d]);
        out[n++] = o;
        for (d = NB_MAX_RANK; d-- > 0;) { /* the next index along stretched dims */
            if (xd[d] == yd[d])
                continue;
            if (++idx[d] < yd[d])
                break;
            idx[d] = 0;
        }
    } while (d >= 0);
    return n;
}

/* A constructor tries the common case first: scalars, in short. */
static inline nb_node *unary(nb_graph *g, nb__op op, nb_node *x)
{
    nb_node *y = g && x ? nb__scalar_op_new(g, op, x, x) : NULL;
    return y ? y : nb__node_new(g, op, (nb_node *[]){ x }, NULL);
}

static inline nb_node *binary(nb_graph *g, nb__op op, nb_node *a, nb_node *b)
{
    nb_node *y = g && a && b ? nb__scalar_op_new(g, op, a, b) : NULL;
    return y ? y : nb__node_new(g, op, (nb_node *[]){ a, b }, NULL);
}

nb_node *nb_add(nb_graph *g, nb_node *a, nb_node *b) { return binary(g, NB_OP_ADD, a, b); }
nb_node *nb_mul(nb_graph *g, nb_node *a, nb_node *b) { return binary(g, NB_OP_MUL, a, b); }
nb_node *nb_max(nb_graph *g, nb_node *a, nb_node *b) { return binary(g, NB_OP_MAX, a, b); }
nb_node *nb_min(nb_graph *g, nb_node *a, nb_node *b) { return binary(g, NB_OP_MIN, a, b); }
nb_node *nb_neg(nb_graph *g, nb_node *x) { return unary(g, NB_OP_NEG, x); }
nb_node *nb_exp(nb_graph *g, nb_node *x) { return unary(g, NB_OP_EXP, x); }
nb_node *nb_log(nb_graph *g, nb_node *x) { return unary(g, NB_OP_LOG, x); }
nb_node *nb_reciprocal(nb_graph *g, nb_node *x) { return unary(g, NB_OP_RECIPROCAL, x); }
nb_node *nb_sigmoid(nb_graph *g, nb_node *x) { return unary(g, NB_OP_SIGMOID, x); }
nb_node *nb_tanh(nb_graph *g, nb_node *x) { return unary(g, NB_OP_TANH, x); }
nb_node *nb_relu(nb_graph *g, nb_node *x) { return unary(g, NB_OP_RELU, x); }
nb_node *nb_abs(nb_graph *g, nb_node *x) { return unary(g, NB_OP_ABS, x); }
nb_node *nb_sqrt(nb_graph *g, nb_node *x) { return unary(g, NB_OP_SQRT, x); }
nb_node *nb_log1p(nb_graph *g, nb_node *x) { return unary(g, NB_OP_LOG1P, x); }
nb_node *nb_expm1(nb_graph *g, nb_node *x) { return unary(g, NB_OP_EXPM1, x); }
nb_node *nb_softplus(nb_graph *g, nb_node *x) { return unary(g, NB_OP_SOFTPLUS, x); }
nb_node *nb_sin(nb_graph *g, nb_node *x) { return unary(g, NB_OP_SIN, x); }
nb_node *nb_cos(nb_graph *g, nb_node *x) { return unary(g, NB_OP_COS, x); }

/* pow: the exponent is a constant scalar, held as input 2 */
nb_node *nb_pow(nb_graph *g, nb_node *x, double p)
{
    return binary(g, NB_OP_POW, x, x ? nb_const_scalar(g, p) : NULL); /* none for a NULL x */
}

/* leaky_relu: the slope below 0 likewise; a finite one, so that its
 * gradient written as ops, m + (1 - m) alpha, is 1 above 0 */
nb_node *nb_leaky_relu(nb_graph *g, nb_node *x, double alpha)
{
    if (g && x && !isfinite(alpha)) {
        nb__fail(g, NB_ERR_ARG, "leaky_relu: the slope %g is not finite", alpha);
        return NULL;
    }
    return binary(g, NB_OP_LEAKY_RELU, x, x ? nb_const_scalar(g, alpha) : NULL);
}

/* gt: the mask of the gradients written as ops (derivatives.c); pow with a
 * node as exponent: the gradient of x^p is p x^(p-1), whose exponent is
 * p's node plus -1, so that it follows p's value. */
nb_node *nb__gt(nb_graph *g, nb_node *a, nb_node *b) { return binary(g, NB_OP_GT, a, b); }
nb_node *nb__pow_node(nb_graph *g, nb_node *x, nb_node *p)
{
    return binary(g, NB_OP_POW, x, p);
}

/* ---- Reductions, matrix product, transpose, reshape ------------------------ */

static nb_status sum_shape(nb_graph *g, nb_node *y) { return nb__set_shape(g, y, 0, NULL); }

nb_node *nb_sum(nb_graph *g, nb_node *x)
{
    return nb__node_new(g, NB_OP_SUM, (nb_node *[]){ x }, NULL);
}

/* One axis reduced (sum_axis, max_axis, argmax): dropped, or kept with size
 * 1; a negative axis counts from the end and is stored normalised. */
static nb_status axis_shape(nb_graph *g, nb_node *y)
{
    const nb_node *x = y->in[0];
    int axis = nb__ext_of(y)->axis, rank = 0, dim[NB_MAX_RANK];
    char s[NB__SHAPE_STR];

    if (axis < 0)
        axis += x->rank;
    if (axis < 0 || axis >= x->rank)
        return nb__fail(g, NB_ERR_ARG, "%s: axis %d is out of range for %s",
                        nb__ops[y->op].name, nb__ext_of(y)->axis, nb__shape_str(x, s));
    for (int i = 0; i < x->rank; i++) {
        if (i != axis)
            dim[rank++] = nb__ext_of(x)->dim[i];
        else if (nb__ext_of(y)->keepdim)
            dim[rank++] = 1;
    }
    nb__ext_of(y)->axis = axis;
    return nb__set_shape(g, y, rank, dim);
}

static nb_status sum_axis_shape(nb_graph *g, nb_node *y) { return axis_shape(g, y); }

nb_node *nb_sum_axis(nb_graph *g, nb_node *x, int axis, int keepdim)
{
    nb__ext params = { .axis = axis, .keepdim = keepdim != 0 };
    return nb__node_new(g, NB_OP_SUM_AXIS, (nb_node *[]){ x }, &params);
}

static size_t sum_axis_spread(const nb_node *y, int k, size_t i, size_t *out, size_t cap)
{
    size_t outer, m, inner;

    (void)k;
    axis_split(y, &outer, &m, &inner);
    if (cap)
        out[0] = i / (m * inner) * inner + i % inner;
    return 1;
}

/* max_axis and argmax: y[o, j] reads the whole line x[o, :, j], as a sum does */
static nb_status max_axis_shape(nb_graph *g, nb_node *y) { return axis_shape(g, y); }

nb_node *nb_max_axis(nb_graph *g, nb_node *x, int axis, int keepdim)
{
    nb__ext params = { .axis = axis, .keepdim = keepdim != 0 };
    return nb__node_new(g, NB_OP_MAX_AXIS, (nb_node *[]){ x }, &params);
}

static size_t max_axis_spread(const nb_node *y, int k, size_t i, size_t *out, size_t cap)
{
    return sum_axis_spread(y, k, i, out, cap);
}

static nb_status argmax_shape(nb_graph *g, nb_node *y) { return axis_shape(g, y); }

nb_node *nb_argmax(nb_graph *g, nb_node *x, int axis, int keepdim)
{
    nb__ext params = { .axis = axis, .keepdim = keepdim != 0 };
    return nb__node_new(g, NB_OP_ARGMAX, (nb_node *[]){ x }, &params);
}

static size_t argmax_spread(const nb_node *y, int k, size_t i, size_t *out, size_t cap)
{
    return sum_axis_spread(y, k, i, out, cap);
}

static nb_status matmul_shape(nb_graph *g, nb_node *y)
{
    const nb_node *a = y->in[0], *b = y->in[1];
    char sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];

    if (a->rank != 2 || b->rank != 2)
        return nb__fail(g, NB_ERR_SHAPE, "matmul: (%s)(%s): both inputs must be matrices",
                        nb__shape_str(a, sa), nb__shape_str(b, sb));
    if (nb__ext_of(a)->dim[1] != nb__ext_of(b)->dim[0])
        return nb__fail(g, NB_ERR_SHAPE, "matmul: (%s)(%s): inner dimensions differ",
                        nb__shape_str(a, sa), nb__shape_str(b, sb));
    return nb__set_shape(g, y, 2, (int[]){ nb__ext_of(a)->dim[0], nb__ext_of(b)->dim[1] });
}

nb_node *nb_matmul(nb_graph *g, nb_node *a, nb_node *b)
{
    return nb__node_new(g, NB_OP_MATMUL, (nb_node *[]){ a, b }, NULL);
}

static size_t matmul_spread(const nb_node *y, int k, size_t i, size_t *out, size_t cap)
{
    size_t rows = (size_t)nb__ext_of(y)->dim[0], cols = (size_t)nb__ext_of(y)->dim[1];
    size_t inner = (size_t)nb__ext_of(y->in[0])->dim[1], n = k == 0 ? cols : rows;

    if (n > cap)
        return n;
    for (size_t j = 0; j < n; j++)
        out[j] = k == 0 ? i / inner * cols + j : j * cols + i % cols;
    return n;
}

static nb_status transpose_shape(nb_graph *g, nb_node *y)
{
    const nb_node *x = y->in[0];
    char s[NB__SHAPE_STR];

    if (x->rank != 2)
        return nb__fail(g, NB_ERR_SHAPE, "transpose: %s is not a matrix", nb__shape_str(x, s));
    return nb__set_shape(g, y, 2, (int[]){ nb__ext_of(x)->dim[1], nb__ext_of(x)->dim[0] });
}

nb_node *nb_transpose(nb_graph *g, nb_node *x)
{
    return nb__node_new(g, NB_OP_TRANSPOSE, (nb_node *[]){ x }, NULL);
}

static size_t transpose_spread(const nb_node *y, int k, size_t i, size_t *out, size_t cap)
{
    size_t rows = (size_t)nb__ext_of(y)->dim[1], cols = (size_t)nb__ext_of(y)->dim[0];

    (void)k;
    if (cap)
        out[0] = i % cols * rows + i / cols;
    return 1;
}

/* The shape a constructor asked for: dims in nb__ext_of(y), 0 past the rank
 * (reshape, expand, custom). */
static int wanted_shape(const nb_node *y, int *dim)
{
    int rank = 0;
    while (rank < NB_MAX_RANK && nb__ext_of(y)->dim[rank] > 0) {
        dim[rank] = nb__ext_of(y)->dim[rank];
        rank++;
    }
    return rank;
}

static nb_status reshape_shape(nb_graph *g, nb_node *y)
{
    const nb_node *x = y->in[0];
    int dim[NB_MAX_RANK], rank = wanted_shape(y, dim);
    char sx[NB__SHAPE_STR], sy[NB__SHAPE_STR];

    nb_status s = nb__set_shape(g, y, rank, dim);
    if (s == NB_OK && nb__size(y) != nb__size(x))
        return nb__fail(g, NB_ERR_SHAPE, "reshape: %s (%zu elements) cannot become %s",
                        nb__shape_str(x, sx), nb__size(x), nb__shape_str(y, sy));
    return s;
}

nb_node *nb_reshape(nb_graph *g, nb_node *x, int rank, const int *dim)
{
    nb__ext params = { .size = 1 };

    if (g && (rank < 0 || rank > NB_MAX_RANK || (rank > 0 && !dim))) {
        nb__fail(g, NB_ERR_ARG, "reshape: rank %d is out of range (0 to %d)", rank,
                 NB_MAX_RANK);
        return NULL;
    }
    for (int i = 0; i < rank; i++) {
        if (dim[i] <= 0) {
            if (g)
                nb__fail(g, NB_ERR_ARG, "reshape: dimension %d is %d, not positive", i, dim[i]);
            return NULL;
        }
        params.dim[i] = dim[i];
    }
    return nb__node_new(g, NB_OP_RESHAPE, (nb_node *[]){ x }, &params);
}

static size_t reshape_spread(const nb_node *y, int k, size_t i, size_t *out, size_t cap)
{
    (void)y, (void)k;
    if (cap)
        out[0] = i;
    return 1;
}

/* expand: x broadcast to the wanted dims (in nb__ext_of(y), 0 past the rank) */
static nb_status expand_shape(nb_graph *g, nb_node *y)
{
    const nb_node *x = y->in[0];
    int dim[NB_MAX_RANK], rank = wanted_shape(y, dim);
    char sx[NB__SHAPE_STR];

    for (int d = 0; d < x->rank; d++) {
        int yd = d + rank - x->rank;
        if (yd < 0 || (nb__ext_of(x)->dim[d] != 1 && nb__ext_of(x)->dim[d] != dim[yd]))
            return nb__fail(g, NB_ERR_SHAPE, "expand: %s does not broadcast to rank %d",
                            nb__shape_str(x, sx), rank);
    }
    return nb__set_shape(g, y, rank, dim);
}

nb_node *nb__expand(nb_graph *g, nb_node *x, int rank, const int *dim)
{
    nb__ext params = { .size = 1 };

    int same = x && x->rank == rank;
    for (int d = 0; same && d < rank; d++)
        same = nb__ext_of(x)->dim[d] == dim[d];
    if (!x || same)
        return x; /* nothing to stretch (or the error is already recorded) */
    memcpy(params.dim, dim, (size_t)rank * sizeof *dim);
    return nb__node_new(g, NB_OP_EXPAND, (nb_node *[]){ x }, &params);
}

static size_t expand_spread(const nb_node *y, int k, size_t i, size_t *out, size_t cap)
{
    return bcast_spread(y, k, i, out, cap);
}

/* onehot: n labels -> (n x classes), the class count in nb__ext_of(y)->dim[0] */
static nb_status onehot_shape(nb_graph *g, nb_node *y)
{
    size_t n = nb__size(y->in[0]);

    if (n > INT_MAX)
        return nb__fail(g, NB_ERR_SIZE, "onehot: %zu labels", n);
    return nb__set_shape(g, y, 2, (int[]){ (int)n, nb__ext_of(y)->dim[0] });
}

nb_node *nb__onehot(nb_graph *g, nb_node *labels, int classes)
{
    nb__ext params = { .size = 1, .dim = { classes } };
    return nb__node_new(g, NB_OP_ONEHOT, (nb_node *[]){ labels }, &params);
}

/* custom: the shape given to nb_custom (custom.c) */
static nb_status custom_shape(nb_graph *g, nb_node *y)
{
    int dim[NB_MAX_RANK], rank = wanted_shape(y, dim);
    return nb__set_shape(g, y, rank, dim);
}

/* ---- Softmax and the losses: rows over the last axis ---------------------- */

static nb_status rows_shape(nb_graph *g, nb_node *y)
{
    if (y->in[0]->rank < 1)
        return nb__fail(g, NB_ERR_SHAPE, "%s: input is a scalar; it needs a class axis",
                        nb__ops[y->op].name);
    return same_shape(g, y);
}

/* Scores (rows x C) and rows labels, or a target of the scores' shape. */
static nb_status loss_shape(nb_graph *g, nb_node *y, int labels)
{
    const nb_node *s = y->in[0], *t = y->in[1];
    char ss[NB__SHAPE_STR], st[NB__SHAPE_STR];

    if (s->rank < 1)
        return nb__fail(g, NB_ERR_SHAPE, "%s: scores are a scalar; they need a class axis",
                        nb__ops[y->op].name);
    size_t rows = nb__size(s) / row_len(s);
    if (labels && nb__size(t) != rows)
        return nb__fail(g, NB_ERR_SHAPE, "%s: scores %s have %zu rows but labels %s have %zu",
                        nb__ops[y->op].name, nb__shape_str(s, ss), rows, nb__shape_str(t, st),
                        nb__size(t));
    if (!labels &&
        (s->rank != t->rank || nb__size(s) != nb__size(t) ||
         memcmp(nb__ext_of(s)->dim, nb__ext_of(t)->dim, sizeof nb__ext_of(s)->dim) != 0))
        return nb__fail(g, NB_ERR_SHAPE, "%s: scores %s and target %s differ in shape",
                        nb__ops[y->op].name, nb__shape_str(s, ss), nb__shape_str(t, st));
    return nb__set_shape(g, y, 0, NULL);
}

static nb_status labels_shape(nb_graph *g, nb_node *y) { return loss_shape(g, y, 1); }
static nb_status target_shape(nb_graph *g, nb_node *y) { return loss_shape(g, y, 0); }

static nb_status softmax_shape(nb_graph *g, nb_node *y) { return rows_shape(g, y); }

nb_node *nb_softmax(nb_graph *g, nb_node *x)
{
    return nb__node_new(g, NB_OP_SOFTMAX, (nb_node *[]){ x }, NULL);
}

static nb_status log_softmax_shape(nb_graph *g, nb_node *y) { return rows_shape(g, y); }

nb_node *nb_log_softmax(nb_graph *g, nb_node *x)
{
    return nb__node_new(g, NB_OP_LOG_SOFTMAX, (nb_node *[]){ x }, NULL);
}

static nb_status softmax_xent_shape(nb_graph *g, nb_node *y) { return labels_shape(g, y); }

nb_node *nb_softmax_xent(nb_graph *g, nb_node *scores, nb_node *labels)
{
    return nb__node_new(g, NB_OP_SOFTMAX_XENT, (nb_node *[]){ scores, labels }, NULL);
}

static nb_status softmax_xent_onehot_shape(nb_graph *g, nb_node *y)
{
    return target_shape(g, y);
}

nb_node *nb_softmax_xent_onehot(nb_graph *g, nb_node *scores, nb_node *target)
{
    return nb__node_new(g, NB_OP_SOFTMAX_XENT_ONEHOT, (nb_node *[]){ scores, target }, NULL);
}

static nb_status bce_logits_shape(nb_graph *g, nb_node *y)
{
    const nb_node *x = y->in[0], *t = y->in[1];
    char sx[NB__SHAPE_STR], st[NB__SHAPE_STR];

    if (x->rank != t->rank || nb__size(x) != nb__size(t) ||
        (x->rank &&
         memcmp(nb__ext_of(x)->dim, nb__ext_of(t)->dim, sizeof nb__ext_of(x)->dim) != 0))
        return nb__fail(g, NB_ERR_SHAPE, "bce_logits: logits %s and target %s differ in shape",
                        nb__shape_str(x, sx), nb__shape_str(t, st));
    return nb__set_shape(g, y, 0, NULL);
}

nb_node *nb_bce_logits(nb_graph *g, nb_node *logits, nb_node *target)
{
    return nb__node_new(g, NB_OP_BCE_LOGITS, (nb_node *[]){ logits, target }, NULL);
}

static nb_status hinge_shape(nb_graph *g, nb_node *y) { return labels_shape(g, y); }

nb_node *nb_hinge(nb_graph *g, nb_node *scores, nb_node *labels)
{
    return nb__node_new(g, NB_OP_HINGE, (nb_node *[]){ scores, labels }, NULL);
}

/* ---- Composite ops ---------------------------------------------------------- */

/* A NULL x makes no constant: the op itself then records or keeps the error. */
nb_node *nb_mul_const(nb_graph *g, nb_node *x, double c)
{
    return nb_mul(g, x, x ? nb_const_scalar(g, c) : NULL);
}

nb_node *nb_add_const(nb_graph *g, nb_node *x, double c)
{
    return nb_add(g, x, x ? nb_const_scalar(g, c) : NULL);
}

nb_node *nb_sub(nb_graph *g, nb_node *a, nb_node *b) { return nb_add(g, a, nb_neg(g, b)); }

nb_node *nb_div(nb_graph *g, nb_node *a, nb_node *b)
{
    return nb_mul(g, a, nb_reciprocal(g, b));
}

nb_node *nb_mean(nb_graph *g, nb_node *x)
{
    nb_node *s = nb_sum(g, x);
    return nb_mul_const(g, s, s ? 1.0 / (double)nb_size(x) : 0);
}

nb_node *nb_mean_axis(nb_graph *g, nb_node *x, int axis, int keepdim)
{
    nb_node *s = nb_sum_axis(g, x, axis, keepdim);
    return s ? nb_mul_const(g, s, (double)nb_size(s) / (double)nb_size(x)) : NULL;
}

/* -max_axis(-x): the first maximum of -x is the first minimum of x, so
 * ties go to the first minimum exactly as max_axis's go to the first maximum */
nb_node *nb_min_axis(nb_graph *g, nb_node *x, int axis, int keepdim)
{
    return nb_neg(g, nb_max_axis(g, nb_neg(g, x), axis, keepdim));
}

/* min(max(x, lo), hi): both ties go to x, so the gradient is 1 on [lo, hi]
 * with its ends, 0 outside. */
nb_node *nb_clamp(nb_graph *g, nb_node *x, double lo, double hi)
{
    if (g && x && !(lo <= hi)) {
        nb__fail(g, NB_ERR_ARG, "clamp: the lower bound %g is not at most the upper bound %g",
                 lo, hi);
        return NULL;
    }
    nb_node *y = nb_max(g, x, x ? nb_const_scalar(g, lo) : NULL);
    return nb_min(g, y, y ? nb_const_scalar(g, hi) : NULL);
}

nb_node *nb_mse(nb_graph *g, nb_node *pred, nb_node *target)
{
    nb_node *d = nb_sub(g, pred, target);
    return nb_mean(g, nb_mul(g, d, d));
}

nb_node *nb_l1(nb_graph *g, nb_node *pred, nb_node *target)
{
    return nb_mean(g, nb_abs(g, nb_sub(g, pred, target)));
}

/* ---- The op table ------------------------------------------------------------ */

const nb__kernel *const nb__kernels[2] = { nb__kernels_f64, nb__kernels_f32 };

#define SHAPE_ELEMENTWISE_1(stem)   same_shape
#define SHAPE_ELEMENTWISE_2(stem)   broadcast_shape
#define SHAPE_TENSOR_1(stem)        stem##_shape
#define SHAPE_TENSOR_2(stem)        stem##_shape
#define SPREAD_ELEMENTWISE_AT(stem) bcast_spread
#define SPREAD_TENSOR_AT(stem)      stem##_spread
#define SPREAD_TENSOR_WHOLE(stem)   NULL
#define ELEMENTWISE                 1
#define TENSOR                      0
const nb__op_def nb__ops[NB_OP_COUNT] = {
    [NB_OP_LEAF] = { "leaf", 0, 0, NULL, NULL },
#define NB_OP(E, stem, arity, kind, change)                                                    \
    [NB_OP_##E] = { #stem, arity, kind, SHAPE_##kind##_##arity(stem),                          \
                    SPREAD_##kind##_##change(stem) },
#include "ops.def"
#undef NB_OP
};
