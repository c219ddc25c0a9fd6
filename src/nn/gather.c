/* gather.c - a batch's rows from a data set into a batch graph's input
 * leaves: the targets checked against the model's loss, the features
 * converted to the graph's dtype from whichever form the data set holds
 * them in (x, x32 or x8).  f32 graphs gather from floats or bytes with AVX2
 * kernels where the CPU has them; each keeps a plain loop beside it that
 * gives the same floats. */
#include "../simd.h"
#include "nabla_nn.h"
#include "nn_internal.h"

#include <math.h>

#if NB_SIMD_X86
#include <immintrin.h>
#endif

/* Rows idx[] of src (d wide, type S) into x (type T), converted; restrict
 * lets the row copy vectorise. */
#define GATHER_KERNEL(NAME, T, S)                                                              \
    static void NAME(T *restrict x, const S *restrict src, const size_t *idx, size_t rows,     \
                     size_t d)                                                                 \
    {                                                                                          \
        for (size_t i = 0; i < rows; i++) {                                                    \
            const S *restrict s = src + idx[i] * d;                                            \
            T *restrict y = x + i * d;                                                         \
            for (size_t j = 0; j < d; j++)                                                     \
                y[j] = (T)s[j];                                                                \
        }                                                                                      \
    }
GATHER_KERNEL(gather_f64, double, double)
GATHER_KERNEL(gather_f32, float, double)
GATHER_KERNEL(gather_f32_f32, float, float)
GATHER_KERNEL(gather_f64_f32, double, float)

/* Rows idx[] of bytes src (d wide) into x as doubles k / 255, the values
 * the Fashion-MNIST loader has always given. */
static void gather_bytes_f64(double *x, const uint8_t *src, const size_t *idx, size_t rows,
                             size_t d)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = src[idx[i] * d + j] / 255.0;
}

/* f32 rows as they are.  With AVX2, eight rows at a time: their loads
 * interleaved keep more of them in flight than a memcpy per row, which the
 * plain loop becomes; random rows from a set far larger than the caches
 * spend their time waiting for memory (`bench_mlp --only gather`). */
#if NB_SIMD_X86
NB_SIMD_AVX2 static void gather_rows8_avx2(float *x, const float *src, const size_t *idx,
                                           size_t d)
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

#if NB_SIMD_X86
    if (nb_simd_avx2())
        for (; i + 8 <= rows; i += 8)
            gather_rows8_avx2(x + i * d, src, idx + i, d);
#endif
    gather_f32_f32(x + i * d, src, idx + i, rows - i, d);
}

/* Rows idx[] of bytes src (d wide, x = k / 255) into x as floats, each
 * (float)(k / 255.0) to the bit.  A row of a few hundred bytes is too few
 * cache lines for the hardware prefetcher to stream, so the lines of the
 * row BYTE_ROWS_AHEAD rows on are asked for before a row is converted, and
 * arrive together.  With FMA the conversion is p / 255 as p * (1/255) and
 * one Newton step, which rounds as the division does for all 256 p
 * (tested); elsewhere, and for the last d % 8, a table of the 256 floats. */
#define BYTE_ROWS_AHEAD 128
#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif
#if NB_SIMD_X86
NB_SIMD_AVX2_FMA static size_t bytes_to_floats_fma(float *x, const uint8_t *s, size_t d)
{
    const __m256 r = _mm256_set1_ps(1.0f / 255), k = _mm256_set1_ps(255.0f);
    size_t j = 0;

    for (; j + 8 <= d; j += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(s + j));
        __m256 p = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
        __m256 q = _mm256_mul_ps(p, r);
        __m256 e = _mm256_fnmadd_ps(q, k, p); /* p - 255 q, exact */
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
    int fma = nb_simd_fma();

    for (size_t i = 0; i < ahead; i++)
        prefetch_row(src + idx[i] * d, d);
    for (size_t i = 0; i < rows; i++) {
        const uint8_t *s = src + idx[i] * d;
        if (i + ahead < rows)
            prefetch_row(src + idx[i + ahead] * d, d);
        float *y = x + i * d;
        size_t j = 0;
#if NB_SIMD_X86
        if (fma)
            j = bytes_to_floats_fma(y, s, d);
#else
        (void)fma;
#endif
        for (; j < d; j++)
            y[j] = byte_floats[s[j]];
    }
}

/* A label for this model's loss, or NaN if y is not one. */
static double target_value(const nb_mlp *m, double y)
{
    if (nb__mlp_takes_labels(m))
        return y >= 0 && y < nb__mlp_outputs(m) && y == floor(y) ? y : NAN;
    if (m->opts.loss == NB_LOSS_BCE)
        return y >= 0 && y <= 1 ? y : NAN;
    return y;
}

nb_status nb_mlp_gather(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                        const size_t *idx, nb_err *err)
{
    if (!m || !bg || !data || !idx)
        return nb_err_set(err, NB_ERR_ARG, "mlp: gather: NULL argument");
    if (!data->x && !data->x32 && !data->x8)
        return nb_err_set(err, NB_ERR_ARG, "mlp: gather: the data has no features");
    if (data->d != nb__mlp_inputs(m))
        return nb_err_set(err, NB_ERR_SHAPE, "mlp: data has %d features, the model %d inputs",
                          data->d, nb__mlp_inputs(m));
    size_t rows = (size_t)bg->rows, d = (size_t)data->d;
    void *x = nb_values(bg->x), *t = nb_values(bg->t);
    int f32 = nb_graph_dtype(m->g) == NB_F32;
    for (size_t i = 0; i < rows; i++) {
        if (idx[i] >= data->n)
            return nb_err_set(err, NB_ERR_ARG, "mlp: gather: row %zu of %zu", idx[i], data->n);
        double v = target_value(m, data->y[idx[i]]);
        if (isnan(v) && data->line) /* the file's line: rows may have been shuffled */
            return nb_err_set(err, NB_ERR_ARG,
                              "line %zu: label %g does not fit the model (%s loss, %d outputs)",
                              data->line[idx[i]], data->y[idx[i]], nb_loss_name(m->opts.loss),
                              nb__mlp_outputs(m));
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
    else if (f32 && data->x)
        gather_f32(x, data->x, idx, rows, d);
    else if (data->x)
        gather_f64(x, data->x, idx, rows, d);
    else if (data->x8)
        gather_bytes_f64(x, data->x8, idx, rows, d);
    else
        gather_f64_f32(x, data->x32, idx, rows, d);
    return NB_OK;
}
