/* nn_internal.h - shared between the model layer's files (not installed):
 * the model's struct and the hooks its files call in one another. */
#ifndef NB_NN_INTERNAL_H
#define NB_NN_INTERNAL_H

#include "nabla_nn.h"
#include "team.h"

#define NB_MLP_MAX_BATCH_GRAPHS 16

/* parallel.c: whether a model's steps run on its workers or alone, and the
 * timings that choose (see parallel.c). */
typedef struct nb__way {
    int alone;       /* steps run as on one worker */
    int trial;       /* this window tries the other way */
    int steps;       /* timed in this window so far */
    int wait, delay; /* windows before the next trial; the wait after it */
    double took;     /* seconds this window's steps took so far */
    double kept;     /* seconds the last window of the way kept took */
} nb__way;

/* A model's link to other processes (mpi.c, built with MPI; nabla_mpi.h),
 * or NULL: the collectives the model layer needs, behind pointers so that
 * no file but mpi.c sees mpi.h.  Every one is collective over the ranks. */
typedef struct nb__comm nb__comm;
struct nb__comm {
    int rank, size;
    /* nb_mlp_train_step on idx, the global batch: this rank's shard, then
     * the gradients summed in one allreduce and the same update everywhere */
    nb_status (*step)(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                      const size_t *idx, nb_optimizer *o, double *loss, nb_err *err);
    /* v[0..n) summed over the ranks, in place */
    nb_status (*sum)(nb_mlp *m, double *v, int n, nb_err *err);
    /* every rank's s: NB_OK if all are, else the lowest failing rank's
     * error on every rank */
    nb_status (*agree)(nb_mlp *m, nb_status s, nb_err *err);
    /* NB_OK if every rank's parameters are the same bits */
    nb_status (*check)(nb_mlp *m, nb_err *err);
    void (*drop)(nb_mlp *m); /* free m->comm (not the communicator) */
};

/* A model (mlp.c).  Its data-parallel workers (parallel.c) each run a
 * replica: a model of its own graph whose parameters view this one's. */
struct nb_mlp {
    nb_mlp_opts opts;
    int *widths;  /* copy of opts.widths */
    int n_layers; /* n_widths - 1 */
    nb_graph *g;
    nb_node **W, **b; /* per layer */
    nb_node *penalty; /* l1 * sum|W| + l2 * sum W^2, or NULL */
    nb_batch_graph graphs[NB_MLP_MAX_BATCH_GRAPHS];
    int n_graphs;
    team *team;     /* data-parallel workers (nb_mlp_set_workers), or NULL */
    nb_mlp **rep;   /* rep[k - 1]: worker k's replica; a NULL after the last */
    nb__comm *comm; /* other processes (nb_mlp_set_comm), or NULL */
    nb__way way;    /* with workers: how steps run */
};

static inline int nb__mlp_inputs(const nb_mlp *m) { return m->widths[0]; }
static inline int nb__mlp_outputs(const nb_mlp *m) { return m->widths[m->n_layers]; }
/* 1 if the targets are class indices (one per row), 0 if rows of values */
static inline int nb__mlp_takes_labels(const nb_mlp *m)
{
    return m->opts.loss == NB_LOSS_XENT || m->opts.loss == NB_LOSS_HINGE;
}

/* mlp.c: worker k's replica of m; NULL on error.  A graph error from op
 * s, as "mlp: WHAT: the graph's message"; returns s. */
nb_mlp *nb__mlp_replica(nb_mlp *m, nb_err *err);
nb_status nb__mlp_fail(nb_mlp *m, nb_status s, const char *what, nb_err *err);

/* parallel.c: stop m's workers and free their replicas (nb_mlp_free). */
void nb__mlp_drop_workers(nb_mlp *m);
/* parallel.c: gather rows idx[0..bg->rows-1] and leave weight times their
 * mean loss's gradient in m's parameters, on m's workers if it has them;
 * *loss gets the mean loss.  No update: a step across processes sums the
 * ranks' gradients first. */
nb_status nb__mlp_backward(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                           const size_t *idx, double weight, double *loss, nb_err *err);

/* blas_threads.c: OpenBLAS's process-wide thread count, held by one thread
 * of the process at a time (nested holds by that thread are fine).  enter
 * takes the hold, puts the count in effect in *saved and sets it to n (if
 * n > 0); NB_ERR_ARG, naming who, if another thread holds it.  leave puts
 * saved back and, at the outermost level, lets go. */
nb_status nb__blas_threads_enter(int n, int *saved, const char *who, nb_err *err);
void nb__blas_threads_leave(int saved);

/* optimizer.c: the update in parts, for data-parallel steps: each worker
 * updates its slice [lo, hi) of parameter i (nb_param_at of the
 * optimiser's graph), Adam's with each parameter's step count plus one;
 * then nb__optimizer_count counts the step.  nb_optimizer_step is every
 * whole parameter, then the count. */
void nb__optimizer_update(nb_optimizer *o, size_t i, size_t lo, size_t hi);
void nb__optimizer_count(nb_optimizer *o);
nb_graph *nb__optimizer_graph(const nb_optimizer *o);

/* util.c: malloc, calloc, realloc and aligned_alloc for the whole model
 * layer (and for cJSON and zlib, through their hooks), so that the test
 * hook nb__nn_alloc_fail_after (nn_hooks.h) can make any one of its
 * allocations fail, as nb__alloc_fail_after does the engine's.  Freed
 * with free(). */
void *nb__nn_malloc(size_t n);
void *nb__nn_calloc(size_t n, size_t size);
void *nb__nn_realloc(void *p, size_t n);
void *nb__nn_aligned_alloc(size_t align, size_t n);

/* data.c: room for n rows of d features in the forms asked for (x, x32,
 * x8; not zeroed) and n zeroed targets; NB_ERR_NOMEM leaves data empty. */
#define NB__DATA_F64 1
#define NB__DATA_F32 2
#define NB__DATA_U8  4
nb_status nb__data_alloc(nb_data *data, size_t n, int d, int forms, nb_err *err);
/* Room for a data set's features, in 2 MB pages where Linux gives them for
 * large ones; NULL if there is none.  Freed with free(). */
void *nb__features_alloc(size_t bytes);

/* zread.c: a file, gzip-compressed or plain, read through zlib with the
 * allocator above.  open: NB_ERR_IO if it cannot be opened, NB_ERR_NOMEM.
 * read: up to n bytes into dst, *got short only where the data end; then
 * nb__zcut says why if they ended early (a cut or corrupt gzip stream,
 * zlib's message), NULL at a clean end.  Errors: NB_ERR_IO (a read
 * failed), NB_ERR_NOMEM.  Messages start with the path. */
typedef struct nb__zfile nb__zfile;
nb_status nb__zopen(const char *path, nb__zfile **f, nb_err *err);
nb_status nb__zread(nb__zfile *f, void *dst, size_t n, size_t *got, nb_err *err);
const char *nb__zcut(const nb__zfile *f);
/* The most bytes the whole file could give (a plain file's size, a gzip
 * file's times deflate's largest ratio); 0 if unknown (not a regular file). */
size_t nb__zbound(const nb__zfile *f);
void nb__zclose(nb__zfile *f);

/* json_valid.c: 1 if s[0..len) starts with one JSON value (RFC 8259, as
 * strict as cJSON, nested within its limit), checked without allocating:
 * if cJSON fails on such text, it ran out of memory. */
int nb__json_valid(const char *s, size_t len);

#endif /* NB_NN_INTERNAL_H */
