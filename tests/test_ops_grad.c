/* test_ops_grad.c - every op's gradient against central finite differences
 * (f64, through the public nb_gradcheck), and the f32 kernels against the
 * f64 ones.  Every op in ops.def must have at least one row here.
 *
 * Each row builds y = op(inputs) and reduces it with fixed random weights,
 * L = sum_i w_i y_i (a plain sum would hide a transposed gradient).  Inputs
 * are drawn from a lattice of step 0.1 with a different offset per input,
 * so max/min never tie, relu/abs never sit at 0, and no kink lies within a
 * finite-difference step (0.01 in f32).  A row marked distinct draws each
 * lattice point at most once, so that a reduction along an axis has no tie.
 *
 * The gradient check runs in both dtypes, f32 with nb_gradcheck's f32
 * defaults; each row prints its largest relative error in each. */
#include "internal.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    nb__op op;
    const char *what;
    nb_node *(*build)(nb_graph *g, nb_node *const *in);
    int n_in;
    int rank[2];
    int dim[2][NB_MAX_RANK];
    double lo[2], hi[2];
    int distinct; /* no value twice in an input */
} row;

static uint64_t rng_state;

static double uniform(void) /* splitmix64, [0, 1) */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* the lattice value, rounded to float so the f32 and f64 graphs agree */
static double lattice(double lo, double hi, int input)
{
    int steps = (int)((hi - lo) / 0.1);
    int k = (int)(uniform() * steps);
    return (double)(float)(lo + 0.1 * (k + 0.25 + 0.5 * input));
}

static nb_node *b_add(nb_graph *g, nb_node *const *in) { return nb_add(g, in[0], in[1]); }
static nb_node *b_mul(nb_graph *g, nb_node *const *in) { return nb_mul(g, in[0], in[1]); }
static nb_node *b_max(nb_graph *g, nb_node *const *in) { return nb_max(g, in[0], in[1]); }
static nb_node *b_min(nb_graph *g, nb_node *const *in) { return nb_min(g, in[0], in[1]); }
static nb_node *b_neg(nb_graph *g, nb_node *const *in) { return nb_neg(g, in[0]); }
static nb_node *b_exp(nb_graph *g, nb_node *const *in) { return nb_exp(g, in[0]); }
static nb_node *b_log(nb_graph *g, nb_node *const *in) { return nb_log(g, in[0]); }
static nb_node *b_recip(nb_graph *g, nb_node *const *in) { return nb_reciprocal(g, in[0]); }
static nb_node *b_sigmoid(nb_graph *g, nb_node *const *in) { return nb_sigmoid(g, in[0]); }
static nb_node *b_tanh(nb_graph *g, nb_node *const *in) { return nb_tanh(g, in[0]); }
static nb_node *b_relu(nb_graph *g, nb_node *const *in) { return nb_relu(g, in[0]); }
static nb_node *b_abs(nb_graph *g, nb_node *const *in) { return nb_abs(g, in[0]); }
static nb_node *b_pow(nb_graph *g, nb_node *const *in) { return nb_pow(g, in[0], 2.5); }
static nb_node *b_pow_neg(nb_graph *g, nb_node *const *in) { return nb_pow(g, in[0], -1.5); }
static nb_node *b_sqrt(nb_graph *g, nb_node *const *in) { return nb_sqrt(g, in[0]); }
static nb_node *b_log1p(nb_graph *g, nb_node *const *in) { return nb_log1p(g, in[0]); }
static nb_node *b_expm1(nb_graph *g, nb_node *const *in) { return nb_expm1(g, in[0]); }
static nb_node *b_softplus(nb_graph *g, nb_node *const *in) { return nb_softplus(g, in[0]); }
static nb_node *b_sin(nb_graph *g, nb_node *const *in) { return nb_sin(g, in[0]); }
static nb_node *b_cos(nb_graph *g, nb_node *const *in) { return nb_cos(g, in[0]); }
static nb_node *b_leaky(nb_graph *g, nb_node *const *in)
{
    return nb_leaky_relu(g, in[0], 0.1);
}
/* a negative slope too: the constant enters the product, not just a sign */
static nb_node *b_leaky_neg(nb_graph *g, nb_node *const *in)
{
    return nb_leaky_relu(g, in[0], -0.7);
}
/* bounds 0.025 from every lattice point: no kink within a step */
static nb_node *b_clamp(nb_graph *g, nb_node *const *in)
{
    return nb_clamp(g, in[0], -0.5, 0.7);
}
static nb_node *b_max_axis1(nb_graph *g, nb_node *const *in)
{
    return nb_max_axis(g, in[0], 1, 0);
}
static nb_node *b_max_axis0(nb_graph *g, nb_node *const *in)
{
    return nb_max_axis(g, in[0], 0, 1);
}
static nb_node *b_max_axis_last(nb_graph *g, nb_node *const *in)
{
    return nb_max_axis(g, in[0], -1, 0);
}
static nb_node *b_min_axis(nb_graph *g, nb_node *const *in)
{
    return nb_min_axis(g, in[0], 0, 0);
}
static nb_node *b_argmax(nb_graph *g, nb_node *const *in) { return nb_argmax(g, in[0], 1, 0); }
static nb_node *b_argmax0(nb_graph *g, nb_node *const *in) { return nb_argmax(g, in[0], 0, 1); }
static nb_node *b_sum(nb_graph *g, nb_node *const *in) { return nb_sum(g, in[0]); }
static nb_node *b_sum0(nb_graph *g, nb_node *const *in) { return nb_sum_axis(g, in[0], 0, 0); }
static nb_node *b_sum_last(nb_graph *g, nb_node *const *in)
{
    return nb_sum_axis(g, in[0], -1, 1);
}
static nb_node *b_sum_mid(nb_graph *g, nb_node *const *in)
{
    return nb_sum_axis(g, in[0], 1, 0);
}
static nb_node *b_matmul(nb_graph *g, nb_node *const *in) { return nb_matmul(g, in[0], in[1]); }
static nb_node *b_transpose(nb_graph *g, nb_node *const *in) { return nb_transpose(g, in[0]); }
static nb_node *b_reshape(nb_graph *g, nb_node *const *in)
{
    return nb_reshape(g, in[0], 2, (int[]){ 3, 4 });
}
static nb_node *b_softmax(nb_graph *g, nb_node *const *in) { return nb_softmax(g, in[0]); }
static nb_node *b_log_softmax(nb_graph *g, nb_node *const *in)
{
    return nb_log_softmax(g, in[0]);
}

