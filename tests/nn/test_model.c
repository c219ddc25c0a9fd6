/* test_model.c - the model layer's arithmetic and contracts: SGD updates
 * against hand values, Adam against PyTorch's numbers (adam_reference.py),
 * no arena growth after the first step, gradient checks
 * of MLP losses in f64, parameters by name, seeded initialisation, errors,
 * and small trainings that must converge. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nabla_nn.h"

/* loss = sum(p * c): the gradient of p is c = (3, 0.5); p starts at (1, -2) */
static void sgd_run(nb_dtype dt, nb_optimizer_opts o, int steps, double out[2])
{
    nb_graph *g = nb_graph_new(dt);
    nb_node *p = nb_param(g, "p", 1, (int[]){ 2 }, (double[]){ 1, -2 });
    nb_node *c = nb_constant(g, "c", 1, (int[]){ 2 }, (double[]){ 3, 0.5 });
    nb_node *L = nb_sum(g, nb_mul(g, p, c));
    nb_optimizer *s = nb_optimizer_new(g, &o, NULL);
    for (int i = 0; i < steps; i++) {
        CHECK(nb_forward(g, L) == NB_OK && nb_backward(g, L) == NB_OK);
        CHECK(nb_optimizer_step(s) == NB_OK);
    }
    out[0] = nb_value_at(p, 0);
    out[1] = nb_value_at(p, 1);
    nb_optimizer_free(s);
    nb_graph_free(g);
}

static void sgd_matches_hand_values(void)
{
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        double tol = k ? 1e-6 : 1e-15, p[2];
        sgd_run(dt, (nb_optimizer_opts){ .lr = 0.1 }, 1, p);
        CHECK_NEAR(p[0], 0.7, tol);
        CHECK_NEAR(p[1], -2.05, tol);
        /* v1 = g, v2 = 0.9 g + g = (5.7, 0.95) */
        sgd_run(dt, (nb_optimizer_opts){ .lr = 0.1, .momentum = 0.9 }, 2, p);
        CHECK_NEAR(p[0], 0.13, tol);
        CHECK_NEAR(p[1], -2.145, tol);
        /* g' = g + 0.01 p = (3.01, 0.48) */
        sgd_run(dt, (nb_optimizer_opts){ .lr = 0.1, .weight_decay = 0.01 }, 1, p);
        CHECK_NEAR(p[0], 0.699, tol);
        CHECK_NEAR(p[1], -2.048, tol);
        /* g'1 = (3.1, 0.3), p1 = (0.69, -2.03); g'2 = (3.069, 0.297),
         * v2 = 0.5 v1 + g'2 = (4.619, 0.447), p2 = (0.2281, -2.0747) */
        sgd_run(dt, (nb_optimizer_opts){ .lr = 0.1, .momentum = 0.5, .weight_decay = 0.1 }, 2,
                p);
        CHECK_NEAR(p[0], 0.2281, tol * 4);
        CHECK_NEAR(p[1], -2.0747, tol * 4);
    }
    nb_err err = { 0 };
    nb_graph *g = nb_graph_new(NB_F64);
    CHECK(nb_optimizer_new(g, &(nb_optimizer_opts){ .lr = 0 }, &err) == NULL &&
          err.code == NB_ERR_ARG);
    CHECK(nb_optimizer_new(g, &(nb_optimizer_opts){ .lr = 1, .momentum = 1 }, &err) == NULL);
    nb_graph_free(g);
}

/* ---- Adam against PyTorch ------------------------------------------------
 * W (3 x 2), b (2), loss = mean((tanh(x W + b) - t)^2); five steps of
 * torch.optim.Adam in each dtype, W and b after each.  The tables are the
 * output of tests/nn/adam_reference.py, which holds the same x, t, W, b and
 * configurations (/usr/bin/python3 tests/nn/adam_reference.py to redo). */
