/* bench_scalar.c - the scalar workloads of benchmarks/README.md: scalar-mlp (the
 * micrograd demo, all scalar nodes) and scalar-chain, each built from
 * scalar nodes of an f64 graph and timed against hand-written C that does
 * the same arithmetic with hand-coded adjoint loops.  Uses nabla.h alone.
 * --check runs one evaluation of each and compares with the references. */
#define _POSIX_C_SOURCE 200809L
#include "nabla.h"
#include "scalar_mlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifndef BENCH_BUILDTYPE
#define BENCH_BUILDTYPE "unknown"
#endif

#define MICROGRAD_NODES 65818 /* what micrograd creates for one loss */
#define CHAIN_STEPS     20000 /* 100,000 nodes: 2 constants, mul, add, relu */
#define MAX_SAMPLES     31
#define RTOL            1e-12

/* The reference figures of the workloads (benchmarks/README.md). */
static const double ref_loss = 0.98668221066377793;
static const double ref_norm = 0.96004478984644315;
static const double ref_g0 = 0.20368564985814058;
static const double ref_g336 = 0.020062237474172996;
static const double ref_chain_y = 0.99999999897968539;
static const double ref_chain_dy0 = 2.0406311867620949e-09;

/* Loss and the gradient figures the references give. */
typedef struct mlp_result {
    double loss, norm, g0, g336;
} mlp_result;

static mlp_result mlp_summary(double loss, const double *grad)
{
    double sq = 0;

    for (int k = 0; k < N_PARAMS; k++)
        sq += grad[k] * grad[k];
    return (mlp_result){ loss, sqrt(sq), grad[0], grad[N_PARAMS - 1] };
}

static mlp_result mlp_engine_result(const mlp_graph *m)
{
    double grad[N_PARAMS];

    for (int k = 0; k < N_PARAMS; k++)
        grad[k] = nb_grad_scalar(m->p[k]);
    return mlp_summary(nb_value_scalar(m->loss), grad);
}

/* ---- scalar-mlp by hand -------------------------------------------------------
 * The same arithmetic, as one would write it by hand: per point a forward
 * sweep keeping each layer's outputs, then the adjoint loops in reverse,
 * accumulating into grad (zeroed by the caller).  Every sum keeps the
 * engine's order b + w0 x0 + w1 x1 + ..., so the loss is the same to the
 * last bit.  The forward reads the hidden weights transposed (made once per
 * evaluation), so a layer's 16 sums run side by side; the inner loops have
 * fixed lengths the compiler vectorises.  relu'(z) = 1 where z > 0, that is
 * where the output is > 0. */

enum { L1 = 0, L2 = HIDDEN * 3, L3 = L2 + HIDDEN * (HIDDEN + 1) }; /* layers in p */

typedef struct hand_layers { /* hidden layers: wt[k][j] = w_j[k], b[j] */
    double wt1[2 * HIDDEN], b1[HIDDEN];
    double wt2[HIDDEN * HIDDEN], b2[HIDDEN];
} hand_layers;

static void transpose_layer(const double *p, int nin, double *restrict wt, double *restrict b)
{
    for (int j = 0; j < HIDDEN; j++) {
        for (int k = 0; k < nin; k++)
            wt[k * HIDDEN + j] = p[j * (nin + 1) + k];
        b[j] = p[j * (nin + 1) + nin];
    }
}

/* h = relu(b + wt^T in): HIDDEN outputs from nin inputs. */
static void hidden_forward(const double *restrict wt, const double *restrict b,
                           const double *restrict in, int nin, double *restrict h)
{
    double s[HIDDEN];

    for (int j = 0; j < HIDDEN; j++)
        s[j] = b[j];
    for (int k = 0; k < nin; k++)
        for (int j = 0; j < HIDDEN; j++)
            s[j] += wt[k * HIDDEN + j] * in[k];
    for (int j = 0; j < HIDDEN; j++)
        h[j] = s[j] > 0 ? s[j] : 0;
}

