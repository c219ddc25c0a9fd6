/* test_workers.c - data-parallel steps (nb_mlp_set_workers): the same
 * losses, gradients and parameters as one thread, up to rounding, for SGD
 * with momentum and weight decay, Adam and plain SGD, with penalties, in
 * f64 and f32; steps run alone give one thread's bits; no allocation after
 * the first step; errors from a worker's rows reach the caller and change
 * nothing; nb_train's choice of workers. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nabla_nn.h"
#include "nn_hooks.h"

enum { N = 60, D = 7, CLASSES = 3, ROWS = 10 };

static void fill(nb_data *d, uint64_t seed)
{
    nb_rng r;
    nb_rng_seed(&r, seed);
    CHECK(nb_data_alloc(d, N, D, NULL) == NB_OK);
    for (size_t i = 0; i < (size_t)N * D; i++)
        d->x[i] = 2 * nb_rng_uniform(&r) - 1;
    for (size_t i = 0; i < N; i++)
        d->y[i] = (double)nb_rng_below(&r, CLASSES);
}

static nb_mlp *model(nb_dtype dt, nb_act act)
{
    return nb_mlp_new(&(nb_mlp_opts){ .dtype = dt,
                                      .widths = (int[]){ D, 5, 4, CLASSES },
                                      .n_widths = 4,
                                      .act = act,
                                      .loss = NB_LOSS_XENT,
                                      .init = NB_INIT_HE,
                                      .seed = 5,
                                      .l2 = 1e-3 },
                      NULL);
}

/* max |a - b| / (1 + |b|) over every parameter's values and gradients */
static double params_differ(nb_mlp *a, nb_mlp *b)
{
    nb_graph *ga = nb_mlp_graph(a), *gb = nb_mlp_graph(b);
    double worst = 0;
    for (size_t i = 0; i < nb_param_count(ga); i++) {
        nb_node *p = nb_param_at(ga, i), *q = nb_param_at(gb, i);
        for (size_t j = 0; j < nb_size(p); j++) {
            double dv =
                fabs(nb_value_at(p, j) - nb_value_at(q, j)) / (1 + fabs(nb_value_at(q, j)));
            double dg =
                fabs(nb_grad_at(p, j) - nb_grad_at(q, j)) / (1 + fabs(nb_grad_at(q, j)));
            worst = fmax(worst, fmax(dv, dg));
        }
    }
    return worst;
}

/* Five steps of rows rows on n workers and on one thread, compared after
 * each step. */
static void workers_match_one_thread(nb_dtype dt, nb_optimizer_opts so, int n, int rows,
                                     double tol, int way)
{
    nb_err err = { 0 };
    nb__workers_force(way);
    nb_data d;
    fill(&d, 3);
    nb_mlp *a = model(dt, NB_ACT_TANH), *b = model(dt, NB_ACT_TANH);
    CHECK(a && b && nb_mlp_set_workers(a, n, &err) == NB_OK && nb_mlp_workers(a) == n);
    const nb_batch_graph *ha = nb_mlp_batch_graph(a, rows, &err),
                         *hb = nb_mlp_batch_graph(b, rows, &err);
    nb_optimizer *oa = nb_optimizer_new(nb_mlp_graph(a), &so, &err),
                 *ob = nb_optimizer_new(nb_mlp_graph(b), &so, &err);
    size_t idx[ROWS];
    for (int s = 0; s < 5; s++) {
        double la = NAN, lb = NAN;
        for (int i = 0; i < rows; i++)
            idx[i] = (size_t)(7 * s + 13 * i) % N;
        CHECK(nb_mlp_train_step(a, ha, &d, idx, oa, &la, &err) == NB_OK);
        CHECK(nb_mlp_train_step(b, hb, &d, idx, ob, &lb, &err) == NB_OK);
        CHECK_NEAR(la, lb, tol * (1 + fabs(lb)));
        double diff = params_differ(a, b);
        CHECK_NEAR(diff, 0, tol);
        if (rows < n) /* fewer rows than workers: one thread, the same bits */
            CHECK(diff == 0 && la == lb);
        if (way == NB__WORKERS_NEVER) /* alone: as one thread, the same bits */
            CHECK(diff == 0 && la == lb);
    }
    nb_optimizer_free(oa);
    nb_optimizer_free(ob);
    nb_mlp_free(a);
    nb_mlp_free(b);
    nb_data_free(&d);
    nb__workers_force(NB__WORKERS_TIMED);
}

