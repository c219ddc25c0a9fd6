/* mlp.c - multilayer perceptrons (and, with no hidden layer, linear, logistic
 * and softmax regression): parameters, the graph for each batch size, one
 * training step and prediction.  Gathering batches is in gather.c,
 * data-parallel steps in parallel.c, metrics in metrics.c, the training
 * loop in train.c. */
#include "nabla_nn.h"
#include "nn_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        nb_status s =
            nb_linear_params(m->g, wn, bn, m->widths[l], m->widths[l + 1], m->opts.init, std,
                             m->opts.act, &rng, &m->W[l], &m->b[l]);
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
    nb_mlp *m = nb__nn_calloc(1, sizeof *m);
    if (!m || !(m->widths = nb__nn_malloc((size_t)opts->n_widths * sizeof(int))) ||
        !(m->W = nb__nn_calloc((size_t)opts->n_widths, sizeof(nb_node *))) ||
        !(m->b = nb__nn_calloc((size_t)opts->n_widths, sizeof(nb_node *))) ||
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
nb_mlp *nb__mlp_replica(nb_mlp *m, nb_err *err)
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
    if (nb_error(r->g) != NB_OK) { /* the first error, kept by the graph */
        nb_err_set(err, nb_error(r->g), "mlp: worker replica: %s", nb_errmsg(r->g));
        nb_mlp_free(r);
        return NULL;
    }
    return r;
}

void nb_mlp_free(nb_mlp *m)
{
    if (!m)
        return;
    nb__mlp_drop_workers(m); /* the replicas view this graph: first */
    if (m->comm)
        m->comm->drop(m);
    nb_graph_free(m->g);
    free(m->widths);
    free(m->W);
    free(m->b);
    free(m);
}

nb_graph *nb_mlp_graph(const nb_mlp *m) { return m ? m->g : NULL; }
const nb_mlp_opts *nb_mlp_options(const nb_mlp *m) { return m ? &m->opts : NULL; }
nb_node *nb_mlp_param(const nb_mlp *m, const char *name)
{
    return m ? nb_lookup(m->g, name) : NULL;
}

/* x -> linear, act, ..., linear; t and the loss as nb_loss says. */
static nb_status build_batch_graph(nb_mlp *m, nb_batch_graph *bg, int rows, nb_err *err)
{
    nb_graph *g = m->g;

    bg->rows = rows;
    bg->x = nb_constant(g, NULL, 2, (int[]){ rows, nb__mlp_inputs(m) }, NULL);
    bg->t = nb__mlp_takes_labels(m) ? nb_constant(g, NULL, 1, (int[]){ rows }, NULL)
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
    if (m->n_graphs == NB_MLP_MAX_BATCH_GRAPHS) {
        nb_err_set(err, NB_ERR_ARG, "mlp: more than %d batch sizes", NB_MLP_MAX_BATCH_GRAPHS);
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

nb_status nb__mlp_fail(nb_mlp *m, nb_status s, const char *what, nb_err *err)
{
    return nb_err_set(err, s, "mlp: %s: %s", what, nb_errmsg(m->g));
}

nb_status nb_mlp_step(nb_mlp *m, const nb_batch_graph *bg, nb_optimizer *o, double *loss,
                      nb_err *err)
{
    if (!m || !bg || !o)
        return nb_err_set(err, NB_ERR_ARG, "mlp: step: NULL argument");
    nb_status s = nb_forward_backward(m->g, bg->loss, NULL, 0);
    if (s != NB_OK) /* a non-finite loss stops it after forward */
        return nb__mlp_fail(m, s, isfinite(nb_value_scalar(bg->loss)) ? "backward" : "forward",
                            err);
    if (loss)
        *loss = nb_value_scalar(bg->loss);
    return nb_optimizer_step(o);
}

nb_status nb_mlp_predict(nb_mlp *m, const double *x, int rows, double *out, nb_err *err)
{
    if (!m || !x || !out)
        return nb_err_set(err, NB_ERR_ARG, "mlp: predict: NULL argument");
    const nb_batch_graph *bg = nb_mlp_batch_graph(m, rows, err);
    if (!bg)
        return err ? err->code : NB_ERR_ARG;
    size_t n = (size_t)rows * (size_t)nb__mlp_inputs(m);
    for (size_t i = 0; i < n; i++)
        nb_set_at(bg->x, i, x[i]);
    nb_status s = nb_forward(m->g, bg->out);
    if (s != NB_OK)
        return nb__mlp_fail(m, s, "predict", err);
    for (size_t i = 0, k = nb_size(bg->out); i < k; i++)
        out[i] = nb_value_at(bg->out, i);
    return NB_OK;
}