/* dh = dL/dh of a hidden layer with outputs h: adds dL/dw and dL/db into gp
 * (laid out as p) and, din not NULL, sets din = dL/d(in). */
static void hidden_backward(const double *restrict p, double *restrict gp,
                            const double *restrict in, int nin, const double *restrict h,
                            const double *restrict dh, double *restrict din)
{
    if (din)
        for (int k = 0; k < nin; k++)
            din[k] = 0;
    for (int j = 0; j < HIDDEN; j++) {
        const double *w = p + j * (nin + 1);
        double *gw = gp + j * (nin + 1), dz = h[j] > 0 ? dh[j] : 0;
        for (int k = 0; k < nin; k++)
            gw[k] += dz * in[k];
        gw[nin] += dz;
        if (din)
            for (int k = 0; k < nin; k++)
                din[k] += dz * w[k];
    }
}

/* The loss; with grad not NULL, also dL/dp added into grad[0..336]. */
static double mlp_hand(const mlp_data *d, const double *p, double *grad)
{
    hand_layers w;
    double data = 0, reg = 0;

    transpose_layer(p + L1, 2, w.wt1, w.b1);
    transpose_layer(p + L2, HIDDEN, w.wt2, w.b2);
    for (int i = 0; i < N_POINTS; i++) {
        double h1[HIDDEN], h2[HIDDEN], dh1[HIDDEN], dh2[HIDDEN];
        hidden_forward(w.wt1, w.b1, d->x[i], 2, h1);
        hidden_forward(w.wt2, w.b2, h1, HIDDEN, h2);
        double s = p[L3 + HIDDEN];
        for (int k = 0; k < HIDDEN; k++)
            s += p[L3 + k] * h2[k];
        double t = s * -d->y[i] + 1;
        data += t > 0 ? t : 0;
        if (!grad)
            continue;
        double ds = t > 0 ? (1.0 / N_POINTS) * -d->y[i] : 0;
        for (int k = 0; k < HIDDEN; k++) {
            grad[L3 + k] += ds * h2[k];
            dh2[k] = ds * p[L3 + k];
        }
        grad[L3 + HIDDEN] += ds;
        hidden_backward(p + L2, grad + L2, h1, HIDDEN, h2, dh2, dh1);
        hidden_backward(p + L1, grad + L1, d->x[i], 2, h1, dh1, NULL);
    }
    for (int k = 0; k < N_PARAMS; k++) {
        reg += p[k] * p[k];
        if (grad) /* the mul gate p*p: 1e-4 p, twice */
            grad[k] += 2 * (1e-4 * p[k]);
    }
    return data * (1.0 / N_POINTS) + reg * 1e-4;
}

/* ---- scalar-chain ---------------------------------------------------------------
 * y <- relu(y * 0.999 + 0.001) from y0 = 0.5: five nodes per step. */

/* The chain's factor: 0.999, but for --huge's control (bench_huge) */
static double chain_mul = 0.999;

static nb_node *chain_build(nb_graph *g, long steps, nb_node **y0)
{
    nb_node *y = *y0 = nb_scalar(g, NULL, 0.5);

    for (long s = 0; s < steps; s++)
        y = nb_relu(g, nb_add_const(g, nb_mul_const(g, y, chain_mul), 0.001));
    return y;
}

/* By hand: ys[] (steps values) keeps the outputs for the adjoint sweep;
 * dy0 NULL: forward only. */
static double chain_hand(double y0, long steps, double *ys, double *dy0)
{
    double y = y0;

    for (long s = 0; s < steps; s++) {
        double z = y * chain_mul + 0.001;
        ys[s] = y = z > 0 ? z : 0;
    }
    if (dy0) {
        double dy = 1;
        for (long s = steps; s-- > 0;)
            dy = ys[s] > 0 ? dy * chain_mul : 0;
        *dy0 = dy;
    }
    return y;
}

/* ---- Checks ---------------------------------------------------------------------- */

static int near(const char *what, const char *name, double got, double want)
{
    double err = fabs(got - want);

    if (err <= RTOL * fabs(want))
        return 1;
    fprintf(stderr, "%s: %s = %.17g, want %.17g (relative error %.3g)\n", what, name, got, want,
            err / fabs(want));
    return 0;
}