/* torch 1.13.0a0: [configuration][step t - 1][W row-major, then b] */
static const double adam_ref_f64[2][5][8] = {
    {
        { 0.2800000005703942, -0.19000000085215515, 0.25999999570805488, 0.43999998380432775,
          -0.50000000059314786, 0.24000000081198017, 0.17000002484770541,
          -0.22000000207190371 },
        { 0.24998656938296115, -0.15997335057945694, 0.28970341600721061, 0.46890535056980942,
          -0.46999423064587253, 0.21001845099145516, 0.14127823153252908,
          -0.18995939265795592 },
        { 0.21996919029834691, -0.12992668638047858, 0.31852224486756164, 0.49511419690165992,
          -0.43997622106072715, 0.1800761103471388, 0.11244416262367209, -0.1598588849693649 },
        { 0.18997447397304221, -0.099904999025416955, 0.3452277089031498, 0.51641459716683846,
          -0.40993807043445074, 0.15020285000639608, 0.083223895378157081, -0.129720996774942 },
        { 0.16004755684580479, -0.070018016664782731, 0.36759484750706994, 0.5312398509199181,
          -0.37987111519582389, 0.12043814907971347, 0.053598913956162814,
          -0.099649299736602387 },
    },
    {
        { 0.29182464412350079, -0.20261609883948611, 0.24288754188343736, 0.4205144449968567,
          -0.5119682092219795, 0.25253057470870444, 0.20211937622634621, -0.23580402040058127 },
        { 0.2736192403774183, -0.18512943717819838, 0.2553843802236061, 0.43096624089964508,
          -0.49390918407371204, 0.23508962917762807, 0.20235724195969435,
          -0.22124096862108245 },
        { 0.2553796068997039, -0.16754181469020946, 0.26730927813963945, 0.44135541516784338,
          -0.47581429772189043, 0.21769137377246459, 0.20039602211476504,
          -0.20630157377913227 },
        { 0.23711015016077533, -0.14989099454375193, 0.278465157665373, 0.45168752550636027,
          -0.45767522859874177, 0.20035186734965127, 0.19632878880088689,
          -0.19103565063681219 },
        { 0.21882438463376347, -0.13224877762872247, 0.28864033188192695, 0.46196886661874287,
          -0.43948222436327311, 0.18309106635447459, 0.1903813859840093, -0.17554395213414486 },
    },
};
static const double adam_ref_f32[2][5][8] = {
    {
        { 0.2800000011920929, -0.18999999761581421, 0.25999999046325684, 0.43999996781349182,
          -0.49999997019767761, 0.24000000953674316, 0.17000003159046173, -0.2199999988079071 },
        { 0.24998657405376434, -0.15997335314750671, 0.28970339894294739, 0.46890532970428467,
          -0.46999421715736389, 0.21001845598220825, 0.14127823710441589,
          -0.18995939195156097 },
        { 0.21996919810771942, -0.12992668151855469, 0.31852221488952637, 0.49511417746543884,
          -0.43997621536254883, 0.18007612228393555, 0.11244416236877441,
          -0.15985888242721558 },
        { 0.18997448682785034, -0.099904999136924744, 0.3452276885509491, 0.5164145827293396,
          -0.40993806719779968, 0.15020287036895752, 0.083223894238471985,
          -0.12972100079059601 },
        { 0.16004757583141327, -0.070018023252487183, 0.36759483814239502, 0.53123986721038818,
          -0.37987110018730164, 0.12043817341327667, 0.053598914295434952,
          -0.099649310111999512 },
    },
    {
        { 0.29182463884353638, -0.20261609554290771, 0.24288754165172577, 0.42051443457603455,
          -0.51196819543838501, 0.25253057479858398, 0.202119380235672, -0.23580402135848999 },
        { 0.27361923456192017, -0.18512943387031555, 0.25538438558578491, 0.43096622824668884,
          -0.49390918016433716, 0.23508962988853455, 0.20235723257064819,
          -0.22124096751213074 },
        { 0.25537958741188049, -0.16754181683063507, 0.2673092782497406, 0.44135540723800659,
          -0.47581428289413452, 0.21769137680530548, 0.20039600133895874,
          -0.20630156993865967 },
        { 0.23711013793945312, -0.14989098906517029, 0.2784651517868042, 0.4516875147819519,
          -0.45767521858215332, 0.20035186409950256, 0.19632875919342041,
          -0.19103564321994781 },
        { 0.21882437169551849, -0.13224877417087555, 0.28864032030105591, 0.46196886897087097,
          -0.43948221206665039, 0.18309105932712555, 0.19038134813308716,
          -0.17554394900798798 },
    },
};

