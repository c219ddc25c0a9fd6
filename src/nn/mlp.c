/* mlp.c - multilayer perceptrons (and, with no hidden layer, linear, logistic
 * and softmax regression): parameters, one cached batch graph per batch size,
 * loading batches, one SGD step, evaluation and prediction.  The training
 * loop is in train.c. */
#include "nabla_nn.h"
#include "nn_internal.h"
#include "team.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCH_GRAPHS 16
#define EVAL_ROWS 1000

struct nb_mlp {
    nb_mlp_opts opts;
    int        *widths;     /* copy of opts.widths */
    int         n_layers;   /* n_widths - 1 */
    nb_graph   *g;
    nb_node   **W, **b;     /* per layer */
    nb_node    *penalty;    /* l1 * sum|W| + l2 * sum W^2, or NULL */
    nb_batch_graph     graphs[MAX_BATCH_GRAPHS];
    int         n_graphs;
    team       *team;       /* data-parallel workers (nb_mlp_set_workers), or NULL */
    nb_mlp    **rep;        /* rep[k - 1]: worker k's replica, viewing W and b */
};

static nb_status check_opts(const nb_mlp_opts *o, nb_err *err)
{
    if (!o || !o->widths || o->n_widths < 2)
        return nb_err_set(err, NB_ERR_ARG, "mlp: need at least two widths (inputs, outputs)");
    for (int i = 0; i < o->n_widths; i++)
        if (o->widths[i] < 1)
            return nb_err_set(err, NB_ERR_ARG, "mlp: width %d is %d", i, o->widths[i]);
    if ((unsigned)o->loss > NB_LOSS_HINGE || (unsigned)o->act > NB_ACT_RELU ||
        (unsigned)o->init > NB_INIT_ZERO || (o->dtype != NB_F64 && o->dtype != NB_F32))
        return nb_err_set(err, NB_ERR_ARG, "mlp: unknown loss, activation, init or dtype");
    int out = o->widths[o->n_widths - 1];
    if (nb_loss_is_classifier(o->loss) && o->loss != NB_LOSS_BCE && out < 2)
        return nb_err_set(err, NB_ERR_ARG, "mlp: %s needs at least 2 outputs (classes)",
                          nb_loss_name(o->loss));
    if (!nb_loss_is_classifier(o->loss) || o->loss == NB_LOSS_BCE) {
        if (out != 1)
            return nb_err_set(err, NB_ERR_ARG, "mlp: %s needs 1 output, not %d",
                              nb_loss_name(o->loss), out);
    }
    if (!(o->l1 >= 0 && o->l2 >= 0))
        return nb_err_set(err, NB_ERR_ARG, "mlp: penalties must be >= 0");
    return NB_OK;
}

/* l1 * sum |W| + l2 * sum W^2 over the layers' weights. */
static nb_node *penalty(nb_mlp *m)
{
    nb_graph *g = m->g;
    nb_node *p = NULL;

    for (int l = 0; l < m->n_layers; l++) {
        nb_node *W = m->W[l], *t = NULL;
        if (m->opts.l1 > 0)
            t = nb_mul_const(g, nb_sum(g, nb_abs(g, W)), m->opts.l1);
        if (m->opts.l2 > 0) {
            nb_node *q = nb_mul_const(g, nb_sum(g, nb_mul(g, W, W)), m->opts.l2);
            t = t ? nb_add(g, t, q) : q;
        }
        p = p ? nb_add(g, p, t) : t;
    }
    return p;
}