static int check_mlp(const char *what, mlp_result r)
{
    int ok = near(what, "L", r.loss, ref_loss) & near(what, "|grad|", r.norm, ref_norm) &
             near(what, "dL/dp0", r.g0, ref_g0) & near(what, "dL/dp336", r.g336, ref_g336);

    printf("check scalar-mlp   %-14s L = %.17g  |grad| = %.17g  %s\n", what, r.loss, r.norm,
           ok ? "OK" : "FAILED");
    return ok;
}

/* Against the references at the defined length, else against the hand-written
 * chain, which does the same arithmetic. */
static int check_chain(const char *what, long steps, double y, double dy0, double hy,
                       double hdy0)
{
    double want_y = steps == CHAIN_STEPS ? ref_chain_y : hy;
    double want_d = steps == CHAIN_STEPS ? ref_chain_dy0 : hdy0;
    int ok = near(what, "y", y, want_y) & near(what, "dy/dy0", dy0, want_d);

    printf("check scalar-chain %-14s y = %.17g  dy/dy0 = %.17g  %s\n", what, y, dy0,
           ok ? "OK" : "FAILED");
    return ok;
}

/* ---- Timing ------------------------------------------------------------------------ */

typedef struct bench {
    const mlp_data *d;
    mlp_graph m; /* scalar-mlp, built once for replay */
    long steps;  /* scalar-chain */
    nb_graph *cg;
    nb_node *cy0, *cy;
    double *ys;
    double grad[N_PARAMS];
    unsigned long tick;   /* alternates the value of the changed leaf */
    volatile double sink; /* keeps forward-only results alive */
} bench;

typedef int (*run_fn)(bench *b); /* one evaluation; nonzero on error */

/* Median time of one call in ns, over samples of enough calls to last about
 * 20 ms each, after one untimed call as warm-up; -1 on error. */
static double time_call(run_fn run, bench *b, int samples)
{
    double t[MAX_SAMPLES], t0 = now_ns();

    if (run(b))
        return -1;
    double once = now_ns() - t0;
    long reps = once < 20e6 ? (long)(20e6 / (once + 1)) + 1 : 1;
    if (once > 200e6 && samples > 3)
        samples = 3; /* huge graphs: seconds per sample */
    for (int s = 0; s < samples; s++) {
        t0 = now_ns();
        for (long r = 0; r < reps; r++)
            if (run(b))
                return -1;
        t[s] = (now_ns() - t0) / (double)reps;
    }
    qsort(t, (size_t)samples, sizeof *t, by_value);
    return t[samples / 2];
}

static int mlp_run_build(bench *b)
{
    mlp_graph m;
    int rc = mlp_build(&m, b->d) || nb_backward(m.g, m.loss) != NB_OK;

    nb_graph_free(m.g);
    return rc;
}

static int mlp_run_forward(bench *b)
{
    nb_set_scalar(b->m.p[0], b->d->p[0] + (b->tick++ & 1 ? 1e-3 : 0));
    return nb_forward(b->m.g, b->m.loss) != NB_OK;
}

static int mlp_run_replay(bench *b)
{
    return mlp_run_forward(b) || nb_backward(b->m.g, b->m.loss) != NB_OK;
}

static int mlp_run_hand(bench *b)
{
    memset(b->grad, 0, sizeof b->grad);
    b->sink = mlp_hand(b->d, b->d->p, b->grad);
    return 0;
}

static int mlp_run_hand_forward(bench *b)
{
    b->sink = mlp_hand(b->d, b->d->p, NULL);
    return 0;
}

static int chain_run_build(bench *b)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *y0, *y = g ? chain_build(g, b->steps, &y0) : NULL;
    int rc = !y || nb_backward(g, y) != NB_OK;

    nb_graph_free(g);
    return rc;
}

static int chain_run_forward(bench *b)
{
    nb_set_scalar(b->cy0, b->tick++ & 1 ? 0.6 : 0.5);
    return nb_forward(b->cg, b->cy) != NB_OK;
}