/* class labels 0, 1, 2, ... cycling over C = the last dim of the scores */
static nb_node *labels_for(nb_graph *g, nb_node *scores)
{
    size_t c = (size_t)nb_dim(scores, nb_rank(scores) - 1), rows = nb_size(scores) / c;
    double lab[64];
    for (size_t i = 0; i < rows; i++)
        lab[i] = (double)((i * 7 + 1) % c);
    return nb_constant(g, "labels", 1, (int[]){ (int)rows }, lab);
}
static nb_node *b_xent(nb_graph *g, nb_node *const *in)
{
    return nb_softmax_xent(g, in[0], labels_for(g, in[0]));
}
static nb_node *b_xent_onehot(nb_graph *g, nb_node *const *in)
{
    return nb_softmax_xent_onehot(g, in[0], in[1]);
}
static nb_node *b_bce(nb_graph *g, nb_node *const *in)
{
    return nb_bce_logits(g, in[0], in[1]);
}
/* hinge: scores get a column offset of 0.013 j so no margin is exactly 0 */
static nb_node *b_hinge(nb_graph *g, nb_node *const *in)
{
    int c = nb_dim(in[0], 1);
    double off[8];
    for (int j = 0; j < c; j++)
        off[j] = 0.013 * j;
    nb_node *shifted = nb_add(g, in[0], nb_constant(g, NULL, 1, &c, off));
    return nb_hinge(g, shifted, labels_for(g, in[0]));
}

/* the ops only gradients written as ops make (derivatives.c) */
static nb_node *b_gt(nb_graph *g, nb_node *const *in) { return nb__gt(g, in[0], in[1]); }
static nb_node *b_expand(nb_graph *g, nb_node *const *in)
{
    return nb__expand(g, in[0], 3, (int[]){ 2, 3, 4 });
}
/* labels that stay whole under the finite differences: x * 0 + labels */
static nb_node *b_onehot(nb_graph *g, nb_node *const *in)
{
    nb_node *zero = nb_sum(g, nb_mul_const(g, in[0], 0));
    nb_node *lab = nb_constant(g, NULL, 1, (int[]){ 5 }, (double[]){ 2, 0, 3, 1, 2 });
    return nb__onehot(g, nb_add(g, lab, zero), 4);
}

