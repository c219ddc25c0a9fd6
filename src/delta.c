/* delta.c - incremental evaluation: f(root) after one leaf element
 * changes, recomputing only the elements that read it.
 *
 * The gradient check evaluates f twice per parameter element.  Replaying
 * the whole graph each time costs a full forward pass per element: on a
 * 784-50-10 network that is the 784 x 50 product, 39,760 times over.  But
 * a change in W1[p, q] reaches only column q of x W1, then column q of the
 * hidden layer, and so on.  So the changed elements of each node are
 * tracked as a sorted list: an op's spread (op table) maps each changed
 * input element to the output elements that read it, and its forward_at
 * recomputes just those.  When a list would cover more than half of a
 * node, or the op has no spread (WHOLE in ops.def), the node's ordinary
 * forward kernel recomputes all of it and every element counts as changed.
 *
 * Recomputed elements are computed from their inputs, as in a full
 * replay; only the order of a matrix product's sums may differ (a dot
 * product here, BLAS there), which moves f by rounding alone.  Every value
 * touched is saved first and put back afterwards, bit for bit, so each
 * evaluation starts from the state of the last full forward pass. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ALL      SIZE_MAX   /* count of a node that changed everywhere */
#define MAX_LIST (1u << 20) /* longer lists recompute the whole node */

struct nb__delta {
    nb_graph *g;
    nb_node *root;
    /* Per node id up to root's: the evaluation (epoch) in which the node
     * last changed, and its changed elements pool[first .. first + count),
     * or count ALL. */
    uint32_t epoch, *seen;
    size_t *first, *count;
    size_t *pool, n_pool, cap_pool;
    /* Undo: the nodes changed, in order, and their old values. */
    nb_node **log;
    size_t n_log, cap_log;
    char *saved;
    size_t n_saved, cap_saved;
};

nb__delta *nb__delta_new(nb_graph *g, nb_node *root)
{
    size_t n = (size_t)root->id + 1;
    nb__delta *d = nb__alloc_should_fail() ? NULL : calloc(1, sizeof *d);

    if (!d)
        return NULL;
    d->g = g;
    d->root = root;
    d->seen = nb__alloc_should_fail() ? NULL : calloc(n, sizeof *d->seen);
    d->first = nb__alloc_should_fail() ? NULL : malloc(n * sizeof *d->first);
    d->count = nb__alloc_should_fail() ? NULL : malloc(n * sizeof *d->count);
    if (!d->seen || !d->first || !d->count) {
        nb__delta_free(d);
        return NULL;
    }
    return d;
}

void nb__delta_free(nb__delta *d)
{
    if (!d)
        return;
    free(d->seen);
    free(d->first);
    free(d->count);
    free(d->pool);
    free(d->log);
    free(d->saved);
    free(d);
}

static int changed(const nb__delta *d, const nb_node *n) { return d->seen[n->id] == d->epoch; }

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* y's changed elements, from its changed inputs', appended to the pool
 * (or ALL).  0 when out of memory. */
static int spread(nb__delta *d, const nb_node *y)
{
    const nb__op_def *op = &nb__ops[y->op];
    size_t first = d->n_pool, cap = nb__size(y) / 2, calls = 0;

    cap = cap < MAX_LIST ? cap : MAX_LIST;
    d->first[y->id] = first;
    d->count[y->id] = ALL;
    if (!op->spread)
        return 1;
    size_t *pool = nb__grow(d->pool, &d->cap_pool, first + cap, sizeof *pool);
    if (!pool)
        return 0;
    d->pool = pool;
    for (int k = 0; k < y->n_in; k++) {
        const nb_node *x = y->in[k];
        if (!changed(d, x))
            continue;
        if (d->count[x->id] == ALL) {
            d->n_pool = first;
            return 1;
        }
        for (size_t j = 0; j < d->count[x->id]; j++, calls++) {
            size_t room = cap - (d->n_pool - first);
            size_t m = op->spread(y, k, pool[d->first[x->id] + j], pool + d->n_pool, room);
            if (m > room) {
                d->n_pool = first;
                return 1;
            }
            d->n_pool += m;
        }
    }
    size_t n = d->n_pool - first;
    if (calls > 1) { /* several lists: merge, drop repeats */
        qsort(pool + first, n, sizeof *pool, cmp_size);
        size_t u = 0;
        for (size_t j = 0; j < n; j++)
            if (u == 0 || pool[first + j] != pool[first + u - 1])
                pool[first + u++] = pool[first + j];
        n = u;
        d->n_pool = first + n;
    }
    d->count[y->id] = n;
    return 1;
}