static int chain_run_replay(bench *b)
{
    return chain_run_forward(b) || nb_backward(b->cg, b->cy) != NB_OK;
}

static int chain_run_hand(bench *b)
{
    double dy0;

    b->sink = chain_hand(0.5, b->steps, b->ys, &dy0) + dy0;
    return 0;
}

static int chain_run_hand_forward(bench *b)
{
    b->sink = chain_hand(0.5, b->steps, b->ys, NULL);
    return 0;
}

/* ---- Reporting ----------------------------------------------------------------------- */

typedef struct runs {
    const char *tag; /* "mlp", "chain": for --profile */
    run_fn hand, hand_forward, replay, forward, build;
} runs;

static const char *profile; /* --profile TAG-CONFIG, or NULL */
static long profile_calls;  /* --calls N: that many instead of 3 s */

/* --profile: the one configuration named, for about 3 s, under a profiler. */
static int run_profile(const runs *r, bench *b)
{
    static const char *const names[] = { "hand", "hand-fwd", "replay", "fwd", "build" };
    run_fn fns[] = { r->hand, r->hand_forward, r->replay, r->forward, r->build };
    size_t len = strlen(r->tag);

    if (strncmp(profile, r->tag, len) != 0 || profile[len] != '-')
        return 1;
    for (int i = 0; i < 5; i++) {
        if (strcmp(profile + len + 1, names[i]) != 0)
            continue;
        long calls = 0;
        for (double t0 = now_ns();
             profile_calls > 0 ? calls < profile_calls : now_ns() - t0 < 3e9; calls++)
            if (fns[i](b))
                return 0;
        printf("profiled %s: %ld calls\n", profile, calls);
        return 1;
    }
    fprintf(stderr, "--profile %s: no such configuration\n", profile);
    return 0;
}

static const char *verdict(double value, double target)
{
    return value <= target ? "PASS" : "MISS";
}

static void line(const char *workload, const char *config, size_t nodes, double ns)
{
    printf("%-12s %-15s %9zu nodes %11.1f us %8.2f ns/node", workload, config, nodes, ns / 1e3,
           ns / (double)nodes);
}

/* Times the five configurations and prints one line each, with the ratios
 * and their targets; returns 0 if a run failed. */
static int report(const char *workload, bench *b, const runs *r, size_t nodes, size_t bytes,
                  int samples)
{
    if (profile)
        return run_profile(r, b);
    double hand = time_call(r->hand, b, samples);
    double hand_fwd = time_call(r->hand_forward, b, samples);
    double replay = time_call(r->replay, b, samples);
    double fwd = time_call(r->forward, b, samples);
    double build = time_call(r->build, b, samples);
    double per_node = (double)bytes / (double)nodes;

    if (hand < 0 || hand_fwd < 0 || replay < 0 || fwd < 0 || build < 0)
        return 0;
    line(workload, "hand fwd+bwd", nodes, hand);
    printf("   grad/func %5.2f\n", hand / hand_fwd);
    line(workload, "hand fwd", nodes, hand_fwd);
    printf("\n");
    line(workload, "replay fwd+bwd", nodes, replay);
    printf("   x hand    %5.2f  (target <= 5)   %s\n", replay / hand,
           verdict(replay / hand, 5));
    line(workload, "replay fwd", nodes, fwd);
    printf("   (f+b)/f   %5.2f  (target <= 3)   %s\n", replay / fwd, verdict(replay / fwd, 3));
    line(workload, "build+fwd+bwd", nodes, build);
    printf("   x hand    %5.2f  (target <= 15)  %s\n", build / hand, verdict(build / hand, 15));
    printf("%-12s %-15s %9zu nodes %11.1f MB %8.2f B/node   (target <= 48)         %s\n",
           workload, "arena", nodes, (double)bytes / 1e6, per_node, verdict(per_node, 48));
    return 1;
}

/* ---- The gradient check and small graphs -------------------------------------------- */

