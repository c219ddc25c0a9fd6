/* bench_gemm.c - matmul's product alone on the shapes training issues: the
 * portable kernel's plain loops (ref) against its blocked version, and
 * OpenBLAS on one thread when built in; GFLOP/s and ratios, f32 and f64.
 * A kernel benchmark: it calls the engine's nb__gemm through internal.h.
 * --check compares the paths once per shape (a test in suite 'bench'). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define MAX_SAMPLES 99

/* C (m x n) = beta C + op(A) op(B): forward with beta 0, the two gradients
 * of a layer with beta 1, as the engine's matmul issues them */
typedef struct shape {
    const char *what;
    size_t m, n, k;
    int ta, tb;
    double beta;
} shape;

static const shape shapes[] = {
    { "small fwd  a W     100x784 @ 784x50 ", 100, 50, 784, 0, 0, 0 },
    { "small bwd  a^T dz  784x100 @ 100x50 ", 784, 50, 100, 1, 0, 1 },
    { "small bwd  dz W^T  100x50  @ 50x784 ", 100, 784, 50, 0, 1, 1 },
    { "big   fwd  a W     128x784 @ 784x512", 128, 512, 784, 0, 0, 0 },
    { "big   fwd  a W     128x512 @ 512x512", 128, 512, 512, 0, 0, 0 },
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* operands of one shape in both types; values uniform in [-1, 1], fixed seed */
typedef struct operands {
    double *A, *B, *C;
    float *Af, *Bf, *Cf;
} operands;

static void operands_new(operands *o, const shape *s)
{
    size_t na = s->m * s->k, nb = s->k * s->n, nc = s->m * s->n;
    uint64_t state = 42;

    o->A = malloc((na + nb + nc) * sizeof *o->A);
    o->Af = malloc((na + nb + nc) * sizeof *o->Af);
    if (!o->A || !o->Af) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    o->B = o->A + na, o->C = o->B + nb;
    o->Bf = o->Af + na, o->Cf = o->Bf + nb;
    for (size_t i = 0; i < na + nb + nc; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        o->A[i] = (double)(state >> 11) * 0x1.0p-53 * 2 - 1;
        o->Af[i] = (float)o->A[i];
    }
}

static void operands_free(operands *o)
{
    free(o->A);
    free(o->Af);
}

static void call(const shape *s, operands *o, nb_dtype dt, nb__gemm_path path)
{
    if (dt == NB_F64)
        nb__gemm_f64(path, s->ta, s->tb, s->m, s->n, s->k, o->A, o->B, s->beta, o->C);
    else
        nb__gemm_f32(path, s->ta, s->tb, s->m, s->n, s->k, o->Af, o->Bf, (float)s->beta, o->Cf);
}

/* GFLOP/s (2 m n k flops a call) of each path: one warm-up call each, then
 * samples of enough calls to last about 20 ms, the paths taking turns so
 * that a busy machine slows them alike; the median sample */
static void gflops(const shape *s, operands *o, nb_dtype dt, int first, int end, int samples,
                   double *out)
{
    double t[NB__GEMM_REF + 1][MAX_SAMPLES];
    int reps[NB__GEMM_REF + 1];

    for (int p = first; p < end; p++) {
        call(s, o, dt, (nb__gemm_path)p);
        double t0 = now();
        call(s, o, dt, (nb__gemm_path)p);
        double once = now() - t0;
        reps[p] = once < 0.02 ? (int)(0.02 / (once > 1e-7 ? once : 1e-7)) + 1 : 1;
    }
    for (int i = 0; i < samples; i++)
        for (int p = first; p < end; p++) {
            double t0 = now();
            for (int r = 0; r < reps[p]; r++)
                call(s, o, dt, (nb__gemm_path)p);
            t[p][i] = (now() - t0) / reps[p];
        }
    for (int p = first; p < end; p++) {
        qsort(t[p], (size_t)samples, sizeof t[p][0], cmp_double);
        out[p] = 2.0 * (double)(s->m * s->n * s->k) / t[p][samples / 2] * 1e-9;
    }
}

/* each path once from the same C; the largest difference from ref, relative
 * to the largest |C| */
static double check_shape(const shape *s, nb_dtype dt)
{
    operands o;
    size_t nc = s->m * s->n;
    double worst = 0;

    operands_new(&o, s);
    double *ref = malloc(nc * sizeof *ref), scale = 0;
    call(s, &o, dt, NB__GEMM_REF);
    for (size_t i = 0; i < nc; i++) {
        ref[i] = dt == NB_F64 ? o.C[i] : o.Cf[i];
        scale = fmax(scale, fabs(ref[i]));
    }
    for (int path = NB__GEMM_BLAS; path < NB__GEMM_REF; path++) {
        operands_free(&o);
        operands_new(&o, s);
        call(s, &o, dt, (nb__gemm_path)path);
        for (size_t i = 0; i < nc; i++)
            worst = fmax(worst, fabs((dt == NB_F64 ? o.C[i] : o.Cf[i]) - ref[i]) / scale);
    }
    free(ref);
    operands_free(&o);
    return worst;
}

int main(int argc, char **argv)
{
    int samples = 9, check = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check")) {
            check = 1;
        } else if (!strcmp(argv[i], "--samples") && i + 1 < argc) {
            samples = atoi(argv[++i]);
            if (samples < 1 || samples > MAX_SAMPLES)
                samples = 9;
        } else {
            fprintf(stderr, "usage: bench_gemm [--check] [--samples N]\n");
            return 2;
        }
    }
    nb_set_threads(1);
    if (check) {
        int bad = 0;
        for (size_t s = 0; s < N_SHAPES; s++)
            for (int dt = 0; dt < 2; dt++) {
                double d = check_shape(&shapes[s], dt ? NB_F32 : NB_F64);
                double tol = dt ? 1e-5 : 1e-13;
                printf("%s %s: paths differ by %.2g of max |C| (tol %g)\n", shapes[s].what,
                       dt ? "f32" : "f64", d, tol);
                bad += !(d <= tol);
            }
        return bad != 0;
    }
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("bench_gemm: %s, build %s, OPENBLAS_CORETYPE=%s; GFLOP/s, median of %d\n",
           nb_backend(), BENCH_BUILDTYPE, core ? core : "(unset)", samples);
    printf("%-37s %-4s %7s %8s %8s %12s %13s\n", "product", "type", "ref", "blocked",
           NB_HAVE_OPENBLAS ? "openblas" : "-", "blocked/ref", "blas/blocked");
    for (size_t s = 0; s < N_SHAPES; s++)
        for (int dt = 0; dt < 2; dt++) {
            operands o;
            double g[NB__GEMM_REF + 1]; /* GFLOP/s by path */
            operands_new(&o, &shapes[s]);
            /* without OpenBLAS, NB__GEMM_BLAS would time the blocked kernel again */
            int first = NB_HAVE_OPENBLAS ? NB__GEMM_BLAS : NB__GEMM_BLOCKED;
            gflops(&shapes[s], &o, dt ? NB_F32 : NB_F64, first, NB__GEMM_REF + 1, samples, g);
            printf("%s %-4s %7.2f %8.2f", shapes[s].what, dt ? "f32" : "f64", g[NB__GEMM_REF],
                   g[NB__GEMM_BLOCKED]);
            double speedup = g[NB__GEMM_BLOCKED] / g[NB__GEMM_REF];
            if (NB_HAVE_OPENBLAS)
                printf(" %8.2f %12.2f %13.2f\n", g[NB__GEMM_BLAS], speedup,
                       g[NB__GEMM_BLAS] / g[NB__GEMM_BLOCKED]);
            else
                printf(" %8s %12.2f %13s\n", "-", speedup, "-");
            operands_free(&o);
        }
    return 0;
}
