/* bench_hvp.c - what a Hessian-vector product costs against a gradient, on
 * the 784-50-10 sigmoid MLP's softmax cross-entropy over a batch of 100
 * (random inputs in [0, 1), random labels; the shapes of bench_mlp's small
 * model): the median time of nb_hessian_vec over the four parameters (one
 * forward and one backward of s = <grad L, v>, reverse over reverse)
 * divided by that of nb_forward + nb_backward of L, in one process, f64
 * and f32.  The textbook bound for reverse over reverse is a small
 * constant (about 4 to 5).
 *
 * Usage: bench_hvp [--check [FILE]]   (--check: H v against finite
 * differences of the gradient on a batch of 8, no timing; FILE: also write
 * the inputs, labels, parameters, v and H v there as JSON, for
 * benchmarks/hvp_torch.py) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla.h"

#define REPS 7

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp);
    return t[n / 2];
}

static unsigned long long rng = 88172645463325252ull;
static double uniform(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}

typedef struct mlp {
    nb_graph *g;
    nb_node *param[4], *loss;
} mlp;

static mlp build(nb_dtype dtype, int batch)
{
    mlp m = { nb_graph_new(dtype), { NULL }, NULL };
    nb_graph *g = m.g;
    const int shape[4][2] = { { 784, 50 }, { 1, 50 }, { 50, 10 }, { 1, 10 } };
    double *buf = malloc((size_t)(batch > 50 ? batch : 50) * 784 * sizeof *buf);

    for (int k = 0; k < 4; k++) {
        size_t n = (size_t)shape[k][0] * (size_t)shape[k][1];
        for (size_t i = 0; i < n; i++)
            buf[i] = (uniform() - 0.5) * (k % 2 ? 0.2 : 2 / sqrt((double)shape[k][0]));
        m.param[k] = nb_param(g,
                              k == 0   ? "W1"
                              : k == 1 ? "b1"
                              : k == 2 ? "W2"
                                       : "b2",
                              2, shape[k], buf);
    }
    for (size_t i = 0; i < (size_t)batch * 784; i++)
        buf[i] = uniform();
    nb_node *x = nb_constant(g, "x", 2, (int[]){ batch, 784 }, buf);
    for (int i = 0; i < batch; i++)
        buf[i] = (double)(int)(uniform() * 10);
    nb_node *y = nb_constant(g, "y", 1, &batch, buf);
    nb_node *h = nb_sigmoid(g, nb_add(g, nb_matmul(g, x, m.param[0]), m.param[1]));
    nb_node *s = nb_add(g, nb_matmul(g, h, m.param[2]), m.param[3]);
    m.loss = nb_softmax_xent(g, s, y);
    free(buf);
    return m;
}

/* What is timed: a gradient of m's loss, or H v with h (v, hv given). */
typedef struct work {
    mlp *m;
    nb_hessian *h;
    const double *v;
    double *hv;
} work;

static void gradient(const work *w)
{
    nb_forward(w->m->g, w->m->loss);
    nb_backward(w->m->g, w->m->loss);
}

static void hessian_vec(const work *w) { nb_hessian_vec(w->h, w->v, w->hv); }

/* the median over REPS of the mean time of 20 calls */
static double time_of(void (*run)(const work *), const work *w)
{
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        for (int i = 0; i < 20; i++)
            run(w);
        t[r] = (now() - t0) / 20;
    }
    return median(t, REPS);
}

static void dump_array(FILE *f, const char *name, const nb_node *n, const double *v)
{
    fprintf(f, "\"%s\": [", name);
    for (size_t i = 0, size = nb_size(n); i < size; i++)
        fprintf(f, "%s%.17g", i ? ", " : "", v ? v[i] : nb_value_at(n, i));
    fprintf(f, "]");
}

