/* parallel.c - data-parallel training (nb_mlp_set_workers): the workers'
 * threads and replicas, the step that splits a batch's rows between them,
 * sums their gradients and updates the parameters in slices, and the
 * timings that choose between that and a step alone.  The threads
 * themselves are team.c's. */
#define _POSIX_C_SOURCE 200809L
#include "nabla_nn.h"
#include "nn_hooks.h"
#include "nn_internal.h"

#include <stdatomic.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

void nb__mlp_drop_workers(nb_mlp *m)
{
    team_free(m->team); /* first: its threads stop */
    /* the replicas made so far, up to the NULL after them: a failed
     * nb_mlp_set_workers has no team to count them */
    for (int k = 0; m->rep && m->rep[k]; k++)
        nb_mlp_free(m->rep[k]);
    free(m->rep);
    m->team = NULL;
    m->rep = NULL;
}

nb_status nb_mlp_set_workers(nb_mlp *m, int n, nb_err *err)
{
    if (!m || n < 1 || n > NB_MAX_WORKERS)
        return nb_err_set(err, NB_ERR_ARG, "mlp: workers: need 1 to %d, not %d", NB_MAX_WORKERS,
                          n);
    if (n == team_size(m->team))
        return NB_OK;
    nb__mlp_drop_workers(m);
    if (n == 1)
        return NB_OK;
    if (!(m->rep = nb__nn_calloc((size_t)n, sizeof *m->rep))) /* n - 1 and a NULL */
        return nb_err_set(err, NB_ERR_NOMEM, "mlp: workers: out of memory");
    for (int k = 1; k < n; k++)
        if (!(m->rep[k - 1] = nb__mlp_replica(m, err))) {
            nb__mlp_drop_workers(m);
            return err ? err->code : NB_ERR_NOMEM;
        }
    if (!(m->team = team_new(n))) {
        nb__mlp_drop_workers(m);
        return nb_err_set(err, NB_ERR_NOMEM, "mlp: workers: cannot start %d threads", n - 1);
    }
    /* the first step builds the parts' graphs: not timed */
    m->way = (nb__way){ .steps = -1, .wait = 1, .delay = 1 };
    return NB_OK;
}

int nb_mlp_workers(const nb_mlp *m) { return m ? team_size(m->team) : 1; }

/* ---- Data-parallel steps ---------------------------------------------------
 * Worker k takes rows [R k / n, R (k + 1) / n) of the batch: it gathers them
 * into its batch graph for that many rows (the model's own graph for k =
 * 0), runs forward, and backward seeded with rows_k / R, so that the parts'
 * gradients sum to the whole batch's mean.  Then each worker sums one slice
 * of every parameter's gradient into the model's and applies the
 * optimiser's update to that slice. */

typedef struct part {
    nb_mlp *m; /* the model (k = 0) or worker k's replica */
    const nb_batch_graph *bg;
    const size_t *idx;
    double weight; /* rows_k / R */
    double loss;
    nb_status s;
    nb_err err;
} part;

typedef struct dp_step {
    nb_mlp *m;
    nb_optimizer *o;
    const nb_data *data;
    int n;
    int sum_only; /* sum the gradients, leave the update to the caller */
    part parts[NB_MAX_WORKERS];
} dp_step;

static void dp_backward(void *ctx, int k)
{
    dp_step *d = ctx;
    part *p = &d->parts[k];
    nb_graph *g = p->m->g;

    p->s = nb_mlp_gather(p->m, p->bg, d->data, p->idx, &p->err);
    if (p->s != NB_OK)
        return;
    if ((p->s = nb_forward_backward(g, p->bg->loss, &p->weight, 0)) != NB_OK) {
        nb_err_set(&p->err, p->s, "mlp: worker %d: %s", k, nb_errmsg(g));
        return;
    }
    p->loss = nb_value_scalar(p->bg->loss);
}

/* dst[i] += src[i] over [lo, hi) */
#define SUM_KERNEL(NAME, T)                                                                    \
    static void NAME(T *restrict dst, const T *restrict src, size_t lo, size_t hi)             \
    {                                                                                          \
        for (size_t i = lo; i < hi; i++)                                                       \
            dst[i] += src[i];                                                                  \
    }
