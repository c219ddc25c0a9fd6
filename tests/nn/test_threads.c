/* test_threads.c - one trainer per process: OpenBLAS's thread count is
 * process-wide, so while one thread trains (nb_train, or a step on
 * workers), another thread's training is refused with an error that says
 * why, and the count is the caller's again once training returns, however
 * the trainers of two threads interleave. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "nabla_nn.h"
#include "nn_internal.h"

enum { N = 64, D = 8, CLASSES = 3, ROWS = 16, TRAININGS = 200 };

static void fill(nb_data *d)
{
    nb_rng r;
    nb_rng_seed(&r, 1);
    CHECK(nb_data_alloc(d, N, D, NULL) == NB_OK);
    for (size_t i = 0; i < (size_t)N * D; i++)
        d->x[i] = 2 * nb_rng_uniform(&r) - 1;
    for (size_t i = 0; i < N; i++)
        d->y[i] = (double)(i % CLASSES);
}

static nb_mlp *model(void)
{
    return nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ D, 6, CLASSES },
                                      .n_widths = 3,
                                      .act = NB_ACT_TANH,
                                      .loss = NB_LOSS_XENT,
                                      .seed = 2 },
                      NULL);
}

static const nb_train_opts train_opts = { .epochs = 2, .batch = ROWS, .lr = 0.1, .threads = 2 };

/* ---- Another thread holds the count: training here is refused ------------ */

typedef struct holder {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state; /* 0 start, 1 holding, 2 may let go, 3 done */
} holder;

static void set_state(holder *h, int state)
{
    pthread_mutex_lock(&h->lock);
    h->state = state;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

static void wait_state(holder *h, int state)
{
    pthread_mutex_lock(&h->lock);
    while (h->state != state)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

/* Holds the count (set to 1, as a trainer on workers sets it) until told to
 * let go. */
static void *hold(void *arg)
{
    holder *h = arg;
    int saved;
    if (nb__blas_threads_enter(1, &saved, "holder", NULL) != NB_OK)
        return NULL;
    set_state(h, 1);
    wait_state(h, 2);
    nb__blas_threads_leave(saved);
    set_state(h, 3);
    return NULL;
}

static void second_trainer_is_refused(void)
{
    nb_err err = { 0 };
    nb_data d;
    fill(&d);
    nb_mlp *a = model(), *b = model();
    nb_optimizer *o =
        nb_optimizer_new(nb_mlp_graph(b), &(nb_optimizer_opts){ .lr = 0.1 }, NULL);
    const nb_batch_graph *bg = nb_mlp_batch_graph(b, ROWS, NULL);
    size_t idx[ROWS];
    for (size_t i = 0; i < ROWS; i++)
        idx[i] = i;
    CHECK(a && b && o && bg && nb_mlp_set_workers(b, 2, NULL) == NB_OK);

    int before = nb_set_threads(2);
    holder h = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
    pthread_t th;
    CHECK(pthread_create(&th, NULL, hold, &h) == 0);
    wait_state(&h, 1);
    CHECK(nb_train(a, &d, NULL, &train_opts, NULL, &err) == NB_ERR_ARG);
    CHECK(strstr(err.msg, "train: another thread of this process is training") != NULL);
    CHECK(nb_mlp_train_step(b, bg, &d, idx, o, NULL, &err) == NB_ERR_ARG);
    CHECK(strstr(err.msg, "mlp: train step: another thread") != NULL);
    /* a step on one thread changes no count: it runs */
    CHECK(nb_mlp_set_workers(b, 1, NULL) == NB_OK);
    CHECK(nb_mlp_train_step(b, bg, &d, idx, o, NULL, &err) == NB_OK);
    CHECK(nb_mlp_workers(a) == 1);
    set_state(&h, 2);
    wait_state(&h, 3);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(nb_set_threads(0) == before);

    /* let go: training works again, and the count is put back */
    CHECK(nb_train(a, &d, NULL, &train_opts, NULL, &err) == NB_OK);
    CHECK(nb_mlp_set_workers(b, 2, NULL) == NB_OK);
    CHECK(nb_mlp_train_step(b, bg, &d, idx, o, NULL, &err) == NB_OK);
    CHECK(nb_set_threads(0) == before);
    nb_optimizer_free(o);
    nb_mlp_free(a);
    nb_mlp_free(b);
    nb_data_free(&d);
}

/* ---- Two threads training at once ----------------------------------------- */

typedef struct trainer {
    const nb_data *d;
    nb_mlp *m;
    int ok, refused, other; /* outcomes of TRAININGS calls */
} trainer;

static void *train_many(void *arg)
{
    trainer *t = arg;
    nb_train_opts to = train_opts;
    for (int i = 0; i < TRAININGS; i++) {
        nb_err err = { 0 };
        to.seed = (uint64_t)i;
        nb_status s = nb_train(t->m, t->d, NULL, &to, NULL, &err);
        if (s == NB_OK)
            t->ok++;
        else if (s == NB_ERR_ARG && strstr(err.msg, "another thread"))
            t->refused++;
        else
            t->other++;
    }
    return NULL;
}

/* Each training either runs or is refused, and afterwards the count is the
 * one set before: neither thread undid the other's.  The models are made,
 * trained once (which builds everything they allocate) and freed here, so
 * that the threads only replay graphs. */
static void two_trainers_leave_the_count(void)
{
    nb_data d;
    fill(&d);
    int before = nb_set_threads(2);
    trainer t[2] = { { .d = &d, .m = model() }, { .d = &d, .m = model() } };
    pthread_t th[2];
    int started[2];
    for (int k = 0; k < 2; k++)
        CHECK(t[k].m && nb_train(t[k].m, &d, NULL, &train_opts, NULL, NULL) == NB_OK);
    for (int k = 0; k < 2; k++)
        started[k] = t[k].m && pthread_create(&th[k], NULL, train_many, &t[k]) == 0;
    for (int k = 0; k < 2; k++)
        if (started[k])
            pthread_join(th[k], NULL);
    CHECK(started[0] && started[1]);
    for (int k = 0; k < 2; k++) {
        CHECK(t[k].ok + t[k].refused == TRAININGS);
        CHECK(t[k].other == 0);
        nb_mlp_free(t[k].m);
    }
    CHECK(t[0].ok + t[1].ok >= 1); /* the first to ask is never refused */
    CHECK(nb_set_threads(0) == before);
    nb_data_free(&d);
}

int main(void)
{
    second_trainer_is_refused();
    two_trainers_leave_the_count();
    nb_set_threads(1);
    return check_summary();
}
