/* kernels.c - what every op computes: forward, backward, and forward_at
 * for incremental evaluation, written once over the element type T.  meson
 * builds this file twice, for double (nb__kernels_f64) and for float
 * (NB_KERNELS_F32 set: nb__kernels_f32); each build ends with its dtype's
 * kernel table, in the order of ops.def.  The shape rules and constructors
 * are in ops.c, the elementwise math in elementwise.h. */
#include "internal.h"

#include "elementwise.h"
#include "shape.h"
#include "simd.h"

#include <assert.h>
#include <limits.h>
#include <string.h>
#include <tgmath.h> /* exp, log, ... pick float or double by argument type */
#if NB_HAVE_OPENBLAS
#include <cblas.h>
#endif

#if NB_KERNELS_F32
typedef float T;
#define MATH(stem)   stem##_f32 /* an op's math in elementwise.h */
#define GEMM_ENTRY   nb__gemm_f32
#define CBLAS_GEMM   cblas_sgemm
#define KERNEL_TABLE nb__kernels_f32
#else
typedef double T;
#define MATH(stem)   stem##_f64
#define GEMM_ENTRY   nb__gemm_f64
#define CBLAS_GEMM   cblas_dgemm
#define KERNEL_TABLE nb__kernels_f64
#endif

static inline T exp_nonpos(T z) { return MATH(exp_nonpos)(z); }

/* ---- Elementwise ops -------------------------------------------------------
 * One loop each for forward, backward and forward_at, over the op's math
 * passed as a function: always inlined, so each op's copy runs its math
 * inline and vectorises.  A binary op's loops have one case per kind of
 * broadcast (shape.h), so the common ones run without a walk. */

NB_SIMD_BODY void unary_forward(nb_node *node, T (*f)(T))
{
    const T *x = node->in[0]->val;
    T *y = node->val;

    for (size_t i = 0, n = nb__size(node); i < n; i++)
        y[i] = f(x[i]);
}

NB_SIMD_BODY void unary_backward(nb_node *node, T (*f_dx)(T, T, T))
{
    T *dx = nb__grad(node->in[0]);
    const T *x = node->in[0]->val, *y = node->val, *dy = nb__grad(node);

    if (dx)
        for (size_t i = 0, n = nb__size(node); i < n; i++)
            dx[i] += f_dx(x[i], y[i], dy[i]);
}

static inline void unary_forward_at(nb_node *node, const size_t *at, size_t n, T (*f)(T))
{
    const T *x = node->in[0]->val;
    T *y = node->val;

    for (size_t j = 0; j < n; j++)
        y[at[j]] = f(x[at[j]]);
}

NB_SIMD_BODY void binary_forward(nb_node *node, T (*f)(T, T))
{
    const T *a = node->in[0]->val, *b = node->in[1]->val;
    T *y = node->val;
    size_t na = nb__size(node->in[0]), nb = nb__size(node->in[1]);
    bcast it;
    size_t n = bcast_begin(&it, node);

    switch (it.kind) {
    case SAME:
        for (size_t i = 0; i < n; i++)
            y[i] = f(a[i], b[i]);
        break;
    case A_ONE:
        for (size_t i = 0; i < n; i++)
            y[i] = f(a[0], b[i]);
        break;
    case B_ONE:
        for (size_t i = 0; i < n; i++)
            y[i] = f(a[i], b[0]);
        break;
    case B_ROWS:
        for (size_t r = 0; r < n; r += nb)
            for (size_t j = 0; j < nb; j++)
                y[r + j] = f(a[r + j], b[j]);
        break;
    case A_ROWS:
        for (size_t r = 0; r < n; r += na)
            for (size_t j = 0; j < na; j++)
                y[r + j] = f(a[j], b[r + j]);
        break;
    default:
        for (size_t i = 0; i < n; i++, bcast_next(&it))
            y[i] = f(a[it.ia], b[it.ib]);
    }
}

/* d[input k] += f_d(a, b, y, dy) over y, summed back onto the input's
 * shape where it is stretched */
NB_SIMD_BODY void binary_backward_input(nb_node *node, int k, T (*f_d)(T, T, T, T))
{
    T *d = nb__grad(node->in[k]);
    const T *a = node->in[0]->val, *b = node->in[1]->val, *y = node->val, *dy = nb__grad(node);
    size_t na = nb__size(node->in[0]), nb = nb__size(node->in[1]);
    bcast it;
    size_t n = bcast_begin(&it, node);

    switch (it.kind) {
    case SAME:
        for (size_t i = 0; i < n; i++)
            d[i] += f_d(a[i], b[i], y[i], dy[i]);
        break;
    case A_ONE:
        for (size_t i = 0; i < n; i++)
            d[k ? i : 0] += f_d(a[0], b[i], y[i], dy[i]);
        break;
    case B_ONE:
        for (size_t i = 0; i < n; i++)
            d[k ? 0 : i] += f_d(a[i], b[0], y[i], dy[i]);
        break;
    case B_ROWS:
        for (size_t r = 0; r < n; r += nb)
            for (size_t j = 0; j < nb; j++)
                d[k ? j : r + j] += f_d(a[r + j], b[j], y[r + j], dy[r + j]);
        break;
    case A_ROWS:
        for (size_t r = 0; r < n; r += na)
            for (size_t j = 0; j < na; j++)
                d[k ? r + j : j] += f_d(a[j], b[r + j], y[r + j], dy[r + j]);
        break;
    default:
        for (size_t i = 0; i < n; i++, bcast_next(&it))
            d[k ? it.ib : it.ia] += f_d(a[it.ia], b[it.ib], y[i], dy[i]);
    }
}

NB_SIMD_BODY void binary_backward(nb_node *node, T (*f_da)(T, T, T, T), T (*f_db)(T, T, T, T))
{
    if (nb__grad(node->in[0]))
        binary_backward_input(node, 0, f_da);
    if (nb__grad(node->in[1]))
        binary_backward_input(node, 1, f_db);
}