static void errors_change_nothing(void)
{
    nb_err err = { 0 };
    nb_data d;
    fill(&d, 4);
    nb_mlp *m = model(NB_F64, NB_ACT_RELU), *other = model(NB_F64, NB_ACT_RELU);
    CHECK(nb_mlp_set_workers(m, 0, &err) == NB_ERR_ARG && strstr(err.msg, "1 to 8"));
    CHECK(nb_mlp_set_workers(m, NB_MAX_WORKERS + 1, &err) == NB_ERR_ARG);
    CHECK(nb_mlp_set_workers(NULL, 2, &err) == NB_ERR_ARG);
    CHECK(nb_mlp_workers(m) == 1 && nb_mlp_workers(NULL) == 1);
    CHECK(nb_mlp_set_workers(m, 3, &err) == NB_OK && nb_mlp_set_workers(m, 2, &err) == NB_OK &&
          nb_mlp_workers(m) == 2);
    const nb_batch_graph *bg = nb_mlp_batch_graph(m, ROWS, &err);
    nb_optimizer *o =
        nb_optimizer_new(nb_mlp_graph(m), &(nb_optimizer_opts){ .lr = 0.1 }, &err);
    nb_optimizer *wrong =
        nb_optimizer_new(nb_mlp_graph(other), &(nb_optimizer_opts){ .lr = 0.1 }, &err);
    size_t idx[ROWS];
    for (size_t i = 0; i < ROWS; i++)
        idx[i] = i;
    double w0 = nb_value_at(nb_mlp_param(m, "W1"), 0);
    /* a bad label in the second worker's rows */
    d.y[8] = 7;
    CHECK(nb_mlp_train_step(m, bg, &d, idx, o, NULL, &err) == NB_ERR_ARG &&
          strstr(err.msg, "row 8") && strstr(err.msg, "label"));
    CHECK(nb_value_at(nb_mlp_param(m, "W1"), 0) == w0);
    d.y[8] = 1;
    /* a row out of range */
    idx[9] = N;
    CHECK(nb_mlp_train_step(m, bg, &d, idx, o, NULL, &err) == NB_ERR_ARG &&
          strstr(err.msg, "row 60"));
    CHECK(nb_value_at(nb_mlp_param(m, "W1"), 0) == w0);
    idx[9] = 9;
    CHECK(nb_mlp_train_step(m, bg, &d, idx, wrong, NULL, &err) == NB_ERR_ARG &&
          strstr(err.msg, "another graph"));
    CHECK(nb_mlp_train_step(m, bg, &d, NULL, o, NULL, &err) == NB_ERR_ARG);
    /* then a good step, and the model trains on */
    double l0, l1;
    CHECK(nb_mlp_train_step(m, bg, &d, idx, o, &l0, &err) == NB_OK);
    CHECK(nb_value_at(nb_mlp_param(m, "W1"), 0) != w0);
    /* the first step alone plans the model's graph for the whole batch */
    nb__workers_force(NB__WORKERS_NEVER);
    CHECK(nb_mlp_train_step(m, bg, &d, idx, o, NULL, &err) == NB_OK);
    nb__workers_force(NB__WORKERS_TIMED);
    size_t bytes = nb_graph_bytes(nb_mlp_graph(m));
    for (int s = 0; s < 30; s++)
        CHECK(nb_mlp_train_step(m, bg, &d, idx, o, &l1, &err) == NB_OK);
    CHECK(l1 < l0);
    CHECK(nb_graph_bytes(nb_mlp_graph(m)) == bytes); /* nothing allocated per step */
    /* back to one thread, then workers again */
    CHECK(nb_mlp_set_workers(m, 1, &err) == NB_OK && nb_mlp_workers(m) == 1);
    CHECK(nb_mlp_train_step(m, bg, &d, idx, o, &l1, &err) == NB_OK);
    CHECK(nb_mlp_set_workers(m, 2, &err) == NB_OK);
    CHECK(nb_mlp_train_step(m, bg, &d, idx, o, &l1, &err) == NB_OK);
    nb_optimizer_free(o);
    nb_optimizer_free(wrong);
    nb_mlp_free(m); /* with its workers */
    nb_mlp_free(other);
    nb_data_free(&d);
}