static nb_status build_params(nb_mlp *m, nb_err *err)
{
    nb_rng rng;
    double std = m->opts.init_std > 0 ? m->opts.init_std : 0.01;

    nb_rng_seed(&rng, m->opts.seed);
    for (int l = 0; l < m->n_layers; l++) {
        char wn[16], bn[16];
        snprintf(wn, sizeof wn, "W%d", l + 1);
        snprintf(bn, sizeof bn, "b%d", l + 1);
        nb_status s = nb_linear_params(m->g, wn, bn, m->widths[l], m->widths[l + 1],
                                       m->opts.init, std, m->opts.act, &rng, &m->W[l],
                                       &m->b[l]);
        if (s != NB_OK)
            return nb_err_set(err, s, "mlp: layer %d (%d -> %d): %s", l + 1, m->widths[l],
                              m->widths[l + 1], nb_errmsg(m->g));
    }
    if ((m->opts.l1 > 0 || m->opts.l2 > 0) && !(m->penalty = penalty(m)))
        return nb_err_set(err, nb_error(m->g), "mlp: penalty: %s", nb_errmsg(m->g));
    return NB_OK;
}

/* A model with no parameters yet; NULL on error. */
static nb_mlp *mlp_alloc(const nb_mlp_opts *opts, nb_err *err)
{
    nb_mlp *m = calloc(1, sizeof *m);
    if (!m || !(m->widths = malloc((size_t)opts->n_widths * sizeof(int))) ||
        !(m->W = calloc((size_t)opts->n_widths, sizeof(nb_node *))) ||
        !(m->b = calloc((size_t)opts->n_widths, sizeof(nb_node *))) ||
        !(m->g = nb_graph_new(opts->dtype))) {
        nb_mlp_free(m);
        nb_err_set(err, NB_ERR_NOMEM, "mlp: out of memory");
        return NULL;
    }
    m->opts = *opts;
    memcpy(m->widths, opts->widths, (size_t)opts->n_widths * sizeof(int));
    m->opts.widths = m->widths;
    m->n_layers = opts->n_widths - 1;
    return m;
}

nb_mlp *nb_mlp_new(const nb_mlp_opts *opts, nb_err *err)
{
    if (check_opts(opts, err) != NB_OK)
        return NULL;
    nb_mlp *m = mlp_alloc(opts, err);
    if (m && build_params(m, err) != NB_OK) {
        nb_mlp_free(m);
        return NULL;
    }
    return m;
}

/* A worker's replica of m: its own graph, whose parameters view m's. */
static nb_mlp *replica_new(nb_mlp *m, nb_err *err)
{
    nb_mlp *r = mlp_alloc(&m->opts, err);
    if (!r)
        return NULL;
    for (int l = 0; l < m->n_layers; l++) {
        nb_node *W = m->W[l], *b = m->b[l];
        r->W[l] = nb_view(r->g, nb_name(W), W, 0, 2, (int[]){ nb_dim(W, 0), nb_dim(W, 1) },
                          NB_LEAF_PARAM);
        r->b[l] = nb_view(r->g, nb_name(b), b, 0, 1, (int[]){ nb_dim(b, 0) }, NB_LEAF_PARAM);
    }
    if ((m->opts.l1 > 0 || m->opts.l2 > 0) && nb_error(r->g) == NB_OK)
        r->penalty = penalty(r);
    if (nb_error(r->g) != NB_OK) {      /* the first error, kept by the graph */
        nb_err_set(err, nb_error(r->g), "mlp: worker replica: %s", nb_errmsg(r->g));
        nb_mlp_free(r);
        return NULL;
    }
    return r;
}

static void drop_workers(nb_mlp *m)
{
    int n = team_size(m->team);

    team_free(m->team);    /* first: its threads stop */
    for (int k = 1; k < n && m->rep; k++)
        nb_mlp_free(m->rep[k - 1]);
    free(m->rep);
    m->team = NULL;
    m->rep = NULL;
}

nb_status nb_mlp_set_workers(nb_mlp *m, int n, nb_err *err)
{
    if (!m || n < 1 || n > NB_MAX_WORKERS)
        return nb_err_set(err, NB_ERR_ARG, "mlp: workers: need 1 to %d, not %d",
                          NB_MAX_WORKERS, n);
    if (n == team_size(m->team))
        return NB_OK;
    drop_workers(m);
    if (n == 1)
        return NB_OK;
    if (!(m->rep = calloc((size_t)n - 1, sizeof *m->rep)))
        return nb_err_set(err, NB_ERR_NOMEM, "mlp: workers: out of memory");
    for (int k = 1; k < n; k++)
        if (!(m->rep[k - 1] = replica_new(m, err))) {
            drop_workers(m);
            return err ? err->code : NB_ERR_NOMEM;
        }
    if (!(m->team = team_new(n))) {
        drop_workers(m);
        return nb_err_set(err, NB_ERR_NOMEM, "mlp: workers: cannot start %d threads", n - 1);
    }
    return NB_OK;
}