/* A user-defined op, y = a e^b elementwise (same shapes), in both dtypes,
 * with its gradient as ops for second order. */
static nb_status aexpb_forward(const nb_op_call *c)
{
    for (size_t i = 0, n = nb_size(c->output); i < n; i++)
        if (c->dtype == NB_F32)
            ((float *)c->out)[i] =
                ((const float *)c->in[0])[i] * expf(((const float *)c->in[1])[i]);
        else
            ((double *)c->out)[i] =
                ((const double *)c->in[0])[i] * exp(((const double *)c->in[1])[i]);
    return NB_OK;
}

/* da += dy e^b, db += dy y */
static nb_status aexpb_backward(const nb_op_call *c)
{
    for (size_t i = 0, n = nb_size(c->output); i < n; i++) {
        if (c->dtype == NB_F32) {
            const float *b = c->in[1], *y = c->out, *dy = c->grad_out;
            if (c->grad_in[0])
                ((float *)c->grad_in[0])[i] += dy[i] * expf(b[i]);
            if (c->grad_in[1])
                ((float *)c->grad_in[1])[i] += dy[i] * y[i];
        } else {
            const double *b = c->in[1], *y = c->out, *dy = c->grad_out;
            if (c->grad_in[0])
                ((double *)c->grad_in[0])[i] += dy[i] * exp(b[i]);
            if (c->grad_in[1])
                ((double *)c->grad_in[1])[i] += dy[i] * y[i];
        }
    }
    return NB_OK;
}

static nb_node *aexpb_grad(nb_graph *g, nb_node *y, nb_node *gy, int k, void *user)
{
    (void)user;
    return nb_mul(g, gy, k == 0 ? nb_exp(g, nb_input(y, 1)) : y);
}

static const nb_op_type aexpb = { "aexpb", 2, aexpb_forward, aexpb_backward, aexpb_grad, NULL };
static nb_node *b_custom(nb_graph *g, nb_node *const *in)
{
    return nb_custom(g, &aexpb, in, -1, NULL);
}

#define ROW1(op, what, b, rank, d0, d1, d2, d3, lo, hi, distinct)                              \
    {                                                                                          \
        op, what, b, 1, { rank, 0 }, { { d0, d1, d2, d3 }, { 0 } }, { lo, 0 }, { hi, 0 },      \
            distinct                                                                           \
    }
#define R1(...)  ROW1(__VA_ARGS__, 0)
#define R1D(...) ROW1(__VA_ARGS__, 1) /* distinct values */
#define R2(op, what, b, ra, a0, a1, a2, a3, rb, b0, b1, b2, b3, lo, hi)                        \
    {                                                                                          \
        op, what, b, 2, { ra, rb }, { { a0, a1, a2, a3 }, { b0, b1, b2, b3 } }, { lo, lo },    \
            { hi, hi }, 0                                                                      \
    }