SUM_KERNEL(sum_f32, float)
SUM_KERNEL(sum_f64, double)

/* Worker k's slice of n elements: 16-element (64-byte) boundaries, so no
 * two workers write one cache line. */
static void slice(size_t n, int k, int parts, size_t *lo, size_t *hi)
{
    *lo = k == 0 ? 0 : (n * (size_t)k / (size_t)parts) & ~(size_t)15;
    *hi = k == parts - 1 ? n : (n * (size_t)(k + 1) / (size_t)parts) & ~(size_t)15;
}

/* Worker k sums its slice of every parameter's gradient into the model's,
 * then updates that slice, while it is in cache. */
static void dp_update(void *ctx, int k)
{
    dp_step *d = ctx;
    nb_graph *g = d->m->g;
    int f32 = nb_graph_dtype(g) == NB_F32;

    for (size_t i = 0; i < nb_param_count(g); i++) {
        nb_node *to = nb_param_at(g, i);
        size_t lo, hi;
        slice(nb_size(to), k, d->n, &lo, &hi);
        for (int j = 1; j < d->n && nb_grads(to); j++) {
            void *from = nb_grads(nb_param_at(d->parts[j].m->g, i));
            if (f32)
                sum_f32(nb_grads(to), from, lo, hi);
            else
                sum_f64(nb_grads(to), from, lo, hi);
        }
        if (!d->sum_only)
            nb__optimizer_update(d->o, i, lo, hi);
    }
}

/* The parts of bg's batch for n workers; NB_OK or the error. */
static nb_status dp_parts(nb_mlp *m, const nb_batch_graph *bg, const size_t *idx, dp_step *d,
                          nb_err *err)
{
    size_t rows = (size_t)bg->rows;

    for (int k = 0; k < d->n; k++) {
        size_t lo = rows * (size_t)k / (size_t)d->n, hi = rows * (size_t)(k + 1) / (size_t)d->n;
        nb_mlp *mk = k ? m->rep[k - 1] : m;
        const nb_batch_graph *hk = nb_mlp_batch_graph(mk, (int)(hi - lo), err);
        if (!hk)
            return err ? err->code : NB_ERR_NOMEM;
        d->parts[k] = (part){
            .m = mk, .bg = hk, .idx = idx + lo, .weight = (double)(hi - lo) / (double)rows
        };
    }
    return NB_OK;
}

/* One step on the workers; the parts' errors reach the caller. */
static nb_status dp_run(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                        const size_t *idx, nb_optimizer *o, double *loss, nb_err *err)
{
    dp_step d = { .m = m, .o = o, .data = data, .n = team_size(m->team) };
    nb_status s = dp_parts(m, bg, idx, &d, err);

    if (s != NB_OK)
        return s;
    team_run(m->team, dp_backward, &d);
    for (int k = 0; k < d.n && s == NB_OK; k++)
        if ((s = d.parts[k].s) != NB_OK && err)
            *err = d.parts[k].err;
    if (s != NB_OK)
        return s;
    team_run(m->team, dp_update, &d);
    nb__optimizer_count(o);
    if (loss) {
        *loss = 0;
        for (int k = 0; k < d.n; k++)
            *loss += d.parts[k].weight * d.parts[k].loss;
    }
    return NB_OK;
}

/* ---- On the workers or alone -----------------------------------------------
 * Workers gain where a step is big and the cores are free, and lose many
 * times over where another process holds a core: a step waits for its
 * slowest part, and a descheduled worker for a time slice.  So a model
 * with workers times its steps in windows of WINDOW steps, and runs each
 * window either on the workers or alone: as one worker would, on the
 * caller, the model's graph and the whole batch.  After `wait` windows of
 * the way in use, one window tries the other way, and the faster of the two
 * is kept.  A trial stops once it has taken twice the kept window, and each
 * trial lost doubles the wait (up to MAX_WAIT windows), so trying a much
 * slower way costs a few percent at most; a trial won sets the wait back
 * to 1, to confirm the new way soon. */
enum { WINDOW = 8, MAX_WAIT = 64 };

