/* ops.c - instantiates every op block twice, for double and for float, and
 * builds the dispatch table from ops.def.  The blocks themselves (shape
 * rule, forward, backward and constructor side by side) live in
 * ops_elementwise.inc, ops_tensor.inc and ops_loss.inc; composite ops, built from
 * primitives with no backward of their own, are at the end of this file. */
#include "internal.h"

#include "elementwise.h"
#include "simd.h"

#include <assert.h>
#include <limits.h>
#include <string.h>
#if NB_HAVE_OPENBLAS
#include <cblas.h>
#endif
#include <tgmath.h>   /* exp, log, ... pick float or double by argument type */

int nb__blas_enabled = NB_HAVE_OPENBLAS;

/* ONCE(...) keeps what is type-independent (shape rules, constructors,
 * helpers) to the first pass; K(name) names a kernel for this pass's T. */
#define NB_ONCE 1
#define ONCE(...) __VA_ARGS__
#define T double
#define K(name) name##_f64
#define NB_DTYPE NB_F64
#define NB_GEMM cblas_dgemm
#include "ops_elementwise.inc"
#include "ops_tensor.inc"
#include "ops_loss.inc"
#undef NB_DTYPE
#undef NB_ONCE
#undef ONCE
#undef T
#undef K
#undef NB_GEMM

#define NB_ONCE 0
#define ONCE(...)
#define T float
#define K(name) name##_f32
#define NB_DTYPE NB_F32
#define NB_GEMM cblas_sgemm
#include "ops_elementwise.inc"
#include "ops_tensor.inc"
#include "ops_loss.inc"
#undef NB_DTYPE
#undef T
#undef K
#undef NB_GEMM

#define ELEMENTWISE 1
#define TENSOR 0
#define SPREAD_AT(stem) stem##_spread
#define SPREAD_WHOLE(stem) NULL
#define FORWARD_AT_AT(stem) { stem##_forward_at_f64, stem##_forward_at_f32 }
#define FORWARD_AT_WHOLE(stem) { NULL, NULL }
#define SCALAR_ELEMENTWISE(stem) { stem##_scalar_f64, stem##_scalar_f32 }
#define SCALAR_TENSOR(stem) { NULL, NULL }
const nb__op_def nb__ops[NB_OP_COUNT] = {
    [NB_OP_LEAF] = { "leaf", 0, 0, NULL, { NULL, NULL }, { NULL, NULL }, NULL, { NULL, NULL },
                     { NULL, NULL } },
#define NB_OP(E, stem, arity, kind, change)                                    \
    [NB_OP_##E] = { #stem, arity, kind, stem##_shape,                          \
                    { stem##_forward_f64, stem##_forward_f32 },                \
                    { stem##_backward_f64, stem##_backward_f32 },              \
                    SPREAD_##change(stem), FORWARD_AT_##change(stem),          \
                    SCALAR_##kind(stem) },
#include "ops.def"
#undef NB_OP
};
#undef ELEMENTWISE
#undef TENSOR
#undef SPREAD_AT
#undef SPREAD_WHOLE
#undef FORWARD_AT_AT
#undef FORWARD_AT_WHOLE
#undef SCALAR_ELEMENTWISE
#undef SCALAR_TENSOR

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

nb_node *nb_sub(nb_graph *g, nb_node *a, nb_node *b)
{
    return nb_add(g, a, nb_neg(g, b));
}

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

nb_node *nb_mse(nb_graph *g, nb_node *pred, nb_node *target)
{
    nb_node *d = nb_sub(g, pred, target);
    return nb_mean(g, nb_mul(g, d, d));
}

nb_node *nb_l1(nb_graph *g, nb_node *pred, nb_node *target)
{
    return nb_mean(g, nb_abs(g, nb_sub(g, pred, target)));
}
