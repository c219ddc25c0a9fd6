/* bench_replay.c - the two executors on scalar-mlp, in one process: a graph
 * run by the replay (the default) and one run by the reference executor
 * (nb_set_replay off), in turn, so both see the same machine.  --check: one
 * run of each, which must agree bit for bit. */
#define _POSIX_C_SOURCE 200809L
#include "nabla.h"
#include "scalar_mlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 15
#define CALLS  60

/* m built and run twice (a plan's second run writes the replay); 0 on
 * error. */
static int build(mlp_graph *m, const mlp_data *d, int replay)
{
    if (mlp_build(m, d) != 0)
        return 0;
    nb_set_replay(m->g, replay);
    return nb_backward(m->g, m->loss) == NB_OK && nb_forward(m->g, m->loss) == NB_OK &&
           nb_backward(m->g, m->loss) == NB_OK;
}

/* ns per node of one run (forward, and backward unless fwd_only),
 * averaged over CALLS; -1 on error. */
static double timed(mlp_graph *m, const mlp_data *d, int fwd_only)
{
    double t0 = now_ns();

    for (int i = 0; i < CALLS; i++) {
        nb_set_scalar(m->p[0], d->p[0] + (i & 1 ? 1e-3 : 0));
        if (nb_forward(m->g, m->loss) != NB_OK ||
            (!fwd_only && nb_backward(m->g, m->loss) != NB_OK))
            return -1;
    }
    return (now_ns() - t0) / CALLS / (double)nb_graph_size(m->g);
}

static int same_results(const mlp_graph *a, const mlp_graph *b)
{
    if (memcmp(nb_values(a->loss), nb_values(b->loss), sizeof(double)) != 0)
        return 0;
    for (int k = 0; k < N_PARAMS; k++)
        if (memcmp(nb_grads(a->p[k]), nb_grads(b->p[k]), sizeof(double)) != 0)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    static mlp_data d;
    static mlp_graph replay, ref;
    int check = argc > 1 && !strcmp(argv[1], "--check");

    if (argc > 1 && !check) {
        fprintf(stderr, "usage: bench_replay [--check]\n");
        return 2;
    }
    mlp_data_init(&d);
    if (!build(&replay, &d, 1) || !build(&ref, &d, 0)) {
        fprintf(stderr, "bench_replay: could not build and run scalar-mlp\n");
        return 1;
    }
    int ok = same_results(&replay, &ref);
    printf("scalar-mlp: replay and reference executor %s\n",
           ok ? "agree bit for bit" : "DIFFER");
    for (int fwd_only = 0; ok && !check && fwd_only < 2; fwd_only++) {
        double p[ROUNDS], w[ROUNDS], q[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            p[r] = timed(&replay, &d, fwd_only);
            w[r] = timed(&ref, &d, fwd_only);
            q[r] = p[r] / w[r];
            ok &= p[r] > 0 && w[r] > 0;
        }
        qsort(p, ROUNDS, sizeof *p, by_value);
        qsort(w, ROUNDS, sizeof *w, by_value);
        qsort(q, ROUNDS, sizeof *q, by_value);
        printf("%-8s replay %.2f ns/node, reference %.2f; replay / reference %.3f "
               "(middle two thirds of %d rounds %.3f-%.3f)\n",
               fwd_only ? "fwd" : "fwd+bwd", p[ROUNDS / 2], w[ROUNDS / 2], q[ROUNDS / 2],
               ROUNDS, q[ROUNDS / 6], q[ROUNDS - 1 - ROUNDS / 6]);
    }
    nb_graph_free(replay.g);
    nb_graph_free(ref.g);
    return ok ? 0 : 1;
}
