/* optimizer.c - the optimisers, updating a graph's parameters in place: SGD with
 * momentum and weight decay, and Adam, both as PyTorch computes them.  One
 * object (nb_optimizer) for either, its state allocated once, when it is made. */
#include "../simd.h"
#include "nabla_nn.h"
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nb_optimizer {
    nb_graph *g;
    nb_optimizer_opts o; /* Adam's defaults filled in */
    size_t n;            /* parameters at creation */
    void **vel;  /* n buffers, graph dtype: SGD's velocities (momentum only) or Adam's m */
    void **sq;   /* Adam: n buffers of v, the second moments */
    uint64_t *t; /* Adam: the steps each parameter has taken */
};

static const char *const optim_names[] = { "sgd", "adam" };

const char *nb_optim_name(nb_optim method)
{
    return (unsigned)method <= NB_OPTIM_ADAM ? optim_names[method] : "?";
}

int nb_optim_parse(const char *name)
{
    for (int i = 0; name && i <= NB_OPTIM_ADAM; i++)
        if (!strcmp(name, optim_names[i]))
            return i;
    return -1;
}

/* Checks o's options, each message naming the one out of range, and fills
 * in Adam's defaults for its zeros. */
static nb_status check_opts(nb_optimizer_opts *o, nb_err *err)
{
    if (o->method != NB_OPTIM_SGD && o->method != NB_OPTIM_ADAM)
        return nb_err_set(err, NB_ERR_ARG,
                          "optimizer: unknown method %d (NB_OPTIM_SGD or "
                          "NB_OPTIM_ADAM)",
                          (int)o->method);
    if (o->method == NB_OPTIM_SGD) {
        if (!(o->lr > 0) || !(o->momentum >= 0 && o->momentum < 1) || !(o->weight_decay >= 0))
            return nb_err_set(err, NB_ERR_ARG,
                              "sgd: need lr > 0, 0 <= momentum < 1, weight "
                              "decay >= 0 (got %g, %g, %g)",
                              o->lr, o->momentum, o->weight_decay);
        return NB_OK;
    }
    if (!(o->lr > 0) || !(o->weight_decay >= 0))
        return nb_err_set(err, NB_ERR_ARG, "adam: need lr > 0, weight decay >= 0 (got %g, %g)",
                          o->lr, o->weight_decay);
    if (o->momentum != 0)
        return nb_err_set(err, NB_ERR_ARG,
                          "adam: momentum is for SGD, not Adam (got %g; "
                          "Adam's beta1 plays its part)",
                          o->momentum);
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
        return nb_err_set(err, NB_ERR_ARG,
                          "adam: need 0 <= beta1 < 1 and 0 <= beta2 < 1 "
                          "(got %g, %g)",
                          o->beta1, o->beta2);
    if (!(o->eps >= 0))
        return nb_err_set(err, NB_ERR_ARG, "adam: need eps > 0 (got %g)", o->eps);
    o->beta1 = o->beta1 != 0 ? o->beta1 : 0.9;
    o->beta2 = o->beta2 != 0 ? o->beta2 : 0.999;
    o->eps = o->eps != 0 ? o->eps : 1e-8;
    return NB_OK;
}

static void free_buffers(void **b, size_t n)
{
    for (size_t i = 0; b && i < n; i++)
        free(b[i]);
    free(b);
}

/* One zeroed buffer per parameter of g, of g's dtype; NULL if out of memory. */
static void **buffers(nb_graph *g, size_t n)
{
    size_t elt = nb_graph_dtype(g) == NB_F32 ? sizeof(float) : sizeof(double);
    void **b = nb__nn_calloc(n, sizeof *b);
    for (size_t i = 0; b && i < n; i++) {
        if (!(b[i] = nb__nn_calloc(nb_size(nb_param_at(g, i)), elt))) {
            free_buffers(b, i);
            return NULL;
        }
    }
    return b;
}

nb_optimizer *nb_optimizer_new(nb_graph *g, const nb_optimizer_opts *opts, nb_err *err)
{
    if (!g || !opts) {
        nb_err_set(err, NB_ERR_ARG, "optimizer: graph or options are NULL");
        return NULL;
    }
    nb_optimizer_opts so = *opts;
    if (check_opts(&so, err) != NB_OK)
        return NULL;
    size_t n = nb_param_count(g);
    int adam = so.method == NB_OPTIM_ADAM;
    nb_optimizer *o = nb__nn_calloc(1, sizeof *o);
    if (!o)
        goto nomem;
    *o = (nb_optimizer){ .g = g, .o = so, .n = n };
    if (n && (adam || so.momentum > 0) && !(o->vel = buffers(g, n)))
        goto nomem;
    if (n && adam && (!(o->sq = buffers(g, n)) || !(o->t = nb__nn_calloc(n, sizeof *o->t))))
        goto nomem;
    return o;
nomem:
    nb_optimizer_free(o);
    nb_err_set(err, NB_ERR_NOMEM, "%s: out of memory for the state of %zu parameters",
               nb_optim_name(so.method), n);
    return NULL;
}

void nb_optimizer_free(nb_optimizer *o)
{
    if (!o)
        return;
    free_buffers(o->vel, o->n);
    free_buffers(o->sq, o->n);
    free(o->t);
    free(o);
}

/* p -= lr * (g + wd p), or with momentum v = mu v + g + wd p, p -= lr * v;
 * written once for float and double, the branches outside the loops so they
 * vectorise.  Plain SGD without weight decay (the common case) gets a loop
 * of its own: half the arithmetic, the same results for finite p. */
