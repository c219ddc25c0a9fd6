/* test_numerics.c - numerics of the kernels: tensor loops against the
 * one-element kernels to the bit, stable sigmoid and losses, the f32 exp,
 * softmax cross-entropy in blocks against rows. */
#include "check.h"
#include "nabla.h"

#include <string.h>

/* The tensor loops of elementwise ops may run an AVX2 clone (target_clones,
 * internal.h); a scalar node runs the op's one-element kernel, built for the
 * baseline.  Both must give the same bits, value and gradient. */
typedef nb_node *(*unary_fn)(nb_graph *, nb_node *);
typedef nb_node *(*binary_fn)(nb_graph *, nb_node *, nb_node *);

static void tensor_loops_match_scalar_kernels(nb_dtype dt)
{
    enum { N = 37 };
    static const unary_fn unary[] = { nb_sigmoid, nb_tanh, nb_exp,        nb_relu,
                                      nb_abs,     nb_neg,  nb_reciprocal, nb_log };
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
    nb_node *s =
        nb_variable(g, "s", 2, (int[]){ 2, 3 }, (double[]){ 1000, -1000, 0, -1000, 999, 1000 });
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
            s[i * C + j] = from == 9 ? (j == 3 ? 900 : -900 + j) /* extreme row */
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

int main(void)
{
    tensor_loops_match_scalar_kernels(NB_F64);
    tensor_loops_match_scalar_kernels(NB_F32);
    sigmoid_is_stable(NB_F64);
    sigmoid_is_stable(NB_F32);
    f32_exp_kernels_match_f64();
    losses_are_stable(NB_F64);
    losses_are_stable(NB_F32);
    softmax_xent_blocks_are_rows(NB_F64);
    softmax_xent_blocks_are_rows(NB_F32);
    return check_summary();
}
