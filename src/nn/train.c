/* train.c - the training loop: mini-batch SGD or Adam over a data set with
 * seeded shuffling, periodic evaluation, progress lines (a live bar on a
 * terminal) and an optional loss-curve CSV. */
#define _POSIX_C_SOURCE 200809L
#include "nabla_nn.h"
#include "nn_internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct run {
    nb_mlp *m;
    const nb_data *train, *test;
    const nb_train_opts *o;
    nb_err *err;
    nb_optimizer *sgd;
    nb_batches batches;
    FILE *csv;
    int tty;        /* progress goes to a terminal: live bar */
    double seconds; /* in training steps so far */
    double last_bar;
} run;

static void bar(run *r, int epoch, size_t done, double loss)
{
    double t = now();
    if (!r->tty || t - r->last_bar < 0.1)
        return;
    r->last_bar = t;
    int w = 30, k = (int)((double)w * (double)done / (double)r->train->n);
    fprintf(r->o->progress, "\repoch %d/%d [", epoch, r->o->epochs);
    for (int i = 0; i < w; i++)
        fputc(i < k ? '#' : '.', r->o->progress);
    fprintf(r->o->progress, "] loss %.4f", loss);
    fflush(r->o->progress);
}

/* One pass over the training set; *loss gets the mean batch loss. */
static nb_status epoch(run *r, int e, double *loss)
{
    const size_t *idx;
    size_t rows, done = 0;
    double sum = 0;

    nb_batches_epoch(&r->batches);
    while ((rows = nb_batches_next(&r->batches, &idx)) > 0) {
        double t0 = now(), l;
        const nb_batch_graph *h = nb_mlp_batch_graph(r->m, (int)rows, r->err);
        if (!h)
            return r->err ? r->err->code : NB_ERR_ARG;
        nb_status s = nb_mlp_train_step(r->m, h, r->train, idx, r->sgd, &l, r->err);
        if (s != NB_OK)
            return s;
        r->seconds += now() - t0;
        sum += l * (double)rows;
        done += rows;
        bar(r, e, done, sum / (double)done);
    }
    *loss = sum / (double)done;
    return NB_OK;
}

/* A progress line when show is set; a CSV row and the on_epoch call every
 * epoch (the test figures empty or NaN when the test set was not evaluated). */
static void report(run *r, int e, int show, double loss, const nb_eval *ev)
{
    if (r->o->on_epoch) {
        int tested = ev && show;
        nb_epoch ep = { e, loss, tested ? ev->loss : NAN, tested ? ev->accuracy : NAN,
                        tested ? ev->r2 : NAN };
        r->o->on_epoch(r->o->on_epoch_arg, &ep);
    }
    FILE *f = r->o->progress;

    if (f && show) {
        fprintf(f, "%sepoch %*d/%d  loss %.6f", r->tty ? "\r\033[K" : "",
                e < 10    ? 1
                : e < 100 ? 2
                          : 3,
                e, r->o->epochs, loss);
        if (ev) {
            fprintf(f, "  test loss %.6f", ev->loss);
            if (!isnan(ev->accuracy))
                fprintf(f, "  test accuracy %.4f", ev->accuracy);
            if (!isnan(ev->r2))
                fprintf(f, "  test R2 %.4f", ev->r2);
        }
        fprintf(f, "  %.2f s\n", r->seconds);
        fflush(f);
    }
    if (!r->csv)
        return;
    fprintf(r->csv, "%d,%.9g,", e, loss);
    if (ev && show && !isnan(ev->accuracy))
        fprintf(r->csv, "%.9g,%.9g\n", ev->loss, ev->accuracy);
    else if (ev && show)
        fprintf(r->csv, "%.9g,\n", ev->loss);
    else
        fprintf(r->csv, ",\n");
}

static nb_status check(const run *r)
{
    const nb_train_opts *o = r->o;

    if (!r->m || !r->train || !o || r->train->n == 0)
        return nb_err_set(r->err, NB_ERR_ARG, "train: no model, options or training data");
    if (o->epochs < 1 || o->batch < 0 || o->eval_every < 0)
        return nb_err_set(r->err, NB_ERR_ARG, "train: need epochs >= 1, batch >= 0");
    if (r->test && r->test->n == 0)
        return nb_err_set(r->err, NB_ERR_ARG, "train: the test set is empty");
    return NB_OK;
}

static nb_status loop(run *r, nb_train_result *res)
{
    const nb_train_opts *o = r->o;
    int every = o->eval_every > 0 ? o->eval_every : 1;
    double loss = NAN;
    nb_eval ev = { NAN, NAN, NAN };

    for (int e = 1; e <= o->epochs; e++) {
        nb_status s = epoch(r, e, &loss);
        if (s == NB_OK && r->m->comm) /* the replicas are still the same bits */
            s = r->m->comm->check(r->m, r->err);
        if (s != NB_OK)
            return s;
        int show = e % every == 0 || e == o->epochs;
        if (show && r->test && (s = nb_mlp_evaluate(r->m, r->test, &ev, r->err)) != NB_OK)
            return s;
        report(r, e, show, loss, r->test ? &ev : NULL);
    }
    if (res) {
        *res = (nb_train_result){
            .epochs = o->epochs,
            .train_loss = loss,
            .test_loss = ev.loss,
            .test_accuracy = ev.accuracy,
            .test_r2 = ev.r2,
            .seconds = r->seconds,
            .samples_per_second = (double)o->epochs * (double)r->train->n / r->seconds,
        };
    }
    return NB_OK;
}

