/* test_mpi.c - training across processes (nabla_mpi.h), run by mpirun with
 * 1, 2 and 4 ranks: nb_train and a hand-written loop of nb_mlp_train_step
 * equal single-process training on the same batches within 1e-10 (f64),
 * with the replicas' checksums the same; evaluation split and reduced; one
 * rank's bad labels or non-finite loss stop every rank with its message;
 * batches smaller than the job refused; save on rank 0, resume by
 * broadcast; nb_comm_agree. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nabla_mpi.h"

enum { N = 250, D = 6, CLASSES = 3, BATCH = 24 };

static int rank, size;

static void fill(nb_data *d, uint64_t seed)
{
    nb_rng r;
    nb_rng_seed(&r, seed);
    CHECK(nb_data_alloc(d, N, D, NULL) == NB_OK);
    for (size_t i = 0; i < (size_t)N * D; i++)
        d->x[i] = 2 * nb_rng_uniform(&r) - 1;
    for (size_t i = 0; i < N; i++) /* a learnable rule, with some noise */
        d->y[i] = d->x[i * D] + d->x[i * D + 1] > 0.3 ? 2 : d->x[i * D + 2] > 0 ? 1 : 0;
    d->n_classes = CLASSES;
}

static nb_mlp *model(nb_dtype dt)
{
    return nb_mlp_new(&(nb_mlp_opts){ .dtype = dt,
                                      .widths = (int[]){ D, 16, 8, CLASSES },
                                      .n_widths = 4,
                                      .act = NB_ACT_TANH,
                                      .loss = NB_LOSS_XENT,
                                      .seed = 7,
                                      .l2 = 1e-4 },
                      NULL);
}

/* max |a - b| over a parameter's elements, relative to max |b|: the
 * largest over the parameters */
static double params_differ(nb_mlp *a, nb_mlp *b)
{
    nb_graph *ga = nb_mlp_graph(a), *gb = nb_mlp_graph(b);
    double worst = 0;
    for (size_t i = 0; i < nb_param_count(ga); i++) {
        nb_node *p = nb_param_at(ga, i), *q = nb_param_at(gb, i);
        double diff = 0, big = 0;
        for (size_t j = 0; j < nb_size(p); j++) {
            diff = fmax(diff, fabs(nb_value_at(p, j) - nb_value_at(q, j)));
            big = fmax(big, fabs(nb_value_at(q, j)));
        }
        worst = fmax(worst, big > 0 ? diff / big : diff);
    }
    return worst;
}

static nb_train_opts train_opts(int threads)
{
    return (nb_train_opts){
        .epochs = 6, .batch = BATCH, .lr = 0.2, .momentum = 0.9, .seed = 3, .threads = threads
    };
}

/* nb_train across the ranks equals nb_train alone on the same batches. */
static void train_matches_one_process(nb_dtype dt, int threads, double tol)
{
    nb_data train = { 0 }, test = { 0 };
    fill(&train, 1);
    fill(&test, 2);
    nb_mlp *alone = model(dt), *job = model(dt);
    nb_err err = { 0 };
    nb_train_opts o = train_opts(threads);
    nb_train_result ra, rj;

    CHECK(nb_train(alone, &train, &test, &o, &ra, &err) == NB_OK);
    CHECK(nb_mlp_set_comm(job, MPI_COMM_WORLD, &err) == NB_OK);
    CHECK(nb_train(job, &train, &test, &o, &rj, &err) == NB_OK);
    double d = params_differ(job, alone);
    if (rank == 0)
        printf("%s, %d threads: parameters within %.3g of one process (relative)\n",
               dt == NB_F64 ? "f64" : "f32", threads, d);
    CHECK(d <= tol);
    CHECK_NEAR(rj.train_loss, ra.train_loss, tol * 10);
    CHECK_NEAR(rj.test_loss, ra.test_loss, tol * 10);
    CHECK_NEAR(rj.test_accuracy, ra.test_accuracy, 1e-12);

    /* the checksum of every rank's parameters is the same */
    uint64_t h = 0, lo, hi;
    CHECK(nb_mlp_check_replicas(job, &h, &err) == NB_OK);
    MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    CHECK(lo == hi);

    /* evaluation split across the ranks equals evaluation alone */
    nb_eval ea, ej;
    CHECK(nb_mlp_evaluate(job, &test, &ej, &err) == NB_OK);
    CHECK(nb_mlp_set_comm(job, MPI_COMM_NULL, &err) == NB_OK);
    CHECK(nb_mlp_evaluate(job, &test, &ea, &err) == NB_OK);
    CHECK_NEAR(ej.loss, ea.loss, tol * 1e-2 * fmax(1, ea.loss));
    CHECK_NEAR(ej.accuracy, ea.accuracy, 1e-15);
    nb_mlp_free(alone);
    nb_mlp_free(job);
    nb_data_free(&train);
    nb_data_free(&test);
}

