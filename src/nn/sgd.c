/* sgd.c - stochastic gradient descent with momentum and weight decay over a
 * graph's parameters, updating their values in place. */
#include "nabla_nn.h"

#include <stdlib.h>

struct nb_sgd {
    nb_graph   *g;
    nb_sgd_opts o;
    size_t      n;    /* parameters at creation */
    void      **vel;  /* n velocity buffers (momentum only), graph dtype */
};

nb_sgd *nb_sgd_new(nb_graph *g, const nb_sgd_opts *opts, nb_err *err)
{
    if (!g || !opts) {
        nb_err_set(err, NB_ERR_ARG, "sgd: graph or options are NULL");
        return NULL;
    }
    if (!(opts->lr > 0) || !(opts->momentum >= 0 && opts->momentum < 1) ||
        !(opts->weight_decay >= 0)) {
        nb_err_set(err, NB_ERR_ARG, "sgd: need lr > 0, 0 <= momentum < 1, weight decay >= 0 "
                   "(got %g, %g, %g)", opts->lr, opts->momentum, opts->weight_decay);
        return NULL;
    }
    size_t n = nb_param_count(g), elt = nb_graph_dtype(g) == NB_F32 ? 4 : 8;
    nb_sgd *o = calloc(1, sizeof *o);
    if (!o)
        goto nomem;
    o->g = g;
    o->o = *opts;
    o->n = n;
    if (n && opts->momentum > 0) {
        if (!(o->vel = calloc(n, sizeof *o->vel)))
            goto nomem;
        for (size_t i = 0; i < n; i++)
            if (!(o->vel[i] = calloc(nb_size(nb_param_at(g, i)), elt)))
                goto nomem;
    }
    return o;
nomem:
    nb_sgd_free(o);
    nb_err_set(err, NB_ERR_NOMEM, "sgd: out of memory for %zu velocities", n);
    return NULL;
}

void nb_sgd_free(nb_sgd *o)
{
    if (!o)
        return;
    for (size_t i = 0; o->vel && i < o->n; i++)
        free(o->vel[i]);
    free(o->vel);
    free(o);
}

/* p -= lr * (g + wd p), or with momentum v = mu v + g + wd p, p -= lr * v;
 * written once for float and double, the branches outside the loops so they
 * vectorise.  Plain SGD without weight decay (the common case) gets a loop
 * of its own: half the arithmetic, the same results for finite p. */
#define SGD_KERNEL(NAME, T)                                                               \
    static void NAME(T *restrict p, const T *restrict g, T *restrict v, size_t n,         \
                     const nb_sgd_opts *o)                                                \
    {                                                                                     \
        T lr = (T)o->lr, mu = (T)o->momentum, wd = (T)o->weight_decay;                    \
        if (v) {                                                                          \
            for (size_t i = 0; i < n; i++) {                                              \
                v[i] = mu * v[i] + g[i] + wd * p[i];                                      \
                p[i] -= lr * v[i];                                                        \
            }                                                                             \
        } else if (wd != 0) {                                                             \
            for (size_t i = 0; i < n; i++)                                                \
                p[i] -= lr * (g[i] + wd * p[i]);                                          \
        } else {                                                                          \
            for (size_t i = 0; i < n; i++)                                                \
                p[i] -= lr * g[i];                                                        \
        }                                                                                 \
    }
SGD_KERNEL(step_f64, double)
SGD_KERNEL(step_f32, float)

nb_status nb_sgd_step(nb_sgd *o)
{
    if (!o)
        return NB_ERR_ARG;
    int f32 = nb_graph_dtype(o->g) == NB_F32;
    for (size_t i = 0; i < o->n; i++) {
        nb_node *p = nb_param_at(o->g, i);
        void *g = nb_grads(p), *v = o->vel ? o->vel[i] : NULL;
        if (!g)
            continue;
        if (f32)
            step_f32(nb_values(p), g, v, nb_size(p), &o->o);
        else
            step_f64(nb_values(p), g, v, nb_size(p), &o->o);
    }
    return NB_OK;
}

void nb_sgd_zero_grad(nb_sgd *o)
{
    if (o)
        nb_zero_grad(o->g);
}

void nb_sgd_set_lr(nb_sgd *o, double lr)
{
    if (o)
        o->o.lr = lr;
}