#define SGD_BODY(NAME, T)                                                                      \
    NB_SIMD_BODY void NAME(T *restrict p, const T *restrict g, T *restrict v, size_t n,        \
                           const nb_optimizer_opts *o)                                         \
    {                                                                                          \
        T lr = (T)o->lr, mu = (T)o->momentum, wd = (T)o->weight_decay;                         \
        if (v) {                                                                               \
            for (size_t i = 0; i < n; i++) {                                                   \
                v[i] = mu * v[i] + g[i] + wd * p[i];                                           \
                p[i] -= lr * v[i];                                                             \
            }                                                                                  \
        } else if (wd != 0) {                                                                  \
            for (size_t i = 0; i < n; i++)                                                     \
                p[i] -= lr * (g[i] + wd * p[i]);                                               \
        } else {                                                                               \
            for (size_t i = 0; i < n; i++)                                                     \
                p[i] -= lr * g[i];                                                             \
        }                                                                                      \
    }
SGD_BODY(sgd_f64, double)
SGD_BODY(sgd_f32_body, float)
/* f32 also in an AVX2 build, 8 floats to an instruction instead of SSE2's
 * 4: the same operations, so the same bits. */
NB_SIMD_KERNEL(sgd_f32, sgd_f32_body,
               (float *restrict p, const float *restrict g, float *restrict v, size_t n,
                const nb_optimizer_opts *o),
               (p, g, v, n, o))

/* Adam's step t in PyTorch's order of operations: with step = lr / (1 -
 * beta1^t) and root = sqrt(1 - beta2^t) worked out once per parameter in
 * double and rounded to T (as PyTorch rounds its Python scalars for a float
 * tensor),
 *     g' = g + wd p,  m = b1 m + (1 - b1) g',  v = b2 v + (1 - b2) g' g',
 *     p -= step m / (sqrt(v) / root + eps)
 * written once for float and double; f32 also in an AVX2 build. */
#define ADAM_BODY(NAME, T, SQRT)                                                               \
    NB_SIMD_BODY void NAME(T *restrict p, const T *restrict g, T *restrict m, T *restrict v,   \
                           size_t n, const nb_optimizer_opts *o, double step, double root)     \
    {                                                                                          \
        T b1 = (T)o->beta1, c1 = (T)(1 - o->beta1), wd = (T)o->weight_decay;                   \
        T b2 = (T)o->beta2, c2 = (T)(1 - o->beta2), eps = (T)o->eps;                           \
        T lr = (T)step, r = (T)root;                                                           \
        for (size_t i = 0; i < n; i++) {                                                       \
            T gi = g[i] + wd * p[i];                                                           \
            m[i] = b1 * m[i] + c1 * gi;                                                        \
            v[i] = b2 * v[i] + c2 * gi * gi;                                                   \
            p[i] -= lr * m[i] / (SQRT(v[i]) / r + eps);                                        \
        }                                                                                      \
    }
ADAM_BODY(adam_f64, double, sqrt)
ADAM_BODY(adam_f32_body, float, sqrtf)
NB_SIMD_KERNEL(adam_f32, adam_f32_body,
               (float *restrict p, const float *restrict g, float *restrict m,
                float *restrict v, size_t n, const nb_optimizer_opts *o, double step,
                double root),
               (p, g, m, v, n, o, step, root))

/* Parameter i's update over elements [lo, hi), Adam's with step t + 1. */
void nb__optimizer_update(nb_optimizer *o, size_t i, size_t lo, size_t hi)
{
    nb_node *p = nb_param_at(o->g, i);
    int f32 = nb_graph_dtype(o->g) == NB_F32;
    size_t elt = f32 ? sizeof(float) : sizeof(double), n = hi - lo, at = lo * elt;
    char *g = nb_grads(p), *v = o->vel ? (char *)o->vel[i] + at : NULL;
    char *x = (char *)nb_values(p) + at;

    if (!g || i >= o->n)
        return;
    g += at;
    if (o->o.method == NB_OPTIM_ADAM) {
        double t = (double)o->t[i] + 1;
        double step = o->o.lr / (1 - pow(o->o.beta1, t)), root = sqrt(1 - pow(o->o.beta2, t));
        char *sq = (char *)o->sq[i] + at;
        if (f32)
            adam_f32((float *)x, (float *)g, (float *)v, (float *)sq, n, &o->o, step, root);
        else
            adam_f64((double *)x, (double *)g, (double *)v, (double *)sq, n, &o->o, step, root);
    } else if (f32) {
        sgd_f32((float *)x, (float *)g, (float *)v, n, &o->o);
    } else {
        sgd_f64((double *)x, (double *)g, (double *)v, n, &o->o);
    }
}

/* Adam counts a step for each parameter that had a gradient, as PyTorch
 * counts. */
void nb__optimizer_count(nb_optimizer *o)
{
    for (size_t i = 0; o->t && i < o->n; i++)
        o->t[i] += nb_grads(nb_param_at(o->g, i)) != NULL;
}

nb_graph *nb__optimizer_graph(const nb_optimizer *o) { return o->g; }

nb_status nb_optimizer_step(nb_optimizer *o)
{
    if (!o)
        return NB_ERR_ARG;
    for (size_t i = 0; i < o->n; i++)
        nb__optimizer_update(o, i, 0, nb_size(nb_param_at(o->g, i)));
    nb__optimizer_count(o);
    return NB_OK;
}

void nb_optimizer_zero_grad(nb_optimizer *o)
{
    if (o)
        nb_zero_grad(o->g);
}

void nb_optimizer_set_lr(nb_optimizer *o, double lr)
{
    if (o)
        o->o.lr = lr;
}
