/* run.c - running a graph: the reference executor.
 *
 * To run from a root: plan (root's ancestors in topological order), then
 *   forward:  for each node of the plan, front to back, op.forward(node);
 *   backward: clear the gradients, set d(root) = 1, then for each node of
 *             the plan, back to front, op.backward(node), which adds
 *             d(root)/d(node) times its local gradient into its inputs'.
 * That is micrograd's backward(), without recursion.  Every op's kernels
 * are in its op table entry (ops.c); this file never looks inside an op.
 *
 * The replay (replay.c) runs the same plan faster from a plan's second run
 * on, and gives the same bits; anomaly mode, nb_set_replay(g, 0) and a
 * plan's first run take the loops here. */
#include "internal.h"

#include <assert.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- The plan -------------------------------------------------------------
 * Creation order is a topological order, so sweeping the nodes from root
 * down, marking root and then the inputs of every marked node, marks
 * exactly root's ancestors: no recursion, no stack.  A second pass, in
 * creation order, lists them, unless they are all the nodes up to root.
 * The marks are bytes of their own, not bits of the nodes: the passes
 * then write no node, which at millions of nodes is most of their time.
 * The plan depends on root alone (an op's inputs never change), so it is
 * kept until another root runs. */
static nb_status plan_write(nb_graph *g, nb_node *root)
{
    nb__plan *p = &g->plan;
    size_t ids = (size_t)root->id + 1, n = 0;
    uint32_t first_op = UINT32_MAX;
    int again = p->root == root; /* a trimmed plan written whole again */

    if (!again) {
        nb__replay_free(g->replay); /* it ran the old plan */
        g->replay = NULL;
    }
    p->root = NULL;
    unsigned char *mark = p->mark; /* room for every node (graph.c, nodes_reserve) */
    assert(p->cap_mark >= ids);
    memset(mark, 0, ids);
    mark[root->id] = 1;
    for (size_t i = ids; i-- > 0;) { /* mark the ancestors */
        if (!mark[i])
            continue;
        const nb_node *x = g->nodes[i];
        n++;
        first_op = x->op != NB_OP_LEAF ? (uint32_t)i : first_op;
        for (int k = 0; k < x->n_in; k++)
            mark[x->in[k]->id] = 1;
    }
    /* every node up to root (one loss of a graph built for it): the node
     * index is the plan, and it is not copied */
    int alias = n == ids;
    nb_node **node = alias ? g->nodes : nb__grow(p->own, &p->cap, n, sizeof *node);
    if (!node)
        return nb__report(g, NB_ERR_NOMEM, "%s: out of memory for the plan", nb_op_name(root));
    if (!alias) {
        p->own = node;
        for (size_t i = 0, k = 0; i < ids; i++) /* list them */
            if (mark[i])
                node[k++] = g->nodes[i];
    }
    p->node = node;
    p->aliased = alias;
    p->n = n;
    p->first_op = first_op;
    p->root = root;
    p->trimmed = 0;
    if (again)
        return NB_OK; /* the replay and the values stay as they were */
    p->has_grads = 0;
    p->runs = 0;
    /* Constructors computed the ops' values from the leaves of the time: they
     * still hold if no leaf was written since the first op was made. */
    p->synced = !g->untracked && first_op >= g->write_mark;
    p->snapped = 0;
    p->writes = g->writes;
    return NB_OK;
}

/* root's plan, for the replay: maybe trimmed (below) */
static nb_status plan_for(nb_graph *g, nb_node *root)
{
    return g->plan.root == root ? NB_OK : plan_write(g, root);
}

/* root's plan with every node, for the reference loops and the rest */
static nb_status plan_whole(nb_graph *g, nb_node *root)
{
    return g->plan.root == root && !g->plan.trimmed ? NB_OK : plan_write(g, root);
}

nb_status nb__plan_for(nb_graph *g, nb_node *root) { return plan_whole(g, root); }

/* Once a big plan's replay runs backward too, only the plan's leaves are
 * read (to tell stale values): give back the other nodes' 8 bytes each.
 * plan_for writes them again for whatever needs the whole plan. */
static void plan_trim(nb__plan *p)
{
    if (p->aliased || p->cap * sizeof *p->node <= ((size_t)4 << 20))
        return; /* the node index, or a small array: nothing worth giving back */
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) /* the leaves first, in order */
        if (p->node[i]->op == NB_OP_LEAF)
            p->node[n++] = p->node[i];
    p->n = n;
    p->trimmed = 1;
    nb_node **node = realloc(p->own, (n ? n : 1) * sizeof *node);
    if (!node)
        return; /* the rest is not given back: no error */
    p->node = p->own = node;
    p->cap = n ? n : 1;
}

