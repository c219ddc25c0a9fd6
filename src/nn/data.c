/* data.c - data sets in memory: allocation, class counting, standardisation,
 * seeded train/test splits and mini-batch orders.  File formats live in
 * csv.c and idx.c. */
#define _DEFAULT_SOURCE /* madvise */
#include "nabla_nn.h"
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* Large feature arrays go in 2 MB pages where the kernel gives them on
 * request (Linux transparent huge pages, "madvise" mode), since a batch
 * gathers rows from all over the set and with 4 KB pages nearly every row
 * costs a TLB miss and a page walk. */
void *nb__features_alloc(size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    size_t page = (size_t)2 << 20;
    if (bytes >= 8 * page) {
        if (bytes > SIZE_MAX - page) /* rounded up it would wrap to a small block */
            return NULL;
        void *p = nb__nn_aligned_alloc(page, (bytes + page - 1) / page * page);
        if (p)
            (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice: may be refused */
        return p;
    }
#endif
    return nb__nn_malloc(bytes);
}

void nb_data_free(nb_data *data)
{
    if (!data)
        return;
    free(data->x);
    free(data->y);
    free(data->x32);
    free(data->x8);
    for (int j = 0; data->names && j < data->d; j++)
        free(data->names[j]);
    free(data->names);
    free(data->label);
    for (int k = 0; data->classes && k < data->n_classes; k++)
        free(data->classes[k]);
    free(data->classes);
    free(data->line);
    *data = (nb_data){ 0 };
}

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = nb__nn_malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

/* A copy of n strings (v NULL: NULL); 0 if memory ran out. */
static int copy_strings(char **v, int n, char ***out)
{
    *out = NULL;
    if (!v)
        return 1;
    if (!(*out = nb__nn_calloc((size_t)n, sizeof **out)))
        return 0;
    for (int i = 0; i < n; i++)
        if (v[i] && !((*out)[i] = copy_string(v[i])))
            return 0;
    return 1;
}

/* Feature k (row-major) as a double from whichever form holds it: bytes
 * give k / 255 exactly as the Fashion-MNIST loader always has. */
static double feature(const nb_data *data, size_t k)
{
    return data->x ? data->x[k] : data->x8 ? data->x8[k] / 255.0 : (double)data->x32[k];
}

/* n x d features, or NB_ERR_ARG naming what cannot be held. */
static nb_status feature_count(const nb_data *data, size_t *n, nb_err *err)
{
    if (!data || (!data->x && !data->x32 && !data->x8))
        return nb_err_set(err, NB_ERR_ARG, "data: no features");
    if (data->d < 1 || data->n > SIZE_MAX / sizeof(double) / (size_t)data->d)
        return nb_err_set(err, NB_ERR_ARG, "data: cannot hold %zu rows of %d features", data->n,
                          data->d);
    *n = data->n * (size_t)data->d;
    return NB_OK;
}

/* The features as bytes, x = k / 255, if every one of the n is exactly that
 * for a whole k in 0..255 (NaN is not, nor -0, which would come back +0);
 * else NULL.  An optional copy: no memory for it is NULL too. */
static uint8_t *bytes_of(const nb_data *data, size_t n)
{
    uint8_t *b = nb__features_alloc(n);
    for (size_t i = 0; b && i < n; i++) {
        double v = feature(data, i), k = nearbyint(v * 255);
        if (!(k >= 0 && k <= 255 && k / 255 == v) || signbit(v)) {
            free(b);
            return NULL;
        }
        b[i] = (uint8_t)k;
    }
    return b;
}

/* x made from the other forms if it is missing; they stay. */
static nb_status make_f64(nb_data *data, size_t n, nb_err *err)
{
    if (data->x)
        return NB_OK;
    double *x = nb__features_alloc(n * sizeof *x);
    if (!x)
        return nb_err_set(err, NB_ERR_NOMEM, "data: out of memory for %zu doubles", n);
    for (size_t i = 0; i < n; i++)
        x[i] = feature(data, i);
    data->x = x;
    return NB_OK;
}

nb_status nb_data_f32(nb_data *data, nb_err *err)
{
    size_t n = 0;
    nb_status s = feature_count(data, &n, err);
    if (s != NB_OK || !data->x) /* no x: x32 or x8 is the float form already */
        return s;
    free(data->x32);
    free(data->x8);
    data->x8 = NULL;
    if (!(data->x32 = nb__features_alloc(n * sizeof *data->x32)))
        return nb_err_set(err, NB_ERR_NOMEM, "data: out of memory for %zu floats", n);
    for (size_t i = 0; i < n; i++)
        data->x32[i] = (float)data->x[i];
    data->x8 = bytes_of(data, n);
    return NB_OK;
}

nb_status nb_data_convert(nb_data *data, nb_dtype dtype, nb_err *err)
{
    size_t n = 0;
    nb_status s = feature_count(data, &n, err);
    if (s != NB_OK)
        return s;
    if (dtype == NB_F64) {
        if ((s = make_f64(data, n, err)) != NB_OK)
            return s;
        free(data->x32);
        free(data->x8);
        data->x32 = NULL;
        data->x8 = NULL;
        return NB_OK;
    }
    if (dtype != NB_F32)
        return nb_err_set(err, NB_ERR_ARG, "data: unknown dtype %d", (int)dtype);
    /* bytes if every feature is one, else floats: never both */
    if (!data->x8 && !data->x32 && !(data->x8 = bytes_of(data, n))) {
        if (!(data->x32 = nb__features_alloc(n * sizeof *data->x32)))
            return nb_err_set(err, NB_ERR_NOMEM, "data: out of memory for %zu floats", n);
        for (size_t i = 0; i < n; i++)
            data->x32[i] = (float)data->x[i];
    }
    if (data->x8) {
        free(data->x32);
        data->x32 = NULL;
    }
    free(data->x);
    data->x = NULL;
    return NB_OK;
}

nb_status nb_data_rows(const nb_data *data, size_t first, size_t rows, double *out, nb_err *err)
{
    size_t n = 0;
    nb_status s = feature_count(data, &n, err);
    if (s != NB_OK)
        return s;
    if (first > data->n || rows > data->n - first)
        return nb_err_set(err, NB_ERR_ARG, "data: rows %zu..%zu of %zu", first, first + rows,
                          data->n);
    size_t d = (size_t)data->d;
    for (size_t k = 0; k < rows * d; k++)
        out[k] = feature(data, first * d + k);
    return NB_OK;
}

nb_status nb__data_alloc(nb_data *data, size_t n, int d, int forms, nb_err *err)
{
    *data = (nb_data){ 0 };
    if (d < 1 || n == 0 || n > SIZE_MAX / sizeof(double) / (size_t)d)
        return nb_err_set(err, NB_ERR_ARG, "data: cannot hold %zu rows of %d features", n, d);
    size_t k = n * (size_t)d;
    int ok = (data->y = nb__nn_calloc(n, sizeof(double))) != NULL;
    if (ok && (forms & NB__DATA_F64))
        ok = (data->x = nb__features_alloc(k * sizeof *data->x)) != NULL;
    if (ok && (forms & NB__DATA_F32))
        ok = (data->x32 = nb__features_alloc(k * sizeof *data->x32)) != NULL;
    if (ok && (forms & NB__DATA_U8))
        ok = (data->x8 = nb__features_alloc(k)) != NULL;
    if (!ok) {
        nb_data_free(data);
        return nb_err_set(err, NB_ERR_NOMEM, "data: out of memory for %zu x %d values", n, d);
    }
    data->n = n;
    data->d = d;
    return NB_OK;
}

nb_status nb_data_alloc(nb_data *data, size_t n, int d, nb_err *err)
{
    nb_status s = nb__data_alloc(data, n, d, NB__DATA_F64, err);
    if (s == NB_OK)
        memset(data->x, 0, n * (size_t)d * sizeof(double));
    return s;
}

int nb_data_classes(const nb_data *data)
{
    if (data->n_classes > 0)
        return data->n_classes;
    double top = -1;
    for (size_t i = 0; i < data->n; i++) {
        double y = data->y[i];
        if (!(y >= 0) || y != floor(y) || y > 1e6)
            return -1;
        if (y > top)
            top = y;
    }
    return (int)top + 1;
}

/* ---- Standardisation ------------------------------------------------------ */

void nb_scaler_free(nb_scaler *s)
{
    if (!s)
        return;
    free(s->mean);
    free(s->std);
    *s = (nb_scaler){ 0 };
}

nb_status nb_scaler_fit(nb_scaler *s, const nb_data *data, nb_err *err)
{
    *s = (nb_scaler){ 0 };
    size_t n = 0;
    if (!data || data->n == 0 || feature_count(data, &n, NULL) != NB_OK)
        return nb_err_set(err, NB_ERR_ARG, "scaler: no data to fit");
    size_t d = (size_t)data->d;
    s->mean = nb__nn_calloc(d, sizeof(double));
    s->std = nb__nn_calloc(d, sizeof(double));
    if (!s->mean || !s->std) {
        nb_scaler_free(s);
        return nb_err_set(err, NB_ERR_NOMEM, "scaler: out of memory");
    }
    s->d = data->d;
    for (size_t i = 0; i < data->n; i++)
        for (size_t j = 0; j < d; j++)
            s->mean[j] += feature(data, i * d + j);
    for (size_t j = 0; j < d; j++)
        s->mean[j] /= (double)data->n;
    /* two passes: sum (x - mean)^2 loses nothing to cancellation */
    for (size_t i = 0; i < data->n; i++)
        for (size_t j = 0; j < d; j++) {
            double t = feature(data, i * d + j) - s->mean[j];
            s->std[j] += t * t;
        }
    for (size_t j = 0; j < d; j++) {
        s->std[j] = sqrt(s->std[j] / (double)data->n);
        if (s->std[j] == 0)
            s->std[j] = 1; /* a constant feature is only centred */
    }
    return NB_OK;
}

nb_status nb_scaler_apply(const nb_scaler *s, nb_data *data, nb_err *err)
{
    if (!s || !data || s->d != data->d)
        return nb_err_set(err, NB_ERR_SHAPE, "scaler: fitted on %d features, data has %d",
                          s ? s->d : 0, data ? data->d : 0);
    size_t n = 0, d = (size_t)data->d;
    nb_status st = feature_count(data, &n, err);
    int f64 = data->x != NULL, f32 = data->x32 || data->x8;
    if (st != NB_OK || (st = make_f64(data, n, err)) != NB_OK)
        return st;
    for (size_t i = 0; i < data->n; i++)
        for (size_t j = 0; j < d; j++)
            data->x[i * d + j] = (data->x[i * d + j] - s->mean[j]) / s->std[j];
    /* the float forms are stale now: made again in the forms data had */
    free(data->x32);
    free(data->x8);
    data->x32 = NULL;
    data->x8 = NULL;
    if (!f64)
        return nb_data_convert(data, NB_F32, err);
    return f32 ? nb_data_f32(data, err) : NB_OK;
}

/* ---- Train/test split ----------------------------------------------------- */

static nb_status copy_rows(const nb_data *all, const size_t *idx, size_t n, nb_data *out,
                           nb_err *err)
{
    int forms = (all->x ? NB__DATA_F64 : 0) | (all->x32 ? NB__DATA_F32 : 0) |
                (all->x8 ? NB__DATA_U8 : 0);
    if (!forms)
        return nb_err_set(err, NB_ERR_ARG, "split: no features");
    nb_status s = nb__data_alloc(out, n, all->d, forms, err);
    if (s != NB_OK)
        return s;
    size_t d = (size_t)all->d;
    for (size_t i = 0; i < n; i++) {
        if (all->x)
            memcpy(out->x + i * d, all->x + idx[i] * d, d * sizeof *out->x);
        if (all->x32)
            memcpy(out->x32 + i * d, all->x32 + idx[i] * d, d * sizeof *out->x32);
        if (all->x8)
            memcpy(out->x8 + i * d, all->x8 + idx[i] * d, d);
        out->y[i] = all->y[idx[i]];
    }
    out->n_classes = all->n_classes;
    /* what the file said of its columns and lines, for messages and checkpoints */
    int ok = copy_strings(all->names, all->d, &out->names) &&
             copy_strings(all->classes, all->n_classes, &out->classes) &&
             (!all->label || (out->label = copy_string(all->label)));
    if (ok && all->line && (out->line = nb__nn_malloc(n * sizeof *out->line)))
        for (size_t i = 0; i < n; i++)
            out->line[i] = all->line[idx[i]];
    if (!ok || (all->line && !out->line)) {
        nb_data_free(out);
        return nb_err_set(err, NB_ERR_NOMEM, "split: out of memory");
    }
    return NB_OK;
}

nb_status nb_data_split(const nb_data *all, double test_fraction, uint64_t seed, nb_data *train,
                        nb_data *test, nb_err *err)
{
    *train = (nb_data){ 0 };
    *test = (nb_data){ 0 };
    if (!(test_fraction >= 0 && test_fraction < 1))
        return nb_err_set(err, NB_ERR_ARG, "split: test fraction %g is not in [0, 1)",
                          test_fraction);
    size_t n_test = (size_t)floor((double)all->n * test_fraction + 0.5);
    if (n_test >= all->n)
        return nb_err_set(err, NB_ERR_ARG, "split: %zu rows leave none for training", all->n);
    size_t *idx = nb__nn_malloc(all->n * sizeof *idx);
    if (!idx)
        return nb_err_set(err, NB_ERR_NOMEM, "split: out of memory");
    for (size_t i = 0; i < all->n; i++)
        idx[i] = i;
    nb_rng r;
    nb_rng_seed(&r, seed);
    nb_rng_shuffle(&r, idx, all->n);
    nb_status s = NB_OK;
    if (n_test > 0)
        s = copy_rows(all, idx, n_test, test, err);
    if (s == NB_OK)
        s = copy_rows(all, idx + n_test, all->n - n_test, train, err);
    free(idx);
    if (s != NB_OK) {
        nb_data_free(train);
        nb_data_free(test);
    }
    return s;
}

/* ---- Mini-batches ------------------------------------------------------------ */

nb_status nb_batches_init(nb_batches *b, size_t n, size_t batch, int shuffle, uint64_t seed,
                          nb_err *err)
{
    *b = (nb_batches){ 0 };
    if (n == 0 || batch == 0)
        return nb_err_set(err, NB_ERR_ARG, "batches: %zu rows in batches of %zu", n, batch);
    b->order = n <= SIZE_MAX / sizeof *b->order ? nb__nn_malloc(n * sizeof *b->order) : NULL;
    if (!b->order)
        return nb_err_set(err, NB_ERR_NOMEM, "batches: out of memory");
    for (size_t i = 0; i < n; i++)
        b->order[i] = i;
    b->n = n;
    b->batch = batch < n ? batch : n;
    b->shuffle = shuffle;
    nb_rng_seed(&b->rng, seed);
    nb_batches_epoch(b);
    return NB_OK;
}

void nb_batches_epoch(nb_batches *b)
{
    b->pos = 0;
    if (b->shuffle)
        nb_rng_shuffle(&b->rng, b->order, b->n);
}

size_t nb_batches_next(nb_batches *b, const size_t **idx)
{
    if (b->pos >= b->n)
        return 0;
    size_t rows = b->n - b->pos < b->batch ? b->n - b->pos : b->batch;
    *idx = b->order + b->pos;
    b->pos += rows;
    return rows;
}

void nb_batches_free(nb_batches *b)
{
    if (!b)
        return;
    free(b->order);
    *b = (nb_batches){ 0 };
}