static const nb_optimizer_opts adam_cfg[2] = {
    { .lr = 0.03, .weight_decay = 0.1, .method = NB_OPTIM_ADAM }, /* PyTorch's defaults */
    { .lr = 0.02,
      .weight_decay = 0.01,
      .method = NB_OPTIM_ADAM,
      .beta1 = 0.5,
      .beta2 = 0.9,
      .eps = 0.05 },
};

static void adam_run(nb_dtype dt, const nb_optimizer_opts *o, double out[5][8])
{
    nb_graph *g = nb_graph_new(dt);
    nb_node *W = nb_param(g, "W", 2, (int[]){ 3, 2 },
                          (double[]){ 0.31, -0.22, 0.23, 0.41, -0.53, 0.27 });
    nb_node *b = nb_param(g, "b", 1, (int[]){ 2 }, (double[]){ 0.2, -0.25 });
    nb_node *x = nb_constant(
        g, "x", 2, (int[]){ 4, 3 },
        (double[]){ 0.5, -1.0, 2.0, 1.5, 0.25, -0.75, -0.3, 0.8, 1.1, 2.0, -0.6, 0.4 });
    nb_node *t = nb_constant(g, "t", 2, (int[]){ 4, 2 },
                             (double[]){ 0.2, -0.4, -0.7, 0.9, 0.5, 0.1, -0.3, -0.8 });
    nb_node *L = nb_mse(g, nb_tanh(g, nb_add(g, nb_matmul(g, x, W), b)), t);
    nb_optimizer *s = nb_optimizer_new(g, o, NULL);
    CHECK(L && s);
    for (int k = 0; L && s && k < 5; k++) {
        CHECK(nb_forward(g, L) == NB_OK && nb_backward(g, L) == NB_OK);
        CHECK(nb_optimizer_step(s) == NB_OK);
        for (size_t i = 0; i < 6; i++)
            out[k][i] = nb_value_at(W, i);
        out[k][6] = nb_value_at(b, 0);
        out[k][7] = nb_value_at(b, 1);
    }
    nb_optimizer_free(s);
    nb_graph_free(g);
}

/* Every parameter after every step t = 1..5 (so the bias corrections
 * 1 - beta^t change), with weight decay, default and other betas and eps.
 * f64: the kernel does PyTorch's operations in PyTorch's order, so only
 * the gradients differ (tanh from another libm, sums in another order),
 * by an ulp or so: the worst seen is 8e-16, and 1e-12 relative is
 * generous.  f32: the same, in float ulps of 6e-8; the worst seen is 3e-7,
 * and 1e-6 relative leaves room for another matmul or tanh while still
 * catching slips in the formula: eps under the square root, t off by one,
 * no weight decay or no second bias correction each move some parameter
 * by 10% or more. */
static void adam_matches_pytorch(void)
{
    double got[5][8], worst[2] = { 0, 0 };
    for (int k = 0; k < 2; k++) {
        for (int c = 0; c < 2; c++) {
            const double(*want)[8] = k ? adam_ref_f32[c] : adam_ref_f64[c];
            double tol = k ? 1e-6 : 1e-12;
            adam_run(k ? NB_F32 : NB_F64, &adam_cfg[c], got);
            for (int step = 0; step < 5; step++) {
                for (int i = 0; i < 8; i++) {
                    double rel = fabs(got[step][i] - want[step][i]) / fabs(want[step][i]);
                    worst[k] = fmax(worst[k], rel);
                    CHECK_NEAR(got[step][i], want[step][i], tol * fabs(want[step][i]));
                }
            }
        }
    }
    printf("adam vs torch: worst relative error f64 %.3g, f32 %.3g\n", worst[0], worst[1]);
    /* 0 means the default: the same bits as asking for 0.9, 0.999, 1e-8 */
    double dflt[5][8];
    nb_optimizer_opts o = adam_cfg[0];
    o.beta1 = 0.9, o.beta2 = 0.999, o.eps = 1e-8;
    adam_run(NB_F64, &adam_cfg[0], dflt);
    adam_run(NB_F64, &o, got);
    CHECK(memcmp(dflt, got, sizeof got) == 0);
}

