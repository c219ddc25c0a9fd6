/* scalar_mlp.h - the scalar-mlp workload (benchmarks/README.md) built on the
 * engine, shared by bench_scalar.c (against hand-written C) and
 * bench_tape.c (the packed tape against the wide one): data, parameters
 * and the graph, node for node as micrograd builds it, and the two
 * programs' timing helpers.  nabla.h alone; define _POSIX_C_SOURCE first. */
#ifndef SCALAR_MLP_H
#define SCALAR_MLP_H

#include "nabla.h"

#include <math.h>
#include <time.h>

/* ---- Timing ------------------------------------------------------------------ */

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define N_POINTS 100
#define N_PARAMS 337 /* MLP(2, [16, 16, 1]) */
#define HIDDEN   16

/* ---- Data -------------------------------------------------------------------- */

typedef struct mlp_data {
    double x[N_POINTS][2], y[N_POINTS];
    double p[N_PARAMS]; /* per layer, per neuron: w[0..nin-1], then b */
} mlp_data;

static void mlp_data_init(mlp_data *d)
{
    for (int i = 0; i < N_POINTS; i++) {
        d->x[i][0] = 2 * sin(0.37 * i + 0.1);
        d->x[i][1] = 2 * cos(0.91 * i + 0.3);
        d->y[i] = d->x[i][0] * d->x[i][1] > 0 ? 1 : -1;
    }
    for (int k = 0; k < N_PARAMS; k++)
        d->p[k] = 0.5 * sin(0.731 * k + 0.1);
}

/* ---- scalar-mlp on the engine -------------------------------------------------
 * Node for node what micrograd builds: x as constants, s = b + w0 x0 + ...
 * in that order, loss_i = relu(1 + s_i * (-y_i)), and Python's sum(),
 * which starts from 0, so the graph has micrograd's 65,818 nodes:
 *   L = (0 + sum_i loss_i) * (1/100) + (0 + sum_k p_k p_k) * 1e-4 */

typedef struct mlp_graph {
    nb_graph *g;
    nb_node *p[N_PARAMS];
    nb_node *loss;
} mlp_graph;

/* out[j] = act(b + w0 in[0] + w1 in[1] + ...), with w and b from p[*k] on. */
static void layer(nb_graph *g, nb_node *const *p, int *k, nb_node *const *in, int nin,
                  nb_node **out, int nout, int relu)
{
    for (int j = 0; j < nout; j++) {
        nb_node *const *w = p + *k;
        nb_node *s = w[nin];
        for (int i = 0; i < nin; i++)
            s = nb_add(g, s, nb_mul(g, w[i], in[i]));
        out[j] = relu ? nb_relu(g, s) : s;
        *k += nin + 1;
    }
}

/* Python's sum(): 0 + first, then the rest added in order. */
static nb_node *sum_from_zero(nb_graph *g, nb_node *acc, nb_node *term)
{
    return acc ? nb_add(g, acc, term) : nb_add_const(g, term, 0.0);
}

static int mlp_build(mlp_graph *m, const mlp_data *d)
{
    nb_graph *g = m->g = nb_graph_new(NB_F64);
    nb_node *data = NULL, *reg = NULL;

    if (!g)
        return -1;
    for (int k = 0; k < N_PARAMS; k++)
        m->p[k] = nb_scalar(g, NULL, d->p[k]);
    for (int i = 0; i < N_POINTS; i++) {
        nb_node *x[2] = { nb_const_scalar(g, d->x[i][0]), nb_const_scalar(g, d->x[i][1]) };
        nb_node *h1[HIDDEN], *h2[HIDDEN], *s;
        int k = 0;
        layer(g, m->p, &k, x, 2, h1, HIDDEN, 1);
        layer(g, m->p, &k, h1, HIDDEN, h2, HIDDEN, 1);
        layer(g, m->p, &k, h2, HIDDEN, &s, 1, 0);
        nb_node *loss_i = nb_relu(g, nb_add_const(g, nb_mul_const(g, s, -d->y[i]), 1.0));
        data = sum_from_zero(g, data, loss_i);
    }
    for (int k = 0; k < N_PARAMS; k++)
        reg = sum_from_zero(g, reg, nb_mul(g, m->p[k], m->p[k]));
    m->loss = nb_add(g, nb_mul_const(g, data, 1.0 / N_POINTS), nb_mul_const(g, reg, 1e-4));
    return m->loss ? 0 : -1;
}

#endif /* SCALAR_MLP_H */
