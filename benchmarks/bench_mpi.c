/* bench_mpi.c - training across processes (nabla_mpi.h) on the Fashion-MNIST
 * workloads of benchmarks/README.md (small 784-50-10 sigmoid, batch 100; big
 * 784-512-512-10 ReLU, batch 128; f32, SGD lr 0.1), one OpenBLAS thread per
 * rank.  Run under mpirun -n N; rank 0 prints one line per workload and
 * scaling: "strong" keeps the workload's global batch (each rank gets
 * batch / N rows), "weak" gives each rank the workload's batch (global batch
 * N x batch).  Time per step is the median over the timed steps; the
 * allreduce is timed alone on the same fused buffer (gradients + 2) and
 * ranks, and compute is the step minus it.  --check runs a few steps on
 * synthetic data (no data set needed): a test in suite 'bench'. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla_mpi.h"

typedef struct config {
    const char *name;
    int widths[4], n_widths;
    nb_act act;
    nb_init init;
    int batch, steps;
} config;

static const config configs[] = {
    { "small", { 784, 50, 10 }, 3, NB_ACT_SIGMOID, NB_INIT_NORMAL, 100, 300 },
    { "big", { 784, 512, 512, 10 }, 4, NB_ACT_RELU, NB_INIT_HE, 128, 60 },
};

static int rank, size;

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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median seconds of one MPI_Allreduce of n floats, in place. */
static double time_allreduce(size_t n, int reps)
{
    float *buf = calloc(n, sizeof *buf);
    double *t = malloc((size_t)reps * sizeof *t);
    for (int k = -3; k < reps; k++) { /* three to warm up */
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now();
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (k >= 0)
            t[k] = now() - t0;
    }
    double med = median(t, reps);
    MPI_Bcast(&med, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD); /* rank 0's figure */
    free(buf);
    free(t);
    return med;
}

/* Median seconds per step of steps steps of global batch rows. */
static double time_steps(const config *c, const nb_data *train, int rows, int steps,
                         size_t *params, nb_err *err)
{
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .dtype = NB_F32,
                                           .widths = c->widths,
                                           .n_widths = c->n_widths,
                                           .act = c->act,
                                           .loss = NB_LOSS_XENT,
                                           .init = c->init,
                                           .seed = 1 },
                           err);
    nb_optimizer *o =
        m ? nb_optimizer_new(nb_mlp_graph(m), &(nb_optimizer_opts){ .lr = 0.1 }, err) : NULL;
    nb_batches b = { 0 };
    double *t = malloc((size_t)steps * sizeof *t), med = -1;
    nb_status s = o && t ? nb_mlp_set_comm(m, MPI_COMM_WORLD, err) : NB_ERR_NOMEM;
    if (s == NB_OK)
        s = nb_batches_init(&b, train->n, (size_t)rows, 1, 7, err);
    *params = 0;
    for (size_t i = 0; m && i < nb_param_count(nb_mlp_graph(m)); i++)
        *params += nb_size(nb_param_at(nb_mlp_graph(m), i));
    const nb_batch_graph *bg = s == NB_OK ? nb_mlp_batch_graph(m, rows, err) : NULL;
    nb_batches_epoch(&b);
    for (int k = -5; bg && s == NB_OK && k < steps; k++) { /* five to warm up */
        const size_t *idx;
        if (nb_batches_next(&b, &idx) < (size_t)rows) {
            nb_batches_epoch(&b);
            nb_batches_next(&b, &idx);
        }
        double t0 = now();
        s = nb_mlp_train_step(m, bg, train, idx, o, NULL, err);
        if (k >= 0)
            t[k] = now() - t0;
    }
    if (bg && s == NB_OK)
        med = median(t, steps);
    MPI_Bcast(&med, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    free(t);
    nb_batches_free(&b);
    nb_optimizer_free(o);
    nb_mlp_free(m);
    return med;
}

static nb_status synthetic(nb_data *d, nb_err *err)
{
    nb_rng r;
    nb_rng_seed(&r, 3);
    nb_status s = nb_data_alloc(d, 512, 784, err);
    for (size_t i = 0; s == NB_OK && i < d->n * 784; i++)
        d->x[i] = nb_rng_uniform(&r);
    for (size_t i = 0; s == NB_OK && i < d->n; i++)
        d->y[i] = (double)nb_rng_below(&r, 10);
    d->n_classes = 10;
    return s == NB_OK ? nb_data_f32(d, err) : s;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int check = argc > 1 && strcmp(argv[1], "--check") == 0;
    nb_set_threads(1); /* one core per rank */
    nb_data train = { 0 }, test = { 0 };
    nb_err err = { 0 };
    nb_status s =
        check ? synthetic(&train, &err) : nb_fashion_mnist_load(NULL, &train, &test, &err);
    if (s == NB_OK)
        s = nb_data_convert(&train, NB_F32, &err);
    if ((s = nb_comm_agree(MPI_COMM_WORLD, s, &err)) != NB_OK) {
        if (rank == 0)
            fprintf(stderr, "bench_mpi: %s\n", err.msg);
        MPI_Finalize();
        return 1;
    }
    if (rank == 0)
        printf("%-6s %-6s %5s %6s %9s %10s %12s %10s %10s\n", "model", "mode", "ranks", "batch",
               "step ms", "compute ms", "allreduce ms", "KB/step", "samples/s");
    int failed = 0;
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        const config *c = &configs[i];
        for (int weak = 0; weak < 2; weak++) {
            int rows = weak ? c->batch * size : c->batch, steps = check ? 3 : c->steps;
            size_t params;
            double step = time_steps(c, &train, rows, steps, &params, &err);
            double ar = size > 1 ? time_allreduce(params + 2, check ? 3 : 50) : 0;
            failed |= step < 0;
            if (rank == 0)
                printf("%-6s %-6s %5d %6d %9.3f %10.3f %12.3f %10.1f %10.0f\n", c->name,
                       weak ? "weak" : "strong", size, rows, 1e3 * step, 1e3 * (step - ar),
                       1e3 * ar, (double)(params + 2) * 4 / 1024, rows / step);
        }
    }
    if (failed && rank == 0)
        fprintf(stderr, "bench_mpi: %s\n", err.msg);
    nb_data_free(&train);
    nb_data_free(&test);
    MPI_Finalize();
    return failed;
}