/* How a step uses its threads.  OpenBLAS splits every product above 2^18
 * multiply-adds across its threads (GEMM_MULTITHREAD_THRESHOLD, fixed when
 * it is built), but a product of a few million gains little from the
 * split, and between products its idle worker spins in sched_yield(): a
 * small model such as Fashion-MNIST's 784-50-10 trains slower on 2
 * OpenBLAS threads than on 1.  Data-parallel workers (nb_mlp_set_workers),
 * each with its own rows and one OpenBLAS thread, gain on small and large
 * models alike on a quiet machine, and small steps gain little while a
 * busy core costs them much (the figures are in benchmarks/README.md).
 * So: workers when each gets WORKER_MADDS multiply-adds of the step and
 * MIN_ROWS rows; else OpenBLAS's threads for products of 2^24 and more;
 * else one thread. */
#define WORKER_MADDS  (1 << 22)
#define MIN_ROWS      16
#define SMALL_PRODUCT (1 << 24)

typedef struct plan {
    int blas, workers;
} plan;

static plan train_plan(const nb_mlp *m, size_t batch, int asked)
{
    const nb_mlp_opts *o = nb_mlp_options(m);
    int threads = asked > 0 ? asked : nb_set_threads(0);
    int n = threads < NB_MAX_WORKERS ? threads : NB_MAX_WORKERS;
    double most = 0, step = 0;

    for (int l = 0; l + 1 < o->n_widths; l++) {
        double p = (double)batch * o->widths[l] * o->widths[l + 1];
        most = fmax(most, p);
        step += p;
    }
    if (n > 1 && step >= (double)n * WORKER_MADDS && batch >= (size_t)n * MIN_ROWS)
        return (plan){ 1, n };
    return (plan){ most < SMALL_PRODUCT ? 1 : threads, 1 };
}

/* Across processes every rank must have rows to work on in every step. */
static nb_status check_ranks(const nb_mlp *m, size_t n, size_t batch, nb_err *err)
{
    size_t ranks = m->comm ? (size_t)m->comm->size : 1, last = n % batch;
    size_t least = last && last < batch ? last : batch;
    if (least >= ranks)
        return NB_OK;
    return nb_err_set(err, NB_ERR_ARG,
                      "train: a batch of %zu rows cannot be split over %zu processes%s: "
                      "use a batch of at least %zu rows (and a training set whose last "
                      "batch has as many) or fewer processes",
                      least, ranks, least < batch ? " (the epoch's last batch)" : "", ranks);
}

nb_status nb_train(nb_mlp *m, const nb_data *train, const nb_data *test,
                   const nb_train_opts *opts, nb_train_result *res, nb_err *err)
{
    run r = { .m = m, .train = train, .test = test, .o = opts, .err = err };
    nb_status s = check(&r);

    if (s != NB_OK)
        return s;
    size_t batch = opts->batch > 0 ? (size_t)opts->batch : train->n;
    if ((s = check_ranks(m, train->n, batch, err)) != NB_OK)
        return s;
    nb_train_opts mine = *opts; /* rank 0 speaks for a job across processes */
    if (m->comm && m->comm->rank != 0) {
        mine.progress = NULL;
        mine.loss_csv = NULL;
        r.o = opts = &mine;
    }
    nb_optimizer_opts so = { .lr = opts->lr,
                             .momentum = opts->momentum,
                             .weight_decay = opts->weight_decay,
                             .method = opts->method,
                             .beta1 = opts->beta1,
                             .beta2 = opts->beta2,
                             .eps = opts->eps };
    /* no live bar in a job: OpenMPI gives every rank a pseudo-terminal,
     * wherever mpirun's own output goes */
    r.tty = opts->progress && isatty(fileno(opts->progress)) && !m->comm;
    if (!(r.sgd = nb_optimizer_new(nb_mlp_graph(m), &so, err)))
        s = err ? err->code : NB_ERR_ARG;
    if (s == NB_OK)
        s = nb_batches_init(&r.batches, train->n, batch, !opts->no_shuffle, opts->seed, err);
    if (s == NB_OK && opts->loss_csv) {
        errno = 0;
        if (!(r.csv = fopen(opts->loss_csv, "w")))
            s = nb_err_set(err, NB_ERR_IO, "train: cannot write %s: %s", opts->loss_csv,
                           strerror(errno));
        else
            fprintf(r.csv, "epoch,train_loss,test_loss,test_accuracy\n");
    }
    int threads, entered = 0, workers = nb_mlp_workers(m);
    plan p = train_plan(m, batch / (size_t)(m->comm ? m->comm->size : 1), opts->threads);
    if (s == NB_OK && (s = nb__blas_threads_enter(p.blas, &threads, "train", err)) == NB_OK) {
        entered = 1;
        s = nb_mlp_set_workers(m, p.workers, err);
    }
    if (m->comm) /* one rank's failure to set up stops them all */
        s = m->comm->agree(m, s, err);
    if (s == NB_OK)
        s = loop(&r, res);
    if (entered) {
        nb_mlp_set_workers(m, workers, NULL);
        nb__blas_threads_leave(threads);
    }
    if (r.csv && fclose(r.csv) != 0 && s == NB_OK)
        s = nb_err_set(err, NB_ERR_IO, "train: writing %s failed", opts->loss_csv);
    nb_batches_free(&r.batches);
    nb_optimizer_free(r.sgd);
    return s;
}