/* Save the values of n about to change: all of them, or its list. */
static int save(nb__delta *d, nb_node *n)
{
    size_t elt = nb__elt(d->g), count = d->count[n->id];
    size_t bytes = (count == ALL ? nb__size(n) : count) * elt;
    nb_node **log = nb__grow(d->log, &d->cap_log, d->n_log + 1, sizeof *log);
    if (log)
        d->log = log;
    char *saved = log ? nb__grow(d->saved, &d->cap_saved, d->n_saved + bytes, 1) : NULL;
    if (!saved)
        return 0;
    d->saved = saved;
    d->log[d->n_log++] = n;
    if (count == ALL)
        memcpy(saved + d->n_saved, n->val, bytes);
    else
        for (size_t j = 0; j < count; j++)
            memcpy(saved + d->n_saved + j * elt,
                   (char *)n->val + d->pool[d->first[n->id] + j] * elt, elt);
    d->n_saved += bytes;
    return 1;
}

/* Put back every saved value. */
static void restore(nb__delta *d)
{
    size_t elt = nb__elt(d->g), at = 0;

    for (size_t i = 0; i < d->n_log; i++) {
        nb_node *n = d->log[i];
        size_t count = d->count[n->id];
        if (count == ALL) {
            memcpy(n->val, d->saved + at, nb__size(n) * elt);
            at += nb__size(n) * elt;
            continue;
        }
        for (size_t j = 0; j < count; j++, at += elt)
            memcpy((char *)n->val + d->pool[d->first[n->id] + j] * elt, d->saved + at, elt);
    }
    d->n_log = d->n_saved = d->n_pool = 0;
}

nb_status nb__delta_eval(nb__delta *d, nb_node *leaf, size_t i, double v, double *f)
{
    nb_graph *g = d->g;
    int ok = 1;

    if (++d->epoch == 0) { /* wrapped: forget every old mark */
        memset(d->seen, 0, ((size_t)d->root->id + 1) * sizeof *d->seen);
        d->epoch = 1;
    }
    size_t *pool = nb__grow(d->pool, &d->cap_pool, 1, sizeof *pool);
    if (!pool)
        return nb__report(g, NB_ERR_NOMEM, "gradcheck: out of memory");
    d->pool = pool;
    pool[0] = i;
    d->n_pool = 1;
    d->seen[leaf->id] = d->epoch;
    d->first[leaf->id] = 0;
    d->count[leaf->id] = 1;
    if (!save(d, leaf))
        return nb__report(g, NB_ERR_NOMEM, "gradcheck: out of memory");
    nb_set_at(leaf, i, v);
    /* the plan in topological order: what reads a changed node follows it */
    for (size_t k = 0; ok && k < g->plan.n; k++) {
        nb_node *y = g->plan.node[k];
        if (y->op == NB_OP_LEAF || !(changed(d, y->in[0]) || changed(d, y->in[y->n_in - 1])))
            continue;
        ok = spread(d, y);
        d->seen[y->id] = d->epoch;
        ok = ok && save(d, y);
        if (!ok)
            break;
        if (d->count[y->id] == ALL)
            nb__kernels[g->dtype][y->op].forward(y);
        else
            nb__kernels[g->dtype][y->op].forward_at(y, d->pool + d->first[y->id],
                                                    d->count[y->id]);
    }
    *f = nb_value_scalar(d->root);
    restore(d);
    if (!ok)
        return nb__report(g, NB_ERR_NOMEM, "gradcheck: out of memory");
    return isfinite(*f) ? NB_OK : NB_ERR_NONFINITE;
}
