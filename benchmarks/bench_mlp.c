/* bench_mlp.c - the Fashion-MNIST workloads of benchmarks/README.md trained in f32
 * through nabla_nn (small: 784-50-10 sigmoid and ReLU; big: 784-512-512-10
 * ReLU), each beside its GEMM bound: the same cblas_sgemm calls alone, timed
 * in the same process; and the gradient-check workload (784-50-10 sigmoid,
 * f64, 10 images).  On 2 threads the model trains on 2 data-parallel
 * workers, as nb_train does (--blas: on 2 OpenBLAS threads instead), and
 * the data-parallel bound is timed too: the products with the rows split
 * between two threads of one OpenBLAS thread each.  --check compares the engine's gradients
 * with the bound's products on synthetic data (no data set needed): a test in suite 'bench'. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "nabla_nn.h"
#if BENCH_HAVE_CBLAS
#include <cblas.h>
#endif

#define MAX_LAYERS 3
#define MAX_EPOCHS 20

typedef struct config {
    const char *name;
    int widths[MAX_LAYERS + 1], n_widths;
    nb_act act;
    nb_init init;
    int batch, steps; /* steps per epoch: 60000 / batch, rounded down */
    double target_ratio, target_acc;
} config;

static const config configs[] = {
    { "small-sigmoid",
      { 784, 50, 10 },
      3,
      NB_ACT_SIGMOID,
      NB_INIT_NORMAL,
      100,
      600,
      1.25,
      0.819 },
    { "small-relu", { 784, 50, 10 }, 3, NB_ACT_RELU, NB_INIT_NORMAL, 100, 600, 1.25, 0.850 },
    { "big", { 784, 512, 512, 10 }, 4, NB_ACT_RELU, NB_INIT_HE, 128, 468, 1.15, NAN },
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[MAX_EPOCHS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- The GEMM bound ----------------------------------------------------------
 * The matrix products of one training step, as the engine's matmul issues
 * them (row-major; beta 0 throughout: each gradient here has the one
 * contribution, which the engine writes instead of adding):
 *   forward    a[l+1] = a[l] W[l]         (rows x w[l+1]) = (rows x w[l])(w[l] x w[l+1])
 *   backward   dW[l] = a[l]^T dz[l+1]     for every layer
 *              dz[l] = dz[l+1] W[l]^T     except l = 0 (the input is a constant)
 * With ew set, the elementwise work in between too (act, softmax
 * cross-entropy, act'), biases left out (0 at initialisation): --check
 * compares that with the engine's gradients. */
typedef struct gemm_net {
    int n_layers, rows, w[MAX_LAYERS + 1];
    nb_act act;
    float *a[MAX_LAYERS + 1], *dz[MAX_LAYERS + 1], *W[MAX_LAYERS], *dW[MAX_LAYERS];
} gemm_net;

static float *frand(size_t n, nb_rng *r)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (float)(0.01 * nb_rng_normal(r));
    return p;
}

static int gemm_net_init(gemm_net *n, const config *c, int batch, nb_rng *r)
{
    *n = (gemm_net){ .n_layers = c->n_widths - 1, .rows = batch, .act = c->act };
    int ok = 1;
    for (int l = 0; l <= n->n_layers; l++) {
        size_t w = (size_t)(n->w[l] = c->widths[l]), rows = (size_t)batch;
        ok = ok && (n->a[l] = frand(rows * w, r)) && (n->dz[l] = frand(rows * w, r));
        if (l < n->n_layers)
            ok = ok && (n->W[l] = frand(w * (size_t)c->widths[l + 1], r)) &&
                 (n->dW[l] = frand(w * (size_t)c->widths[l + 1], r));
    }
    return ok;
}

static void gemm_net_free(gemm_net *n)
{
    for (int l = 0; l <= MAX_LAYERS; l++) {
        free(n->a[l]);
        free(n->dz[l]);
        if (l < MAX_LAYERS) {
            free(n->W[l]);
            free(n->dW[l]);
        }
    }
}

#if BENCH_HAVE_CBLAS
/* a (rows x k) times b (k x cols), either stored transposed, into c. */
static void sgemm(int ta, int tb, int rows, int cols, int k, const float *a, const float *b,
                  float beta, float *c)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                rows, cols, k, 1, a, ta ? rows : k, b, tb ? k : cols, beta, c, cols);
}

