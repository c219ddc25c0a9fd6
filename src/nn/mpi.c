/* mpi.c - training across processes with MPI (nabla_mpi.h): a model's
 * communicator, the step that sums the ranks' gradients in one allreduce,
 * agreement on failures, parameter broadcast and replica checksums.  The
 * rest of the model layer reaches this file through nb__comm only. */
#include "nabla_mpi.h"
#include "nabla_nn.h"
#include "nn_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct mpi_link {
    nb__comm base; /* first: m->comm points here */
    MPI_Comm comm;
    size_t n;    /* gradient elements of all parameters */
    void *fused; /* n gradients, the weighted loss, the failure count */
} mpi_link;

static mpi_link *link_of(nb_mlp *m) { return (mpi_link *)m->comm; }

nb_status nb_comm_agree(MPI_Comm comm, nb_status s, nb_err *err)
{
    int rank, size, mine, first;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    mine = s != NB_OK ? rank : INT_MAX;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == INT_MAX)
        return NB_OK;
    nb_err e = { s, "" };
    if (rank == first && err && err->code == s)
        e = *err;
    else if (rank == first)
        snprintf(e.msg, sizeof e.msg, "%s", nb_status_str(s));
    MPI_Bcast(&e, (int)sizeof e, MPI_BYTE, first, comm);
    if (size == 1)
        return err ? (*err = e).code : e.code;
    return nb_err_set(err, e.code, "rank %d: %s", first, e.msg);
}

/* Parameters' values (or gradients) into buf, or back: nb_param_at order. */
static void copy_params(nb_graph *g, void *buf, int grads, int out)
{
    size_t at = 0, esize = nb_graph_dtype(g) == NB_F32 ? sizeof(float) : sizeof(double);
    char *b = buf;

    for (size_t i = 0; i < nb_param_count(g); i++) {
        nb_node *p = nb_param_at(g, i);
        size_t bytes = nb_size(p) * esize;
        if (out && grads)
            memcpy(nb_grads(p), b + at, bytes);
        else if (out)
            nb_write(p, b + at, nb_graph_dtype(g));
        else if (grads && nb_grads(p))
            nb_read_grad(p, b + at, nb_graph_dtype(g));
        else if (grads)
            memset(b + at, 0, bytes);
        else
            nb_read(p, b + at, nb_graph_dtype(g));
        at += bytes;
    }
}

static MPI_Datatype mpi_type(nb_mlp *m)
{
    return nb_graph_dtype(m->g) == NB_F32 ? MPI_FLOAT : MPI_DOUBLE;
}

/* slot i of the fused buffer as a double, and back */
static double fused_get(nb_mlp *m, size_t i)
{
    mpi_link *l = link_of(m);
    return nb_graph_dtype(m->g) == NB_F32 ? ((float *)l->fused)[i] : ((double *)l->fused)[i];
}

static void fused_set(nb_mlp *m, size_t i, double v)
{
    mpi_link *l = link_of(m);
    if (nb_graph_dtype(m->g) == NB_F32)
        ((float *)l->fused)[i] = (float)v;
    else
        ((double *)l->fused)[i] = v;
}

/* This rank's shard of the global batch, forward and backward weighted by
 * the shard's rows / R; then one allreduce of gradients, loss and failure
 * count.  A failed rank still joins the allreduce (with zeros), so the
 * others learn of it there and agree on its message instead of waiting. */
