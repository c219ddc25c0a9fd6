/* test_gradcheck.c - the gradient check: a wrong gradient is reported, at
 * the element where it is wrong; on a graph of scalars, both f(x +- h)
 * from one pass give the figures two forward passes give, to the bit. */
#include "check.h"
#include "nabla.h"

#include <stdlib.h>
#include <string.h>

/* the checker itself: a kink inside the finite-difference step fails */
static void gradcheck_reports_a_mismatch(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 0), *r = nb_relu(g, x);
    nb_gradcheck_result res;

    CHECK(nb_gradcheck(g, r, &x, 1, NULL, &res) == NB_OK);
    CHECK(!res.pass && res.analytic == 0 && fabs(res.numeric - 0.5) < 1e-9);
    nb_set_scalar(x, 1);
    CHECK(nb_gradcheck(g, r, &x, 1, NULL, &res) == NB_OK && res.pass);
    CHECK(nb_value_scalar(x) == 1 && nb_value_scalar(r) == 1); /* restored */
    nb_graph_free(g);
}

/* Every node's value and gradient (0 where it has none) */
static double *state(nb_graph *g)
{
    size_t n = nb_graph_size(g);
    double *s = malloc(2 * n * sizeof *s);
    for (size_t i = 0; s && i < n; i++) {
        nb_node *x = nb_graph_node(g, i);
        s[2 * i] = nb_value_scalar(x);
        s[2 * i + 1] = nb_grads(x) ? nb_grad_scalar(x) : 0;
    }
    return s;
}

/* A graph of scalars: sums of products that the replay chains, constants,
 * unary ops, and a leaf that f does not read.  With its replay (both
 * points in one pass) and without it (a forward pass per point): the same
 * results to the bit, and the graph left as it was.  At *x = 1e-7, log(x
 * - h) is not finite: both report it alike. */
static void both_points_in_one_pass(nb_dtype dt, double x0)
{
    nb_gradcheck_result res[2][5];
    nb_status st[2];
    char msg[2][256];

    for (int replay = 0; replay < 2; replay++) {
        nb_graph *g = nb_graph_new(dt);
        nb_node *x = nb_scalar(g, "x", x0), *w = nb_scalar(g, "w", -0.6),
                *b = nb_scalar(g, "b", 0.25), *unused = nb_scalar(g, "unused", 2);
        nb_node *c = nb_const_scalar(g, 1.5);
        nb_node *s = b, *m[4];
        for (int i = 0; i < 4; i++)
            s = nb_add(g, s, m[i] = nb_mul(g, i % 2 ? w : c, i < 2 ? x : nb_tanh(g, s)));
        nb_node *f = nb_add(g, nb_sigmoid(g, s), nb_mul(g, nb_log(g, x), nb_exp(g, w)));
        f = nb_add(g, f, nb_relu(g, nb_mul(g, w, b)));
        f = nb_add(g, f, nb_mul(g, m[1], m[3])); /* products read again */
        nb_node *leaves[5] = { x, w, b, unused, c };
        nb_set_replay(g, replay);
        CHECK(nb_forward(g, f) == NB_OK && nb_backward(g, f) == NB_OK);
        double *before = state(g);
        memset(res[replay], 0, sizeof res[replay]);
        st[replay] = nb_gradcheck(g, f, leaves, 5, NULL, res[replay]);
        snprintf(msg[replay], sizeof msg[replay], "%s", nb_errmsg(g));
        for (int k = 0; k < 5; k++)
            res[replay][k].leaf = NULL; /* the two graphs' own */
        double *after = state(g);
        CHECK(before && after &&
              memcmp(before, after, 2 * nb_graph_size(g) * sizeof *before) == 0);
        free(before);
        free(after);
        nb_graph_free(g);
    }
    CHECK(st[0] == st[1] && strcmp(msg[0], msg[1]) == 0);
    CHECK(memcmp(res[0], res[1], sizeof res[0]) == 0 || st[0] != NB_OK);
    if (x0 > 1e-3)
        CHECK(st[1] == NB_OK && res[1][0].pass && res[1][1].pass && res[1][2].pass &&
              res[1][3].pass && res[1][3].numeric == 0);
    else
        CHECK(st[1] == NB_ERR_NONFINITE && strstr(msg[1], "log") != NULL);
}

int main(void)
{
    gradcheck_reports_a_mismatch();
    both_points_in_one_pass(NB_F64, 0.7);
    both_points_in_one_pass(NB_F32, 0.7);
    both_points_in_one_pass(NB_F64, 1e-7);
    return check_summary();
}