/* softmax(z) - onehot(label), over rows: d(mean xent)/dz. */
static void xent_grad(float *dz, const float *z, const float *labels, int rows, int k)
{
    for (int i = 0; i < rows; i++) {
        const float *zi = z + (size_t)i * (size_t)k;
        float *di = dz + (size_t)i * (size_t)k, mx = zi[0], sum = 0;
        for (int j = 1; j < k; j++)
            mx = zi[j] > mx ? zi[j] : mx;
        for (int j = 0; j < k; j++)
            sum += di[j] = expf(zi[j] - mx);
        for (int j = 0; j < k; j++)
            di[j] = (di[j] / sum - (j == (int)labels[i])) / (float)rows;
    }
}

static void activate(const gemm_net *n, float *a, size_t size)
{
    for (size_t i = 0; i < size; i++)
        a[i] = n->act == NB_ACT_RELU ? (a[i] > 0 ? a[i] : 0) : 1 / (1 + expf(-a[i]));
}

static void activate_grad(const gemm_net *n, float *dz, const float *a, size_t size)
{
    for (size_t i = 0; i < size; i++)
        dz[i] *= n->act == NB_ACT_RELU ? (a[i] > 0) : a[i] * (1 - a[i]);
}

static void gemm_step(gemm_net *n, const float *labels)
{
    int L = n->n_layers, rows = n->rows;
    for (int l = 0; l < L; l++) {
        sgemm(0, 0, rows, n->w[l + 1], n->w[l], n->a[l], n->W[l], 0, n->a[l + 1]);
        if (labels && l + 1 < L)
            activate(n, n->a[l + 1], (size_t)rows * (size_t)n->w[l + 1]);
    }
    if (labels)
        xent_grad(n->dz[L], n->a[L], labels, rows, n->w[L]);
    for (int l = L - 1; l >= 0; l--) {
        sgemm(1, 0, n->w[l], n->w[l + 1], rows, n->a[l], n->dz[l + 1], 0, n->dW[l]);
        if (l == 0)
            continue;
        sgemm(0, 1, rows, n->w[l], n->w[l + 1], n->dz[l + 1], n->W[l], 0, n->dz[l]);
        if (labels)
            activate_grad(n, n->dz[l], n->a[l], (size_t)rows * (size_t)n->w[l]);
    }
}

static double gemm_epoch(gemm_net *n, int steps)
{
    double t0 = now();
    for (int s = 0; s < steps; s++)
        gemm_step(n, NULL);
    return now() - t0;
}

/* The data-parallel bound: the same products with the batch's rows split
 * between two threads, each on one OpenBLAS thread, with no
 * synchronisation at all between steps. */
typedef struct half {
    gemm_net *n;
    int steps;
} half;

static void *half_epoch(void *arg)
{
    half *h = arg;
    for (int s = 0; s < h->steps; s++)
        gemm_step(h->n, NULL);
    return NULL;
}

static double dp_gemm_epoch(gemm_net *halves, int steps)
{
    pthread_t th;
    half h[2] = { { &halves[0], steps }, { &halves[1], steps } };
    int threads = nb_set_threads(0);
    nb_set_threads(1);
    double t0 = now();
    int started = pthread_create(&th, NULL, half_epoch, &h[1]) == 0;
    half_epoch(&h[0]);
    if (started)
        pthread_join(th, NULL);
    else
        half_epoch(&h[1]);
    double t = now() - t0;
    nb_set_threads(threads);
    return t;
}
#endif

/* ---- Training through nabla_nn ------------------------------------------------ */

static nb_mlp *model(const config *c, nb_dtype dtype, nb_err *err)
{
    return nb_mlp_new(&(nb_mlp_opts){ .dtype = dtype,
                                      .widths = c->widths,
                                      .n_widths = c->n_widths,
                                      .act = c->act,
                                      .loss = NB_LOSS_XENT,
                                      .init = c->init,
                                      .seed = 1 },
                      err);
}

/* One epoch of c->steps full batches: gather, forward, backward, update. */
static nb_status train_epoch(nb_mlp *m, const nb_batch_graph *bg, nb_optimizer *o,
                             nb_batches *b, const nb_data *train, int steps, nb_err *err)
{
    const size_t *idx;
    nb_batches_epoch(b);
    for (int s = 0; s < steps; s++) {
        if (nb_batches_next(b, &idx) != (size_t)bg->rows)
            return nb_err_set(err, NB_ERR_ARG, "bench: short batch");
        nb_status st = nb_mlp_train_step(m, bg, train, idx, o, NULL, err);
        if (st != NB_OK)
            return st;
    }
    return NB_OK;
}

