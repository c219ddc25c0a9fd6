/* team.c - the data-parallel workers' threads.  A job is announced by bumping a
 * generation counter; a waiting thread (worker or caller) spins on its
 * counter for a few tens of microseconds (a training step's gap between
 * jobs is microseconds), then sleeps on a condition variable, so that a
 * core another process needs is given back. */
#define _POSIX_C_SOURCE 200809L
#include "nn_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PAUSE() _mm_pause()
#else
#define PAUSE() ((void)0)
#endif

enum { MAX_TEAM = 64 };
#define SPIN_SECONDS 50e-6

typedef struct worker {
    team *t;
    int k;
} worker;

struct team {
    int n, started;
    team_fn fn;
    void *ctx;
    atomic_uint gen; /* bumped once per job */
    atomic_int done; /* threads 1..n-1 finished with this job */
    atomic_int sleepers;
    atomic_int caller_asleep;
    atomic_int quit;
    pthread_mutex_t lock;
    pthread_cond_t wake, finished;
    pthread_t th[MAX_TEAM];
    worker w[MAX_TEAM];
};

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 1 once threads 1..n-1 have finished the job, 0 after SPIN_SECONDS of
 * spinning without. */
static int spin_done(team *t)
{
    double until = seconds() + SPIN_SECONDS;

    for (int i = 1; atomic_load_explicit(&t->done, memory_order_acquire) < t->n - 1; i++) {
        PAUSE();
        if (i % 64 == 0 && seconds() > until)
            return 0;
    }
    return 1;
}

/* Waits until gen moves past seen; returns the new generation. */
static unsigned wait_job(team *t, unsigned seen)
{
    double until = seconds() + SPIN_SECONDS;
    unsigned g;

    for (int i = 1; (g = atomic_load_explicit(&t->gen, memory_order_acquire)) == seen; i++) {
        PAUSE();
        if (i % 64 == 0 && seconds() > until)
            break;
    }
    if (g != seen)
        return g;
    pthread_mutex_lock(&t->lock);
    atomic_fetch_add(&t->sleepers, 1);
    while ((g = atomic_load(&t->gen)) == seen)
        pthread_cond_wait(&t->wake, &t->lock);
    atomic_fetch_sub(&t->sleepers, 1);
    pthread_mutex_unlock(&t->lock);
    return g;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    team *t = w->t;
    unsigned seen = 0;

    for (;;) {
        seen = wait_job(t, seen);
        if (atomic_load_explicit(&t->quit, memory_order_acquire))
            return NULL;
        t->fn(t->ctx, w->k);
        /* the last one wakes a sleeping caller; the seq_cst pair is
         * announce()'s, the other way round */
        if (atomic_fetch_add(&t->done, 1) == t->n - 2 && atomic_load(&t->caller_asleep)) {
            pthread_mutex_lock(&t->lock);
            pthread_cond_signal(&t->finished);
            pthread_mutex_unlock(&t->lock);
        }
    }
}

/* Announces a job; sleeping threads are woken.  The seq_cst store and load
 * pair with a sleeper's increment and load under the lock: either it sees
 * the new generation, or this sees it asleep. */
static void announce(team *t)
{
    atomic_fetch_add(&t->gen, 1);
    if (atomic_load(&t->sleepers) > 0) {
        pthread_mutex_lock(&t->lock);
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->lock);
    }
}

/* The caller's wait for threads 1..n-1 to finish the job. */
static void wait_done(team *t)
{
    if (spin_done(t))
        return;
    pthread_mutex_lock(&t->lock);
    atomic_store(&t->caller_asleep, 1);
    while (atomic_load(&t->done) < t->n - 1)
        pthread_cond_wait(&t->finished, &t->lock);
    atomic_store(&t->caller_asleep, 0);
    pthread_mutex_unlock(&t->lock);
}

team *team_new(int n)
{
    if (n < 1 || n > MAX_TEAM)
        return NULL;
    team *t = nb__nn_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->n = n;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return NULL;
    }
    if (pthread_cond_init(&t->wake, NULL) != 0) {
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    if (pthread_cond_init(&t->finished, NULL) != 0) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    for (int k = 1; k < n; k++) {
        t->w[k] = (worker){ t, k };
        if (pthread_create(&t->th[k], NULL, worker_main, &t->w[k]) != 0) {
            team_free(t);
            return NULL;
        }
        t->started = k;
    }
    return t;
}

void team_run(team *t, team_fn fn, void *ctx)
{
    t->fn = fn;
    t->ctx = ctx;
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    if (t->n > 1)
        announce(t);
    fn(ctx, 0);
    if (t->n > 1)
        wait_done(t);
}

int team_size(const team *t) { return t ? t->n : 1; }

void team_free(team *t)
{
    if (!t)
        return;
    atomic_store(&t->quit, 1);
    announce(t);
    for (int k = 1; k <= t->started; k++)
        pthread_join(t->th[k], NULL);
    pthread_cond_destroy(&t->finished);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