/* nb_train on 2 threads takes workers for a step of 2 x 2^22 multiply-adds
 * and more (here 128 x (64 x 256 + 256 x 256 + 256 x 10)), trains as one
 * thread does up to rounding, and leaves the model as it found it; half
 * that batch trains on one thread, bit for bit. */
static void train_uses_workers(void)
{
    enum { ROWS_N = 256, IN = 64 };
    nb_err err = { 0 };
    nb_data d;
    nb_rng r;
    nb_train_result one, two;
    nb_rng_seed(&r, 8);
    CHECK(nb_data_alloc(&d, ROWS_N, IN, NULL) == NB_OK);
    for (size_t i = 0; i < (size_t)ROWS_N * IN; i++)
        d.x[i] = nb_rng_uniform(&r);
    for (size_t i = 0; i < ROWS_N; i++)
        d.y[i] = (double)(i % 10);
    nb_mlp_opts mo = { .widths = (int[]){ IN, 256, 256, 10 },
                       .n_widths = 4,
                       .act = NB_ACT_RELU,
                       .loss = NB_LOSS_XENT,
                       .init = NB_INIT_HE,
                       .seed = 3 };
    nb_train_opts to = { .epochs = 2, .batch = 64, .lr = 0.05, .momentum = 0.9, .seed = 4 };
    nb_mlp *c = nb_mlp_new(&mo, &err), *e = nb_mlp_new(&mo, &err);
    to.threads = 1;
    CHECK(nb_train(c, &d, &d, &to, &one, &err) == NB_OK);
    to.threads = 2;
    nb__workers_force(NB__WORKERS_ALWAYS);
    CHECK(nb_train(e, &d, &d, &to, &two, &err) == NB_OK);
    CHECK(params_differ(c, e) == 0 && one.train_loss == two.train_loss);
    nb_mlp_free(c);
    nb_mlp_free(e);
    to.batch = 128;
    nb_mlp *a = nb_mlp_new(&mo, &err), *b = nb_mlp_new(&mo, &err);
    to.threads = 1;
    CHECK(nb_train(a, &d, &d, &to, &one, &err) == NB_OK);
    to.threads = 2;
    nb__workers_force(NB__WORKERS_ALWAYS);
    CHECK(nb_train(b, &d, &d, &to, &two, &err) == NB_OK);
    nb__workers_force(NB__WORKERS_TIMED);
    CHECK(nb_mlp_workers(b) == 1);
    CHECK_NEAR(two.train_loss, one.train_loss, 1e-10);
    CHECK_NEAR(two.test_loss, one.test_loss, 1e-10);
    CHECK_NEAR(params_differ(a, b), 0, 1e-10);
    /* and workers did run: the parts' sums round differently (deterministic) */
    CHECK(params_differ(a, b) > 0);
    CHECK(nb_mlp_set_workers(b, 3, &err) == NB_OK); /* kept across a training */
    CHECK(nb_train(b, &d, NULL, &to, &two, &err) == NB_OK && nb_mlp_workers(b) == 3);
    nb_mlp_free(a);
    nb_mlp_free(b);
    nb_data_free(&d);
}

int main(void)
{
    nb_optimizer_opts sgd = { .lr = 0.1 },
                      momentum = { .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-2 },
                      adam = { .lr = 0.01, .method = NB_OPTIM_ADAM };
    int ways[] = { NB__WORKERS_ALWAYS, NB__WORKERS_NEVER, NB__WORKERS_TIMED };
    for (int w = 0; w < 3; w++) {
        for (int n = 2; n <= 3; n++) {
            workers_match_one_thread(NB_F64, sgd, n, ROWS, 1e-13, ways[w]);
            workers_match_one_thread(NB_F64, momentum, n, ROWS, 1e-13, ways[w]);
            workers_match_one_thread(NB_F64, adam, n, ROWS, 1e-11, ways[w]);
            workers_match_one_thread(NB_F32, sgd, n, ROWS, 2e-6, ways[w]);
            workers_match_one_thread(NB_F32, adam, n, ROWS, 1e-4, ways[w]);
        }
    }
    /* fewer rows than workers */
    workers_match_one_thread(NB_F64, sgd, 3, 2, 0, NB__WORKERS_TIMED);
    errors_change_nothing();
    train_uses_workers();
    return check_summary();
}