typedef struct timing {
    double epoch[MAX_EPOCHS], gemm[MAX_EPOCHS], dp_gemm[MAX_EPOCHS], accuracy;
} timing;

/* OpenBLAS's own worker spins in sched_yield() for ~0.1 s after a 2-thread
 * product, on a core that data-parallel workers need: before they run,
 * wait until it sleeps (not timed). */
static void settle(void) { nanosleep(&(struct timespec){ .tv_nsec = 300000000 }, NULL); }

/* epochs epochs, each followed by an epoch of the GEMM bound alone (and,
 * with 2 workers, of the data-parallel bound). */
static nb_status run_config(const config *c, const nb_data *train, const nb_data *test,
                            int epochs, int workers, timing *t, nb_err *err)
{
    nb_mlp *m = model(c, NB_F32, err);
    if (m && nb_mlp_set_workers(m, workers, err) != NB_OK) {
        nb_mlp_free(m);
        return err->code;
    }
    const nb_batch_graph *bg = m ? nb_mlp_batch_graph(m, c->batch, err) : NULL;
    nb_optimizer *o =
        bg ? nb_optimizer_new(nb_mlp_graph(m), &(nb_optimizer_opts){ .lr = 0.1 }, err) : NULL;
    nb_batches b = { 0 };
    nb_status s = o ? nb_batches_init(&b, train->n, (size_t)c->batch, 1, 2, err) : err->code;
    nb_rng r;
    gemm_net g = { 0 }, halves[2] = { { 0 }, { 0 } };

    nb_rng_seed(&r, 3);
    if (s == NB_OK &&
        (!gemm_net_init(&g, c, c->batch, &r) ||
         (workers == 2 && (!gemm_net_init(&halves[0], c, c->batch / 2, &r) ||
                           !gemm_net_init(&halves[1], c, c->batch - c->batch / 2, &r)))))
        s = nb_err_set(err, NB_ERR_NOMEM, "bench: out of memory");
    for (int e = 0; e < epochs && s == NB_OK; e++) {
        if (workers > 1)
            settle();
        double t0 = now();
        s = train_epoch(m, bg, o, &b, train, c->steps, err);
        t->epoch[e] = now() - t0;
        t->gemm[e] = t->dp_gemm[e] = NAN;
#if BENCH_HAVE_CBLAS
        t->gemm[e] = gemm_epoch(&g, c->steps);
        if (workers == 2) {
            settle();
            t->dp_gemm[e] = dp_gemm_epoch(halves, c->steps);
        }
#endif
    }
    nb_eval ev = { 0 };
    if (s == NB_OK)
        s = nb_mlp_evaluate(m, test, &ev, err);
    t->accuracy = ev.accuracy;
    gemm_net_free(&g);
    gemm_net_free(&halves[0]);
    gemm_net_free(&halves[1]);
    nb_batches_free(&b);
    nb_optimizer_free(o);
    nb_mlp_free(m);
    return s;
}

static void report(const config *c, int threads, int workers, int epochs, const timing *t)
{
    double ep = median(t->epoch, epochs), gm = median(t->gemm, epochs);
    double n = (double)c->batch * c->steps, ratio = ep / gm;
    printf("%-13s %d %s  %8.0f samples/s  epoch %7.1f ms  gemm %7.1f ms (%8.0f/s)  "
           "ratio %.2f (<= %.2f %s)  acc %.4f",
           c->name, threads, workers > 1 ? "wkr" : "thr", n / ep, 1e3 * ep, 1e3 * gm, n / gm,
           ratio, c->target_ratio,
           ratio <= c->target_ratio ? "PASS"
           : isnan(ratio)           ? "-"
                                    : "MISS",
           t->accuracy);
    if (!isnan(c->target_acc) && epochs == 5)
        printf(" (%.3f +-0.005 %s)", c->target_acc,
               fabs(t->accuracy - c->target_acc) <= 0.005 ? "PASS" : "MISS");
    if (workers == 2 && !isnan(t->dp_gemm[0])) {
        double dp = median(t->dp_gemm, epochs);
        printf("\n%-13s        data-parallel bound %7.1f ms: epoch / it %.2f", "", 1e3 * dp,
               ep / dp);
    }
    printf("\n");
    fflush(stdout);
}

/* ---- Gradient check: 784-50-10 sigmoid, f64, the first 10 training images ---- */

/* The lecture's numerical_gradient: h = 1e-4, f(x+h) and f(x-h) per element
 * of every parameter, each a full forward replay. */