static void adam_rejects_bad_options(void)
{
    static const struct {
        nb_optimizer_opts o;
        const char *msg;
    } bad[] = {
        { { .lr = 0.1, .method = NB_OPTIM_ADAM, .beta1 = 1 },
          "adam: need 0 <= beta1 < 1 and 0 <= beta2 < 1 (got 1, 0)" },
        { { .lr = 0.1, .method = NB_OPTIM_ADAM, .beta2 = -0.5 }, "(got 0, -0.5)" },
        { { .lr = 0.1, .method = NB_OPTIM_ADAM, .beta2 = NAN }, "0 <= beta2 < 1" },
        { { .lr = 0.1, .method = NB_OPTIM_ADAM, .eps = -1e-8 },
          "adam: need eps > 0 (got -1e-08)" },
        { { .lr = 0.1, .method = NB_OPTIM_ADAM, .momentum = 0.9 },
          "adam: momentum is for SGD, not Adam (got 0.9" },
        { { .lr = 0, .method = NB_OPTIM_ADAM }, "adam: need lr > 0" },
        { { .lr = 0.1, .method = NB_OPTIM_ADAM, .weight_decay = -1 }, "weight decay >= 0" },
        { { .lr = 0.1, .method = (nb_optim)2 }, "optimizer: unknown method 2" },
    };
    nb_err err = { 0 };
    nb_graph *g = nb_graph_new(NB_F64);
    CHECK(nb_param(g, "p", 1, (int[]){ 2 }, NULL) != NULL);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err = (nb_err){ 0 };
        CHECK(nb_optimizer_new(g, &bad[i].o, &err) == NULL && err.code == NB_ERR_ARG);
        if (!strstr(err.msg, bad[i].msg))
            fprintf(stderr, "  message '%s' lacks '%s'\n", err.msg, bad[i].msg);
        CHECK(strstr(err.msg, bad[i].msg) != NULL);
    }
    nb_graph_free(g);
    CHECK(nb_optim_parse("adam") == NB_OPTIM_ADAM && nb_optim_parse("sgd") == NB_OPTIM_SGD);
    CHECK(nb_optim_parse("rmsprop") == -1 && nb_optim_parse(NULL) == -1);
    CHECK(!strcmp(nb_optim_name(NB_OPTIM_ADAM), "adam"));
    CHECK(!strcmp(nb_optim_name((nb_optim)9), "?"));
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

/* Fifty steps over d in batches of 10 rows (after a first step): 1 if the
 * graph's arena did not grow. */
static int fifty_steps_allocate_nothing(nb_mlp *m, const nb_batch_graph *bg, nb_optimizer *o,
                                        const nb_data *d, double *loss)
{
    nb_err err = { 0 };
    size_t idx[10], bytes = nb_graph_bytes(nb_mlp_graph(m));
    int ok = 1;

    for (int s = 0; s < 50; s++) {
        for (size_t i = 0; i < 10; i++)
            idx[i] = (size_t)(s * 10 + (int)i) % d->n;
        ok &= nb_mlp_gather(m, bg, d, idx, &err) == NB_OK;
        ok &= nb_mlp_step(m, bg, o, loss, &err) == NB_OK;
    }
    return ok && nb_graph_bytes(nb_mlp_graph(m)) == bytes;
}

/* An f32 batch gathered from the byte copy (pixels k / 255) is the one
 * gathered from the float copy, to the bit, for all 256 values in the
 * 8-byte steps (columns 0-31 of rows 0-7 hold k = 0..255) and more in the
 * tail of 35 features; rows come in any order, and more of them than the
 * gather prefetches ahead. */
