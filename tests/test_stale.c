/* test_stale.c - backward never differentiates stale values: after a leaf
 * changes (nb_set_at, nb_write, a pointer from nb_values, a view's source in
 * another graph) it runs forward first, and a loop of forward then backward
 * still runs forward once per step.  Counts runs through src/internal.h. */
#include "check.h"
#include "internal.h"

#include <math.h>
#include <string.h>

#define HAS(msg, part) (strstr((msg), (part)) != NULL)
#define E              exp(1.0)

/* f = exp(x x): f(1) = e, f'(1) = 2 x exp(x x) = 2e */
static void backward_after_set_scalar_sees_the_new_value(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 0);
    nb_node *f = nb_exp(g, nb_mul(g, x, x));

    CHECK(nb_value_scalar(f) == 1);
    CHECK(nb_set_scalar(x, 1) == NB_OK);
    CHECK(nb_backward(g, f) == NB_OK);
    CHECK_NEAR(nb_value_scalar(f), E, 1e-15);
    CHECK_NEAR(nb_grad_scalar(x), 2 * E, 1e-14);
    /* and again once the plan has run: the replay takes the next ones */
    for (int step = 2; step < 5; step++) {
        CHECK(nb_set_scalar(x, step) == NB_OK);
        CHECK(nb_backward(g, f) == NB_OK);
        CHECK_NEAR(nb_value_scalar(f), exp(step * step), 1e-15 * exp(step * step));
        CHECK_NEAR(nb_grad_scalar(x), 2 * step * exp(step * step),
                   1e-14 * 2 * step * exp(step * step));
    }
    nb_graph_free(g);
}

/* A plain training loop runs forward once per step; a graph built and
 * differentiated once (as micrograd builds one per evaluation) runs no
 * forward at all: the constructors' values are current. */
static void forward_then_backward_runs_forward_once(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 0.5);
    nb_node *f = nb_exp(g, nb_mul(g, x, x));

    CHECK(nb_backward(g, f) == NB_OK);
    CHECK(g->plan.runs == 1); /* the backward alone */
    for (int step = 0; step < 3; step++) {
        int runs = g->plan.runs;
        CHECK(nb_set_scalar(x, 0.25 * step) == NB_OK);
        CHECK(nb_forward(g, f) == NB_OK && nb_backward(g, f) == NB_OK);
        CHECK(g->plan.runs == runs + 2);
    }
    CHECK_NEAR(nb_grad_scalar(x), 2 * 0.5 * exp(0.25), 1e-15);

    /* the same with a pointer from nb_values, and its writes compared */
    nb_node *v = nb_variable(g, "v", 1, (int[]){ 2 }, (double[]){ 0, 0 });
    nb_node *h = nb_sum(g, nb_exp(g, nb_mul(g, v, v)));
    double *pv = nb_values(v);
    for (int step = 0; step < 3; step++) {
        int runs = g->plan.runs;
        pv[0] = 0.5 * step;
        CHECK(nb_forward(g, h) == NB_OK && nb_backward(g, h) == NB_OK);
        CHECK(step == 0 || g->plan.runs == runs + 2);
    }
    CHECK_NEAR(nb_grad_at(v, 0), 2 * exp(1), 1e-14);
    nb_graph_free(g);
}

/* Writes nb_set_at cannot count: through a pointer kept from before the
 * graph was built, and through nb_write. */
static void backward_sees_writes_through_pointers(void)
{
    nb_graph *g = nb_graph_new(NB_F32);
    nb_node *x = nb_variable(g, "x", 1, (int[]){ 3 }, NULL);
    float *px = nb_values(x);
    nb_node *f = nb_sum(g, nb_exp(g, nb_mul(g, x, x)));

    px[1] = 1; /* after f was built: f = 2 + e, df/dx1 = 2e */
    CHECK(nb_backward(g, f) == NB_OK);
    CHECK_NEAR(nb_value_scalar(f), 2 + E, 1e-6);
    CHECK_NEAR(nb_grad_at(x, 1), 2 * E, 1e-5);
    px[1] = 0; /* the plan ran; now its replay and the saved leaves */
    CHECK(nb_backward(g, f) == NB_OK);
    CHECK(nb_backward(g, f) == NB_OK);
    px[2] = 1;
    CHECK(nb_backward(g, f) == NB_OK);
    CHECK_NEAR(nb_value_scalar(f), 2 + E, 1e-6);
    CHECK_NEAR(nb_grad_at(x, 1), 0, 0);
    CHECK_NEAR(nb_grad_at(x, 2), 2 * E, 1e-5);
    CHECK(nb_write(x, (float[]){ 1, 1, 1 }, NB_F32) == NB_OK);
    CHECK(nb_backward(g, f) == NB_OK);
    CHECK_NEAR(nb_value_scalar(f), 3 * E, 1e-5);
    nb_graph_free(g);
}

/* A replica's parameters are views of a model's, which an optimiser
 * updates in place through the model's graph. */
static void backward_sees_a_view_source_written_in_its_graph(void)
{
    nb_graph *model = nb_graph_new(NB_F64);
    nb_node *W = nb_param(model, "W", 1, (int[]){ 2 }, (double[]){ 0, 0 });
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *w = nb_view(g, "W", W, 0, 1, (int[]){ 2 }, NB_LEAF_PARAM);
    nb_node *f = nb_sum(g, nb_exp(g, nb_mul(g, w, w)));

    CHECK(nb_forward(g, f) == NB_OK && nb_backward(g, f) == NB_OK);
    CHECK(nb_value_scalar(f) == 2);
    CHECK(nb_set_at(W, 0, 1) == NB_OK); /* the model's graph: g is not told */
    CHECK(nb_backward(g, f) == NB_OK);
    CHECK_NEAR(nb_value_scalar(f), 1 + E, 1e-15);
    CHECK_NEAR(nb_grad_at(w, 0), 2 * E, 1e-14);
    ((double *)nb_values(W))[1] = 1;
    CHECK(nb_backward(g, f) == NB_OK);
    CHECK_NEAR(nb_value_scalar(f), 2 * E, 1e-15);
    CHECK_NEAR(nb_grad_at(w, 1), 2 * E, 1e-14);
    nb_graph_free(g);
    nb_graph_free(model);
}

/* The forward that backward runs reports a non-finite root as nb_forward
 * does, and computes no gradient from it. */
static void backward_reports_the_op_its_forward_blames(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 1);
    nb_node *f = nb_log(g, x);

    CHECK(nb_backward(g, f) == NB_OK && nb_grad_scalar(x) == 1);
    CHECK(nb_set_scalar(x, -1) == NB_OK);
    CHECK(nb_backward(g, f) == NB_ERR_NONFINITE);
    CHECK(HAS(nb_errmsg(g), "log (node 1): NaN"));
    CHECK(isnan(nb_value_scalar(f)));
    /* a root no variable reaches still gets its value */
    nb_node *c = nb_constant(g, "c", 1, (int[]){ 1 }, (double[]){ 0 });
    nb_node *e = nb_sum(g, nb_exp(g, c));
    CHECK(nb_write(c, (double[]){ 1 }, NB_F64) == NB_OK);
    CHECK(nb_backward(g, e) == NB_OK);
    CHECK_NEAR(nb_value_scalar(e), E, 1e-15);
    nb_graph_free(g);
}

int main(void)
{
    backward_after_set_scalar_sees_the_new_value();
    forward_then_backward_runs_forward_once();
    backward_sees_writes_through_pointers();
    backward_sees_a_view_source_written_in_its_graph();
    backward_reports_the_op_its_forward_blames();
    return check_summary();
}