static nb_status numerical_gradient(nb_graph *g, nb_node *loss, double *out)
{
    for (size_t k = 0; k < nb_param_count(g); k++) {
        nb_node *p = nb_param_at(g, k);
        for (size_t i = 0; i < nb_size(p); i++) {
            double x = nb_value_at(p, i), fp, fm;
            nb_set_at(p, i, x + 1e-4);
            nb_status s = nb_forward(g, loss);
            fp = nb_value_scalar(loss);
            nb_set_at(p, i, x - 1e-4);
            if (s == NB_OK)
                s = nb_forward(g, loss);
            fm = nb_value_scalar(loss);
            nb_set_at(p, i, x);
            if (s != NB_OK)
                return s;
            *out++ = (fp - fm) / 2e-4;
        }
    }
    return nb_forward(g, loss);
}

static double backprop_time(nb_graph *g, nb_node *loss)
{
    double t[MAX_EPOCHS];
    for (int r = 0; r < MAX_EPOCHS; r++) {
        double t0 = now();
        for (int i = 0; i < 100; i++) {
            nb_forward(g, loss);
            nb_backward(g, loss);
        }
        t[r] = (now() - t0) / 100;
    }
    return median(t, MAX_EPOCHS);
}

static nb_status gradcheck_bench(const nb_data *train, nb_err *err)
{
    nb_mlp *m = model(&configs[0], NB_F64, err);
    const nb_batch_graph *bg = m ? nb_mlp_batch_graph(m, 10, err) : NULL;
    size_t idx[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, n = 0;
    nb_status s = bg ? nb_mlp_gather(m, bg, train, idx, err) : err->code;
    nb_graph *g = nb_mlp_graph(m);
    nb_node *leaves[4];
    nb_gradcheck_result res[4];

    for (size_t k = 0; s == NB_OK && k < 4; k++)
        n += nb_size(leaves[k] = nb_param_at(g, k));
    double *num = s == NB_OK ? malloc(n * sizeof *num) : NULL;
    if (s != NB_OK || !num) {
        nb_mlp_free(m);
        return s != NB_OK ? s : nb_err_set(err, NB_ERR_NOMEM, "bench: out of memory");
    }
    double bp = backprop_time(g, bg->loss), t0 = now();
    s = numerical_gradient(g, bg->loss, num);
    double tn = now() - t0, err_max = 0;
    nb_backward(g, bg->loss);
    for (size_t k = 0, j = 0; k < 4; k++)
        for (size_t i = 0; i < nb_size(leaves[k]); i++, j++)
            err_max = fmax(err_max, fabs(num[j] - nb_grad_at(leaves[k], i)));
    t0 = now();
    if (s == NB_OK)
        s = nb_gradcheck(g, bg->loss, leaves, 4, NULL, res);
    double tc = now() - t0;
    int pass = s == NB_OK && res[0].pass && res[1].pass && res[2].pass && res[3].pass;
    printf("gradcheck     784-50-10 sigmoid f64, 10 images, %zu parameters\n", n);
    printf("  backprop (forward + backward)      %9.3f ms\n", 1e3 * bp);
    printf("  numerical, lecture (h 1e-4)        %9.3f s  = %.0fx backprop; "
           "max |num - backprop| %.1e\n",
           tn, tn / bp, err_max);
    printf("  nb_gradcheck (all parameters)      %9.3f s  (<= 1 s %s); %s; %.1f us/parameter\n",
           tc, tc <= 1 ? "PASS" : "MISS", pass ? "all pass" : "FAILED", 1e6 * tc / (double)n);
    free(num);
    nb_mlp_free(m);
    return s;
}

/* ---- --check: the engine's gradients against the bound's products ----------- */

static int check_config(const config *c)
{
    nb_err err = { 0 };
    nb_data d = { 0 };
    nb_rng r;
    gemm_net g = { 0 };
    float *labels = malloc((size_t)c->batch * sizeof *labels);
    size_t *idx = malloc((size_t)c->batch * sizeof *idx);
    double worst = INFINITY;

    nb_rng_seed(&r, 4);
    nb_mlp *m = labels && idx && nb_data_alloc(&d, (size_t)c->batch, 784, &err) == NB_OK
                    ? model(c, NB_F32, &err)
                    : NULL;
    const nb_batch_graph *bg = m ? nb_mlp_batch_graph(m, c->batch, &err) : NULL;
    for (size_t i = 0; bg && i < d.n; i++) {
        idx[i] = i;
        d.y[i] = (double)nb_rng_below(&r, 10);
        for (int j = 0; j < d.d; j++)
            d.x[i * 784 + (size_t)j] = nb_rng_uniform(&r);
    }
    if (bg && nb_mlp_gather(m, bg, &d, idx, &err) == NB_OK &&
        nb_forward(nb_mlp_graph(m), bg->loss) == NB_OK &&
        nb_backward(nb_mlp_graph(m), bg->loss) == NB_OK && gemm_net_init(&g, c, c->batch, &r)) {
        char name[16];
        nb_read(bg->x, g.a[0], NB_F32);
        nb_read(bg->t, labels, NB_F32);
        for (int l = 0; l < g.n_layers; l++) {
            snprintf(name, sizeof name, "W%d", l + 1);
            nb_read(nb_mlp_param(m, name), g.W[l], NB_F32);
        }
#if BENCH_HAVE_CBLAS
        gemm_step(&g, labels);
        worst = 0;
        for (int l = 0; l < g.n_layers; l++) {
            size_t n = (size_t)g.w[l] * (size_t)g.w[l + 1];
            double big = 0, diff = 0;
            snprintf(name, sizeof name, "W%d", l + 1);
            for (size_t i = 0; i < n; i++) {
                double e = nb_grad_at(nb_mlp_param(m, name), i);
                big = fmax(big, fabs(e));
                diff = fmax(diff, fabs(e - (double)g.dW[l][i]));
            }
            worst = fmax(worst, diff / big);
        }
#else
        worst = 0;
#endif
    }
    int ok = worst <= 1e-4;
    printf("check %-13s engine dW vs the bound's products: max rel diff %.1e %s\n", c->name,
           worst, ok ? "ok" : "FAILED");
    if (err.code)
        printf("  %s\n", err.msg);
    gemm_net_free(&g);
    nb_mlp_free(m);
    nb_data_free(&d);
    free(labels);
    free(idx);
    return ok;
}

/* ---- The batch gather alone ------------------------------------------------------
 * small's gather (100 random rows a step, 600 steps) through nb_mlp_gather
 * (from the pixels as the loader keeps them, bytes) against a memcpy per
 * row of a float copy made here, each between the step's two big products
 * (a W1, a^T dz) as in training, alternating epoch by epoch: gather time
 * only. */

#if BENCH_HAVE_CBLAS
/* The features as floats, the copy the memcpy reference gathers from, in
 * 2 MB pages as the library asks for its own (nb_data_convert). */
static float *float_copy(const nb_data *train, nb_err *err)
{
    size_t d = (size_t)train->d, page = (size_t)2 << 20;
    size_t bytes = (train->n * d * sizeof(float) + page - 1) / page * page;
    void *p = NULL;
    float *x32 = posix_memalign(&p, page, bytes) == 0 ? p : NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (x32)
        (void)madvise(x32, bytes, MADV_HUGEPAGE);
#endif
    double *row = malloc(d * sizeof *row);
    for (size_t i = 0; x32 && row && i < train->n; i++) {
        if (nb_data_rows(train, i, 1, row, err) != NB_OK) {
            free(x32);
            x32 = NULL;
            break;
        }
        for (size_t j = 0; j < d; j++)
            x32[i * d + j] = (float)row[j];
    }
    free(row);
    return x32;
}

static nb_status gather_bench(const nb_data *train, int epochs, nb_err *err)
{
    const config *c = &configs[1];
    nb_mlp *m = model(c, NB_F32, err);
    const nb_batch_graph *bg = m ? nb_mlp_batch_graph(m, c->batch, err) : NULL;
    nb_batches b = { 0 };
    nb_status s = bg ? nb_batches_init(&b, train->n, (size_t)c->batch, 1, 2, err) : err->code;
    size_t d = (size_t)train->d, rows = (size_t)c->batch;
    float *W = calloc(d * 50, sizeof *W), *z = calloc(rows * 50, sizeof *z);
    float *dW = calloc(d * 50, sizeof *dW), *own = malloc(rows * d * sizeof *own);
    float *x32 = s == NB_OK ? float_copy(train, err) : NULL;
    double t[2][MAX_EPOCHS];

    if (s == NB_OK && !(W && z && dW && own && x32))
        s = nb_err_set(err, NB_ERR_NOMEM, "bench: out of memory");
    for (int e = 0; e < 2 * epochs && s == NB_OK; e++) {
        const size_t *idx;
        int lib = e % 2 == 0;
        float *x = lib ? nb_values((nb_node *)bg->x) : own;
        double sum = 0;
        nb_batches_epoch(&b);
        for (int k = 0; k < c->steps && s == NB_OK; k++) {
            if (nb_batches_next(&b, &idx) != rows) {
                s = nb_err_set(err, NB_ERR_ARG, "bench: short batch");
                break;
            }
            double t0 = now();
            if (lib)
                s = nb_mlp_gather(m, bg, train, idx, err);
            else
                for (size_t i = 0; i < rows; i++)
                    memcpy(own + i * d, x32 + idx[i] * d, d * sizeof *own);
            sum += now() - t0;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, 50, (int)d, 1, x,
                        (int)d, W, 50, 0, z, 50);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, 50, (int)rows, 1, x,
                        (int)d, z, 50, 0, dW, 50);
        }
        t[lib][e / 2] = sum;
    }
    if (s == NB_OK)
        printf("gather        1 thr  nb_mlp_gather %5.1f ms an epoch, memcpy per row %5.1f ms "
               "(%.2fx)\n",
               1e3 * median(t[1], epochs), 1e3 * median(t[0], epochs),
               median(t[1], epochs) / median(t[0], epochs));
    free(W);
    free(z);
    free(dW);
    free(own);
    free(x32);
    nb_batches_free(&b);
    nb_mlp_free(m);
    return s;
}
#endif