static void bytes_gather_the_float_batch(void)
{
    enum { N = 64, D = 35, R = 100 }; /* more rows than the prefetch runs ahead */
    nb_data d;
    nb_err err = { 0 };
    CHECK(nb_data_alloc(&d, N, D, &err) == NB_OK);
    for (int r = 0; r < N; r++)
        for (int j = 0; j < D; j++)
            d.x[r * D + j] = (j < 32 ? (r * 32 + j) % 256 : (r * 7 + j * 11) % 256) / 255.0;
    for (int i = 0; i < N; i++)
        d.y[i] = i % 3;
    d.n_classes = 3;
    nb_mlp *m = nb_mlp_new(
        &(nb_mlp_opts){
            .dtype = NB_F32, .widths = (int[]){ D, 3 }, .n_widths = 2, .loss = NB_LOSS_XENT },
        &err);
    const nb_batch_graph *bg = m ? nb_mlp_batch_graph(m, R, &err) : NULL;
    size_t idx[R];
    for (int i = 0; i < R; i++)
        idx[i] = (size_t)(i * 37 + 5) % N; /* every row, out of order, some twice */
    float from8[R * D], from32[R * D];
    CHECK(bg && nb_data_f32(&d, &err) == NB_OK && d.x8 != NULL);
    CHECK(bg && nb_mlp_gather(m, bg, &d, idx, &err) == NB_OK &&
          nb_read(bg->x, from8, NB_F32) == NB_OK);
    uint8_t *x8 = d.x8;
    d.x8 = NULL; /* the float copy's path */
    CHECK(bg && nb_mlp_gather(m, bg, &d, idx, &err) == NB_OK &&
          nb_read(bg->x, from32, NB_F32) == NB_OK);
    d.x8 = x8;
    CHECK(!memcmp(from8, from32, sizeof from8));
    int all = 1;
    for (int i = 0; i < R * D; i++)
        all &= from8[i] == (float)d.x[idx[i / D] * D + (size_t)(i % D)];
    CHECK(all);
    nb_mlp_free(m);
    nb_data_free(&d);
}

/* An f64 graph gathers the same doubles from each form a data set can
 * hold its features in: x, bytes (k / 255.0, the values the Fashion-MNIST
 * loader used to keep as doubles) and floats; no form at all is an error. */
static void f64_graphs_gather_from_any_form(void)
{
    enum { N = 6, D = 5, R = 4 };
    nb_data d, b, f;
    nb_err err = { 0 };
    CHECK(nb_data_alloc(&d, N, D, &err) == NB_OK && nb_data_alloc(&b, N, D, &err) == NB_OK &&
          nb_data_alloc(&f, N, D, &err) == NB_OK);
    for (int i = 0; i < N * D; i++)
        d.x[i] = b.x[i] = f.x[i] = (i * 41 % 256) / 255.0;
    for (int i = 0; i < N; i++)
        d.y[i] = b.y[i] = f.y[i] = i % 2;
    CHECK(nb_data_convert(&b, NB_F32, &err) == NB_OK && b.x8 && !b.x);
    f.x[3] = 0.3; /* not a byte: f keeps floats */
    CHECK(nb_data_convert(&f, NB_F32, &err) == NB_OK && f.x32 && !f.x);
    nb_mlp *m = nb_mlp_new(
        &(nb_mlp_opts){ .widths = (int[]){ D, 2 }, .n_widths = 2, .loss = NB_LOSS_XENT }, &err);
    const nb_batch_graph *bg = m ? nb_mlp_batch_graph(m, R, &err) : NULL;
    size_t idx[R] = { 5, 0, 3, 3 };
    double from64[R * D], from8[R * D], from32[R * D];
    CHECK(bg && nb_mlp_gather(m, bg, &d, idx, &err) == NB_OK &&
          nb_read(bg->x, from64, NB_F64) == NB_OK);
    CHECK(bg && nb_mlp_gather(m, bg, &b, idx, &err) == NB_OK &&
          nb_read(bg->x, from8, NB_F64) == NB_OK);
    CHECK(bg && nb_mlp_gather(m, bg, &f, idx, &err) == NB_OK &&
          nb_read(bg->x, from32, NB_F64) == NB_OK);
    CHECK(!memcmp(from64, from8, sizeof from8));
    int same = 1;
    for (int i = 0; i < R * D; i++)
        same &= from32[i] == (double)f.x32[idx[i / D] * D + (size_t)(i % D)];
    CHECK(same);
    nb_data none = { .n = N, .d = D, .y = d.y };
    CHECK(bg && nb_mlp_gather(m, bg, &none, idx, &err) == NB_ERR_ARG &&
          strstr(err.msg, "no features"));
    nb_mlp_free(m);
    nb_data_free(&d);
    nb_data_free(&b);
    nb_data_free(&f);
}