/* {"x": [...], "y": [...], "W1": ..., "v": [...], "hv": [...]} */
static int dump(const char *path, const mlp *m, const double *v, const double *hv)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fputc('{', f);
    dump_array(f, "x", nb_lookup(m->g, "x"), NULL);
    fputs(", ", f);
    dump_array(f, "y", nb_lookup(m->g, "y"), NULL);
    for (int k = 0; k < 4; k++) {
        fputs(", ", f);
        dump_array(f, nb_name(m->param[k]), m->param[k], NULL);
    }
    for (int which = 0; which < 2; which++) {
        fprintf(f, ", \"%s\": [", which ? "hv" : "v");
        for (int k = 0, at = 0; k < 4; k++)
            for (size_t i = 0; i < nb_size(m->param[k]); i++, at++)
                fprintf(f, "%s%.17g", at ? ", " : "", (which ? hv : v)[at]);
        fputc(']', f);
    }
    fputs("}\n", f);
    return ferror(f) | fclose(f);
}

/* H v against (grad(w + h v) - grad(w - h v)) / 2h, h = 1e-5, f64 */
static int check(const char *path)
{
    mlp m = build(NB_F64, 8);
    nb_hessian *h = m.loss ? nb_hessian_new(m.g, m.loss, 4, m.param) : NULL;
    if (!h) {
        fprintf(stderr, "bench_hvp: %s\n", nb_errmsg(m.g));
        return 1;
    }
    size_t n = nb_hessian_size(h);
    double *v = malloc(n * sizeof *v), *hv = malloc(n * sizeof *hv);
    double *gp = malloc(n * sizeof *gp), *gm = malloc(n * sizeof *gm), worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++)
        v[i] = uniform() - 0.5;
    int failed = nb_hessian_vec(h, v, hv) != NB_OK;
    for (int sign = 1; sign >= -1; sign -= 2) {
        for (int k = 0, at = 0; k < 4; k++)
            for (size_t i = 0; i < nb_size(m.param[k]); i++)
                nb_set_at(m.param[k], i, nb_value_at(m.param[k], i) + sign * 1e-5 * v[at++]);
        failed |= nb_forward(m.g, m.loss) != NB_OK || nb_backward(m.g, m.loss) != NB_OK;
        for (int k = 0, at = 0; k < 4; k++)
            for (size_t i = 0; i < nb_size(m.param[k]); i++)
                (sign > 0 ? gp : gm)[at++] = nb_grad_at(m.param[k], i);
        for (int k = 0, at = 0; k < 4; k++) /* back to w */
            for (size_t i = 0; i < nb_size(m.param[k]); i++)
                nb_set_at(m.param[k], i, nb_value_at(m.param[k], i) - sign * 1e-5 * v[at++]);
    }
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(hv[i]));
        worst = fmax(worst, fabs(hv[i] - (gp[i] - gm[i]) / 2e-5));
    }
    failed |= !(worst <= 1e-6 * scale);
    if (path && dump(path, &m, v, hv) != 0) {
        fprintf(stderr, "bench_hvp: cannot write %s\n", path);
        failed = 1;
    }
    printf("H v against finite differences of the gradient, %zu parameters: max error %.2e "
           "of max |H v| %.2e: %s\n",
           n, worst, scale, failed ? "FAILED" : "ok");
    free(v), free(hv), free(gp), free(gm);
    nb_graph_free(m.g);
    return failed;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--check") == 0)
        return check(argc > 2 ? argv[2] : NULL);
    printf("784-50-10 sigmoid, softmax cross-entropy, batch 100; median of %d x 20\n", REPS);
    for (int dt = 0; dt < 2; dt++) {
        mlp m = build(dt ? NB_F32 : NB_F64, 100);
        nb_hessian *h = m.loss ? nb_hessian_new(m.g, m.loss, 4, m.param) : NULL;
        if (!h) {
            fprintf(stderr, "bench_hvp: %s\n", nb_errmsg(m.g));
            return 1;
        }
        size_t n = nb_hessian_size(h);
        double *v = malloc(n * sizeof *v), *hv = malloc(n * sizeof *hv);
        for (size_t i = 0; i < n; i++)
            v[i] = uniform() - 0.5;
        nb_hessian_vec(h, v, hv); /* plan and warm up */
        work w = { &m, h, v, hv };
        double tg = time_of(gradient, &w), th = time_of(hessian_vec, &w);
        printf("  %s  gradient (forward + backward) %8.3f ms   H v %8.3f ms   ratio %.2f\n",
               dt ? "f32" : "f64", 1e3 * tg, 1e3 * th, th / tg);
        free(v), free(hv);
        nb_graph_free(m.g);
    }
    return 0;
}
