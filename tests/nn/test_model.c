/* test_model.c - the model layer's arithmetic and contracts: SGD updates
 * against hand values, no arena growth after the first step, gradient checks
 * of MLP losses in f64, parameters by name, seeded initialisation, errors,
 * and small trainings that must converge. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nabla_nn.h"

/* loss = sum(p * c): the gradient of p is c = (3, 0.5); p starts at (1, -2) */
static void sgd_run(nb_dtype dt, nb_sgd_opts o, int steps, double out[2])
{
    nb_graph *g = nb_graph_new(dt);
    nb_node *p = nb_param(g, "p", 1, (int[]){ 2 }, (double[]){ 1, -2 });
    nb_node *c = nb_constant(g, "c", 1, (int[]){ 2 }, (double[]){ 3, 0.5 });
    nb_node *L = nb_sum(g, nb_mul(g, p, c));
    nb_sgd *s = nb_sgd_new(g, &o, NULL);
    for (int i = 0; i < steps; i++) {
        CHECK(nb_forward(g, L) == NB_OK && nb_backward(g, L) == NB_OK);
        CHECK(nb_sgd_step(s) == NB_OK);
    }
    out[0] = nb_value_at(p, 0);
    out[1] = nb_value_at(p, 1);
    nb_sgd_free(s);
    nb_graph_free(g);
}

static void sgd_matches_hand_values(void)
{
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        double tol = k ? 1e-6 : 1e-15, p[2];
        sgd_run(dt, (nb_sgd_opts){ .lr = 0.1 }, 1, p);
        CHECK_NEAR(p[0], 0.7, tol);
        CHECK_NEAR(p[1], -2.05, tol);
        /* v1 = g, v2 = 0.9 g + g = (5.7, 0.95) */
        sgd_run(dt, (nb_sgd_opts){ .lr = 0.1, .momentum = 0.9 }, 2, p);
        CHECK_NEAR(p[0], 0.13, tol);
        CHECK_NEAR(p[1], -2.145, tol);
        /* g' = g + 0.01 p = (3.01, 0.48) */
        sgd_run(dt, (nb_sgd_opts){ .lr = 0.1, .weight_decay = 0.01 }, 1, p);
        CHECK_NEAR(p[0], 0.699, tol);
        CHECK_NEAR(p[1], -2.048, tol);
        /* g'1 = (3.1, 0.3), p1 = (0.69, -2.03); g'2 = (3.069, 0.297),
         * v2 = 0.5 v1 + g'2 = (4.619, 0.447), p2 = (0.2281, -2.0747) */
        sgd_run(dt, (nb_sgd_opts){ .lr = 0.1, .momentum = 0.5, .weight_decay = 0.1 }, 2, p);
        CHECK_NEAR(p[0], 0.2281, tol * 4);
        CHECK_NEAR(p[1], -2.0747, tol * 4);
    }
    nb_err err = { 0 };
    nb_graph *g = nb_graph_new(NB_F64);
    CHECK(nb_sgd_new(g, &(nb_sgd_opts){ .lr = 0 }, &err) == NULL && err.code == NB_ERR_ARG);
    CHECK(nb_sgd_new(g, &(nb_sgd_opts){ .lr = 1, .momentum = 1 }, &err) == NULL);
    nb_graph_free(g);
}

/* n rows of d features in [-1, 1]; y a class 0..k-1 (k > 1) or a value */
static void fill(nb_data *d, size_t n, int dim, int k, uint64_t seed)
{
    nb_rng r;
    nb_rng_seed(&r, seed);
    CHECK(nb_data_alloc(d, n, dim, NULL) == NB_OK);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < dim; j++)
            s += (d->x[i * (size_t)dim + (size_t)j] = 2 * nb_rng_uniform(&r) - 1);
        d->y[i] = k > 1 ? (double)nb_rng_below(&r, (size_t)k) : s;
    }
}