/* A user's own loop of nb_mlp_train_step: the same as alone. */
static void own_loop_matches_one_process(void)
{
    nb_data train = { 0 };
    fill(&train, 4);
    nb_mlp *alone = model(NB_F64), *job = model(NB_F64);
    nb_err err = { 0 };
    nb_optimizer_opts so = { .lr = 0.01, .method = NB_OPTIM_ADAM };
    nb_optimizer *oa = nb_optimizer_new(nb_mlp_graph(alone), &so, &err);
    nb_optimizer *oj = nb_optimizer_new(nb_mlp_graph(job), &so, &err);
    nb_batches b;

    CHECK(nb_mlp_set_comm(job, MPI_COMM_WORLD, &err) == NB_OK);
    CHECK(nb_mlp_set_workers(job, 2, &err) == NB_OK); /* threads inside each rank */
    CHECK(nb_batches_init(&b, train.n, 20, 1, 9, &err) == NB_OK);
    for (int e = 0; e < 3; e++) {
        const size_t *idx;
        size_t rows;
        nb_batches_epoch(&b);
        while ((rows = nb_batches_next(&b, &idx)) > 0) {
            const nb_batch_graph *bg = nb_mlp_batch_graph(alone, (int)rows, &err);
            const nb_batch_graph *bj = nb_mlp_batch_graph(job, (int)rows, &err);
            double la, lj;
            CHECK(nb_mlp_train_step(alone, bg, &train, idx, oa, &la, &err) == NB_OK);
            CHECK(nb_mlp_train_step(job, bj, &train, idx, oj, &lj, &err) == NB_OK);
            CHECK_NEAR(lj, la, 1e-12);
        }
    }
    CHECK(params_differ(job, alone) <= 1e-10);
    CHECK(nb_mlp_check_replicas(job, NULL, &err) == NB_OK);
    nb_batches_free(&b);
    nb_optimizer_free(oa);
    nb_optimizer_free(oj);
    nb_mlp_free(alone);
    nb_mlp_free(job);
    nb_data_free(&train);
}

/* Bad data on the last rank only stops every rank with its message. */
static void one_rank_failure_stops_all(int nonfinite)
{
    nb_data train = { 0 };
    fill(&train, 1);
    int bad = size - 1;
    if (rank == bad && nonfinite)
        for (size_t i = 0; i < (size_t)N * D; i++)
            train.x[i] = NAN; /* a corrupt file, say */
    else if (rank == bad)
        for (size_t i = 0; i < N; i++)
            train.y[i] = 7; /* a class the model does not have */
    nb_mlp *job = model(NB_F64);
    nb_err err = { 0 };
    nb_train_opts o = train_opts(1);
    CHECK(nb_mlp_set_comm(job, MPI_COMM_WORLD, &err) == NB_OK);
    nb_status s = nb_train(job, &train, NULL, &o, NULL, &err);
    CHECK(s == (nonfinite ? NB_ERR_NONFINITE : NB_ERR_ARG));
    char want[32];
    snprintf(want, sizeof want, "rank %d: ", bad);
    CHECK(size == 1 || strncmp(err.msg, want, strlen(want)) == 0);
    if (rank == 0)
        printf("failure on rank %d: %s\n", bad, err.msg);
    /* every rank got the same message */
    char first[sizeof err.msg];
    memcpy(first, err.msg, sizeof first);
    MPI_Bcast(first, (int)sizeof first, MPI_CHAR, 0, MPI_COMM_WORLD);
    CHECK(strcmp(first, err.msg) == 0);
    /* the job goes on after a failure: the model still trains on good data */
    nb_mlp_free(job);
    nb_data_free(&train);
}

