/* test_matmul.c - the two matmul paths agree: OpenBLAS (when built in) and
 * the portable kernel, forward and both gradients, f32 and f64, on shapes
 * from 1x1 to the 100 x 784 x 50 of the lecture's network.  Below the
 * graph, the product itself (nb__gemm): the blocked kernel, its reference
 * loops and OpenBLAS against a naive product in double, and each other, for
 * every transpose case, beta 0 and 1, on sizes off the block and tile grid. */
#include "internal.h"
#include "check.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 42;

static double uniform(void)
{
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(state >> 11) * 0x1.0p-53 * 2 - 1;
}

/* value and gradients of sum(w * (a b)) with the chosen path */
static void run(nb_dtype dt, int blas, int m, int k, int n, double *out)
{
    nb__blas_enabled = blas;
    nb_graph *g = nb_graph_new(dt);
    size_t na = (size_t)m * k, nb = (size_t)k * n, ny = (size_t)m * n;
    double *v = malloc((na + nb + ny) * sizeof *v);
    state = 7;
    for (size_t i = 0; i < na + nb + ny; i++)
        v[i] = uniform();
    nb_node *a = nb_variable(g, "a", 2, (int[]){ m, k }, v);
    nb_node *b = nb_variable(g, "b", 2, (int[]){ k, n }, v + na);
    nb_node *w = nb_constant(g, "w", 2, (int[]){ m, n }, v + na + nb);
    nb_node *y = nb_matmul(g, a, b);
    nb_node *L = nb_sum(g, nb_mul(g, y, w));
    CHECK(L && nb_backward(g, L) == NB_OK);
    size_t o = 0;
    for (size_t i = 0; i < ny; i++)
        out[o++] = nb_value_at(y, i);
    for (size_t i = 0; i < na; i++)
        out[o++] = nb_grad_at(a, i);
    for (size_t i = 0; i < nb; i++)
        out[o++] = nb_grad_at(b, i);
    free(v);
    nb_graph_free(g);
}

static void paths_agree(nb_dtype dt, int m, int k, int n)
{
    size_t len = (size_t)m * n + (size_t)m * k + (size_t)k * n;
    double *x = malloc(len * sizeof *x), *y = malloc(len * sizeof *y);
    /* each element is a sum of k (or n, or m) products of numbers in
     * [-1, 1]; the two paths only reorder the sums: the difference is a
     * few roundings of the partial sums, ~ sqrt(terms) * eps * terms */
    double tol = (dt == NB_F32 ? 1e-6 : 1e-14) * (m + k + n);
    run(dt, 1, m, k, n, x);
    run(dt, 0, m, k, n, y);
    int bad = 0;
    for (size_t i = 0; i < len; i++)
        bad += !(fabs(x[i] - y[i]) <= tol);
    CHECK(bad == 0);
    if (bad)
        fprintf(stderr, "%s %dx%dx%d: %d elements differ\n", dt == NB_F32 ? "f32" : "f64", m, k,
                n, bad);
    free(x);
    free(y);
}

/* C = beta C + op(A) op(B) through one path in dt; the data is double, and
 * float-representable when dt is f32 */
static void gemm_in(nb_dtype dt, nb__gemm_path path, int ta, int tb, size_t m, size_t n,
                    size_t k, const double *A, const double *B, double beta, double *C)
{
    if (dt == NB_F64) {
        nb__gemm_f64(path, ta, tb, m, n, k, A, B, beta, C);
        return;
    }
    size_t na = m * k, nb = k * n, nc = m * n;
    float *f = malloc((na + nb + nc) * sizeof *f);
    for (size_t i = 0; i < na; i++)
        f[i] = (float)A[i];
    for (size_t i = 0; i < nb; i++)
        f[na + i] = (float)B[i];
    for (size_t i = 0; i < nc; i++)
        f[na + nb + i] = (float)C[i];
    nb__gemm_f32(path, ta, tb, m, n, k, f, f + na, (float)beta, f + na + nb);
    for (size_t i = 0; i < nc; i++)
        C[i] = f[na + nb + i];
    free(f);
}

/* want[i,j] = beta C[i,j] + sum_p op(A)[i,p] op(B)[p,j] in double, and
 * mag[i,j] = |beta C[i,j]| + sum_p |op(A)[i,p] op(B)[p,j]|: a sum of k + 1
 * terms rounded in T is off by at most about (k + 1) eps/2 mag (Higham,
 * 3.5), whatever the order of the sums; twice that covers want's own
 * error when T is double. */