int nb_mlp_workers(const nb_mlp *m) { return m ? team_size(m->team) : 1; }

void nb_mlp_free(nb_mlp *m)
{
    if (!m)
        return;
    drop_workers(m);         /* the replicas view this graph: first */
    nb_graph_free(m->g);
    free(m->widths);
    free(m->W);
    free(m->b);
    free(m);
}

nb_graph *nb_mlp_graph(const nb_mlp *m) { return m ? m->g : NULL; }
const nb_mlp_opts *nb_mlp_options(const nb_mlp *m) { return m ? &m->opts : NULL; }
nb_node *nb_mlp_param(const nb_mlp *m, const char *name) { return m ? nb_lookup(m->g, name) : NULL; }

static int n_in(const nb_mlp *m) { return m->widths[0]; }
static int n_out(const nb_mlp *m) { return m->widths[m->n_layers]; }

static int takes_labels(const nb_mlp *m)
{
    return m->opts.loss == NB_LOSS_XENT || m->opts.loss == NB_LOSS_HINGE;
}

/* x -> linear, act, ..., linear; t and the loss as nb_loss says. */
static nb_status build_batch_graph(nb_mlp *m, nb_batch_graph *bg, int rows, nb_err *err)
{
    nb_graph *g = m->g;

    bg->rows = rows;
    bg->x = nb_constant(g, NULL, 2, (int[]){ rows, n_in(m) }, NULL);
    bg->t = takes_labels(m) ? nb_constant(g, NULL, 1, (int[]){ rows }, NULL)
                           : nb_constant(g, NULL, 2, (int[]){ rows, 1 }, NULL);
    nb_node *y = bg->x;
    for (int l = 0; l < m->n_layers; l++) {
        y = nb_linear(g, y, m->W[l], m->b[l]);
        if (l + 1 < m->n_layers)
            y = nb_activate(g, y, m->opts.act);
    }
    bg->out = y;
    bg->data_loss = nb_loss_node(g, m->opts.loss, bg->out, bg->t);
    bg->loss = m->penalty ? nb_add(g, bg->data_loss, m->penalty) : bg->data_loss;
    if (!bg->loss) {
        nb_status s = nb_error(g);
        nb_err_set(err, s, "mlp: batch of %d rows: %s", rows, nb_errmsg(g));
        nb_error_clear(g);
        return s;
    }
    return NB_OK;
}

const nb_batch_graph *nb_mlp_batch_graph(nb_mlp *m, int rows, nb_err *err)
{
    if (!m || rows < 1) {
        nb_err_set(err, NB_ERR_ARG, "mlp: a batch needs at least one row");
        return NULL;
    }
    for (int i = 0; i < m->n_graphs; i++)
        if (m->graphs[i].rows == rows)
            return &m->graphs[i];
    if (m->n_graphs == MAX_BATCH_GRAPHS) {
        nb_err_set(err, NB_ERR_ARG, "mlp: more than %d batch sizes", MAX_BATCH_GRAPHS);
        return NULL;
    }
    nb_batch_graph *bg = &m->graphs[m->n_graphs];
    if (build_batch_graph(m, bg, rows, err) != NB_OK) {
        *bg = (nb_batch_graph){ 0 };
        return NULL;
    }
    m->n_graphs++;
    return bg;
}

/* A label for this model's loss, or NaN if y is not one. */
static double target_value(const nb_mlp *m, double y)
{
    if (takes_labels(m))
        return y >= 0 && y < n_out(m) && y == floor(y) ? y : NAN;
    if (m->opts.loss == NB_LOSS_BCE)
        return y >= 0 && y <= 1 ? y : NAN;
    return y;
}