static const row rows[] = {
    R2(NB_OP_ADD, "add 3x4 + 3x4", b_add, 2, 3, 4, 0, 0, 2, 3, 4, 0, 0, -2, 2),
    R2(NB_OP_ADD, "add 3x4 + scalar", b_add, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, -2, 2),
    R2(NB_OP_ADD, "add 3x4 + row 4", b_add, 2, 3, 4, 0, 0, 1, 4, 0, 0, 0, -2, 2),
    R2(NB_OP_ADD, "add row 4 + 3x4", b_add, 1, 4, 0, 0, 0, 2, 3, 4, 0, 0, -2, 2),
    R2(NB_OP_MIN, "min 3x4 with 2x3x4", b_min, 2, 3, 4, 0, 0, 3, 2, 3, 4, 0, -2, 2),
    R2(NB_OP_ADD, "add 3x1 + 1x4", b_add, 2, 3, 1, 0, 0, 2, 1, 4, 0, 0, -2, 2),
    R2(NB_OP_MUL, "mul 2x3 * 2x3", b_mul, 2, 2, 3, 0, 0, 2, 2, 3, 0, 0, -2, 2),
    R2(NB_OP_MUL, "mul scalar * 2x3x2", b_mul, 0, 0, 0, 0, 0, 3, 2, 3, 2, 0, -2, 2),
    R2(NB_OP_MUL, "mul 2x1x3 * 4x1", b_mul, 3, 2, 1, 3, 0, 2, 4, 1, 0, 0, -2, 2),
    R2(NB_OP_MUL, "mul scalars", b_mul, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -2, 2),
    R2(NB_OP_MAX, "max 3x4, 3x4", b_max, 2, 3, 4, 0, 0, 2, 3, 4, 0, 0, -2, 2),
    R2(NB_OP_MAX, "max 3x4, 4", b_max, 2, 3, 4, 0, 0, 1, 4, 0, 0, 0, -2, 2),
    R2(NB_OP_MIN, "min 3x4, 3x4", b_min, 2, 3, 4, 0, 0, 2, 3, 4, 0, 0, -2, 2),
    R2(NB_OP_MIN, "min 2x3, 2x1", b_min, 2, 2, 3, 0, 0, 2, 2, 1, 0, 0, -2, 2),
    R1(NB_OP_NEG, "neg 5", b_neg, 1, 5, 0, 0, 0, -2, 2),
    R1(NB_OP_EXP, "exp 3x4", b_exp, 2, 3, 4, 0, 0, -3, 3),
    R1(NB_OP_LOG, "log 3x4", b_log, 2, 3, 4, 0, 0, 0.2, 4),
    R1(NB_OP_RECIPROCAL, "reciprocal 3x4", b_recip, 2, 3, 4, 0, 0, 0.5, 3),
    R1(NB_OP_SIGMOID, "sigmoid 3x4", b_sigmoid, 2, 3, 4, 0, 0, -6, 6),
    R1(NB_OP_SIGMOID, "sigmoid scalar", b_sigmoid, 0, 0, 0, 0, 0, -6, 6),
    R1(NB_OP_TANH, "tanh 2x2x2", b_tanh, 3, 2, 2, 2, 0, -3, 3),
    R1(NB_OP_RELU, "relu 3x4", b_relu, 2, 3, 4, 0, 0, -2, 2),
    R1(NB_OP_ABS, "abs 3x4", b_abs, 2, 3, 4, 0, 0, -2, 2),
    R1(NB_OP_POW, "pow 3x4 ^ 2.5", b_pow, 2, 3, 4, 0, 0, 0.5, 3),
    R1(NB_OP_POW, "pow 6 ^ -1.5", b_pow_neg, 1, 6, 0, 0, 0, 0.5, 3),
    R1(NB_OP_SQRT, "sqrt 3x4", b_sqrt, 2, 3, 4, 0, 0, 0.2, 4),
    R1(NB_OP_SQRT, "sqrt scalar", b_sqrt, 0, 0, 0, 0, 0, 0.2, 4),
    R1(NB_OP_LOG1P, "log1p 3x4", b_log1p, 2, 3, 4, 0, 0, -0.8, 3),
    R1(NB_OP_EXPM1, "expm1 3x4", b_expm1, 2, 3, 4, 0, 0, -3, 3),
    R1(NB_OP_SOFTPLUS, "softplus 3x4", b_softplus, 2, 3, 4, 0, 0, -6, 6),
    R1(NB_OP_SOFTPLUS, "softplus scalar", b_softplus, 0, 0, 0, 0, 0, -6, 6),
    R1(NB_OP_SIN, "sin 3x4", b_sin, 2, 3, 4, 0, 0, -4, 4),
    R1(NB_OP_COS, "cos 2x3x2", b_cos, 3, 2, 3, 2, 0, -4, 4),
    R1(NB_OP_LEAKY_RELU, "leaky_relu 3x4, alpha 0.1", b_leaky, 2, 3, 4, 0, 0, -2, 2),
    R1(NB_OP_LEAKY_RELU, "leaky_relu scalar, alpha -0.7", b_leaky_neg, 0, 0, 0, 0, 0, -2, 2),
    R1(NB_OP_MIN, "clamp 3x4 to [-0.5, 0.7] (min of max)", b_clamp, 2, 3, 4, 0, 0, -2, 2),
    R1D(NB_OP_MAX_AXIS, "max_axis 1 of 3x4", b_max_axis1, 2, 3, 4, 0, 0, -2, 2),
    R1D(NB_OP_MAX_AXIS, "max_axis 0 keepdim of 2x3x4", b_max_axis0, 3, 2, 3, 4, 0, -2, 2),
    R1D(NB_OP_MAX_AXIS, "max_axis -1 of 2x3x2x2", b_max_axis_last, 4, 2, 3, 2, 2, -3, 3),
    R1D(NB_OP_NEG, "min_axis 0 of 4x3 (-max_axis(-x))", b_min_axis, 2, 4, 3, 0, 0, -2, 2),
    R1D(NB_OP_ARGMAX, "argmax 1 of 3x4", b_argmax, 2, 3, 4, 0, 0, -2, 2),
    R1D(NB_OP_ARGMAX, "argmax 0 keepdim of 3x2x2", b_argmax0, 3, 3, 2, 2, 0, -2, 2),
    R1(NB_OP_SUM, "sum 2x3x4", b_sum, 3, 2, 3, 4, 0, -2, 2),
    R1(NB_OP_SUM_AXIS, "sum_axis 0 of 3x4", b_sum0, 2, 3, 4, 0, 0, -2, 2),
    R1(NB_OP_SUM_AXIS, "sum_axis -1 keepdim of 2x3x4", b_sum_last, 3, 2, 3, 4, 0, -2, 2),
    R1(NB_OP_SUM_AXIS, "sum_axis 1 of 2x3x2x2", b_sum_mid, 4, 2, 3, 2, 2, -2, 2),
    R2(NB_OP_MATMUL, "matmul 3x4 4x5", b_matmul, 2, 3, 4, 0, 0, 2, 4, 5, 0, 0, -2, 2),
    R2(NB_OP_MATMUL, "matmul 1x7 7x1", b_matmul, 2, 1, 7, 0, 0, 2, 7, 1, 0, 0, -2, 2),
    R1(NB_OP_TRANSPOSE, "transpose 3x5", b_transpose, 2, 3, 5, 0, 0, -2, 2),
    R1(NB_OP_RESHAPE, "reshape 2x3x2 -> 3x4", b_reshape, 3, 2, 3, 2, 0, -2, 2),
    R1(NB_OP_SOFTMAX, "softmax 3x4", b_softmax, 2, 3, 4, 0, 0, -3, 3),
    R1(NB_OP_LOG_SOFTMAX, "log_softmax 2x2x5", b_log_softmax, 3, 2, 2, 5, 0, -3, 3),
    R1(NB_OP_SOFTMAX_XENT, "softmax_xent 6x4", b_xent, 2, 6, 4, 0, 0, -3, 3),
    R1(NB_OP_SOFTMAX_XENT, "softmax_xent 2x70 (rows past the stack)", b_xent, 2, 2, 70, 0, 0,
       -3, 3),
    R1(NB_OP_SOFTMAX_XENT, "softmax_xent 11x3 (a block of 8 rows, then 3)", b_xent, 2, 11, 3, 0,
       0, -3, 3),
    R2(NB_OP_SOFTMAX_XENT_ONEHOT, "softmax_xent_onehot 3x4", b_xent_onehot, 2, 3, 4, 0, 0, 2, 3,
       4, 0, 0, 0, 1),
    R2(NB_OP_BCE_LOGITS, "bce_logits 2x5", b_bce, 2, 2, 5, 0, 0, 2, 2, 5, 0, 0, -4, 4),
    R1(NB_OP_HINGE, "hinge 6x4", b_hinge, 2, 6, 4, 0, 0, -1.5, 1.5),
    R2(NB_OP_GT, "gt 3x4 > row 4", b_gt, 2, 3, 4, 0, 0, 1, 4, 0, 0, 0, -2, 2),
    R1(NB_OP_EXPAND, "expand 3x1 -> 2x3x4", b_expand, 2, 3, 1, 0, 0, -2, 2),
    R1(NB_OP_ONEHOT, "onehot 5 labels, 4 classes", b_onehot, 1, 5, 0, 0, 0, -2, 2),
    R2(NB_OP_CUSTOM, "custom a e^b 2x3", b_custom, 2, 2, 3, 0, 0, 2, 2, 3, 0, 0, -2, 2),
    R2(NB_OP_CUSTOM, "custom a e^b scalars", b_custom, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -2, 2),
};
#define N_ROWS (sizeof rows / sizeof rows[0])