static void training_allocates_nothing_after_step_one(void)
{
    nb_data d;
    nb_err err = { 0 };
    fill(&d, 95, 8, 3, 1);
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .dtype = NB_F32,
                                           .widths = (int[]){ 8, 16, 3 },
                                           .n_widths = 3,
                                           .act = NB_ACT_RELU,
                                           .loss = NB_LOSS_XENT },
                           &err);
    nb_optimizer *o = nb_optimizer_new(
        nb_mlp_graph(m), &(nb_optimizer_opts){ .lr = 0.1, .momentum = 0.9 }, &err);
    const nb_batch_graph *bg = nb_mlp_batch_graph(m, 10, &err);
    size_t idx[10];
    for (size_t i = 0; i < 10; i++)
        idx[i] = i;
    double loss0 = 0, loss = 0;
    float x64[80], x32[80]; /* the f32 copy gathers the same batch */
    CHECK(nb_mlp_gather(m, bg, &d, idx, &err) == NB_OK && nb_read(bg->x, x64, NB_F32) == NB_OK);
    CHECK(nb_data_f32(&d, &err) == NB_OK && nb_mlp_gather(m, bg, &d, idx, &err) == NB_OK);
    CHECK(nb_read(bg->x, x32, NB_F32) == NB_OK && !memcmp(x64, x32, sizeof x64));
    CHECK(nb_mlp_step(m, bg, o, &loss0, &err) == NB_OK);
    CHECK(fifty_steps_allocate_nothing(m, bg, o, &d, &loss));
    /* whole epochs through nb_train: heads of 10 and 5 rows, built once */
    nb_train_opts to = { .epochs = 1, .batch = 10, .lr = 0.1 };
    CHECK(nb_train(m, &d, &d, &to, NULL, &err) == NB_OK);
    size_t bytes = nb_graph_bytes(nb_mlp_graph(m));
    to.epochs = 3;
    int threads = nb_set_threads(2); /* small products train on 1; restored */
    CHECK(nb_train(m, &d, &d, &to, NULL, &err) == NB_OK);
    CHECK(nb_graph_bytes(nb_mlp_graph(m)) == bytes);
    CHECK(nb_set_threads(0) == threads);
    nb_set_threads(1);
    nb_optimizer_free(o);
    nb_mlp_free(m);
    nb_data_free(&d);
}

/* Adam's state is allocated with the optimiser: fifty steps, then whole
 * epochs through nb_train, leave the arena as it was after the first step.
 * The problem is a fixed regression (y = sum of 8 features, 95 rows) that
 * an 8-16-1 ReLU network learns: the loss must fall well below the start. */