static int mlp_run_gradcheck(bench *b)
{
    nb_gradcheck_result res[N_PARAMS];
    int rc = nb_gradcheck(b->m.g, b->m.loss, b->m.p, N_PARAMS, NULL, res) != NB_OK;
    for (int k = 0; k < N_PARAMS && !rc; k++)
        rc = !res[k].pass;
    return rc;
}

/* The lecture's f = (x + y) z: five nodes, built, differentiated, freed */
static int small_run_build(bench *b)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", -2), *y = nb_scalar(g, "y", 5), *z = nb_scalar(g, "z", -4);
    nb_node *f = nb_mul(g, nb_add(g, x, y), z);
    int rc = !f || nb_backward(g, f) != NB_OK || nb_grad_scalar(z) != 3;

    (void)b;
    nb_graph_free(g);
    return rc;
}

/* nb_gradcheck on every parameter of scalar-mlp against as many forward
 * replays (two per parameter), and 5-node graphs against scalar-mlp's
 * build per node. */
static int report_extras(bench *b, size_t nodes, int samples)
{
    double gc = time_call(mlp_run_gradcheck, b, samples < 5 ? samples : 5);
    double fwd = time_call(mlp_run_forward, b, samples);
    double small = time_call(small_run_build, b, samples);
    double big = time_call(mlp_run_build, b, samples);

    if (gc < 0 || fwd < 0 || small < 0 || big < 0)
        return 0;
    double gc_ratio = gc / (2.0 * N_PARAMS * fwd),
           small_ratio = (small / 5) / (big / (double)nodes);
    line("scalar-mlp", "gradcheck", nodes, gc);
    printf("   / %d fwd %5.2f  (target <= 1)   %s\n", 2 * N_PARAMS, gc_ratio,
           verdict(gc_ratio, 1));
    line("small", "build+fwd+bwd", 5, small);
    printf("   / mlp's  %5.2f  (target <= 1.5) %s\n", small_ratio, verdict(small_ratio, 1.5));
    return 1;
}

/* ---- Workloads ------------------------------------------------------------------------ */

static int mlp_check_replay(mlp_graph *m, const mlp_data *d, const char *what)
{
    nb_set_scalar(m->p[0], d->p[0]);
    if (nb_forward(m->g, m->loss) != NB_OK || nb_backward(m->g, m->loss) != NB_OK) {
        fprintf(stderr, "scalar-mlp: %s\n", nb_errmsg(m->g));
        return 0;
    }
    return check_mlp(what, mlp_engine_result(m));
}

static int bench_mlp(const mlp_data *d, int samples, int check_only)
{
    static bench b; /* static: volatile member, big arrays */
    double grad[N_PARAMS] = { 0 }, diff = 0;
    int ok;

    b.d = d;
    if (mlp_build(&b.m, d) || nb_backward(b.m.g, b.m.loss) != NB_OK) {
        fprintf(stderr, "scalar-mlp: %s\n", b.m.g ? nb_errmsg(b.m.g) : "out of memory");
        nb_graph_free(b.m.g);
        return 0;
    }
    ok = check_mlp("engine", mlp_engine_result(&b.m));
    ok &= check_mlp("hand-written", mlp_summary(mlp_hand(d, d->p, grad), grad));
    for (int k = 0; k < N_PARAMS; k++)
        diff = fmax(diff, fabs(nb_grad_scalar(b.m.p[k]) - grad[k]));
    if (!(diff <= RTOL * ref_norm)) {
        fprintf(stderr, "scalar-mlp: engine and hand-written gradients differ by %g\n", diff);
        ok = 0;
    }
    nb_set_scalar(b.m.p[0], d->p[0] + 0.25); /* replay elsewhere, then come back */
    ok &= nb_forward(b.m.g, b.m.loss) == NB_OK && nb_backward(b.m.g, b.m.loss) == NB_OK;
    ok &= mlp_check_replay(&b.m, d, "engine replay");

    size_t nodes = nb_graph_size(b.m.g), bytes = nb_graph_bytes(b.m.g);
    if (ok && !check_only) {
        runs r = { "mlp",          mlp_run_hand,    mlp_run_hand_forward,
                   mlp_run_replay, mlp_run_forward, mlp_run_build };
        printf("scalar-mlp: %zu nodes in the graph (micrograd: %d); ns/node divide by %zu\n",
               nodes, MICROGRAD_NODES, nodes);
        ok = report("scalar-mlp", &b, &r, nodes, bytes, samples);
        ok &= profile || report_extras(&b, nodes, samples);
        ok &= mlp_check_replay(&b.m, d, "after timing");
    }
    nb_graph_free(b.m.g);
    return ok;
}