/* Rows idx[] of src (d wide, type S) into x (type T), converted; restrict
 * lets the row copy vectorise. */
#define GATHER_KERNEL(NAME, T, S)                                                         \
    static void NAME(T *restrict x, const S *restrict src, const size_t *idx,             \
                     size_t rows, size_t d)                                               \
    {                                                                                     \
        for (size_t i = 0; i < rows; i++) {                                               \
            const S *restrict s = src + idx[i] * d;                                       \
            T *restrict y = x + i * d;                                                    \
            for (size_t j = 0; j < d; j++)                                                \
                y[j] = (T)s[j];                                                           \
        }                                                                                 \
    }
GATHER_KERNEL(gather_f64, double, double)
GATHER_KERNEL(gather_f32, float, double)
GATHER_KERNEL(gather_f32_f32, float, float)

/* f32 rows as they are.  With AVX2, eight rows at a time: their loads
 * interleaved keep more of them in flight than a memcpy per row, which the
 * loop above becomes: Fashion-MNIST's 100 random 3 KB rows a step from a
 * 188 MB set, between the step's two big products, take 0.77-0.87 of the
 * time (`bench_mlp --only gather`).  Four rows at a time in portable C
 * gained nothing. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2"))) static void gather_rows8_avx2(float *x, const float *src,
                                                              const size_t *idx, size_t d)
{
    const float *p[8];
    size_t j = 0;

    for (int k = 0; k < 8; k++)
        p[k] = src + idx[k] * d;
    for (; j + 8 <= d; j += 8) {
        __m256 v[8];
        for (int k = 0; k < 8; k++)
            v[k] = _mm256_loadu_ps(p[k] + j);
        for (int k = 0; k < 8; k++)
            _mm256_storeu_ps(x + (size_t)k * d + j, v[k]);
    }
    for (; j < d; j++)
        for (int k = 0; k < 8; k++)
            x[(size_t)k * d + j] = p[k][j];
}
#endif

static void gather_rows_f32(float *x, const float *src, const size_t *idx, size_t rows,
                            size_t d)
{
    size_t i = 0;

#if defined(__x86_64__) && defined(__GNUC__)
    /* a bit test: libgcc reads the CPU's features before main runs */
    if (__builtin_cpu_supports("avx2"))
        for (; i + 8 <= rows; i += 8)
            gather_rows8_avx2(x + i * d, src, idx + i, d);
#endif
    gather_f32_f32(x + i * d, src, idx + i, rows - i, d);
}

/* Rows idx[] of bytes src (d wide, x = k / 255) into x as floats, each
 * (float)(k / 255.0) to the bit.  A row's 784 bytes are only 13 cache
 * lines, too few for the hardware to stream: converted as they came,
 * Fashion-MNIST's 100 random rows a step took as long as the float rows,
 * 4 times the bytes (30-45 us).  So the lines of the next BYTE_ROWS_AHEAD
 * rows are asked for (prefetch) before a row is converted, and arrive
 * together: 16-19 us (`bench_mlp --only gather`: 11-12 ms an epoch, 16
 * rows ahead 13-14, against 23-25 for the float rows).  With FMA the conversion is p / 255 as p * (1/255)
 * and one Newton step, which rounds as the division does for all 256 p
 * (tested); elsewhere, and for the last d % 8, a table of the 256 floats. */
#define BYTE_ROWS_AHEAD 128
#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) static size_t bytes_to_floats_fma(float *x,
                                                                      const uint8_t *s,
                                                                      size_t d)
{
    const __m256 r = _mm256_set1_ps(1.0f / 255), k = _mm256_set1_ps(255.0f);
    size_t j = 0;

    for (; j + 8 <= d; j += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(s + j));
        __m256 p = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
        __m256 q = _mm256_mul_ps(p, r);
        __m256 e = _mm256_fnmadd_ps(q, k, p);                  /* p - 255 q, exact */
        _mm256_storeu_ps(x + j, _mm256_fmadd_ps(e, r, q));
    }
    return j;
}
#endif

