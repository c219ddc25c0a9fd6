/* mpi_mlp.c - a training loop of one's own across processes: every rank
 * makes the same seeded data and model, gives the model MPI_COMM_WORLD, and
 * runs the same loop over the same global batches; nb_mlp_train_step takes
 * the rank's shard of each batch and sums the ranks' gradients.  Rank 0
 * prints.  Asserts test accuracy >= 0.9 and the same parameters on every
 * rank.
 *     mpirun -n 2 build/examples/mpi_mlp [STEPS]      (default 600 steps) */
#include <stdio.h>
#include <stdlib.h>

#include "nabla_mpi.h"

enum { N = 2000, D = 2, BATCH = 64 };

/* points in the square [-1, 1]^2; class 1 inside the circle of radius 0.6 */
static nb_status make_data(nb_data *d, uint64_t seed, nb_err *err)
{
    nb_rng r;
    nb_rng_seed(&r, seed);
    nb_status s = nb_data_alloc(d, N, D, err);
    for (size_t i = 0; s == NB_OK && i < N; i++) {
        double x = 2 * nb_rng_uniform(&r) - 1, y = 2 * nb_rng_uniform(&r) - 1;
        d->x[2 * i] = x;
        d->x[2 * i + 1] = y;
        d->y[i] = x * x + y * y < 0.36;
    }
    d->n_classes = 2;
    return s;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, steps = argc > 1 ? atoi(argv[1]) : 600;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);

    nb_err err = { 0 };
    nb_data train = { 0 }, test = { 0 };
    nb_batches b = { 0 };
    nb_optimizer *o = NULL;
    nb_mlp *m = NULL;
    nb_status s = make_data(&train, 1, &err);
    if (s == NB_OK)
        s = make_data(&test, 2, &err);
    if (s == NB_OK && !(m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ D, 32, 2 },
                                                       .n_widths = 3,
                                                       .act = NB_ACT_TANH,
                                                       .loss = NB_LOSS_XENT,
                                                       .seed = 3 },
                                       &err)))
        s = err.code;
    /* every rank agrees before the first collective call: none waits alone */
    if ((s = nb_comm_agree(MPI_COMM_WORLD, s, &err)) == NB_OK)
        s = nb_mlp_set_comm(m, MPI_COMM_WORLD, &err);
    if (s == NB_OK && !(o = nb_optimizer_new(
                            nb_mlp_graph(m),
                            &(nb_optimizer_opts){ .lr = 0.01, .method = NB_OPTIM_ADAM }, &err)))
        s = err.code;
    if (s == NB_OK)
        s = nb_batches_init(&b, N, BATCH, 1, 5, &err);
    for (int k = 0; s == NB_OK && k < steps; k++) {
        const size_t *idx;
        size_t rows = nb_batches_next(&b, &idx);
        if (rows == 0) { /* the end of an epoch */
            nb_batches_epoch(&b);
            rows = nb_batches_next(&b, &idx);
        }
        const nb_batch_graph *bg = nb_mlp_batch_graph(m, (int)rows, &err);
        double loss;
        s = bg ? nb_mlp_train_step(m, bg, &train, idx, o, &loss, &err) : err.code;
        if (s == NB_OK && rank == 0 && (k + 1) % 100 == 0)
            printf("step %4d  loss %.4f\n", k + 1, loss);
    }
    nb_eval ev = { 0 };
    if (s == NB_OK) /* collective: each rank evaluates its share of the rows */
        s = nb_mlp_evaluate(m, &test, &ev, &err);
    if (s == NB_OK)
        s = nb_mlp_check_replicas(m, NULL, &err);
    if (s == NB_OK && rank == 0)
        printf("test accuracy %.4f\n", ev.accuracy);
    if (s != NB_OK && rank == 0)
        fprintf(stderr, "mpi_mlp: %s\n", err.msg);

    nb_batches_free(&b);
    nb_optimizer_free(o);
    nb_mlp_free(m);
    nb_data_free(&train);
    nb_data_free(&test);
    MPI_Finalize();
    return s != NB_OK || ev.accuracy < 0.9;
}