static void gemm_naive(int ta, int tb, size_t m, size_t n, size_t k, const double *A,
                       const double *B, double beta, const double *C, double *want, double *mag)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = beta == 0 ? 0 : beta * C[i * n + j], abs = fabs(s);
            for (size_t p = 0; p < k; p++) {
                double a = ta ? A[p * m + i] : A[i * k + p];
                double x = a * (tb ? B[j * k + p] : B[p * n + j]);
                s += x;
                abs += fabs(x);
            }
            want[i * n + j] = s;
            mag[i * n + j] = abs;
        }
}

/* elements of got outside want +- tol mag */
static size_t count_off(size_t len, const double *got, const double *want, const double *mag,
                        double tol)
{
    size_t bad = 0;
    for (size_t i = 0; i < len; i++)
        bad += !(fabs(got[i] - want[i]) <= tol * mag[i]);
    return bad;
}

/* beta 0 must not read C, so C starts as NaN there; beta 1 adds to random C */
static void gemm_matches_naive(nb_dtype dt, int ta, int tb, double beta, size_t m, size_t n,
                               size_t k)
{
    static const char *path_name[] = { "blas", "blocked", "ref" };
    size_t na = m * k, nb = k * n, nc = m * n;
    double *v = malloc((na + nb + 6 * nc) * sizeof *v);
    double *A = v, *B = A + na, *C = B + nb, *want = C + nc, *mag = want + nc;
    double *got[] = { mag + nc, mag + 2 * nc, mag + 3 * nc }; /* by path */
    double tol = (double)(k + 1) * (dt == NB_F32 ? FLT_EPSILON : DBL_EPSILON);

    for (size_t i = 0; i < na + nb + nc; i++)
        v[i] = dt == NB_F32 ? (float)uniform() : uniform();
    if (beta == 0)
        for (size_t i = 0; i < nc; i++)
            C[i] = NAN;
    gemm_naive(ta, tb, m, n, k, A, B, beta, C, want, mag);
    for (int path = NB__GEMM_BLAS; path <= NB__GEMM_REF; path++) {
        if (path == NB__GEMM_BLAS && !NB_HAVE_OPENBLAS)
            continue;
        memcpy(got[path], C, nc * sizeof *C);
        gemm_in(dt, (nb__gemm_path)path, ta, tb, m, n, k, A, B, beta, got[path]);
        size_t bad = count_off(nc, got[path], want, mag, tol);
        CHECK(bad == 0);
        if (bad)
            fprintf(stderr, "%s %s %s beta %g %zux%zux%zu: %zu elements off\n", path_name[path],
                    dt == NB_F32 ? "f32" : "f64",
                    ta   ? "A^T B"
                    : tb ? "A B^T"
                         : "A B",
                    beta, m, n, k, bad);
    }
    if (NB_HAVE_OPENBLAS) /* blocked against OpenBLAS */
        CHECK(count_off(nc, got[NB__GEMM_BLOCKED], got[NB__GEMM_BLAS], mag, 2 * tol) == 0);
    free(v);
}

int main(void)
{
    static const int shapes[][3] = {
        { 1, 1, 1 }, { 1, 7, 1 }, { 3, 4, 5 }, { 17, 33, 9 }, { 100, 784, 50 }, { 100, 50, 10 },
    };
    printf("backend: %s\n", nb_backend());
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        paths_agree(NB_F64, shapes[s][0], shapes[s][1], shapes[s][2]);
        paths_agree(NB_F32, shapes[s][0], shapes[s][1], shapes[s][2]);
    }
    nb__blas_enabled = NB_HAVE_OPENBLAS;

    /* tile 4 x (32 bytes of T), blocks MC 32, NC 64, KC 128: sizes below
     * them, across them, and ending off the grid */
    static const size_t mn[] = { 1, 3, 17, 65, 130 }, ks[] = { 1, 3, 257 };
    static const int trans[][2] = { { 0, 0 }, { 0, 1 }, { 1, 0 } };
    for (int dt = 0; dt < 2; dt++)
        for (int t = 0; t < 3; t++)
            for (int beta = 0; beta <= 1; beta++)
                for (size_t i = 0; i < sizeof mn / sizeof mn[0]; i++)
                    for (size_t j = 0; j < sizeof mn / sizeof mn[0]; j++)
                        for (size_t p = 0; p < sizeof ks / sizeof ks[0]; p++)
                            gemm_matches_naive(dt ? NB_F32 : NB_F64, trans[t][0], trans[t][1],
                                               beta, mn[i], mn[j], ks[p]);
    CHECK(nb_set_threads(0) >= 1);
    return check_summary();
}