static void batch_smaller_than_job_refused(void)
{
    nb_data train = { 0 };
    fill(&train, 1);
    nb_mlp *job = model(NB_F64);
    nb_err err = { 0 };
    nb_train_opts o = train_opts(1);
    CHECK(nb_mlp_set_comm(job, MPI_COMM_WORLD, &err) == NB_OK);
    o.batch = size - 1;
    if (size > 1) {
        CHECK(nb_train(job, &train, NULL, &o, NULL, &err) == NB_ERR_ARG);
        CHECK(strstr(err.msg, "cannot be split over") != NULL);
        o.batch = N - 1; /* the epoch's last batch has one row */
        CHECK(nb_train(job, &train, NULL, &o, NULL, &err) == NB_ERR_ARG);
        CHECK(strstr(err.msg, "the epoch's last") != NULL);
    }
    nb_mlp_free(job);
    nb_data_free(&train);
}

/* Rank 0 saves; rank 0 opens and broadcasts; the replicas match. */
static void save_on_rank0_resume_by_broadcast(const char *dir)
{
    nb_data train = { 0 };
    fill(&train, 1);
    nb_mlp *job = model(NB_F64);
    nb_err err = { 0 };
    nb_train_opts o = train_opts(1);
    char path[512];
    snprintf(path, sizeof path, "%s/mpi_%d.safetensors", dir, size);
    CHECK(nb_mlp_set_comm(job, MPI_COMM_WORLD, &err) == NB_OK);
    CHECK(nb_train(job, &train, NULL, &o, NULL, &err) == NB_OK);
    nb_status s = rank == 0 ? nb_mlp_save(job, path, NULL, 0, &err) : NB_OK;
    CHECK(nb_comm_agree(MPI_COMM_WORLD, s, &err) == NB_OK);

    nb_mlp *opened = rank == 0 ? nb_mlp_open(path, NULL, &err) : NULL;
    nb_mlp *copy = nb_mlp_bcast(opened, 0, MPI_COMM_WORLD, &err);
    CHECK(copy != NULL);
    if (copy) {
        CHECK(params_differ(copy, job) == 0);
        CHECK(nb_mlp_set_comm(copy, MPI_COMM_WORLD, &err) == NB_OK);
        CHECK(nb_mlp_check_replicas(copy, NULL, &err) == NB_OK);
    }
    nb_mlp_free(copy);

    /* a missing checkpoint on rank 0 is every rank's error */
    nb_mlp *none = rank == 0 ? nb_mlp_open("/nonexistent/x.safetensors", NULL, &err) : NULL;
    s = rank == 0 && !none ? err.code : NB_OK;
    CHECK(nb_comm_agree(MPI_COMM_WORLD, s, &err) == NB_ERR_IO);
    CHECK(size == 1 || strncmp(err.msg, "rank 0: ", 8) == 0);
    if (rank == 0)
        remove(path);
    nb_mlp_free(job);
    nb_data_free(&train);
}

/* A rank that changes its parameters is caught by the checksum. */
static void diverged_replicas_detected(void)
{
    nb_mlp *job = model(NB_F64);
    nb_err err = { 0 };
    CHECK(nb_mlp_set_comm(job, MPI_COMM_WORLD, &err) == NB_OK);
    if (rank == size - 1)
        nb_set_at(nb_mlp_param(job, "b1"), 0, 0.5);
    nb_status s = nb_mlp_check_replicas(job, NULL, &err);
    CHECK(size == 1 ? s == NB_OK : s == NB_ERR_ARG);
    nb_mlp_free(job);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *dir = argc > 1 ? argv[1] : ".";

    train_matches_one_process(NB_F64, 1, 1e-10);
    train_matches_one_process(NB_F64, 2, 1e-10);
    train_matches_one_process(NB_F32, 1, 1e-4);
    own_loop_matches_one_process();
    one_rank_failure_stops_all(0);
    one_rank_failure_stops_all(1);
    batch_smaller_than_job_refused();
    save_on_rank0_resume_by_broadcast(dir);
    diverged_replicas_detected();

    /* every rank passed: the job's verdict on rank 0's line */
    int failed = check_failed, any;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank != 0)
        check_passed = 0; /* one summary line, rank 0's */
    check_failed = any;
    MPI_Finalize();
    return rank == 0 ? check_summary() : any != 0;
}