/* ---- main ------------------------------------------------------------------------ */

static int usage(void)
{
    fprintf(stderr,
            "usage: bench_mlp [--check] [--epochs N (1-%d, default 5)] [--threads N "
            "(default 1 then 2)] [--blas (2 OpenBLAS threads, not 2 workers)] [--only "
            "small|small-sigmoid|small-relu|big|gradcheck|gather] [--fashion DIR]\n",
            MAX_EPOCHS);
    return 2;
}

static int selected(const char *only, const char *name)
{
    return !only || !strncmp(name, only, strlen(only));
}

int main(int argc, char **argv)
{
    int epochs = 5, threads = 0, ok = 1, check = 0, blas = 0;
    const char *only = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check"))
            check = 1;
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--blas"))
            blas = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--fashion") && i + 1 < argc)
            dir = argv[++i];
        else
            return usage();
    }
    if (epochs < 1 || epochs > MAX_EPOCHS || threads < 0)
        return usage();
    if (check) {
        nb_set_threads(1);
        for (size_t c = 0; c < N_CONFIGS; c++)
            ok &= check_config(&configs[c]);
        return ok ? 0 : 1;
    }
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("bench_mlp (%s build): %s; OPENBLAS_CORETYPE=%s\n", BENCH_BUILDTYPE, nb_backend(),
           core ? core : "(unset)");
    nb_data train = { 0 }, test = { 0 };
    nb_err err = { 0 };
    double t0 = now();
    if (nb_fashion_mnist_load(dir, &train, &test, &err) != NB_OK) {
        printf("skipped: %s\n", err.msg);
        return 77;
    }
    if (nb_data_convert(&train, NB_F32, &err) != NB_OK ||
        nb_data_convert(&test, NB_F32, &err) != NB_OK) {
        fprintf(stderr, "bench_mlp: %s\n", err.msg);
        return 1;
    }
    printf("Fashion-MNIST loaded in %.2f s (not timed below); %d epochs, medians over epochs\n",
           now() - t0, epochs);
    for (size_t c = 0; c < N_CONFIGS && ok; c++)
        for (int t = threads ? threads : 1; t <= (threads ? threads : 2) && ok; t++) {
            timing tm;
            if (!selected(only, configs[c].name))
                continue;
            int in_effect = nb_set_threads(t);
            int w = blas ? 1 : t;
            if ((ok = run_config(&configs[c], &train, &test, epochs, w, &tm, &err) == NB_OK))
                report(&configs[c], in_effect, w, epochs, &tm);
        }
    nb_set_threads(1);
    if (ok && only && !strcmp(only, "gather"))
#if BENCH_HAVE_CBLAS
        ok = gather_bench(&train, epochs, &err) == NB_OK;
#else
        printf("gather: skipped (built without OpenBLAS: no products to put between)\n");
#endif
    if (ok && selected(only, "gradcheck"))
        ok = gradcheck_bench(&train, &err) == NB_OK;
    if (!ok)
        fprintf(stderr, "bench_mlp: %s\n", err.msg);
    nb_data_free(&train);
    nb_data_free(&test);
    return ok ? 0 : 1;
}