static void adam_training_allocates_nothing_after_step_one(void)
{
    nb_data d;
    nb_err err = { 0 };
    nb_eval ev0, ev;
    fill(&d, 95, 8, 0, 1);
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .dtype = NB_F32,
                                           .widths = (int[]){ 8, 16, 1 },
                                           .n_widths = 3,
                                           .act = NB_ACT_RELU,
                                           .loss = NB_LOSS_MSE,
                                           .seed = 3 },
                           &err);
    nb_optimizer *o = nb_optimizer_new(
        nb_mlp_graph(m), &(nb_optimizer_opts){ .lr = 0.01, .method = NB_OPTIM_ADAM }, &err);
    const nb_batch_graph *bg = nb_mlp_batch_graph(m, 10, &err);
    CHECK(m && o && bg && nb_mlp_evaluate(m, &d, &ev0, &err) == NB_OK);
    size_t idx[10];
    for (size_t i = 0; i < 10; i++)
        idx[i] = i;
    double loss;
    CHECK(nb_mlp_gather(m, bg, &d, idx, &err) == NB_OK);
    CHECK(nb_mlp_step(m, bg, o, &loss, &err) == NB_OK);
    CHECK(fifty_steps_allocate_nothing(m, bg, o, &d, &loss));
    CHECK(nb_mlp_evaluate(m, &d, &ev, &err) == NB_OK);
    printf("adam: loss %g at the start, %g after 51 steps", ev0.loss, ev.loss);
    CHECK(ev.loss < 0.5 * ev0.loss);
    /* whole epochs through nb_train: heads of 10 and 5 rows, built once */
    nb_train_opts to = { .epochs = 1, .batch = 10, .lr = 0.01, .method = NB_OPTIM_ADAM };
    CHECK(nb_train(m, &d, &d, &to, NULL, &err) == NB_OK);
    size_t bytes = nb_graph_bytes(nb_mlp_graph(m));
    to.epochs = 100;
    nb_train_result r;
    CHECK(nb_train(m, &d, &d, &to, &r, &err) == NB_OK);
    CHECK(nb_graph_bytes(nb_mlp_graph(m)) == bytes);
    printf(", %g after 100 more epochs (R2 %g)\n", r.test_loss, r.test_r2);
    CHECK(r.test_loss < 0.01 * ev0.loss && r.test_r2 > 0.99);
    nb_optimizer_free(o);
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
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 4, 6, 5, outputs },
                                           .n_widths = 4,
                                           .act = act,
                                           .loss = loss,
                                           .seed = 9,
                                           .l1 = l1,
                                           .l2 = l2 },
                           &err);
    const nb_batch_graph *bg = m ? nb_mlp_batch_graph(m, 7, &err) : NULL;
    size_t idx[7] = { 0, 1, 2, 3, 4, 5, 6 };
    CHECK(bg && nb_mlp_gather(m, bg, &d, idx, &err) == NB_OK);
    nb_graph *g = nb_mlp_graph(m);
    size_t np = nb_param_count(g);
    nb_node *leaves[6];
    nb_gradcheck_result res[6];
    for (size_t i = 0; i < np && i < 6; i++)
        leaves[i] = nb_param_at(g, i);
    CHECK(np == 6);
    CHECK(nb_forward(g, bg->loss) == NB_OK);
    CHECK(nb_gradcheck(g, bg->loss, leaves, np, NULL, res) == NB_OK);
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
    nb_mlp_opts o = { .widths = (int[]){ 400, 300, 2 },
                      .n_widths = 3,
                      .act = NB_ACT_RELU,
                      .loss = NB_LOSS_XENT,
                      .seed = 5 };
    nb_mlp *a = nb_mlp_new(&o, &err), *b = nb_mlp_new(&o, &err);
    o.seed = 6;
    nb_mlp *c = nb_mlp_new(&o, &err);
    nb_node *W1 = nb_mlp_param(a, "W1");
    CHECK(W1 && nb_dim(W1, 0) == 400 && nb_dim(W1, 1) == 300);
    CHECK(W1 == nb_lookup(nb_mlp_graph(a), "W1"));
    CHECK(nb_size(nb_mlp_param(a, "b2")) == 2 && nb_mlp_param(a, "W3") == NULL);
    CHECK(memcmp(nb_values(W1), nb_values(nb_mlp_param(b, "W1")), 120000 * 8) == 0);
    CHECK(memcmp(nb_values(W1), nb_values(nb_mlp_param(c, "W1")), 120000 * 8) != 0);
    double s2 = 0; /* He: std sqrt(2 / 400) */
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
    CHECK(nb_mlp_new(
              &(nb_mlp_opts){ .widths = (int[]){ 3, 2 }, .n_widths = 2, .loss = NB_LOSS_MSE },
              &err) == NULL);
    CHECK(strstr(err.msg, "mse needs 1 output") != NULL);
    nb_mlp *m = nb_mlp_new(
        &(nb_mlp_opts){ .widths = (int[]){ 3, 2 }, .n_widths = 2, .loss = NB_LOSS_XENT }, &err);
    fill(&d, 4, 2, 2, 1);
    size_t idx[4] = { 0, 1, 2, 3 };
    const nb_batch_graph *bg = nb_mlp_batch_graph(m, 4, &err);
    CHECK(nb_mlp_gather(m, bg, &d, idx, &err) == NB_ERR_SHAPE);
    CHECK(strstr(err.msg, "2 features, the model 3 inputs") != NULL);
    nb_data_free(&d);
    fill(&d, 4, 3, 2, 1);
    d.y[2] = 2; /* the model has classes 0 and 1 */
    CHECK(nb_mlp_gather(m, bg, &d, idx, &err) == NB_ERR_ARG &&
          strstr(err.msg, "row 2") != NULL);
    CHECK(nb_train(m, &d, NULL, &(nb_train_opts){ .epochs = 0, .lr = 1 }, NULL, &err) ==
          NB_ERR_ARG);
    CHECK(nb_train(m, &d, NULL,
                   &(nb_train_opts){
                       .epochs = 1, .lr = 1, .momentum = 0.9, .method = NB_OPTIM_ADAM },
                   NULL, &err) == NB_ERR_ARG &&
          strstr(err.msg, "momentum is for SGD") != NULL);
    CHECK(nb_train(m, &d, NULL,
                   &(nb_train_opts){ .epochs = 1, .lr = 1, .loss_csv = "/no/dir/x" }, NULL,
                   &err) == NB_ERR_IO);
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
    m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 2, 8, 1 },
                                   .n_widths = 3,
                                   .act = NB_ACT_TANH,
                                   .loss = NB_LOSS_BCE,
                                   .seed = 2 },
                   &err);
    CHECK(nb_train(m, &d, &d, &(nb_train_opts){ .epochs = 2000, .lr = 0.5, .momentum = 0.9 },
                   &r, &err) == NB_OK);
    CHECK(r.test_loss < 0.01 && r.test_accuracy == 1);
    nb_mlp_free(m);
    nb_data_free(&d);
}