/* ---- Gradients ------------------------------------------------------------ */

/* Every node of the plan that wants a gradient gets one (a scalar's beside
 * its value in the store, a tensor's in the arena), cleared, but the
 * leaves' when accumulating into them: what backward sums into. */
static nb_status clear_grads(nb_graph *g, nb__plan *p, int accumulate)
{
    size_t elt = nb__elt(g);

    for (size_t i = 0; i < p->n; i++) {
        nb_node *x = p->node[i];
        if (!(x->flags & NB__WANTS_GRAD))
            continue;
        int fresh = !(x->flags & NB__HAS_GRAD);
        if (fresh && !nb__in_store(x)) { /* a scalar's is beside its value */
            void *grad = nb__arena_alloc(&g->arena, nb__size(x) * elt, 64);
            if (!grad)
                return nb__report(g, NB_ERR_NOMEM, "backward: out of memory for gradients");
            nb__ext_of(x)->grad = grad;
        }
        x->flags |= NB__HAS_GRAD;
        if (accumulate && !fresh && x->op == NB_OP_LEAF)
            continue;
        if (nb__in_store(x) && g->dtype == NB_F64) /* no call for one element */
            *(double *)nb__grad(x) = 0;
        else if (nb__in_store(x))
            *(float *)nb__grad(x) = 0;
        else
            memset(nb__grad(x), 0, nb__size(x) * elt);
    }
    p->has_grads = 1;
    return NB_OK;
}

/* root's gradient: the seed, or 1 */
static void seed_root(nb_graph *g, nb_node *root, const double *seed)
{
    for (size_t i = 0, n = nb__size(root); i < n; i++) {
        double v = seed ? seed[i] : 1.0;
        if (g->dtype == NB_F32)
            ((float *)nb__grad(root))[i] = (float)v;
        else
            ((double *)nb__grad(root))[i] = v;
    }
}

/* ---- Stale values ---------------------------------------------------------
 * Ops compute when they are made and when a run recomputes them, so a leaf
 * written in between leaves the values after it stale, and backward reads
 * values (exp's local gradient is its output).  So backward runs forward
 * first when a leaf may have changed since the plan's values were computed,
 * and a loop that calls forward and then backward runs forward once.
 * nb_set_at and nb_write count their writes (one comparison to check);
 * where writes may bypass them (a pointer from nb_values, a view's source
 * written through its own graph), the plan keeps a copy of its leaves'
 * bytes from the last forward, and backward compares the leaves with it. */
static void sync(nb_graph *g, nb__plan *p, int snap_leaves)
{
    size_t elt = nb__elt(g), bytes = 0;

    p->synced = 1;
    p->writes = g->writes;
    p->snapped = 0;
    if (!g->untracked || !snap_leaves)
        return; /* unsnapped, a later backward runs forward again if it must */
    for (size_t i = 0; i < p->n; i++)
        if (p->node[i]->op == NB_OP_LEAF)
            bytes += nb__size(p->node[i]) * elt;
    unsigned char *snap = nb__grow(p->snap, &p->cap_snap, bytes, 1);
    if (!snap)
        return; /* then every backward runs forward: slower, never stale */
    p->snap = snap;
    for (size_t i = 0; i < p->n; i++) {
        if (p->node[i]->op != NB_OP_LEAF)
            continue;
        size_t n = nb__size(p->node[i]) * elt;
        memcpy(snap, p->node[i]->val, n);
        snap += n;
    }
    p->snapped = 1;
}

static int stale(const nb_graph *g, const nb__plan *p)
{
    if (!p->synced || p->writes != g->writes)
        return 1;
    if (!g->untracked)
        return 0;
    if (!p->snapped)
        return 1;
    const unsigned char *snap = p->snap;
    size_t elt = nb__elt(g);
    for (size_t i = 0; i < p->n; i++) {
        if (p->node[i]->op != NB_OP_LEAF)
            continue;
        size_t n = nb__size(p->node[i]) * elt;
        if (memcmp(snap, p->node[i]->val, n) != 0)
            return 1;
        snap += n;
    }
    return 0;
}

/* ---- Non-finite values: which op made them -------------------------------- */

