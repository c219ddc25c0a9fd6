/* gradcheck.c - the public gradient check: backprop against central finite
 * differences, each f(x +- h) evaluated on the built graph by incremental
 * evaluation (delta.c). */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static nb_gradcheck_opts defaults(nb_dtype dtype, const nb_gradcheck_opts *opts)
{
    /* f32: h must be large enough that f(x+h) - f(x-h) is not rounding
     * noise (float eps 6e-8 against values of order 1), and the error of
     * the difference quotient is then of order h^2 and eps/h: ~1e-3. */
    nb_gradcheck_opts o = dtype == NB_F32 ? (nb_gradcheck_opts){ 1e-2, 1e-3, 2e-2 }
                                          : (nb_gradcheck_opts){ 1e-6, 1e-7, 1e-6 };
    if (opts) {
        if (opts->eps > 0)
            o.eps = opts->eps;
        if (opts->atol > 0)
            o.atol = opts->atol;
        if (opts->rtol > 0)
            o.rtol = opts->rtol;
    }
    return o;
}

/* f(root) with leaf element i set to v, the leaf put back after.  Only
 * what reads the element is recomputed (delta.c).  A full replay instead
 * in anomaly mode, which checks every op, and to explain a non-finite f;
 * and with d NULL, for a graph of scalars, where the replay's tape runs
 * every node in less time than the incremental walk takes to decide which
 * to run. */
static nb_status eval_at(nb_graph *g, nb_node *root, nb__delta *d, nb_node *leaf, size_t i,
                         double v, double *out)
{
    nb_status s = g->anomaly || !d ? NB_ERR_NONFINITE : nb__delta_eval(d, leaf, i, v, out);
    if (g->op_status != NB_OK) /* a user's op failed */
        return nb__op_failed(g);
    if (s != NB_ERR_NONFINITE)
        return s;
    double x = nb_value_at(leaf, i);
    nb_set_at(leaf, i, v);
    s = nb_forward(g, root);
    *out = nb_value_scalar(root);
    nb_set_at(leaf, i, x);
    return s;
}

/* A scalar's two elements in the store: its value, and the element that
 * holds its gradient or, during eval_two, a second value. */
static void put(const nb_graph *g, void *p, double x)
{
    if (g->dtype == NB_F32)
        *(float *)p = (float)x;
    else
        *(double *)p = x;
}

static double get(const nb_graph *g, const void *p)
{
    return g->dtype == NB_F32 ? (double)*(const float *)p : *(const double *)p;
}

static void *second(const nb_graph *g, const nb_node *n) { return (char *)n->val + nb__elt(g); }

/* f(root) with the scalar leaf at xp and at xm, from one pass of the
 * replay two, whose leaves' second elements hold their values
 * (nb_gradcheck puts them there); 0 if either is not finite, for eval_at
 * to explain. */
static int eval_two(nb_graph *g, nb_node *root, const nb__replay *two, nb_node *leaf, double xp,
                    double xm, double *fp, double *fm)
{
    unsigned char was[16];

    memcpy(was, leaf->val, 2 * nb__elt(g));
    put(g, leaf->val, xp);
    put(g, second(g, leaf), xm);
    nb__replay_forward2(g, two);
    *fp = get(g, root->val);
    *fm = get(g, second(g, root));
    memcpy(leaf->val, was, 2 * nb__elt(g));
    return isfinite(*fp) && isfinite(*fm);
}