static double peak_rss_mb(void)
{
    struct rusage ru;

    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024 : 0;
}

static int chain_check(bench *b, const char *what, double hy, double hdy0)
{
    nb_set_scalar(b->cy0, 0.5);
    if (nb_forward(b->cg, b->cy) != NB_OK || nb_backward(b->cg, b->cy) != NB_OK) {
        fprintf(stderr, "scalar-chain: %s\n", nb_errmsg(b->cg));
        return 0;
    }
    return check_chain(what, b->steps, nb_value_scalar(b->cy), nb_grad_scalar(b->cy0), hy,
                       hdy0);
}

static int bench_chain(long steps, int samples, int check_only)
{
    static bench b;
    double hdy0, t0 = now_ns();
    int ok = 0;

    b.steps = steps;
    b.ys = malloc((size_t)steps * sizeof *b.ys);
    b.cg = nb_graph_new(NB_F64);
    b.cy = b.cg && b.ys ? chain_build(b.cg, steps, &b.cy0) : NULL;
    if (!b.cy || nb_backward(b.cg, b.cy) != NB_OK) {
        fprintf(stderr, "scalar-chain: %s\n", b.cg ? nb_errmsg(b.cg) : "out of memory");
        goto done;
    }
    double t_first = now_ns() - t0;
    double hy = chain_hand(0.5, steps, b.ys, &hdy0);
    ok = check_chain("engine", steps, nb_value_scalar(b.cy), nb_grad_scalar(b.cy0), hy, hdy0);
    ok &= check_chain("hand-written", steps, hy, hdy0, hy, hdy0);
    nb_set_scalar(b.cy0, 0.75);
    ok &= nb_forward(b.cg, b.cy) == NB_OK && nb_backward(b.cg, b.cy) == NB_OK;
    ok &= chain_check(&b, "engine replay", hy, hdy0);

    size_t nodes = nb_graph_size(b.cg), bytes = nb_graph_bytes(b.cg);
    if (ok && !check_only) {
        runs r = { "chain",          chain_run_hand,    chain_run_hand_forward,
                   chain_run_replay, chain_run_forward, chain_run_build };
        printf("scalar-chain: %ld steps, %zu nodes; first build+fwd+bwd %.3f s, "
               "peak RSS %.1f MB with this one graph (%.1f B/node, whole process)\n",
               steps, nodes, t_first / 1e9, peak_rss_mb(),
               peak_rss_mb() * 1048576 / (double)nodes);
        ok = report("scalar-chain", &b, &r, nodes, bytes, samples);
        ok &= chain_check(&b, "after timing", hy, hdy0);
        if (!profile)
            printf("scalar-chain: peak RSS %.1f MB while timing: the replay graph and a "
                   "fresh one alive together, and the hand-written ys[] (%.1f MB)\n",
                   peak_rss_mb(), (double)steps * 8 / 1048576);
    }
done:
    nb_graph_free(b.cg);
    free(b.ys);
    return ok;
}

/* ---- 10 million nodes ------------------------------------------------------------------
 * --huge: the chain at --chain-steps (default 2,000,000 steps, 10,000,001
 * nodes) against the 100k-node chain.  First, alone in the process, one
 * graph is built, differentiated, replayed twice and freed, for the peak
 * RSS per node of one graph; then fresh graphs are built, differentiated
 * and freed, each timed with its minor page faults, against the same at
 * 100k nodes (which reuses a freed graph's memory, as a loop of graphs
 * does). */