/* The first non-finite element of buf (n's size and dtype), or SIZE_MAX. */
static size_t first_nonfinite(const nb_node *n, const void *buf)
{
    size_t size = nb__size(n);

    if (n->flags & NB__F32) {
        const float *v = buf;
        for (size_t i = 0; i < size; i++)
            if (!isfinite(v[i]))
                return i;
    } else {
        const double *v = buf;
        for (size_t i = 0; i < size; i++)
            if (!isfinite(v[i]))
                return i;
    }
    return SIZE_MAX;
}

static int all_finite(const nb_node *n) { return first_nonfinite(n, n->val) == SIZE_MAX; }

static int inputs_finite(const nb_node *n)
{
    for (int k = 0; k < n->n_in; k++)
        if (!all_finite(n->in[k]))
            return 0;
    return 1;
}

static const char *nonfinite_str(double v) { return isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf"; }

/* n's value is not finite at element at: say which op made it from what */
static nb_status report_value(nb_graph *g, const nb_node *n, size_t at)
{
    char s0[NB__SHAPE_STR], s1[NB__SHAPE_STR];
    const char *v = nonfinite_str(nb_value_at(n, at));

    if (n->op == NB_OP_LEAF)
        return nb__report(g, NB_ERR_NONFINITE, "%s%s%s (node %u): holds %s at element %zu",
                          nb_op_name(n), nb_name(n) ? " " : "", nb_name(n) ? nb_name(n) : "",
                          n->id, v, at);
    return nb__report(
        g, NB_ERR_NONFINITE, "%s (node %u): %s at element %zu from finite input%s %s%s%s",
        nb_op_name(n), n->id, v, at, n->n_in > 1 ? "s" : "", nb__shape_str(n->in[0], s0),
        n->n_in > 1 ? ", " : "", n->n_in > 1 ? nb__shape_str(n->in[1], s1) : "");
}

/* n's value is not finite from finite inputs (or n is a leaf holding one):
 * report it; else NB_OK */
static nb_status check_value(nb_graph *g, const nb_node *n)
{
    size_t at = first_nonfinite(n, n->val);
    return at != SIZE_MAX && inputs_finite(n) ? report_value(g, n, at) : NB_OK;
}

/* Root is not finite: name the first op, in topological order, that made a
 * non-finite value from finite inputs (or the leaf that holds one). */
static nb_status blame_nonfinite(nb_graph *g, const nb__plan *p)
{
    if (plan_whole(g, p->root) != NB_OK)
        return nb__report(g, NB_ERR_NONFINITE, "non-finite value");
    for (size_t i = 0; i < p->n; i++)
        if (check_value(g, p->node[i]) != NB_OK)
            return NB_ERR_NONFINITE;
    return nb__report(g, NB_ERR_NONFINITE, "non-finite value");
}

/* Anomaly mode, after n's backward: an input's gradient turned non-finite
 * from finite values and a finite upstream gradient. */
static nb_status check_grads(nb_graph *g, const nb_node *n)
{
    char s0[NB__SHAPE_STR];

    if (first_nonfinite(n, nb__grad(n)) != SIZE_MAX || !all_finite(n) || !inputs_finite(n))
        return NB_OK; /* not this op's doing */
    for (int k = 0; k < n->n_in; k++) {
        const nb_node *x = n->in[k];
        size_t at = nb__grad(x) ? first_nonfinite(x, nb__grad(x)) : SIZE_MAX;
        if (at != SIZE_MAX)
            return nb__report(g, NB_ERR_NONFINITE,
                              "backward of %s (node %u): gradient %s at element %zu of "
                              "input %d (%s) from finite values and upstream gradient",
                              nb_op_name(n), n->id, nonfinite_str(nb_grad_at(x, at)), at, k + 1,
                              nb__shape_str(x, s0));
    }
    return NB_OK;
}

nb_status nb__check_new(nb_graph *g, nb_node *y)
{
    if (!inputs_finite(y) || all_finite(y))
        return NB_OK;
    if (g->status != NB_OK)
        return g->status; /* keep the first error */
    check_value(g, y);
    g->status = NB_ERR_NONFINITE; /* a construction error: it sticks */
    return NB_ERR_NONFINITE;
}

/* ---- The two loops -------------------------------------------------------- */

static nb_status forward_plan(nb_graph *g, const nb__plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        nb_node *n = p->node[i];
        if (n->op == NB_OP_LEAF)
            continue;
        nb__kernels[g->dtype][n->op].forward(n);
        if (g->anomaly && check_value(g, n) != NB_OK)
            return NB_ERR_NONFINITE;
    }
    return NB_OK;
}