/* y = build(in) and L = sum(w * y) in a graph of dtype; values from seed */
static nb_node *make(nb_graph *g, const row *r, uint64_t seed, nb_node **in, nb_node **y)
{
    rng_state = seed;
    for (int k = 0; k < r->n_in; k++) {
        double v[256];
        int rank = r->rank[k];
        size_t n = 1;
        for (int d = 0; d < rank; d++)
            n *= (size_t)r->dim[k][d];
        double lo = r->lo[k], hi = r->hi[k];
        if (r->op == NB_OP_BCE_LOGITS && k == 1)
            lo = 0, hi = 1; /* targets are probabilities */
        for (size_t i = 0; i < n; i++) {
            v[i] = lattice(lo, hi, k);
            for (size_t j = 0; r->distinct && j < i; j++)
                if (v[j] == v[i]) { /* drawn before: draw again */
                    i--;
                    break;
                }
        }
        in[k] = nb_variable(g, NULL, rank, r->dim[k], v);
    }
    *y = r->build(g, in);
    if (!*y)
        return NULL;
    double w[256];
    for (size_t i = 0; i < nb_size(*y); i++)
        w[i] = (double)(float)(0.5 + uniform());
    int dim[NB_MAX_RANK];
    for (int d = 0; d < nb_rank(*y); d++)
        dim[d] = nb_dim(*y, d);
    return nb_sum(g, nb_mul(g, *y, nb_constant(g, "w", nb_rank(*y), dim, w)));
}