static long minor_faults(void)
{
    struct rusage ru;

    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

static double rss_mb(void) /* resident now */
{
    char buf[256];
    double kb = 0;
    FILE *f = fopen("/proc/self/status", "r");

    while (f && fgets(buf, sizeof buf, f))
        if (strncmp(buf, "VmRSS:", 6) == 0)
            kb = atof(buf + 6);
    if (f)
        fclose(f);
    return kb / 1024;
}

static void huge_phase(const char *what, double t0, long *faults)
{
    long now = minor_faults();

    printf("huge-chain   %-22s %8.3f s  %8ld minor faults  RSS %7.1f MB\n", what,
           (now_ns() - t0) / 1e9, now - *faults, rss_mb());
    *faults = now;
}

/* Fresh graphs of the chain at steps, built, differentiated and freed, each
 * timed with its minor page faults (printed), against the same at 100k
 * nodes: the median ns per node of each in *huge and *small; 0 on error. */
static int fresh_chains(bench *b, size_t nodes, int samples, double *huge, double *small)
{
    double t[MAX_SAMPLES];
    bench b100k = { .steps = CHAIN_STEPS };

    *small = time_call(chain_run_build, &b100k, samples) / (CHAIN_STEPS * 5 + 1);
    samples = samples < 3 ? samples : 3;
    for (int s = 0; s < samples; s++) {
        long faults = minor_faults();
        double t0 = now_ns();
        if (chain_run_build(b))
            return 0;
        t[s] = (now_ns() - t0) / (double)nodes;
        printf("huge-chain   build+fwd+bwd, fresh    %8.2f ns/node %8ld minor faults\n", t[s],
               minor_faults() - faults);
    }
    qsort(t, (size_t)samples, sizeof *t, by_value);
    *huge = t[samples / 2];
    return *small > 0;
}

static int bench_huge(long steps, int samples)
{
    static bench b;
    double t0 = now_ns(), ns_huge, ns_small;
    long faults = minor_faults();
    int ok;

    b.steps = steps;
    b.cg = nb_graph_new(NB_F64);
    b.cy = b.cg ? chain_build(b.cg, steps, &b.cy0) : NULL;
    size_t nodes = b.cy ? nb_graph_size(b.cg) : 0;
    printf("huge-chain: %ld steps, %zu nodes\n", steps, nodes);
    huge_phase("build", t0, &faults);
    ok = b.cy && nb_backward(b.cg, b.cy) == NB_OK;
    huge_phase("first backward", t0, &faults);
    for (int i = 0; i < 2 && ok; i++)
        ok = !chain_run_replay(&b);
    huge_phase("two replays fwd+bwd", t0, &faults);
    double peak = peak_rss_mb();
    nb_graph_free(b.cg);
    b.cg = NULL;
    if (!ok || !fresh_chains(&b, nodes, samples, &ns_huge, &ns_small)) {
        fprintf(stderr, "huge-chain: failed\n");
        return 0;
    }
    double ratio = ns_huge / ns_small, bpn = peak * 1048576 / (double)nodes;
    printf("chain        build+fwd+bwd   %9d nodes %8.2f ns/node\n", CHAIN_STEPS * 5 + 1,
           ns_small);
    printf("huge-chain   build+fwd+bwd   %9zu nodes %8.2f ns/node   x 100k   %5.2f  "
           "(target <= 1.5) %s\n",
           nodes, ns_huge, ratio, verdict(ratio, 1.5));
    printf("huge-chain   peak RSS, one graph %5zu nodes %8.1f MB %6.1f B/node (target <= 80)  "
           "%s\n",
           nodes, peak, bpn, verdict(bpn, 80));

    /* Past 708,000 steps from the end, dy/dy_k = 0.999^m is subnormal (and
     * stays at the smallest subnormal, which 0.999 rounds back to itself),
     * and x86 multiplies subnormals about 30 times slower: the hand-written
     * adjoint slows as much.  The same chain with a factor that keeps the
     * gradients normal shows what the engine itself costs at this size. */
    bench hand = { .steps = steps, .ys = malloc((size_t)steps * sizeof *hand.ys) },
          hand100k = { .steps = CHAIN_STEPS, .ys = hand.ys };
    double hand_huge = hand.ys ? time_call(chain_run_hand, &hand, 3) / (double)nodes : -1;
    double hand_small =
        hand.ys ? time_call(chain_run_hand, &hand100k, samples) / (CHAIN_STEPS * 5 + 1) : -1;
    free(hand.ys);
    chain_mul = 0.9999999;
    ok = hand_huge > 0 && hand_small > 0 &&
         fresh_chains(&b, nodes, samples, &ns_huge, &ns_small);
    chain_mul = 0.999;
    if (!ok) {
        fprintf(stderr, "huge-chain: failed\n");
        return 0;
    }
    printf("huge-chain   hand-written fwd+bwd  %8.2f ns/node   x 100k  %6.2f  (subnormal "
           "gradients)\n",
           hand_huge, hand_huge / hand_small);
    printf("huge-chain   y * 0.9999999 instead %8.2f ns/node   x 100k   %5.2f  (normal "
           "gradients; 100k: %.2f ns/node)\n",
           ns_huge, ns_huge / ns_small, ns_small);
    return 1;
}

/* ---- Main ---------------------------------------------------------------------------- */

static void print_cpu(void)
{
    char buf[256], *model = NULL;
    FILE *f = fopen("/proc/cpuinfo", "r");

    while (f && !model && fgets(buf, sizeof buf, f))
        if (strncmp(buf, "model name", 10) == 0 && (model = strchr(buf, ':')))
            model[strcspn(model, "\n")] = 0;
    printf("nabla %s, buildtype %s, cpu%s\n", NB_VERSION, BENCH_BUILDTYPE,
           model ? model + 1 : ": unknown");
    if (f)
        fclose(f);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--check] [--samples N] [--chain-steps N] [--huge]\n"
            "          [--profile WHAT [--calls N]]\n"
            "  --check          one evaluation of each workload against the references\n"
            "  --samples N      timed samples per configuration, median reported (default 9)\n"
            "  --chain-steps N  scalar-chain alone, N steps (5N+1 nodes; 2000000: 10M)\n"
            "  --huge           the 10M-node chain (or --chain-steps) against the 100k one:\n"
            "                   peak RSS of one graph, build+fwd+bwd per node, page faults\n"
            "  --profile WHAT   run one configuration for 3 s, for a profiler: WHAT is\n"
            "                   mlp- or chain- then hand, hand-fwd, replay, fwd or build\n"
            "  --calls N        --profile runs N calls instead of 3 s (for callgrind)\n",
            argv0);
}