static nb_status backward_plan(nb_graph *g, const nb__plan *p)
{
    for (size_t i = p->n; i-- > 0;) {
        nb_node *n = p->node[i];
        if (n->op == NB_OP_LEAF || !nb__grad(n))
            continue;
        nb__kernels[g->dtype][n->op].backward(n);
        if (g->anomaly && check_grads(g, n) != NB_OK)
            return NB_ERR_NONFINITE;
    }
    return NB_OK;
}

/* ---- Running ----------------------------------------------------------------- */

/* Common checks for the run functions. */
static nb_status checked(nb_graph *g, nb_node *root, const char *what)
{
    if (!g)
        return NB_ERR_ARG;
    if (g->status != NB_OK)
        return g->status; /* the message of the first error stays */
    if (!root)
        return nb__report(g, NB_ERR_ARG, "%s: root is NULL", what);
    if (!nb__owned(g, root))
        return nb__report(g, NB_ERR_GRAPH, "%s: root belongs to another graph", what);
    return NB_OK;
}

/* The plan's replay, for a plan's second run on (a graph built for one
 * run, as micrograd builds one per evaluation, never writes one) and, for
 * backward, once the reference loops have made the plan's gradients; or
 * NULL: run the reference loops.  Out of memory for it is no error: the
 * reference loops give the same result. */
static nb__replay *replay_for(nb_graph *g, nb__plan *p, int with_grads)
{
    if (g->anomaly || g->no_replay || p->runs++ == 0 || (with_grads && !p->has_grads))
        return NULL;
    if (!g->replay)
        g->replay = nb__replay_new(g, p);
    if (g->replay && with_grads && !nb__replay_has_grads(g->replay)) {
        if (nb__replay_grads(g, g->replay)) {
            plan_trim(p);
        } else {
            nb__replay_free(g->replay);
            g->replay = NULL;
        }
    }
    return g->replay;
}

nb__replay *nb__replay_now(nb_graph *g)
{
    if (g->anomaly || g->no_replay || !g->plan.root)
        return NULL;
    if (!g->replay && !g->plan.trimmed) /* a trimmed plan has lost its ops */
        g->replay = nb__replay_new(g, &g->plan);
    return g->replay;
}

/* Forward over the plan for root, which is g's plan; snap_leaves: keep
 * the leaves' bytes for a later backward to compare (not needed when
 * backward follows at once). */
static nb_status forward_run(nb_graph *g, nb_node *root, int snap_leaves)
{
    nb__plan *p = &g->plan;
    nb__replay *r = replay_for(g, p, 0);
    nb_status s = NB_OK;

    if (r)
        nb__replay_forward(g, r);
    else if ((s = plan_whole(g, root)) == NB_OK)
        s = forward_plan(g, p);
    else
        return s;
    if (g->op_status != NB_OK) { /* a user's op failed: its message is recorded */
        p->synced = 0;
        return nb__op_failed(g);
    }
    if (!r && s != NB_OK) {
        p->synced = 0; /* anomaly mode stopped part of the way */
        return s;
    }
    sync(g, p, snap_leaves);
    return all_finite(root) ? NB_OK : blame_nonfinite(g, p);
}

nb_status nb_forward(nb_graph *g, nb_node *root)
{
    nb_status s = checked(g, root, "forward");

    if (s == NB_OK)
        s = plan_for(g, root);
    return s == NB_OK ? forward_run(g, root, 1) : s;
}

/* The checks of a backward run, and root's plan. */
static nb_status backward_checked(nb_graph *g, nb_node *root, const double *seed)
{
    char s0[NB__SHAPE_STR];
    nb_status s = checked(g, root, "backward");

    if (s != NB_OK)
        return s;
    if (!seed && root->rank != 0)
        return nb__report(g, NB_ERR_SHAPE,
                          "backward: root is %s, not a scalar: give a seed of that shape",
                          nb__shape_str(root, s0));
    return plan_for(g, root);
}