/* (float)(k / 255.0) for k = 0..255, worked out by the compiler */
#define BYTE1(k)  (float)((k) / 255.0)
#define BYTE4(k)  BYTE1(k), BYTE1(k + 1), BYTE1(k + 2), BYTE1(k + 3)
#define BYTE16(k) BYTE4(k), BYTE4(k + 4), BYTE4(k + 8), BYTE4(k + 12)
#define BYTE64(k) BYTE16(k), BYTE16(k + 16), BYTE16(k + 32), BYTE16(k + 48)
static const float byte_floats[256] = { BYTE64(0), BYTE64(64), BYTE64(128), BYTE64(192) };

static void prefetch_row(const uint8_t *s, size_t d)
{
    for (size_t j = 0; j < d; j += 64)
        PREFETCH(s + j);
    PREFETCH(s + d - 1);
}

static void gather_bytes_f32(float *x, const uint8_t *src, const size_t *idx, size_t rows,
                             size_t d)
{
    size_t ahead = rows < BYTE_ROWS_AHEAD ? rows : BYTE_ROWS_AHEAD;
#if defined(__x86_64__) && defined(__GNUC__)
    int fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif

    for (size_t i = 0; i < ahead; i++)
        prefetch_row(src + idx[i] * d, d);
    for (size_t i = 0; i < rows; i++) {
        const uint8_t *s = src + idx[i] * d;
        if (i + ahead < rows)
            prefetch_row(src + idx[i + ahead] * d, d);
        float *y = x + i * d;
        size_t j = 0;
#if defined(__x86_64__) && defined(__GNUC__)
        if (fma)
            j = bytes_to_floats_fma(y, s, d);
#endif
        for (; j < d; j++)
            y[j] = byte_floats[s[j]];
    }
}

nb_status nb_mlp_gather(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data, const size_t *idx,
                      nb_err *err)
{
    if (!m || !bg || !data || !idx)
        return nb_err_set(err, NB_ERR_ARG, "mlp: gather: NULL argument");
    if (data->d != n_in(m))
        return nb_err_set(err, NB_ERR_SHAPE, "mlp: data has %d features, the model %d inputs",
                          data->d, n_in(m));
    size_t rows = (size_t)bg->rows, d = (size_t)data->d;
    void *x = nb_values(bg->x), *t = nb_values(bg->t);
    int f32 = nb_graph_dtype(m->g) == NB_F32;
    for (size_t i = 0; i < rows; i++) {
        if (idx[i] >= data->n)
            return nb_err_set(err, NB_ERR_ARG, "mlp: gather: row %zu of %zu", idx[i], data->n);
        double v = target_value(m, data->y[idx[i]]);
        if (isnan(v))
            return nb_err_set(err, NB_ERR_ARG, "mlp: row %zu: target %g is not a %s label",
                              idx[i], data->y[idx[i]], nb_loss_name(m->opts.loss));
        if (f32)
            ((float *)t)[i] = (float)v;
        else
            ((double *)t)[i] = v;
    }
    if (f32 && data->x8)
        gather_bytes_f32(x, data->x8, idx, rows, d);
    else if (f32 && data->x32)
        gather_rows_f32(x, data->x32, idx, rows, d);
    else if (f32)
        gather_f32(x, data->x, idx, rows, d);
    else
        gather_f64(x, data->x, idx, rows, d);
    return NB_OK;
}

static nb_status graph_fail(nb_mlp *m, nb_status s, const char *what, nb_err *err)
{
    return nb_err_set(err, s, "mlp: %s: %s", what, nb_errmsg(m->g));
}