static atomic_int forced; /* nb__workers_force, for tests */

void nb__workers_force(int way) { atomic_store(&forced, way); }

static int on_workers(const nb__way *w)
{
    int f = atomic_load_explicit(&forced, memory_order_relaxed);
    return f == NB__WORKERS_TIMED ? !w->alone : f == NB__WORKERS_ALWAYS;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Counts a step that took `took` seconds; at the end of a window, or of a
 * trial already too slow, chooses the way of the next one. */
static void way_count(nb__way *w, double took)
{
    if (w->steps < 0) {
        w->steps = 0;
        return;
    }
    w->took += took;
    if (++w->steps < WINDOW && !(w->trial && w->took > 2 * w->kept))
        return;
    if (!w->trial) {
        w->kept = w->took;
        if (--w->wait <= 0) {
            w->trial = 1;
            w->alone = !w->alone;
        }
    } else {
        w->trial = 0;
        if (w->steps == WINDOW && w->took < w->kept) {
            w->delay = 1;
        } else {
            w->alone = !w->alone;
            w->delay = w->delay < MAX_WAIT ? 2 * w->delay : MAX_WAIT;
        }
        w->wait = w->delay;
    }
    w->steps = 0;
    w->took = 0;
}

nb_status nb__mlp_backward(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                           const size_t *idx, double weight, double *loss, nb_err *err)
{
    int n = team_size(m->team);
    if (n == 1 || bg->rows < n) {
        nb_status s = nb_mlp_gather(m, bg, data, idx, err);
        if (s == NB_OK && (s = nb_forward_backward(m->g, bg->loss, &weight, 0)) != NB_OK)
            return nb__mlp_fail(m, s, "backward", err);
        *loss = s == NB_OK ? nb_value_scalar(bg->loss) : NAN;
        return s;
    }
    dp_step d = { .m = m, .data = data, .n = n, .sum_only = 1 };
    nb_status s = dp_parts(m, bg, idx, &d, err);
    int threads;
    if (s != NB_OK ||
        (s = nb__blas_threads_enter(1, &threads, "mlp: train step", err)) != NB_OK)
        return s;
    for (int k = 0; k < n; k++)
        d.parts[k].weight *= weight;
    team_run(m->team, dp_backward, &d);
    for (int k = 0; k < n && s == NB_OK; k++)
        if ((s = d.parts[k].s) != NB_OK && err)
            *err = d.parts[k].err;
    if (s == NB_OK)
        team_run(m->team, dp_update, &d);
    nb__blas_threads_leave(threads);
    *loss = 0;
    for (int k = 0; k < n; k++)
        *loss += (double)d.parts[k].bg->rows / (double)bg->rows * d.parts[k].loss;
    return s;
}

nb_status nb_mlp_train_step(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                            const size_t *idx, nb_optimizer *o, double *loss, nb_err *err)
{
    if (!m || !bg || !data || !idx || !o)
        return nb_err_set(err, NB_ERR_ARG, "mlp: train step: NULL argument");
    if (m->comm) /* across processes: mpi.c */
        return m->comm->step(m, bg, data, idx, o, loss, err);
    int n = team_size(m->team);
    if (n == 1 || bg->rows < n) {
        nb_status s = nb_mlp_gather(m, bg, data, idx, err);
        return s != NB_OK ? s : nb_mlp_step(m, bg, o, loss, err);
    }
    if (nb__optimizer_graph(o) != m->g)
        return nb_err_set(err, NB_ERR_ARG, "mlp: train step: the optimiser is another graph's");
    int threads; /* one OpenBLAS thread per worker, and alone as on one worker */
    nb_status s = nb__blas_threads_enter(1, &threads, "mlp: train step", err);
    if (s != NB_OK)
        return s;
    double t0 = now();
    if (on_workers(&m->way))
        s = dp_run(m, bg, data, idx, o, loss, err);
    else if ((s = nb_mlp_gather(m, bg, data, idx, err)) == NB_OK)
        s = nb_mlp_step(m, bg, o, loss, err);
    if (s == NB_OK)
        way_count(&m->way, now() - t0);
    nb__blas_threads_leave(threads);
    return s;
}