/* nb_mlp_gather gathers the same rows from the f32 copy (eight at a time
 * where the CPU has AVX2, then one by one) as from the doubles: odd row
 * and feature counts, rows in random order. */
static void f32_gather_matches_f64(void)
{
    enum { N = 57, D = 13, ROWS = 21 };
    nb_data d;
    nb_err err = { 0 };
    nb_rng r;
    fill(&d, N, D, 3, 4);
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .dtype = NB_F32,
                                           .widths = (int[]){ D, 4, 3 },
                                           .n_widths = 3,
                                           .loss = NB_LOSS_XENT },
                           &err);
    const nb_batch_graph *bg = m ? nb_mlp_batch_graph(m, ROWS, &err) : NULL;
    size_t idx[ROWS];
    float from64[ROWS * D], from32[ROWS * D];
    nb_rng_seed(&r, 9);
    for (size_t i = 0; i < ROWS; i++)
        idx[i] = nb_rng_below(&r, N);
    CHECK(bg && nb_mlp_gather(m, bg, &d, idx, &err) == NB_OK &&
          nb_read(bg->x, from64, NB_F32) == NB_OK);
    CHECK(nb_data_f32(&d, &err) == NB_OK && nb_mlp_gather(m, bg, &d, idx, &err) == NB_OK &&
          nb_read(bg->x, from32, NB_F32) == NB_OK);
    CHECK(memcmp(from64, from32, sizeof from64) == 0);
    CHECK(from32[(ROWS - 1) * D + D - 1] == (float)d.x[idx[ROWS - 1] * D + D - 1]);
    nb_mlp_free(m);
    nb_data_free(&d);
}

int main(void)
{
    sgd_matches_hand_values();
    adam_matches_pytorch();
    adam_rejects_bad_options();
    bytes_gather_the_float_batch();
    f64_graphs_gather_from_any_form();
    training_allocates_nothing_after_step_one();
    f32_gather_matches_f64();
    adam_training_allocates_nothing_after_step_one();
    mlp_losses_pass_gradient_checks();
    params_are_found_by_name_and_seeded();
    bad_models_and_data_are_errors();
    small_models_converge();
    return check_summary();
}