nb_status nb_mlp_step(nb_mlp *m, const nb_batch_graph *bg, nb_optimizer *o, double *loss, nb_err *err)
{
    if (!m || !bg || !o)
        return nb_err_set(err, NB_ERR_ARG, "mlp: step: NULL argument");
    nb_status s = nb_forward(m->g, bg->loss);
    if (s != NB_OK)
        return graph_fail(m, s, "forward", err);
    if ((s = nb_backward(m->g, bg->loss)) != NB_OK)
        return graph_fail(m, s, "backward", err);
    if (loss)
        *loss = nb_value_scalar(bg->loss);
    return nb_optimizer_step(o);
}

/* ---- Data-parallel steps ---------------------------------------------------
 * Worker k takes rows [R k / n, R (k + 1) / n) of the batch: it gathers them
 * into its batch graph for that many rows (the model's own graph for k =
 * 0), runs forward, and backward seeded with rows_k / R, so that the parts'
 * gradients sum to the whole batch's mean.  Then each worker sums one slice
 * of every parameter's gradient into the model's and applies the
 * optimiser's update to that slice. */

typedef struct part {
    nb_mlp        *m;        /* the model (k = 0) or worker k's replica */
    const nb_batch_graph *bg;
    const size_t  *idx;
    double         weight;   /* rows_k / R */
    double         loss;
    nb_status      s;
    nb_err         err;
} part;

typedef struct dp_step {
    nb_mlp        *m;
    nb_optimizer        *o;
    const nb_data *data;
    int            n;
    part           parts[NB_MAX_WORKERS];
} dp_step;

static void dp_backward(void *ctx, int k)
{
    dp_step *d = ctx;
    part *p = &d->parts[k];
    nb_graph *g = p->m->g;

    p->s = nb_mlp_gather(p->m, p->bg, d->data, p->idx, &p->err);
    if (p->s != NB_OK)
        return;
    if ((p->s = nb_forward(g, p->bg->loss)) != NB_OK ||
        (p->s = nb_backward_seed(g, p->bg->loss, &p->weight, 0)) != NB_OK) {
        nb_err_set(&p->err, p->s, "mlp: worker %d: %s", k, nb_errmsg(g));
        return;
    }
    p->loss = nb_value_scalar(p->bg->loss);
}

/* dst[i] += src[i] over [lo, hi) */
#define SUM_KERNEL(NAME, T)                                                            \
    static void NAME(T *restrict dst, const T *restrict src, size_t lo, size_t hi)     \
    {                                                                                  \
        for (size_t i = lo; i < hi; i++)                                               \
            dst[i] += src[i];                                                          \
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
        d->parts[k] = (part){ .m = mk, .bg = hk, .idx = idx + lo,
                              .weight = (double)(hi - lo) / (double)rows };
    }
    return NB_OK;
}

nb_status nb_mlp_train_step(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                            const size_t *idx, nb_optimizer *o, double *loss, nb_err *err)
{
    if (!m || !bg || !data || !idx || !o)
        return nb_err_set(err, NB_ERR_ARG, "mlp: train step: NULL argument");
    int n = team_size(m->team);
    if (n == 1 || bg->rows < n) {
        nb_status s = nb_mlp_gather(m, bg, data, idx, err);
        return s != NB_OK ? s : nb_mlp_step(m, bg, o, loss, err);
    }
    if (nb__optimizer_graph(o) != m->g)
        return nb_err_set(err, NB_ERR_ARG, "mlp: train step: the optimiser is another graph's");
    dp_step d = { .m = m, .o = o, .data = data, .n = n };
    nb_status s = dp_parts(m, bg, idx, &d, err);
    if (s != NB_OK)
        return s;
    int threads = nb_set_threads(0);
    if (threads > 1)
        nb_set_threads(1);    /* one OpenBLAS thread per worker */
    team_run(m->team, dp_backward, &d);
    for (int k = 0; k < n && s == NB_OK; k++)
        if ((s = d.parts[k].s) != NB_OK && err)
            *err = d.parts[k].err;
    if (s == NB_OK) {
        team_run(m->team, dp_update, &d);
        nb__optimizer_count(o);
    }
    if (threads > 1)
        nb_set_threads(threads);
    if (s == NB_OK && loss) {
        *loss = 0;
        for (int k = 0; k < n; k++)
            *loss += d.parts[k].weight * d.parts[k].loss;
    }
    return s;
}