/* Backward over root's plan, with values current. */
static nb_status backward_run(nb_graph *g, nb_node *root, const double *seed, int accumulate)
{
    nb_status s = NB_OK;

    if (!(root->flags & NB__WANTS_GRAD))
        return NB_OK; /* no variable reaches root: nothing to compute */
    nb__replay *r = replay_for(g, &g->plan, 1);
    if (r)
        nb__replay_zero(g, r, accumulate);
    else if ((s = plan_whole(g, root)) != NB_OK ||
             (s = clear_grads(g, &g->plan, accumulate)) != NB_OK)
        return s;
    seed_root(g, root, seed);
    if (r)
        nb__replay_backward(g, r);
    else
        s = backward_plan(g, &g->plan);
    return g->op_status != NB_OK ? nb__op_failed(g) : s;
}

nb_status nb_backward_seed(nb_graph *g, nb_node *root, const double *seed, int accumulate)
{
    nb_status s = backward_checked(g, root, seed);

    /* never the gradient of stale values: a non-finite root stops here, its
     * message naming the op, as nb_forward's would */
    if (s == NB_OK && stale(g, &g->plan))
        s = forward_run(g, root, 1);
    return s == NB_OK ? backward_run(g, root, seed, accumulate) : s;
}

nb_status nb_backward(nb_graph *g, nb_node *root) { return nb_backward_seed(g, root, NULL, 0); }

nb_status nb_forward_backward(nb_graph *g, nb_node *root, const double *seed, int accumulate)
{
    nb_status s = backward_checked(g, root, seed);

    if (s == NB_OK)
        s = forward_run(g, root, 0);
    return s == NB_OK ? backward_run(g, root, seed, accumulate) : s;
}

void nb_set_anomaly(nb_graph *g, int on)
{
    if (g)
        g->anomaly = on != 0;
}

void nb_set_replay(nb_graph *g, int on)
{
    if (g)
        g->no_replay = !on;
}

void nb_zero_grad(nb_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_nodes; i++) {
        nb_node *n = g->nodes[i];
        if (nb__grad(n))
            memset(nb__grad(n), 0, nb__size(n) * nb__elt(g));
    }
}

/* A scalar's value and gradient, as the store holds them */
typedef union local_pair {
    double f64[2];
    float f32[2];
} local_pair;

/* c: a copy of n whose gradient is grad (none if grad < 0), a scalar's
 * value and gradient in pair; a tensor keeps its values. */
static void local_copy(nb__proto *c, const nb_node *n, local_pair *pair, double grad)
{
    c->node = *n;
    if (n->flags & NB__EXT)
        c->ext = *nb__ext_of(n);
    c->node.flags &= (uint8_t)~NB__HAS_GRAD;
    if (n->rank != 0 || grad < 0)
        return;
    c->node.flags = (uint8_t)((c->node.flags & ~NB__VIEW) | NB__HAS_GRAD);
    c->node.val = pair;
    if (n->flags & NB__F32)
        *pair = (local_pair){ .f32 = { *(const float *)n->val, (float)grad } };
    else
        *pair = (local_pair){ .f64 = { *(const double *)n->val, grad } };
}

/* The op's own backward with dy = 1, on copies of the node and its inputs
 * whose only gradient is input slot i's: the slot's own local gradient,
 * also when both slots hold one node (x*x: d/da = b = x, the mul gate
 * swaps).  Nothing of the graph is touched. */
nb_status nb_local_grad(nb_graph *g, nb_node *n, int i, double *out)
{
    if (!g || !n || !out)
        return NB_ERR_ARG;
    if (!nb__owned(g, n))
        return nb__report(g, NB_ERR_GRAPH, "local_grad: node belongs to another graph");
    if (n->op == NB_OP_LEAF || i < 0 || i >= n->n_in)
        return nb__report(g, NB_ERR_ARG, "local_grad: %s has no input %d", nb_op_name(n),
                          i + 1);
    if (n->rank != 0 || n->in[i]->rank != 0)
        return nb__report(g, NB_ERR_SHAPE, "local_grad: %s: defined for scalar gates only",
                          nb_op_name(n));
    nb__proto y, in[NB__MAX_IN];
    local_pair py, pin[NB__MAX_IN];
    local_copy(&y, n, &py, 1);
    for (int k = 0; k < n->n_in; k++) {
        local_copy(&in[k], n->in[k], &pin[k], k == i ? 0 : -1);
        y.node.in[k] = &in[k].node;
    }
    nb__kernels[g->dtype][n->op].backward(&y.node);
    *out = g->dtype == NB_F32 ? pin[i].f32[1] : pin[i].f64[1];
    return NB_OK;
}
