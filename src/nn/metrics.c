/* metrics.c - a model's metrics over a whole data set (nb_mlp_evaluate):
 * mean data loss, and accuracy for classifiers or R^2 for regression,
 * forward only, in batches of at most EVAL_ROWS rows. */
#include "nabla_nn.h"
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>

#define EVAL_ROWS 1000

/* Running sums for the metrics over one data set. */
typedef struct tally {
    double loss, sse, sst, mean_y;
    size_t right, n;
} tally;

static void tally_rows(const nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                       const size_t *idx, tally *t)
{
    size_t c = (size_t)nb__mlp_outputs(m);

    t->loss += nb_value_scalar(bg->data_loss) * bg->rows;
    for (size_t i = 0; i < (size_t)bg->rows; i++) {
        double y = data->y[idx[i]];
        if (m->opts.loss == NB_LOSS_BCE) {
            t->right += (nb_value_at(bg->out, i) > 0) == (y > 0.5);
        } else if (nb__mlp_takes_labels(m)) {
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

/* Rows [lo, hi) of data into t. */
static nb_status eval_chunks(nb_mlp *m, const nb_data *data, size_t lo, size_t hi, size_t *idx,
                             tally *t, nb_err *err)
{
    for (size_t at = lo; at < hi; at += EVAL_ROWS) {
        size_t rows = hi - at < EVAL_ROWS ? hi - at : EVAL_ROWS;
        const nb_batch_graph *bg = nb_mlp_batch_graph(m, (int)rows, err);
        if (!bg)
            return err ? err->code : NB_ERR_ARG;
        for (size_t i = 0; i < rows; i++)
            idx[i] = at + i;
        nb_status s = nb_mlp_gather(m, bg, data, idx, err);
        if (s != NB_OK)
            return s;
        if ((s = nb_forward(m->g, bg->data_loss)) != NB_OK)
            return nb__mlp_fail(m, s, "evaluate", err);
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
    size_t *idx = nb__nn_malloc(EVAL_ROWS * sizeof *idx);
    /* across processes, each rank evaluates its share of the rows */
    size_t r = m->comm ? (size_t)m->comm->rank : 0, ranks = m->comm ? (size_t)m->comm->size : 1;
    nb_status s = !idx ? nb_err_set(err, NB_ERR_NOMEM, "mlp: evaluate: out of memory")
                       : eval_chunks(m, data, data->n * r / ranks, data->n * (r + 1) / ranks,
                                     idx, &t, err);
    free(idx);
    if (m->comm && (s = m->comm->agree(m, s, err)) == NB_OK) {
        double v[5] = { t.loss, t.sse, t.sst, (double)t.right, (double)t.n };
        s = m->comm->sum(m, v, 5, err);
        t = (tally){ v[0], v[1], v[2], t.mean_y, (size_t)v[3], (size_t)v[4] };
    }
    if (s != NB_OK)
        return s;
    int classify = nb_loss_is_classifier(m->opts.loss);
    out->loss = t.loss / (double)t.n;
    out->accuracy = classify ? (double)t.right / (double)t.n : NAN;
    out->r2 = classify ? NAN : t.sst > 0 ? 1 - t.sse / t.sst : NAN;
    return NB_OK;
}