static void training_allocates_nothing_after_step_one(void)
{
    nb_data d;
    nb_err err = { 0 };
    fill(&d, 95, 8, 3, 1);
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .dtype = NB_F32, .widths = (int[]){ 8, 16, 3 },
                                           .n_widths = 3, .act = NB_ACT_RELU,
                                           .loss = NB_LOSS_XENT }, &err);
    nb_sgd *o = nb_sgd_new(nb_mlp_graph(m), &(nb_sgd_opts){ .lr = 0.1, .momentum = 0.9 }, &err);
    const nb_head *h = nb_mlp_head(m, 10, &err);
    size_t idx[10];
    for (size_t i = 0; i < 10; i++)
        idx[i] = i;
    double loss0 = 0, loss = 0;
    float x64[80], x32[80];                  /* the f32 copy gathers the same batch */
    CHECK(nb_mlp_load(m, h, &d, idx, &err) == NB_OK && nb_read(h->x, x64, NB_F32) == NB_OK);
    CHECK(nb_data_f32(&d, &err) == NB_OK && nb_mlp_load(m, h, &d, idx, &err) == NB_OK);
    CHECK(nb_read(h->x, x32, NB_F32) == NB_OK && !memcmp(x64, x32, sizeof x64));
    CHECK(nb_mlp_step(m, h, o, &loss0, &err) == NB_OK);
    size_t bytes = nb_graph_bytes(nb_mlp_graph(m));
    for (int s = 0; s < 50; s++) {
        for (size_t i = 0; i < 10; i++)
            idx[i] = (size_t)(s * 10 + (int)i) % d.n;
        CHECK(nb_mlp_load(m, h, &d, idx, &err) == NB_OK);
        CHECK(nb_mlp_step(m, h, o, &loss, &err) == NB_OK);
    }
    CHECK(nb_graph_bytes(nb_mlp_graph(m)) == bytes);
    /* whole epochs through nb_train: heads of 10 and 5 rows, built once */
    nb_train_opts to = { .epochs = 1, .batch = 10, .lr = 0.1 };
    CHECK(nb_train(m, &d, &d, &to, NULL, &err) == NB_OK);
    bytes = nb_graph_bytes(nb_mlp_graph(m));
    to.epochs = 3;
    int threads = nb_set_threads(2);           /* small products train on 1; restored */
    CHECK(nb_train(m, &d, &d, &to, NULL, &err) == NB_OK);
    CHECK(nb_graph_bytes(nb_mlp_graph(m)) == bytes);
    CHECK(nb_set_threads(0) == threads);
    nb_set_threads(1);
    nb_sgd_free(o);
    nb_mlp_free(m);
    nb_data_free(&d);
}

/* Gradient check of every parameter of an f64 MLP's loss. */
static void gradcheck_mlp(nb_act act, nb_loss loss, int outputs, double l1, double l2)
{
    nb_data d;
    nb_err err = { 0 };
    int k = loss == NB_LOSS_XENT || loss == NB_LOSS_HINGE ? outputs : 0;
    fill(&d, 7, 4, k, 3);
    if (loss == NB_LOSS_BCE)
        for (size_t i = 0; i < d.n; i++)
            d.y[i] = d.y[i] > 0;
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 4, 6, 5, outputs }, .n_widths = 4,
                                           .act = act, .loss = loss, .seed = 9, .l1 = l1,
                                           .l2 = l2 }, &err);
    const nb_head *h = m ? nb_mlp_head(m, 7, &err) : NULL;
    size_t idx[7] = { 0, 1, 2, 3, 4, 5, 6 };
    CHECK(h && nb_mlp_load(m, h, &d, idx, &err) == NB_OK);
    nb_graph *g = nb_mlp_graph(m);
    size_t np = nb_param_count(g);
    nb_node *leaves[6];
    nb_gradcheck_result res[6];
    for (size_t i = 0; i < np && i < 6; i++)
        leaves[i] = nb_param_at(g, i);
    CHECK(np == 6);
    CHECK(nb_forward(g, h->loss) == NB_OK);
    CHECK(nb_gradcheck(g, h->loss, leaves, np, NULL, res) == NB_OK);
    for (size_t i = 0; i < np; i++) {
        CHECK(res[i].pass);
        if (!res[i].pass)
            fprintf(stderr, "  %s %s: %s max rel err %g\n", nb_act_name(act),
                    nb_loss_name(loss), nb_name(leaves[i]), res[i].max_rel_err);
    }
    nb_mlp_free(m);
    nb_data_free(&d);
}

static void mlp_losses_pass_gradient_checks(void)
{
    gradcheck_mlp(NB_ACT_TANH, NB_LOSS_XENT, 3, 0, 0);
    gradcheck_mlp(NB_ACT_SIGMOID, NB_LOSS_BCE, 1, 0, 0.01);
    gradcheck_mlp(NB_ACT_TANH, NB_LOSS_MSE, 1, 0.01, 0.02);
    gradcheck_mlp(NB_ACT_SIGMOID, NB_LOSS_L1, 1, 0, 0);
}

static void params_are_found_by_name_and_seeded(void)
{
    nb_err err = { 0 };
    nb_mlp_opts o = { .widths = (int[]){ 400, 300, 2 }, .n_widths = 3, .act = NB_ACT_RELU,
                      .loss = NB_LOSS_XENT, .seed = 5 };
    nb_mlp *a = nb_mlp_new(&o, &err), *b = nb_mlp_new(&o, &err);
    o.seed = 6;
    nb_mlp *c = nb_mlp_new(&o, &err);
    nb_node *W1 = nb_mlp_param(a, "W1");
    CHECK(W1 && nb_dim(W1, 0) == 400 && nb_dim(W1, 1) == 300);
    CHECK(W1 == nb_lookup(nb_mlp_graph(a), "W1"));
    CHECK(nb_size(nb_mlp_param(a, "b2")) == 2 && nb_mlp_param(a, "W3") == NULL);
    CHECK(memcmp(nb_values(W1), nb_values(nb_mlp_param(b, "W1")), 120000 * 8) == 0);
    CHECK(memcmp(nb_values(W1), nb_values(nb_mlp_param(c, "W1")), 120000 * 8) != 0);
    double s2 = 0;  /* He: std sqrt(2 / 400) */
    for (size_t i = 0; i < 120000; i++)
        s2 += nb_value_at(W1, i) * nb_value_at(W1, i) / 120000;
    CHECK_NEAR(sqrt(s2), sqrt(2.0 / 400), 0.01 * sqrt(2.0 / 400));
    CHECK(nb_value_at(nb_mlp_param(a, "b1"), 7) == 0);
    nb_mlp_free(a);
    nb_mlp_free(b);
    nb_mlp_free(c);
}