int main(int argc, char **argv)
{
    static mlp_data d;
    int check_only = 0, samples = 9, ok = 1;
    long steps = CHAIN_STEPS, chain_only = 0;
    int huge = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0)
            check_only = 1;
        else if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc)
            samples = atoi(argv[++i]);
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            profile_calls = atol(argv[++i]);
        else if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc)
            profile = argv[++i];
        else if (strcmp(argv[i], "--chain-steps") == 0 && i + 1 < argc)
            chain_only = steps = atol(argv[++i]);
        else if (strcmp(argv[i], "--huge") == 0)
            huge = 1;
        else {
            usage(argv[0]);
            return 2;
        }
    }
    if (samples < 1 || samples > MAX_SAMPLES || steps < 1) {
        usage(argv[0]);
        return 2;
    }
    if (!check_only)
        print_cpu();
    if (huge) {
        ok = bench_huge(chain_only ? steps : 2000000, samples);
        printf("%s\n", ok ? "all runs passed" : "RUN FAILED");
        return ok ? 0 : 1;
    }
    mlp_data_init(&d);
    if (!chain_only)
        ok &= bench_mlp(&d, samples, check_only);
    ok &= bench_chain(steps, samples, check_only);
    printf("%s\n", ok ? "all checks passed" : "CHECK FAILED");
    return ok ? 0 : 1;
}