static inline void binary_forward_at(nb_node *node, const size_t *at, size_t n, T (*f)(T, T))
{
    const T *a = node->in[0]->val, *b = node->in[1]->val;
    T *y = node->val;

    for (size_t j = 0; j < n; j++)
        y[at[j]] = f(a[bcast_index(node, 0, at[j])], b[bcast_index(node, 1, at[j])]);
}

/* Each op's kernels: the loops above over its math, an AVX2 build of each
 * loop (simd.h), and one element without a loop for a scalar. */
#define UNARY_KERNELS(stem)                                                                    \
    NB_SIMD_BODY void stem##_forward_loop(nb_node *y) { unary_forward(y, MATH(stem)); }        \
    NB_SIMD_BODY void stem##_backward_loop(nb_node *y) { unary_backward(y, MATH(stem##_dx)); } \
    NB_SIMD_KERNEL(stem##_forward_vec, stem##_forward_loop, (nb_node * y), (y))                \
    NB_SIMD_KERNEL(stem##_backward_vec, stem##_backward_loop, (nb_node * y), (y))              \
    static void stem##_scalar(void *y, const void *x, const void *unused)                      \
    {                                                                                          \
        (void)unused;                                                                          \
        *(T *)y = MATH(stem)(*(const T *)x);                                                   \
    }                                                                                          \
    static void stem##_forward(nb_node *y)                                                     \
    {                                                                                          \
        if (y->rank == 0)                                                                      \
            stem##_scalar(y->val, y->in[0]->val, NULL);                                        \
        else                                                                                   \
            stem##_forward_vec(y);                                                             \
    }                                                                                          \
    static void stem##_backward(nb_node *y)                                                    \
    {                                                                                          \
        T *dx = nb__grad(y->in[0]);                                                            \
        if (y->rank != 0)                                                                      \
            stem##_backward_vec(y);                                                            \
        else if (dx)                                                                           \
            *dx += MATH(stem##_dx)(*(const T *)y->in[0]->val, *(const T *)y->val,              \
                                   *(const T *)nb__grad(y));                                   \
    }                                                                                          \
    static void stem##_forward_at(nb_node *y, const size_t *at, size_t n)                      \
    {                                                                                          \
        unary_forward_at(y, at, n, MATH(stem));                                                \
    }

#define BINARY_KERNELS(stem)                                                                   \
    NB_SIMD_BODY void stem##_forward_loop(nb_node *y) { binary_forward(y, MATH(stem)); }       \
    NB_SIMD_BODY void stem##_backward_loop(nb_node *y)                                         \
    {                                                                                          \
        binary_backward(y, MATH(stem##_da), MATH(stem##_db));                                  \
    }                                                                                          \
    NB_SIMD_KERNEL(stem##_forward_vec, stem##_forward_loop, (nb_node * y), (y))                \
    NB_SIMD_KERNEL(stem##_backward_vec, stem##_backward_loop, (nb_node * y), (y))              \
    static void stem##_scalar(void *y, const void *a, const void *b)                           \
    {                                                                                          \
        *(T *)y = MATH(stem)(*(const T *)a, *(const T *)b);                                    \
    }                                                                                          \
    static void stem##_forward(nb_node *y)                                                     \
    {                                                                                          \
        if (y->rank == 0)                                                                      \
            stem##_scalar(y->val, y->in[0]->val, y->in[1]->val);                               \
        else                                                                                   \
            stem##_forward_vec(y);                                                             \
    }                                                                                          \
    static void stem##_backward(nb_node *y)                                                    \
    {                                                                                          \
        T *da = nb__grad(y->in[0]), *db = nb__grad(y->in[1]);                                  \
        if (y->rank != 0) {                                                                    \
            stem##_backward_vec(y);                                                            \
            return;                                                                            \
        }                                                                                      \
        T a = *(const T *)y->in[0]->val, b = *(const T *)y->in[1]->val;                        \
        T v = *(const T *)y->val, dy = *(const T *)nb__grad(y);                                \
        if (da)                                                                                \
            *da += MATH(stem##_da)(a, b, v, dy);                                               \
        if (db)                                                                                \
            *db += MATH(stem##_db)(a, b, v, dy);                                               \
    }                                                                                          \
    static void stem##_forward_at(nb_node *y, const size_t *at, size_t n)                      \
    {                                                                                          \
        binary_forward_at(y, at, n, MATH(stem));                                               \
    }

#define ELEMENTWISE_1(stem) UNARY_KERNELS(stem)
#define ELEMENTWISE_2(stem) BINARY_KERNELS(stem)
#define TENSOR_1(stem)
#define TENSOR_2(stem)
#define NB_OP(E, stem, arity, kind, change) kind##_##arity(stem)
#include "ops.def"
#undef NB_OP

/* ---- The portable matrix product ------------------------------------------ */

/* Blocking, after Goto and van de Geijn: a KC x NC panel of op(B) and an
 * MC x KC block of op(A) are packed so that the micro-kernel streams
 * through contiguous memory; the block stays in L2 while every NR-column
 * sliver of the panel (KC x NR, in L1) passes it, and the MR x NR tile of
 * C sits in registers for all KC steps.  NR is two SSE2 vectors of T
 * (4 doubles or 8 floats), so the tile takes 8 of the 16 xmm registers.
 * Packing also absorbs the transposes: one micro-kernel serves A B, A B^T
 * and A^T B.  The two packed buffers live on the stack (96 KB for double). */
#define GEMM_MR 4
#define GEMM_NR (32 / sizeof(T))
#define GEMM_KC 128
#define GEMM_MC 32
#define GEMM_NC 64

/* The old portable path, kept as the reference: loops whose innermost
 * index runs along contiguous rows, except A B^T, a row-by-row dot product. */
static void gemm_ref(int ta, int tb, size_t m, size_t n, size_t k, const T *A, const T *B,
                     T beta, T *C)
{
    if (beta == 0)
        memset(C, 0, m * n * sizeof *C);
    else if (beta != 1)
        for (size_t i = 0; i < m * n; i++)
            C[i] *= beta;
    if (tb) { /* C[i,j] += sum_p A[i,p] B[j,p] */
        assert(!ta);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                T s = 0;
                for (size_t p = 0; p < k; p++)
                    s += A[i * k + p] * B[j * k + p];
                C[i * n + j] += s;
            }
        return;
    }
    for (size_t p = 0; p < k; p++) /* C[i,:] += A[i,p] B[p,:] */
        for (size_t i = 0; i < m; i++) {
            T aip = ta ? A[p * m + i] : A[i * k + p];
            for (size_t j = 0; j < n; j++)
                C[i * n + j] += aip * B[p * n + j];
        }
}

/* Pack len x kc elements src[l * ls + p * ps] into slivers of w: sliver s
 * holds, for each p, the w values l = s w ... s w + w - 1, zero past len. */
static void gemm_pack(T *restrict dst, const T *src, size_t len, size_t kc, size_t ls,
                      size_t ps, size_t w)
{
    for (size_t l0 = 0; l0 < len; l0 += w) {
        size_t width = len - l0 < w ? len - l0 : w;
        for (size_t p = 0; p < kc; p++, dst += w)
            for (size_t l = 0; l < w; l++)
                dst[l] = l < width ? src[(l0 + l) * ls + p * ps] : 0;
    }
}

/* c (MR x NR, row stride ldc) += a b, a packed MR x kc, b packed kc x NR.
 * Fixed trip counts and the unrolled row loop let gcc -O2 keep the tile
 * in registers and vectorise each row. */
static void gemm_micro(size_t kc, const T *restrict a, const T *restrict b, T *restrict c,
                       size_t ldc)
{
    T acc[GEMM_MR][GEMM_NR] = { { 0 } };

    for (size_t p = 0; p < kc; p++, a += GEMM_MR, b += GEMM_NR)
#pragma GCC unroll 8 /* at least GEMM_MR */
        for (size_t i = 0; i < GEMM_MR; i++)
            for (size_t j = 0; j < GEMM_NR; j++)
                acc[i][j] += a[i] * b[j];
    for (size_t i = 0; i < GEMM_MR; i++)
        for (size_t j = 0; j < GEMM_NR; j++)
            c[i * ldc + j] += acc[i][j];
}

/* The mr x nr corner of a tile that crosses C's edge goes through a full
 * tile on the stack (the packed zeros make its rest 0). */
static void gemm_tile(size_t kc, const T *a, const T *b, T *c, size_t ldc, size_t mr, size_t nr)
{
    if (mr == GEMM_MR && nr == GEMM_NR) {
        gemm_micro(kc, a, b, c, ldc);
        return;
    }
    T t[GEMM_MR * GEMM_NR] = { 0 };
    gemm_micro(kc, a, b, t, GEMM_NR);
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++)
            c[i * ldc + j] += t[i * GEMM_NR + j];
}

/* Same contract as gemm_ref.  op(A)[i,p] = A[i * ais + p * aps] and
 * op(B)[p,j] = B[p * bps + j * bjs] cover all three transpose cases. */
static void gemm_blocked(int ta, int tb, size_t m, size_t n, size_t k, const T *A, const T *B,
                         T beta, T *C)
{
    _Alignas(64) T ap[GEMM_MC * GEMM_KC];
    _Alignas(64) T bp[GEMM_KC * GEMM_NC];
    _Static_assert(GEMM_MC % GEMM_MR == 0 && GEMM_NC % GEMM_NR == 0, "whole slivers");
    size_t ais = ta ? 1 : k, aps = ta ? m : 1;
    size_t bps = tb ? 1 : n, bjs = tb ? k : 1;

    if (beta == 0)
        memset(C, 0, m * n * sizeof *C);
    else if (beta != 1)
        for (size_t i = 0; i < m * n; i++)
            C[i] *= beta;
    for (size_t jc = 0; jc < n; jc += GEMM_NC) {
        size_t nc = n - jc < GEMM_NC ? n - jc : GEMM_NC;
        for (size_t pc = 0; pc < k; pc += GEMM_KC) {
            size_t kc = k - pc < GEMM_KC ? k - pc : GEMM_KC;
            gemm_pack(bp, B + pc * bps + jc * bjs, nc, kc, bjs, bps, GEMM_NR);
            for (size_t ic = 0; ic < m; ic += GEMM_MC) {
                size_t mc = m - ic < GEMM_MC ? m - ic : GEMM_MC;
                gemm_pack(ap, A + ic * ais + pc * aps, mc, kc, ais, aps, GEMM_MR);
                for (size_t jr = 0; jr < nc; jr += GEMM_NR)
                    for (size_t ir = 0; ir < mc; ir += GEMM_MR)
                        gemm_tile(kc, ap + ir * kc, bp + jr * kc, C + (ic + ir) * n + jc + jr,
                                  n, mc - ir < GEMM_MR ? mc - ir : GEMM_MR,
                                  nc - jr < GEMM_NR ? nc - jr : GEMM_NR);
            }
        }
    }
}

/* ---- Reductions, matrix product, transpose, reshape ------------------------ */

/* ---- sum ---------------------------------------------------------------------
 * y = sum_i x_i         a scalar; dy/dx_i = 1 */

static void sum_forward(nb_node *node)
{
    const T *x = node->in[0]->val;
    T s = 0;

    for (size_t i = 0, n = nb__size(node->in[0]); i < n; i++)
        s += x[i];
    *(T *)node->val = s;
}

static void sum_backward(nb_node *node)
{
    T *dx = nb__grad(node->in[0]), dy = *(const T *)nb__grad(node);

    if (!dx)
        return;
    for (size_t i = 0, n = nb__size(node->in[0]); i < n; i++)
        dx[i] += dy;
}

/* ---- sum_axis ----------------------------------------------------------------
 * x viewed as (outer x m x inner) around the axis:
 * y[o, j] = sum_k x[o, k, j]     dy/dx[o, k, j] = 1, so dx[o, k, j] += dy[o, j]
 * The axis is dropped from y's shape, or kept with size 1 (keepdim). */

static void sum_axis_forward(nb_node *node)
{
    const T *x = node->in[0]->val;
    T *y = node->val;
    size_t outer, m, inner;

    axis_split(node, &outer, &m, &inner);
    memset(y, 0, outer * inner * sizeof *y);
    for (size_t o = 0; o < outer; o++)
        for (size_t k = 0; k < m; k++)
            for (size_t j = 0; j < inner; j++)
                y[o * inner + j] += x[(o * m + k) * inner + j];
}

static void sum_axis_forward_at(nb_node *node, const size_t *at, size_t n)
{
    const T *x = node->in[0]->val;
    T *y = node->val;
    size_t outer, m, inner;

    axis_split(node, &outer, &m, &inner);
    for (size_t i = 0; i < n; i++) {
        size_t o = at[i] / inner, j = at[i] % inner;
        T s = 0;
        for (size_t k = 0; k < m; k++)
            s += x[(o * m + k) * inner + j];
        y[at[i]] = s;
    }
}

static void sum_axis_backward(nb_node *node)
{
    T *dx = nb__grad(node->in[0]);
    const T *dy = nb__grad(node);
    size_t outer, m, inner;

    if (!dx)
        return;
    axis_split(node, &outer, &m, &inner);
    for (size_t o = 0; o < outer; o++)
        for (size_t k = 0; k < m; k++)
            for (size_t j = 0; j < inner; j++)
                dx[(o * m + k) * inner + j] += dy[o * inner + j];
}

/* ---- max_axis, argmax -----------------------------------------------------------
 * x viewed as (outer x m x inner) around the axis, as for sum_axis:
 * max_axis  y[o, j] = x[o, k, j] for k = first_max(o, j)
 *           dx[o, k, j] += dy[o, j] there, and nothing to the rest of the line
 * argmax    y[o, j] = k, a value of the graph's dtype; its backward adds nothing
 * Backward finds k again rather than keeping it: one more pass over x, and
 * nothing to store. */

/* The first k with the largest x[k inner] of the line, k < m: a later equal
 * value does not win, and the first NaN wins over everything, so that max
 * propagates it. */
static size_t first_max(const T *x, size_t m, size_t inner)
{
    size_t best = 0;

    for (size_t k = 1; k < m; k++) {
        T v = x[k * inner], b = x[best * inner];
        if (v > b || (isnan(v) && !isnan(b)))
            best = k;
    }
    return best;
}

static void max_axis_forward(nb_node *node)
{
    const T *x = node->in[0]->val;
    T *y = node->val;
    size_t outer, m, inner;

    axis_split(node, &outer, &m, &inner);
    for (size_t o = 0; o < outer; o++)
        for (size_t j = 0; j < inner; j++) {
            const T *line = x + o * m * inner + j;
            y[o * inner + j] = line[first_max(line, m, inner) * inner];
        }
}

static void max_axis_forward_at(nb_node *node, const size_t *at, size_t n)
{
    const T *x = node->in[0]->val;
    T *y = node->val;
    size_t outer, m, inner;

    axis_split(node, &outer, &m, &inner);
    for (size_t i = 0; i < n; i++) {
        const T *line = x + at[i] / inner * m * inner + at[i] % inner;
        y[at[i]] = line[first_max(line, m, inner) * inner];
    }
}

static void max_axis_backward(nb_node *node)
{
    T *dx = nb__grad(node->in[0]);
    const T *x = node->in[0]->val, *dy = nb__grad(node);
    size_t outer, m, inner;

    if (!dx)
        return;
    axis_split(node, &outer, &m, &inner);
    for (size_t o = 0; o < outer; o++)
        for (size_t j = 0; j < inner; j++) {
            size_t at = o * m * inner + j;
            dx[at + first_max(x + at, m, inner) * inner] += dy[o * inner + j];
        }
}

static void argmax_forward(nb_node *node)
{
    const T *x = node->in[0]->val;
    T *y = node->val;
    size_t outer, m, inner;

    axis_split(node, &outer, &m, &inner);
    for (size_t o = 0; o < outer; o++)
        for (size_t j = 0; j < inner; j++)
            y[o * inner + j] = (T)first_max(x + o * m * inner + j, m, inner);
}

static void argmax_forward_at(nb_node *node, const size_t *at, size_t n)
{
    const T *x = node->in[0]->val;
    T *y = node->val;
    size_t outer, m, inner;

    axis_split(node, &outer, &m, &inner);
    for (size_t i = 0; i < n; i++)
        y[at[i]] = (T)first_max(x + at[i] / inner * m * inner + at[i] % inner, m, inner);
}

/* an index is piecewise constant in x: its derivative is 0 wherever it has one */
static void argmax_backward(nb_node *node) { (void)node; }

/* ---- matmul ------------------------------------------------------------------
 * y = a b               a (rows x inner), b (inner x cols), y (rows x cols)
 * da += dy b^T          db += a^T dy
 * All three products go through gemm: OpenBLAS or the blocked kernel above. */

/* C (m x n) = beta C + op(A) op(B), row-major.  ta: A is stored (k x m)
 * and used transposed; tb: B is stored (n x k).  path: OpenBLAS (the
 * blocked kernel when not built with it), the blocked kernel above,
 * or its reference loops. */
void GEMM_ENTRY(nb__gemm_path path, int ta, int tb, size_t m, size_t n, size_t k, const T *A,
                const T *B, T beta, T *C)
{
#if NB_HAVE_OPENBLAS
    if (path == NB__GEMM_BLAS && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX) {
        CBLAS_GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                   tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, 1, A,
                   ta ? (int)m : (int)k, B, tb ? (int)k : (int)n, beta, C, (int)n);
        return;
    }
#endif
    if (path == NB__GEMM_REF)
        gemm_ref(ta, tb, m, n, k, A, B, beta, C);
    else
        gemm_blocked(ta, tb, m, n, k, A, B, beta, C);
}

/* matmul's product: OpenBLAS when built with it and enabled */
static void gemm(int ta, int tb, size_t m, size_t n, size_t k, const T *A, const T *B, T beta,
                 T *C)
{
    GEMM_ENTRY(nb__blas_enabled ? NB__GEMM_BLAS : NB__GEMM_BLOCKED, ta, tb, m, n, k, A, B, beta,
               C);
}

static void matmul_forward(nb_node *node)
{
    size_t rows = (size_t)nb__ext_of(node->in[0])->dim[0],
           inner = (size_t)nb__ext_of(node->in[0])->dim[1];
    size_t cols = (size_t)nb__ext_of(node->in[1])->dim[1];

    gemm(0, 0, rows, cols, inner, node->in[0]->val, node->in[1]->val, 0, node->val);
}

/* A change in a's row r reaches y's row r; one in b's column q, y's column q. */

/* at[i..] starts a whole row of y: at[i] is in column 0 and the list
 * (increasing, so without repeats) holds the row's other cols - 1 next */
static int whole_row(const size_t *at, size_t i, size_t n, size_t cols)
{
    return at[i] % cols == 0 && n - i >= cols && at[i + cols - 1] == at[i] + cols - 1;
}

/* sum_p x[p] y[p], p < n, in four interleaved partial sums so that no
 * addition waits on the one before */
static T dot(const T *x, const T *y, size_t n)
{
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t p = 0;

    for (; p + 4 <= n; p += 4) {
        s0 += x[p] * y[p];
        s1 += x[p + 1] * y[p + 1];
        s2 += x[p + 2] * y[p + 2];
        s3 += x[p + 3] * y[p + 3];
    }
    for (; p < n; p++)
        s0 += x[p] * y[p];
    return (s0 + s1) + (s2 + s3);
}

/* Whole rows of y as a row of a times b, the innermost loop along b's
 * rows.  Other elements (a changed column of b lists its rows) as dot
 * products of rows of a with a column of b, up to 64 elements of one
 * column at a time: the column is copied out in chunks that stay in L1
 * while every row reads them. */
static void matmul_forward_at(nb_node *node, const size_t *at, size_t n)
{
    const T *a = node->in[0]->val, *b = node->in[1]->val;
    T *y = node->val, col[256], s[64];
    size_t inner = (size_t)nb__ext_of(node->in[0])->dim[1],
           cols = (size_t)nb__ext_of(node)->dim[1];

    for (size_t i = 0; i < n;) {
        size_t q = at[i] % cols, m = 1;
        if (whole_row(at, i, n, cols)) {
            T *yr = y + at[i];
            memset(yr, 0, cols * sizeof *yr);
            for (size_t p = 0; p < inner; p++)
                for (size_t j = 0; j < cols; j++)
                    yr[j] += a[at[i] / cols * inner + p] * b[p * cols + j];
            i += cols;
            continue;
        }
        while (m < 64 && i + m < n && at[i + m] % cols == q && !whole_row(at, i + m, n, cols))
            m++;
        for (size_t j = 0; j < m; j++)
            s[j] = 0;
        for (size_t p0 = 0; p0 < inner; p0 += 256) {
            size_t len = inner - p0 < 256 ? inner - p0 : 256;
            for (size_t p = 0; p < len; p++)
                col[p] = b[(p0 + p) * cols + q];
            for (size_t j = 0; j < m; j++)
                s[j] += dot(a + at[i + j] / cols * inner + p0, col, len);
        }
        for (size_t j = 0; j < m; j++)
            y[at[i + j]] = s[j];
        i += m;
    }
}

static void matmul_backward(nb_node *node)
{
    T *da = nb__grad(node->in[0]), *db = nb__grad(node->in[1]);
    const T *a = node->in[0]->val, *b = node->in[1]->val, *dy = nb__grad(node);
    size_t rows = (size_t)nb__ext_of(node->in[0])->dim[0],
           inner = (size_t)nb__ext_of(node->in[0])->dim[1];
    size_t cols = (size_t)nb__ext_of(node->in[1])->dim[1];

    if (da) /* da += dy b^T */
        gemm(0, 1, rows, inner, cols, dy, b, 1, da);
    if (db) /* db += a^T dy */
        gemm(1, 0, inner, cols, rows, a, dy, 1, db);
}

/* ---- transpose ---------------------------------------------------------------
 * y[j, i] = x[i, j]     x (rows x cols); dx[i, j] += dy[j, i] */

static void transpose_forward(nb_node *node)
{
    const T *x = node->in[0]->val;
    T *y = node->val;
    size_t rows = (size_t)nb__ext_of(node->in[0])->dim[0],
           cols = (size_t)nb__ext_of(node->in[0])->dim[1];

    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            y[j * rows + i] = x[i * cols + j];
}

static void transpose_forward_at(nb_node *node, const size_t *at, size_t n)
{
    const T *x = node->in[0]->val;
    T *y = node->val;
    size_t rows = (size_t)nb__ext_of(node->in[0])->dim[0],
           cols = (size_t)nb__ext_of(node->in[0])->dim[1];

    for (size_t i = 0; i < n; i++)
        y[at[i]] = x[at[i] % rows * cols + at[i] / rows];
}

static void transpose_backward(nb_node *node)
{
    T *dx = nb__grad(node->in[0]);
    const T *dy = nb__grad(node);
    size_t rows = (size_t)nb__ext_of(node->in[0])->dim[0],
           cols = (size_t)nb__ext_of(node->in[0])->dim[1];

    if (!dx)
        return;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            dx[i * cols + j] += dy[j * rows + i];
}

/* ---- reshape -----------------------------------------------------------------
 * y = x with another shape of the same element count; dx += dy, element
 * for element.  The wanted dims arrive in nb__ext_of(y) (0 past the rank). */

static void reshape_forward(nb_node *node)
{
    memcpy(node->val, node->in[0]->val, nb__size(node) * sizeof(T));
}

static void reshape_forward_at(nb_node *node, const size_t *at, size_t n)
{
    const T *x = node->in[0]->val;
    T *y = node->val;

    for (size_t i = 0; i < n; i++)
        y[at[i]] = x[at[i]];
}

static void reshape_backward(nb_node *node)
{
    T *dx = nb__grad(node->in[0]);
    const T *dy = nb__grad(node);

    if (!dx)
        return;
    for (size_t i = 0, n = nb__size(node); i < n; i++)
        dx[i] += dy[i];
}

/* ---- expand ------------------------------------------------------------------
 * y = x broadcast to a larger shape (NumPy's rule); dx += dy summed over the
 * stretched dims.  The gradient of a sum, written as ops, is one. */

static void expand_forward(nb_node *node)
{
    const T *x = node->in[0]->val;
    T *y = node->val;

    for (size_t i = 0, n = nb__size(node); i < n; i++)
        y[i] = x[bcast_index(node, 0, i)];
}

static void expand_forward_at(nb_node *node, const size_t *at, size_t n)
{
    const T *x = node->in[0]->val;
    T *y = node->val;

    for (size_t i = 0; i < n; i++)
        y[at[i]] = x[bcast_index(node, 0, at[i])];
}

static void expand_backward(nb_node *node)
{
    T *dx = nb__grad(node->in[0]);
    const T *dy = nb__grad(node);

    if (!dx)
        return;
    for (size_t i = 0, n = nb__size(node); i < n; i++)
        dx[bcast_index(node, 0, i)] += dy[i];
}

/* ---- Softmax and the losses: rows over the last axis ---------------------- */

/* max_j x_j + log sum_j exp(x_j - max): exp never overflows.  Every exp
 * here has an argument <= 0 (x - max, x - lse, a log-probability, -|x|),
 * so f32 takes exp_nonpos_f32 of elementwise.h, which vectorises. */
static T logsumexp(const T *x, size_t c)
{
    T m = x[0], s = 0;
    for (size_t j = 1; j < c; j++)
        m = x[j] > m ? x[j] : m;
    for (size_t j = 0; j < c; j++)
        s += exp_nonpos(x[j] - m);
    return m + log(s);
}

/* the class index a label value names, or -1 if it names none */
static long label(T v, size_t c) { return v >= 0 && v < (T)c && v == floor(v) ? (long)v : -1; }

/* ---- onehot ------------------------------------------------------------------
 * y (n x C): row i is 1 at label i's class, 0 elsewhere; a label that names
 * no class makes its row NaN, as the losses do.  No gradient to the labels.
 * The gradients of the label losses, written as ops, use it. */

static void onehot_forward(nb_node *node)
{
    const T *lab = node->in[0]->val;
    T *y = node->val;
    size_t c = row_len(node), n = nb__size(node) / c;

    for (size_t i = 0; i < n; i++) {
        long k = label(lab[i], c);
        for (size_t j = 0; j < c; j++)
            y[i * c + j] = k < 0 ? (T)NAN : (T)((long)j == k);
    }
}

static void onehot_backward(nb_node *node) { (void)node; }

/* ---- softmax -----------------------------------------------------------------
 * y_j = exp(x_j - lse(x))   per row       dx_j = y_j (dy_j - sum_k dy_k y_k) */

static void softmax_forward(nb_node *node)
{
    const T *x = node->in[0]->val;
    T *y = node->val;
    size_t c = row_len(node), n = nb__size(node);

    for (size_t r = 0; r < n; r += c) {
        T lse = logsumexp(x + r, c);
        for (size_t j = 0; j < c; j++)
            y[r + j] = exp_nonpos(x[r + j] - lse);
    }
}

static void softmax_backward(nb_node *node)
{
    T *dx = nb__grad(node->in[0]);
    const T *y = node->val, *dy = nb__grad(node);
    size_t c = row_len(node), n = nb__size(node);

    if (!dx)
        return;
    for (size_t r = 0; r < n; r += c) {
        T dot = 0;
        for (size_t j = 0; j < c; j++)
            dot += dy[r + j] * y[r + j];
        for (size_t j = 0; j < c; j++)
            dx[r + j] += y[r + j] * (dy[r + j] - dot);
    }
}

/* ---- log_softmax -------------------------------------------------------------
 * y_j = x_j - lse(x)   per row           dx_j = dy_j - exp(y_j) sum_k dy_k */

static void log_softmax_forward(nb_node *node)
{
    const T *x = node->in[0]->val;
    T *y = node->val;
    size_t c = row_len(node), n = nb__size(node);

    for (size_t r = 0; r < n; r += c) {
        T lse = logsumexp(x + r, c);
        for (size_t j = 0; j < c; j++)
            y[r + j] = x[r + j] - lse;
    }
}

static void log_softmax_backward(nb_node *node)
{
    T *dx = nb__grad(node->in[0]);
    const T *y = node->val, *dy = nb__grad(node);
    size_t c = row_len(node), n = nb__size(node);

    if (!dx)
        return;
    for (size_t r = 0; r < n; r += c) {
        T sum = 0;
        for (size_t j = 0; j < c; j++)
            sum += dy[r + j];
        for (size_t j = 0; j < c; j++)
            dx[r + j] += dy[r + j] - exp_nonpos(y[r + j]) * sum;
    }
}

/* ---- softmax_xent ------------------------------------------------------------
 * L = (1/n) sum_i [lse(s_i) - s_i,y_i]      labels y_i are class indices
 * dL/ds_ij = (softmax(s_i)_j - [j == y_i]) / n; no gradient to the labels.
 * Backward recomputes softmax from s rather than keeping a copy: one exp
 * per element (the row's logsumexp first and then exp(s - lse) took two).
 *
 * Rows of up to SOFTMAX_ROW classes go SOFTMAX_BLOCK at a time through a
 * transposed copy, classes down and rows across, so that each step of a
 * row's max, exp and sum is one vector operation over the block's rows (a
 * row of 10 classes, one at a time, is a chain of scalar steps).  Each row
 * still takes the same operations in the same order, so the bits are the
 * same as one row at a time: 100 x 10 f32 scores, forward and backward,
 * run in a quarter of the time. */
#define SOFTMAX_ROW   64
#define SOFTMAX_BLOCK 8

/* Rows s[0..SOFTMAX_BLOCK) of c <= SOFTMAX_ROW classes: m[i] their max,
 * e[j][i] = exp(s_ij - m_i), sum[i] = sum_j e[j][i] (in the order j). */
NB_SIMD_BODY void softmax_block(const T *s, size_t c, T e[][SOFTMAX_BLOCK], T *m, T *sum)
{
    for (size_t j = 0; j < c; j++)
        for (int i = 0; i < SOFTMAX_BLOCK; i++)
            e[j][i] = s[(size_t)i * c + j];
    for (int i = 0; i < SOFTMAX_BLOCK; i++) {
        m[i] = s[(size_t)i * c];
        sum[i] = 0;
    }
    for (size_t j = 1; j < c; j++)
        for (int i = 0; i < SOFTMAX_BLOCK; i++)
            m[i] = e[j][i] > m[i] ? e[j][i] : m[i];
    for (size_t j = 0; j < c; j++)
        for (int i = 0; i < SOFTMAX_BLOCK; i++)
            sum[i] += e[j][i] = exp_nonpos(e[j][i] - m[i]);
}

NB_SIMD_BODY void softmax_xent_forward_rows(nb_node *node)
{
    const T *s = node->in[0]->val, *lab = node->in[1]->val;
    size_t c = row_len(node->in[0]), rows = nb__size(node->in[0]) / c, i = 0;
    T total = 0;

    if (c <= SOFTMAX_ROW)
        for (; i + SOFTMAX_BLOCK <= rows; i += SOFTMAX_BLOCK) {
            T e[SOFTMAX_ROW][SOFTMAX_BLOCK], m[SOFTMAX_BLOCK], sum[SOFTMAX_BLOCK];
            softmax_block(s + i * c, c, e, m, sum);
            for (size_t k = 0; k < SOFTMAX_BLOCK; k++) {
                long y = label(lab[i + k], c);
                total += y < 0 ? (T)NAN : m[k] + log(sum[k]) - s[(i + k) * c + (size_t)y];
            }
        }
    for (; i < rows; i++) {
        long y = label(lab[i], c);
        total += y < 0 ? (T)NAN : logsumexp(s + i * c, c) - s[i * c + (size_t)y];
    }
    *(T *)node->val = total / (T)rows;
}
NB_SIMD_KERNEL(softmax_xent_forward, softmax_xent_forward_rows, (nb_node * node), (node))

NB_SIMD_BODY void softmax_xent_backward_rows(nb_node *node)
{
    T *ds = nb__grad(node->in[0]);
    const T *s = node->in[0]->val, *lab = node->in[1]->val;
    size_t c = row_len(node->in[0]), rows = nb__size(node->in[0]) / c, i = 0;
    T scale = *(const T *)nb__grad(node) / (T)rows;

    if (!ds)
        return;
    if (c <= SOFTMAX_ROW)
        for (; i + SOFTMAX_BLOCK <= rows; i += SOFTMAX_BLOCK) {
            T e[SOFTMAX_ROW][SOFTMAX_BLOCK], m[SOFTMAX_BLOCK], sum[SOFTMAX_BLOCK];
            softmax_block(s + i * c, c, e, m, sum);
            for (size_t k = 0; k < SOFTMAX_BLOCK; k++) {
                T *dsk = ds + (i + k) * c, f = scale / sum[k];
                long y = label(lab[i + k], c);
                for (size_t j = 0; j < c; j++)
                    dsk[j] += f * e[j][k];
                if (y >= 0)
                    dsk[y] -= scale;
            }
        }
    for (; i < rows; i++) {
        const T *si = s + i * c;
        T *dsi = ds + i * c, e[SOFTMAX_ROW];
        long y = label(lab[i], c);
        if (c <= SOFTMAX_ROW) { /* one exp per element, kept */
            T m = si[0], sum = 0;
            for (size_t j = 1; j < c; j++)
                m = si[j] > m ? si[j] : m;
            for (size_t j = 0; j < c; j++)
                sum += e[j] = exp_nonpos(si[j] - m);
            T f = scale / sum;
            for (size_t j = 0; j < c; j++) /* no branch inside: it vectorises */
                dsi[j] += f * e[j];
        } else {
            T lse = logsumexp(si, c);
            for (size_t j = 0; j < c; j++)
                dsi[j] += scale * exp_nonpos(si[j] - lse);
        }
        if (y >= 0)
            dsi[y] -= scale;
    }
}
NB_SIMD_KERNEL(softmax_xent_backward, softmax_xent_backward_rows, (nb_node * node), (node))

/* ---- softmax_xent_onehot -----------------------------------------------------
 * L = -(1/n) sum_ij t_ij (s_ij - lse(s_i))  t the shape of s
 * dL/ds_ij = (softmax(s_i)_j sum_k t_ik - t_ij) / n   (softmax - t for
 * probability rows);  dL/dt_ij = -(s_ij - lse(s_i)) / n */

static void softmax_xent_onehot_forward(nb_node *node)
{
    const T *s = node->in[0]->val, *t = node->in[1]->val;
    size_t c = row_len(node->in[0]), n = nb__size(node->in[0]);
    T total = 0;

    for (size_t r = 0; r < n; r += c) {
        T lse = logsumexp(s + r, c);
        for (size_t j = 0; j < c; j++)
            total -= t[r + j] * (s[r + j] - lse);
    }
    *(T *)node->val = total / (T)(n / c);
}

static void softmax_xent_onehot_backward(nb_node *node)
{
    T *ds = nb__grad(node->in[0]), *dt = nb__grad(node->in[1]);
    const T *s = node->in[0]->val, *t = node->in[1]->val;
    size_t c = row_len(node->in[0]), n = nb__size(node->in[0]);
    T scale = *(const T *)nb__grad(node) / (T)(n / c);

    for (size_t r = 0; r < n; r += c) {
        T lse = logsumexp(s + r, c), tsum = 0;
        for (size_t j = 0; j < c; j++)
            tsum += t[r + j];
        for (size_t j = 0; j < c; j++) {
            if (ds)
                ds[r + j] += scale * (exp_nonpos(s[r + j] - lse) * tsum - t[r + j]);
            if (dt)
                dt[r + j] -= scale * (s[r + j] - lse);
        }
    }
}

/* ---- bce_logits --------------------------------------------------------------
 * L = (1/n) sum_i [max(x_i, 0) - x_i t_i + log(1 + e^-|x_i|)]
 *   = binary cross-entropy of sigmoid(x) against t, with no log of a
 *     rounded probability and no overflow for any x
 * dL/dx_i = (sigmoid(x_i) - t_i) / n      dL/dt_i = -x_i / n */

static void bce_logits_forward(nb_node *node)
{
    const T *x = node->in[0]->val, *t = node->in[1]->val;
    size_t n = nb__size(node->in[0]);
    T total = 0;

    for (size_t i = 0; i < n; i++)
        total += (x[i] > 0 ? x[i] : 0) - x[i] * t[i] + log1p(exp_nonpos(-fabs(x[i])));
    *(T *)node->val = total / (T)n;
}

static void bce_logits_backward(nb_node *node)
{
    T *dx = nb__grad(node->in[0]), *dt = nb__grad(node->in[1]);
    const T *x = node->in[0]->val, *t = node->in[1]->val;
    size_t n = nb__size(node->in[0]);
    T scale = *(const T *)nb__grad(node) / (T)n;

    for (size_t i = 0; i < n; i++) {
        T e = exp_nonpos(-fabs(x[i])), sig = x[i] >= 0 ? 1 / (1 + e) : e / (1 + e);
        if (dx)
            dx[i] += scale * (sig - t[i]);
        if (dt)
            dt[i] -= scale * x[i];
    }
}

/* ---- hinge -------------------------------------------------------------------
 * L = (1/n) sum_i sum_{j != y_i} max(0, s_ij - s_i,y_i + 1)
 * each positive margin sends +1/n to s_ij and -1/n to s_i,y_i; a margin of
 * exactly 0 sends nothing (as relu'(0) = 0); no gradient to the labels */

static void hinge_forward(nb_node *node)
{
    const T *s = node->in[0]->val, *lab = node->in[1]->val;
    size_t c = row_len(node->in[0]), rows = nb__size(node->in[0]) / c;
    T total = 0;

    for (size_t i = 0; i < rows; i++) {
        long y = label(lab[i], c);
        if (y < 0) {
            total = (T)NAN;
            continue;
        }
        for (size_t j = 0; j < c; j++) {
            T margin = s[i * c + j] - s[i * c + (size_t)y] + 1;
            if ((long)j != y && margin > 0)
                total += margin;
        }
    }
    *(T *)node->val = total / (T)rows;
}

static void hinge_backward(nb_node *node)
{
    T *ds = nb__grad(node->in[0]);
    const T *s = node->in[0]->val, *lab = node->in[1]->val;
    size_t c = row_len(node->in[0]), rows = nb__size(node->in[0]) / c;
    T scale = *(const T *)nb__grad(node) / (T)rows;

    if (!ds)
        return;
    for (size_t i = 0; i < rows; i++) {
        long y = label(lab[i], c);
        if (y < 0)
            continue;
        for (size_t j = 0; j < c; j++)
            if ((long)j != y && s[i * c + j] - s[i * c + (size_t)y] + 1 > 0) {
                ds[i * c + j] += scale;
                ds[i * c + (size_t)y] -= scale;
            }
    }
}

/* ---- custom: a user's op, whatever the dtype (custom.c) ------------------------ */

static void custom_forward(nb_node *node) { nb__custom_forward(node); }
static void custom_backward(nb_node *node) { nb__custom_backward(node); }

/* ---- This dtype's kernel table --------------------------------------------- */

#define FORWARD_AT_AT(stem)      stem##_forward_at
#define FORWARD_AT_WHOLE(stem)   NULL
#define SCALAR_ELEMENTWISE(stem) stem##_scalar
#define SCALAR_TENSOR(stem)      NULL
const nb__kernel KERNEL_TABLE[NB_OP_COUNT] = {
    [NB_OP_LEAF] = { NULL, NULL, NULL, NULL },
#define NB_OP(E, stem, arity, kind, change)                                                    \
    [NB_OP_##E] = { stem##_forward, stem##_backward, FORWARD_AT_##change(stem),                \
                    SCALAR_##kind(stem) },
#include "ops.def"
#undef NB_OP
};