static nb_status mpi_step(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                          const size_t *idx, nb_optimizer *o, double *loss, nb_err *err)
{
    mpi_link *l = link_of(m);
    size_t rows = (size_t)bg->rows, ranks = (size_t)l->base.size, r = (size_t)l->base.rank;

    if (rows < ranks)
        return nb_err_set(err, NB_ERR_ARG,
                          "mlp: a batch of %zu rows cannot be split over %zu processes: "
                          "use a batch of at least %zu rows or fewer processes",
                          rows, ranks, ranks);
    if (nb__optimizer_graph(o) != m->g)
        return nb_err_set(err, NB_ERR_ARG, "mlp: train step: the optimiser is another graph's");
    size_t lo = rows * r / ranks, hi = rows * (r + 1) / ranks;
    double weight = (double)(hi - lo) / (double)rows, part = 0;
    nb_err mine = { 0 };
    const nb_batch_graph *h = nb_mlp_batch_graph(m, (int)(hi - lo), &mine);
    nb_status s = h ? nb__mlp_backward(m, h, data, idx + lo, weight, &part, &mine) : mine.code;

    copy_params(m->g, l->fused, 1, 0);
    fused_set(m, l->n, s == NB_OK ? weight * part : 0);
    fused_set(m, l->n + 1, s != NB_OK);
    MPI_Allreduce(MPI_IN_PLACE, l->fused, (int)(l->n + 2), mpi_type(m), MPI_SUM, l->comm);
    if (fused_get(m, l->n + 1) != 0) {
        s = nb_comm_agree(l->comm, s, &mine);
        if (err)
            *err = mine;
        return s;
    }
    copy_params(m->g, l->fused, 1, 1);
    if (loss)
        *loss = fused_get(m, l->n);
    return nb_optimizer_step(o);
}

static nb_status mpi_sum(nb_mlp *m, double *v, int n, nb_err *err)
{
    (void)err;
    MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, link_of(m)->comm);
    return NB_OK;
}

static nb_status mpi_agree(nb_mlp *m, nb_status s, nb_err *err)
{
    return nb_comm_agree(link_of(m)->comm, s, err);
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211u;
    return h;
}

nb_status nb_mlp_check_replicas(nb_mlp *m, uint64_t *hash, nb_err *err)
{
    if (!m || !m->comm)
        return nb_err_set(err, NB_ERR_ARG, "mlp: check replicas: no communicator");
    mpi_link *l = link_of(m);
    size_t esize = nb_graph_dtype(m->g) == NB_F32 ? sizeof(float) : sizeof(double);
    copy_params(m->g, l->fused, 0, 0); /* the buffer is free between steps */
    uint64_t h = fnv1a(l->fused, l->n * esize), lo, hi;
    MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, l->comm);
    MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, l->comm);
    if (hash)
        *hash = h;
    if (lo != hi)
        return nb_err_set(err, NB_ERR_ARG,
                          "mlp: the replicas' parameters differ between ranks "
                          "(hashes %016llx to %016llx)",
                          (unsigned long long)lo, (unsigned long long)hi);
    return NB_OK;
}

static nb_status mpi_check(nb_mlp *m, nb_err *err)
{
    return nb_mlp_check_replicas(m, NULL, err);
}

static void mpi_drop(nb_mlp *m)
{
    free(link_of(m)->fused);
    free(m->comm);
    m->comm = NULL;
}

static size_t param_elems(const nb_graph *g)
{
    size_t n = 0;
    for (size_t i = 0; i < nb_param_count(g); i++)
        n += nb_size(nb_param_at(g, i));
    return n;
}

/* Rank 0's parameters to every rank of l->comm, through the fused buffer. */
static void bcast_params(nb_mlp *m, int root)
{
    mpi_link *l = link_of(m);
    copy_params(m->g, l->fused, 0, 0);
    MPI_Bcast(l->fused, (int)l->n, mpi_type(m), root, l->comm);
    copy_params(m->g, l->fused, 0, 1);
}