/* Incremental evaluation (delta.c, what nb_gradcheck runs) gives what a
 * full replay gives, for a change in every element of every input, and
 * leaves every value of the graph as it was, bit for bit.  tol is
 * relative: a matrix product's sums may run in another order. */
static void check_delta(nb_graph *g, nb_node *L, nb_node *const *in, int n_in, double tol)
{
    size_t n_nodes = nb_graph_size(g), bytes = 0, elt = nb__elt(g);

    CHECK(nb_forward(g, L) == NB_OK);
    for (size_t j = 0; j < n_nodes; j++)
        bytes += nb_size(nb_graph_node(g, j)) * elt;
    char *before = malloc(bytes);
    nb__delta *d = nb__delta_new(g, L);
    CHECK(before && d);
    if (!before || !d)
        goto out;
    for (size_t j = 0, at = 0; j < n_nodes; at += nb_size(nb_graph_node(g, j++)) * elt)
        memcpy(before + at, nb_values(nb_graph_node(g, j)), nb_size(nb_graph_node(g, j)) * elt);
    for (int k = 0; k < n_in; k++)
        for (size_t i = 0; i < nb_size(in[k]); i++) {
            double x = nb_value_at(in[k], i), f = 0;
            CHECK(nb__delta_eval(d, in[k], i, x + 0.3, &f) == NB_OK);
            int same = 1;
            for (size_t j = 0, at = 0; j < n_nodes; at += nb_size(nb_graph_node(g, j++)) * elt)
                same &= !memcmp(before + at, nb_values(nb_graph_node(g, j)),
                                nb_size(nb_graph_node(g, j)) * elt);
            CHECK(same);
            nb_set_at(in[k], i, x + 0.3);
            CHECK(nb_forward(g, L) == NB_OK);
            CHECK_NEAR(f, nb_value_scalar(L), tol * fmax(1, fabs(nb_value_scalar(L))));
            nb_set_at(in[k], i, x);
            CHECK(nb_forward(g, L) == NB_OK);
        }
out:
    nb__delta_free(d);
    free(before);
}

/* Each op's backward written as ops (nb_grad_graph) gives what its kernel
 * gives (nb_backward, just run), within tol relative to the input's largest
 * gradient element: where a gradient is a difference of nearly equal terms
 * (softmax_xent's p - 1 at a label), two orders of rounding differ by an
 * ulp of the terms, not of the difference. */
static double worst_rule_error[2];