static nb_status check_leaf(nb_graph *g, nb_node *root, nb__delta *d, const nb__replay *two,
                            nb_node *leaf, const double *grad, const nb_gradcheck_opts *o,
                            nb_gradcheck_result *r)
{
    *r = (nb_gradcheck_result){ .leaf = leaf, .n = nb_size(leaf), .pass = 1 };
    for (size_t i = 0; i < r->n; i++) {
        double x = nb_value_at(leaf, i), fp, fm;
        nb_status s = NB_OK;
        if (!two || !nb__in_store(leaf) ||
            !eval_two(g, root, two, leaf, x + o->eps, x - o->eps, &fp, &fm)) {
            s = eval_at(g, root, d, leaf, i, x + o->eps, &fp);
            if (s == NB_OK)
                s = eval_at(g, root, d, leaf, i, x - o->eps, &fm);
        }
        if (s != NB_OK)
            return s;
        /* the step actually taken, after rounding x + h to the dtype */
        double step = nb_graph_dtype(g) == NB_F32
                          ? (double)((float)(x + o->eps) - (float)(x - o->eps))
                          : (x + o->eps) - (x - o->eps);
        double a = grad[i], n = (fp - fm) / step, err = fabs(a - n);
        double scale = fmax(fmax(fabs(a), fabs(n)), 1e-300), rel = err / scale;
        if (err > r->max_abs_err)
            r->max_abs_err = err;
        if (i == 0 || rel > r->max_rel_err) {
            r->max_rel_err = rel;
            r->worst = i;
            r->analytic = a;
            r->numeric = n;
        }
        if (err > o->atol && rel > o->rtol)
            r->pass = 0;
    }
    return NB_OK;
}

nb_status nb_gradcheck(nb_graph *g, nb_node *root, nb_node *const *leaves, size_t n_leaves,
                       const nb_gradcheck_opts *opts, nb_gradcheck_result *results)
{
    if (!g)
        return NB_ERR_ARG;
    if (!root || (n_leaves && (!leaves || !results)))
        return nb__report(g, NB_ERR_ARG, "gradcheck: NULL root, leaves or results");
    if (nb_rank(root) != 0)
        return nb__report(g, NB_ERR_SHAPE, "gradcheck: the root must be a scalar");
    for (size_t k = 0; k < n_leaves; k++)
        if (!leaves[k] || !nb_is_leaf(leaves[k]) ||
            nb_graph_node(g, nb_index(leaves[k])) != leaves[k])
            return nb__report(g, NB_ERR_ARG, "gradcheck: leaf %zu is not a leaf of this graph",
                              k + 1);
    nb_gradcheck_opts o = defaults(nb_graph_dtype(g), opts);
    nb_status s = nb_forward(g, root);
    if (s == NB_OK)
        s = nb_backward(g, root);
    if (s == NB_OK)
        s = nb__plan_for(g, root); /* the whole plan, if the replay trimmed it */
    int scalars = 1;               /* the plan (nb_forward's) is all scalar nodes */
    for (size_t i = 0; s == NB_OK && i < g->plan.n && scalars; i++)
        scalars = nb__in_store(g->plan.node[i]);
    /* backprop's gradients, before anything is perturbed */
    size_t total = 0;
    for (size_t k = 0; k < n_leaves; k++)
        total += nb_size(leaves[k]);
    double *grad = s != NB_OK || nb__alloc_should_fail()
                       ? NULL
                       : malloc((total ? total : 1) * sizeof *grad);
    if (s == NB_OK && !grad)
        s = nb__report(g, NB_ERR_NOMEM, "gradcheck: out of memory");
    for (size_t k = 0, at = 0; s == NB_OK && k < n_leaves; k++)
        for (size_t i = 0; i < nb_size(leaves[k]); i++)
            grad[at++] = nb_grad_at(leaves[k], i);
    /* a graph of scalars: both f(x +- h) from one pass of its replay, each
     * leaf's gradient element holding the second value */
    nb__replay *two = s == NB_OK && scalars ? nb__replay_now(g) : NULL;
    if (two && !nb__replay_inline(two))
        two = NULL;
    for (size_t i = 0; two && i < g->plan.n; i++)
        if (g->plan.node[i]->op == NB_OP_LEAF)
            memcpy(second(g, g->plan.node[i]), g->plan.node[i]->val, nb__elt(g));
    nb__delta *d = s == NB_OK && !scalars ? nb__delta_new(g, root) : NULL;
    if (s == NB_OK && !scalars && !d)
        s = nb__report(g, NB_ERR_NOMEM, "gradcheck: out of memory");
    for (size_t k = 0, at = 0; k < n_leaves && s == NB_OK; k++) {
        s = check_leaf(g, root, d, two, leaves[k], grad + at, &o, &results[k]);
        at += nb_size(leaves[k]);
    }
    free(grad);
    nb__delta_free(d);
    /* leave the graph at the original values, and the gradients */
    nb_status s2 = two ? nb_forward_backward(g, root, NULL, 0) : nb_forward(g, root);
    return s != NB_OK ? s : s2;
}