nb_status nb_mlp_set_comm(nb_mlp *m, MPI_Comm comm, nb_err *err)
{
    if (!m)
        return nb_err_set(err, NB_ERR_ARG, "mlp: set comm: no model");
    if (m->comm)
        m->comm->drop(m);
    if (comm == MPI_COMM_NULL)
        return NB_OK;
    /* the same element count and dtype on every rank, or no ranks train */
    long mine[2] = { (long)param_elems(m->g), (long)nb_graph_dtype(m->g) }, lo[2], hi[2];
    MPI_Allreduce(mine, lo, 2, MPI_LONG, MPI_MIN, comm);
    MPI_Allreduce(mine, hi, 2, MPI_LONG, MPI_MAX, comm);
    nb_status s = NB_OK;
    if (lo[0] != hi[0] || lo[1] != hi[1])
        return nb_err_set(err, NB_ERR_SHAPE,
                          "mlp: set comm: the ranks' models differ (%ld to %ld parameters)",
                          lo[0], hi[0]);
    mpi_link *l = nb__nn_calloc(1, sizeof *l);
    size_t esize = nb_graph_dtype(m->g) == NB_F32 ? sizeof(float) : sizeof(double);
    if (!l || !(l->fused = nb__nn_malloc(((size_t)mine[0] + 2) * esize)))
        s = nb_err_set(err, NB_ERR_NOMEM, "mlp: set comm: out of memory");
    if ((s = nb_comm_agree(comm, s, err)) != NB_OK) {
        if (l)
            free(l->fused);
        free(l);
        return s;
    }
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    l->base = (nb__comm){ .rank = rank,
                          .size = size,
                          .step = mpi_step,
                          .sum = mpi_sum,
                          .agree = mpi_agree,
                          .check = mpi_check,
                          .drop = mpi_drop };
    l->comm = comm;
    l->n = (size_t)mine[0];
    m->comm = &l->base;
    bcast_params(m, 0);
    return NB_OK;
}

/* Root's options, in a fixed layout for one broadcast. */
#define BCAST_WIDTHS 64
typedef struct wire {
    int n_widths, widths[BCAST_WIDTHS], dtype, act, loss, init;
    double init_std, l1, l2;
    uint64_t seed;
} wire;

nb_mlp *nb_mlp_bcast(nb_mlp *m, int root, MPI_Comm comm, nb_err *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    wire w = { 0 };
    nb_status s = NB_OK;
    if (rank == root && (!m || m->opts.n_widths > BCAST_WIDTHS))
        s = nb_err_set(err, NB_ERR_ARG, "mlp: bcast: no model, or more than %d widths",
                       BCAST_WIDTHS);
    else if (rank == root) {
        const nb_mlp_opts *o = &m->opts;
        w = (wire){ o->n_widths,  { 0 },       (int)o->dtype, (int)o->act, (int)o->loss,
                    (int)o->init, o->init_std, o->l1,         o->l2,       o->seed };
        memcpy(w.widths, o->widths, (size_t)o->n_widths * sizeof(int));
    }
    if ((s = nb_comm_agree(comm, s, err)) != NB_OK)
        return NULL;
    MPI_Bcast(&w, (int)sizeof w, MPI_BYTE, root, comm);
    nb_mlp *r = m;
    if (rank != root) {
        nb_mlp_opts o = { .dtype = (nb_dtype)w.dtype,
                          .widths = w.widths,
                          .n_widths = w.n_widths,
                          .act = (nb_act)w.act,
                          .loss = (nb_loss)w.loss,
                          .init = (nb_init)w.init,
                          .init_std = w.init_std,
                          .seed = w.seed,
                          .l1 = w.l1,
                          .l2 = w.l2 };
        r = nb_mlp_new(&o, err);
        s = r ? NB_OK : err ? err->code : NB_ERR_NOMEM;
    }
    size_t n = r ? param_elems(r->g) : 0;
    size_t esize = w.dtype == NB_F32 ? sizeof(float) : sizeof(double);
    void *buf = r ? nb__nn_malloc(n * esize + 1) : NULL;
    if (s == NB_OK && !buf)
        s = nb_err_set(err, NB_ERR_NOMEM, "mlp: bcast: out of memory");
    if ((s = nb_comm_agree(comm, s, err)) == NB_OK) {
        if (rank == root)
            copy_params(r->g, buf, 0, 0);
        MPI_Bcast(buf, (int)n, w.dtype == NB_F32 ? MPI_FLOAT : MPI_DOUBLE, root, comm);
        if (rank != root)
            copy_params(r->g, buf, 0, 1);
    }
    free(buf);
    if (s != NB_OK && r != m)
        nb_mlp_free(r);
    return s == NB_OK ? r : NULL;
}