static void check_rules(nb_graph *g, nb_node *L, nb_node *const *in, const row *r, double tol)
{
    nb_node *grad[2] = { NULL, NULL };
    int f32 = nb_graph_dtype(g) == NB_F32;

    CHECK(nb_grad_graph(g, L, NULL, (size_t)r->n_in, in, grad) == NB_OK);
    CHECK(nb_backward(g, L) == NB_OK);
    for (int k = 0; k < r->n_in && grad[k]; k++) {
        double scale = 1e-300;
        for (size_t i = 0; i < nb_size(in[k]); i++)
            scale = fmax(scale, fabs(nb_grad_at(in[k], i)));
        for (size_t i = 0; i < nb_size(in[k]); i++) {
            double a = nb_value_at(grad[k], i), b = nb_grad_at(in[k], i);
            double err = fabs(a - b) / scale;
            worst_rule_error[f32] = fmax(worst_rule_error[f32], err);
            if (!(err <= tol))
                fprintf(stderr, "%s (%s): rule %.17g, backward %.17g at input %d element %zu\n",
                        r->what, f32 ? "f32" : "f64", a, b, k + 1, i);
            CHECK(err <= tol);
        }
    }
}

/* Second order: H v from the Hessian's nodes against central differences
 * of s = <grad, v> (nb_gradcheck on s), for a random v. */
static void check_second_order(nb_graph *g, nb_node *L, nb_node *const *in, const row *r)
{
    nb_hessian *h = nb_hessian_new(g, L, (size_t)r->n_in, in);
    CHECK(h != NULL);
    if (!h) {
        fprintf(stderr, "%s: %s\n", r->what, nb_errmsg(g));
        return;
    }
    size_t n = nb_hessian_size(h);
    double *v = malloc(n * sizeof *v), *hv = malloc(n * sizeof *hv);
    for (size_t i = 0; i < n; i++)
        v[i] = uniform() - 0.5;
    CHECK(nb_hessian_vec(h, v, hv) == NB_OK);
    nb_gradcheck_opts opts = { .eps = 1e-5, .atol = 1e-6, .rtol = 1e-6 };
    nb_gradcheck_result res[2];
    CHECK(nb_gradcheck(g, nb_hessian_root(h), in, (size_t)r->n_in, &opts, res) == NB_OK);
    for (int k = 0, at = 0; k < r->n_in; at += (int)nb_size(in[k]), k++) {
        CHECK(res[k].pass);
        if (!res[k].pass)
            fprintf(stderr, "%s: H v at input %d element %zu: analytic %.12g numeric %.12g\n",
                    r->what, k + 1, res[k].worst, res[k].analytic, res[k].numeric);
        for (size_t i = 0; i < nb_size(in[k]); i++) /* the same H v both ways */
            CHECK_NEAR(hv[at + (int)i], nb_grad_at(in[k], i), 1e-12 * fmax(1, fabs(hv[at])));
    }
    free(v);
    free(hv);
}

