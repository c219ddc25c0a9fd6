/* test_matmul.c - the two matmul paths agree: OpenBLAS (when built in) and
 * the portable kernel, forward and both gradients, f32 and f64, on shapes
 * from 1x1 to the 100 x 784 x 50 of the lecture's network. */
#include "internal.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>

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
        fprintf(stderr, "%s %dx%dx%d: %d elements differ\n", dt == NB_F32 ? "f32" : "f64",
                m, k, n, bad);
    free(x);
    free(y);
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
    CHECK(nb_set_threads(0) >= 1);
    return check_summary();
}