static void bad_models_and_data_are_errors(void)
{
    nb_err err = { 0 };
    nb_data d;
    CHECK(nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 3 }, .n_widths = 1 }, &err) == NULL);
    CHECK(err.code == NB_ERR_ARG);
    CHECK(nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 3, 0 }, .n_widths = 2 }, &err) == NULL);
    CHECK(nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 3, 2 }, .n_widths = 2,
                                     .loss = NB_LOSS_MSE }, &err) == NULL);
    CHECK(strstr(err.msg, "mse needs 1 output") != NULL);
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 3, 2 }, .n_widths = 2,
                                           .loss = NB_LOSS_XENT }, &err);
    fill(&d, 4, 2, 2, 1);
    size_t idx[4] = { 0, 1, 2, 3 };
    const nb_head *h = nb_mlp_head(m, 4, &err);
    CHECK(nb_mlp_load(m, h, &d, idx, &err) == NB_ERR_SHAPE);
    CHECK(strstr(err.msg, "2 features, the model 3 inputs") != NULL);
    nb_data_free(&d);
    fill(&d, 4, 3, 2, 1);
    d.y[2] = 2;  /* the model has classes 0 and 1 */
    CHECK(nb_mlp_load(m, h, &d, idx, &err) == NB_ERR_ARG && strstr(err.msg, "row 2") != NULL);
    CHECK(nb_train(m, &d, NULL, &(nb_train_opts){ .epochs = 0, .lr = 1 }, NULL, &err) ==
          NB_ERR_ARG);
    CHECK(nb_train(m, &d, NULL, &(nb_train_opts){ .epochs = 1, .lr = 1, .loss_csv = "/no/dir/x" },
                   NULL, &err) == NB_ERR_IO);
    nb_data_free(&d);
    nb_mlp_free(m);
    /* a learning rate that blows up: the error says non-finite */
    fill(&d, 20, 2, 0, 2);
    m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 2, 1 }, .n_widths = 2, .seed = 1 }, &err);
    CHECK(nb_train(m, &d, NULL, &(nb_train_opts){ .epochs = 200, .lr = 1e3 }, NULL, &err) ==
          NB_ERR_NONFINITE);
    nb_data_free(&d);
    nb_mlp_free(m);
}

static void small_models_converge(void)
{
    nb_err err = { 0 };
    nb_data d;
    nb_train_result r;
    /* linear regression: y = sum x recovered to 1e-3 */
    fill(&d, 200, 3, 0, 4);
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 3, 1 }, .n_widths = 2 }, &err);
    CHECK(nb_train(m, &d, &d, &(nb_train_opts){ .epochs = 300, .lr = 0.3, .no_shuffle = 1 }, &r,
                   &err) == NB_OK);
    for (size_t j = 0; j < 3; j++)
        CHECK_NEAR(nb_value_at(nb_mlp_param(m, "W1"), j), 1, 1e-3);
    CHECK(r.test_r2 > 0.999999 && isnan(r.test_accuracy));
    double x[3] = { 1, 2, 3 }, y;
    CHECK(nb_mlp_predict(m, x, 1, &y, &err) == NB_OK);
    CHECK_NEAR(y, 6, 1e-2);
    nb_mlp_free(m);
    nb_data_free(&d);
    /* XOR with a 2-8-1 tanh network and BCE */
    CHECK(nb_data_alloc(&d, 4, 2, &err) == NB_OK);
    memcpy(d.x, (double[]){ 0, 0, 0, 1, 1, 0, 1, 1 }, 8 * sizeof(double));
    memcpy(d.y, (double[]){ 0, 1, 1, 0 }, 4 * sizeof(double));
    m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 2, 8, 1 }, .n_widths = 3,
                                   .act = NB_ACT_TANH, .loss = NB_LOSS_BCE, .seed = 2 }, &err);
    CHECK(nb_train(m, &d, &d, &(nb_train_opts){ .epochs = 2000, .lr = 0.5, .momentum = 0.9 },
                   &r, &err) == NB_OK);
    CHECK(r.test_loss < 0.01 && r.test_accuracy == 1);
    nb_mlp_free(m);
    nb_data_free(&d);
}

int main(void)
{
    sgd_matches_hand_values();
    training_allocates_nothing_after_step_one();
    mlp_losses_pass_gradient_checks();
    params_are_found_by_name_and_seeded();
    bad_models_and_data_are_errors();
    small_models_converge();
    return check_summary();
}