/* Running sums for the metrics over one data set. */
typedef struct tally {
    double loss, sse, sst, mean_y;
    size_t right, n;
} tally;

static void tally_rows(const nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                       const size_t *idx, tally *t)
{
    size_t c = (size_t)n_out(m);

    t->loss += nb_value_scalar(bg->data_loss) * bg->rows;
    for (size_t i = 0; i < (size_t)bg->rows; i++) {
        double y = data->y[idx[i]];
        if (m->opts.loss == NB_LOSS_BCE) {
            t->right += (nb_value_at(bg->out, i) > 0) == (y > 0.5);
        } else if (takes_labels(m)) {
            size_t best = 0;
            for (size_t j = 1; j < c; j++)
                if (nb_value_at(bg->out, i * c + j) > nb_value_at(bg->out, i * c + best))
                    best = j;
            t->right += (double)best == y;
        } else {
            double e = nb_value_at(bg->out, i) - y, dy = y - t->mean_y;
            t->sse += e * e;
            t->sst += dy * dy;
        }
    }
    t->n += (size_t)bg->rows;
}

static nb_status eval_chunks(nb_mlp *m, const nb_data *data, size_t *idx, tally *t,
                             nb_err *err)
{
    for (size_t at = 0; at < data->n; at += EVAL_ROWS) {
        size_t rows = data->n - at < EVAL_ROWS ? data->n - at : EVAL_ROWS;
        const nb_batch_graph *bg = nb_mlp_batch_graph(m, (int)rows, err);
        if (!bg)
            return err ? err->code : NB_ERR_ARG;
        for (size_t i = 0; i < rows; i++)
            idx[i] = at + i;
        nb_status s = nb_mlp_gather(m, bg, data, idx, err);
        if (s != NB_OK)
            return s;
        if ((s = nb_forward(m->g, bg->data_loss)) != NB_OK)
            return graph_fail(m, s, "evaluate", err);
        tally_rows(m, bg, data, idx, t);
    }
    return NB_OK;
}

nb_status nb_mlp_evaluate(nb_mlp *m, const nb_data *data, nb_eval *out, nb_err *err)
{
    if (!m || !data || !out || data->n == 0)
        return nb_err_set(err, NB_ERR_ARG, "mlp: evaluate: no data");
    tally t = { 0 };
    for (size_t i = 0; i < data->n; i++)
        t.mean_y += data->y[i] / (double)data->n;
    size_t *idx = malloc(EVAL_ROWS * sizeof *idx);
    if (!idx)
        return nb_err_set(err, NB_ERR_NOMEM, "mlp: evaluate: out of memory");
    nb_status s = eval_chunks(m, data, idx, &t, err);
    free(idx);
    if (s != NB_OK)
        return s;
    int classify = nb_loss_is_classifier(m->opts.loss);
    out->loss = t.loss / (double)t.n;
    out->accuracy = classify ? (double)t.right / (double)t.n : NAN;
    out->r2 = classify ? NAN : t.sst > 0 ? 1 - t.sse / t.sst : NAN;
    return NB_OK;
}

nb_status nb_mlp_predict(nb_mlp *m, const double *x, int rows, double *out, nb_err *err)
{
    if (!m || !x || !out)
        return nb_err_set(err, NB_ERR_ARG, "mlp: predict: NULL argument");
    const nb_batch_graph *bg = nb_mlp_batch_graph(m, rows, err);
    if (!bg)
        return err ? err->code : NB_ERR_ARG;
    size_t n = (size_t)rows * (size_t)n_in(m);
    for (size_t i = 0; i < n; i++)
        nb_set_at(bg->x, i, x[i]);
    nb_status s = nb_forward(m->g, bg->out);
    if (s != NB_OK)
        return graph_fail(m, s, "predict", err);
    for (size_t i = 0, k = nb_size(bg->out); i < k; i++)
        out[i] = nb_value_at(bg->out, i);
    return NB_OK;
}