static void check_row(const row *r, uint64_t seed, int report)
{
    nb_graph *g64 = nb_graph_new(NB_F64), *g32 = nb_graph_new(NB_F32);
    nb_node *in64[2], *in32[2], *y64, *y32;
    nb_node *L64 = make(g64, r, seed, in64, &y64), *L32 = make(g32, r, seed, in32, &y32);

    CHECK(L64 && L32);
    if (!L64 || !L32) {
        fprintf(stderr, "%s: %s / %s\n", r->what, nb_errmsg(g64), nb_errmsg(g32));
        goto out;
    }
    CHECK(nb_graph_node(g64, nb_index(y64)) == y64 && y64->op == r->op);
    /* f64: analytic against central differences, |a - n| <= 1e-6 max(1, |a|, |n|) */
    nb_gradcheck_opts opts = { .eps = 1e-6, .atol = 1e-6, .rtol = 1e-6 };
    nb_gradcheck_result res[2];
    CHECK(nb_gradcheck(g64, L64, in64, (size_t)r->n_in, &opts, res) == NB_OK);
    for (int k = 0; k < r->n_in; k++) {
        CHECK(res[k].pass);
        if (!res[k].pass)
            fprintf(stderr, "%s: input %d element %zu: analytic %.12g numeric %.12g\n", r->what,
                    k + 1, res[k].worst, res[k].analytic, res[k].numeric);
    }
    /* f32 against its own central differences, with the f32 defaults (h =
     * 1e-2, atol 1e-3, rtol 2e-2) */
    nb_gradcheck_result res32[2];
    CHECK(nb_gradcheck(g32, L32, in32, (size_t)r->n_in, NULL, res32) == NB_OK);
    double rel64 = 0, rel32 = 0, abs64 = 0, abs32 = 0;
    for (int k = 0; k < r->n_in; k++) {
        CHECK(res32[k].pass);
        if (!res32[k].pass)
            fprintf(stderr, "%s (f32): input %d element %zu: analytic %.8g numeric %.8g\n",
                    r->what, k + 1, res32[k].worst, res32[k].analytic, res32[k].numeric);
        rel64 = fmax(rel64, res[k].max_rel_err);
        rel32 = fmax(rel32, res32[k].max_rel_err);
        abs64 = fmax(abs64, res[k].max_abs_err);
        abs32 = fmax(abs32, res32[k].max_abs_err);
    }
    if (report)
        printf("%-46s largest error, relative %.1e (f64) %.1e (f32), absolute %.1e %.1e\n",
               r->what, rel64, rel32, abs64, abs32);
    /* f32: same inputs; each value and gradient is a short chain of float
     * operations and sums of at most 64 terms, so its relative rounding
     * error is a few hundred float epsilons (6e-8) at most: 1e-4 of
     * max(1, |f64 value|) leaves room and still catches a wrong kernel. */
    CHECK(nb_backward(g64, L64) == NB_OK && nb_backward(g32, L32) == NB_OK);
    for (size_t i = 0; i < nb_size(y64); i++)
        CHECK_NEAR(nb_value_at(y32, i), nb_value_at(y64, i),
                   1e-4 * fmax(1, fabs(nb_value_at(y64, i))));
    for (int k = 0; k < r->n_in; k++)
        for (size_t i = 0; i < nb_size(in64[k]); i++)
            CHECK_NEAR(nb_grad_at(in32[k], i), nb_grad_at(in64[k], i),
                       1e-4 * fmax(1, fabs(nb_grad_at(in64[k], i))));
    check_rules(g64, L64, in64, r, 1e-15);
    check_rules(g32, L32, in32, r, 1e-6);
    check_second_order(g64, L64, in64, r);
    check_delta(g64, L64, in64, r->n_in, 1e-13);
    check_delta(g32, L32, in32, r->n_in, 1e-5);
out:
    nb_graph_free(g64);
    nb_graph_free(g32);
}

static void every_op_has_a_row(void)
{
    for (int op = NB_OP_LEAF + 1; op < NB_OP_COUNT; op++) {
        int found = 0;
        for (size_t i = 0; i < N_ROWS; i++)
            found |= rows[i].op == (nb__op)op;
        CHECK(found);
        if (!found)
            fprintf(stderr, "op %s has no gradient-check row\n", nb__ops[op].name);
    }
}

/* Random shapes of rank 0..4 with dims 1..3, one side stretched at random
 * dims: the general broadcasting walk for every binary op. */
static void random_broadcasts_match_finite_differences(void)
{
    static const struct {
        nb__op op;
        nb_node *(*build)(nb_graph *, nb_node *const *);
    } ops[] = {
        { NB_OP_ADD, b_add },
        { NB_OP_MUL, b_mul },
        { NB_OP_MAX, b_max },
        { NB_OP_MIN, b_min },
    };
    rng_state = 12345;
    for (int trial = 0; trial < 40; trial++) {
        row r = { .op = ops[trial % 4].op,
                  .what = "random broadcast",
                  .build = ops[trial % 4].build,
                  .n_in = 2,
                  .lo = { -2, -2 },
                  .hi = { 2, 2 } };
        int rank = (int)(uniform() * 5), full[NB_MAX_RANK];
        for (int d = 0; d < rank; d++)
            full[d] = 1 + (int)(uniform() * 3);
        for (int k = 0; k < 2; k++) {
            int drop = (int)(uniform() * (rank + 1)); /* leading dims missing */
            r.rank[k] = rank - drop;
            for (int d = 0; d < r.rank[k]; d++)
                r.dim[k][d] = uniform() < 0.3 ? 1 : full[d + drop];
        }
        uint64_t seed = rng_state;
        check_row(&r, seed, 0);
    }
}

int main(void)
{
    every_op_has_a_row();
    for (size_t i = 0; i < N_ROWS; i++)
        check_row(&rows[i], 1000 + i, 1);
    random_broadcasts_match_finite_differences();
    printf("rules against backward: max relative difference %.3g (f64), %.3g (f32)\n",
           worst_rule_error[0], worst_rule_error[1]);
    return check_summary();
}
