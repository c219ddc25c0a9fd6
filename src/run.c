/* run.c - running a graph: the plan (a root's ancestors), its tape, the
 * forward and backward drivers, gradient clearing, anomaly checks and the
 * local gradient of one gate.  The drivers never look inside an op: the
 * tape runs the op table's kernels (tape.inc). */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- The plan -------------------------------------------------------------------
 * Creation order is a topological order, so sweeping the nodes from root
 * down to the first one, keeping the marked ones and marking their inputs,
 * lists exactly root's ancestors in reverse topological order: no recursion,
 * no stack, one pass.  The plan depends on root alone (an op's inputs never
 * change), so it is kept for replay, and so is its tape, written the first
 * time the plan runs (after its gradients exist, when it runs backward). */
static nb_status plan_for(nb_graph *g, nb_node *root)
{
    if (g->plan_root == root)
        return NB_OK;
    g->plan_root = NULL;
    nb_node **plan = nb__grow(g->plan, &g->plan_cap, (size_t)root->id + 1, sizeof *plan);
    if (!plan)
        return nb__report(g, NB_ERR_NOMEM, "%s: out of memory for the plan",
                          nb__ops[root->op].name);
    g->plan = plan;
    size_t len = 0, ops = 0, matmuls = 0;
    root->flags |= NB__MARK;
    for (size_t i = (size_t)root->id + 1; i-- > 0;) {
        nb_node *n = g->nodes[i];
        if (!(n->flags & NB__MARK))
            continue;
        n->flags &= (uint8_t)~NB__MARK;
        g->plan[len++] = n;
        ops += n->op != NB_OP_LEAF;
        matmuls += n->op == NB_OP_MATMUL;
        for (int k = 0; k < n->n_in; k++)
            n->in[k]->flags |= NB__MARK;
    }
    g->plan_len = len;
    g->plan_ops = ops;
    g->plan_matmuls = matmuls;
    g->plan_root = root;
    g->plan_has_grads = 0;
    g->has_tape = 0;
    g->plan_runs = 0;
    return NB_OK;
}

int nb__tape_packing = 1;

/* Room in t for n steps, in the packed form or the wide one; 0 when out
 * of memory. */
static int tape_reserve(nb__tape *t, size_t n, int packed)
{
    nb_node **node = nb__grow(t->node, &t->cap, n, sizeof *node);
    if (!node)
        return 0;
    t->node = node;
    if (!packed) {
        nb__step *step = nb__grow(t->step, &t->cap_step, n, sizeof *step);
        if (step)
            t->step = step;
        return step != NULL;
    }
    nb__fstep *fwd = nb__grow(t->fwd, &t->cap_fwd, n, sizeof *fwd);
    if (fwd)
        t->fwd = fwd;
    nb__bstep *bwd = fwd ? nb__grow(t->bwd, &t->cap_bwd, n, sizeof *bwd) : NULL;
    if (bwd)
        t->bwd = bwd;
    return bwd != NULL;
}

/* Wide step i of tape t runs op node n. */
static void step_set(nb__tape *t, size_t i, const nb_node *n)
{
    const nb_node *a = n->in[0], *b = n->in[n->n_in - 1];

    t->step[i] = (nb__step){
        .y = n->val, .dy = n->grad, .a = a->val, .b = b->val, .da = a->grad,
        .db = n->n_in > 1 ? b->grad : NULL,
        .kernel = (uint8_t)nb__step_kernel(n) };
}

/* p's offset in elements from base, NB__NONE for NULL; *far turns
 * nonzero when p lies below base or 2^31 elements or more above it.
 * Values are aligned to their type, so two of them are a whole number of
 * elements apart.  Every scalar lies in the arena's span, which schedule
 * checked, so far stays 0 unless that changes (a cheap check, kept in
 * release builds: a wrong offset would write elsewhere). */
static inline int32_t packed_offset(uintptr_t base, unsigned shift, const void *p,
                                    uintptr_t *far)
{
    uintptr_t o = ((uintptr_t)p - base) >> shift;

    *far |= p ? o >> 31 : 0;
    return p ? (int32_t)o : NB__NONE;
}

/* Packed step i (forward, and backward before compact_backward) runs op
 * node n; nonzero when an offset does not fit. */
static inline uintptr_t packed_set(nb__tape *t, size_t i, const nb_node *n, unsigned shift)
{
    const uintptr_t base = t->base;
    uint32_t kernel = (uint32_t)nb__step_kernel(n);
    uintptr_t far = 0;

    if (kernel == NB_OP_LEAF) {
        t->fwd[i] = (nb__fstep){ .kernel = kernel };
        t->bwd[i] = (nb__bstep){ .y = (int32_t)i, .dy = n->grad ? 0 : NB__NONE,
                                 .kernel = kernel };
        return 0;
    }
    const nb_node *x = n->in[0], *z = n->in[n->n_in - 1];
    int32_t y = packed_offset(base, shift, n->val, &far),
            a = packed_offset(base, shift, x->val, &far),
            b = packed_offset(base, shift, z->val, &far);
    t->fwd[i] = (nb__fstep){ .y = y, .a = a, .b = b, .kernel = kernel };
    t->bwd[i] = (nb__bstep){
        .y = y, .a = a, .b = b, .dy = packed_offset(base, shift, n->grad, &far),
        .da = packed_offset(base, shift, x->grad, &far),
        .db = n->n_in > 1 ? packed_offset(base, shift, z->grad, &far) : NB__NONE,
        .kernel = kernel };
    return far;
}

/* Keep the backward steps that have a gradient, in order (usually all). */
static void compact_backward(nb__tape *t)
{
    size_t k = 0;

    while (k < t->n && t->bwd[k].dy != NB__NONE)
        k++;
    for (size_t i = k; i < t->n; i++)
        if (t->bwd[i].dy != NB__NONE)
            t->bwd[k++] = t->bwd[i];
    t->n_bwd = k;
}

/* Write the tape: the plan's op nodes ordered by level, where an op's
 * level is one more than its deepest input's, and in creation order within
 * a level.  That is still a topological order, and a level's steps are
 * independent, so backward's read-modify-writes of neighbouring steps
 * overlap: in plain creation order scalar-mlp's backward runs 1.7x slower,
 * each add's gradient feeding the next step.  The order depends on the
 * graph alone, and so does every sum the backward pass forms.  (Sorting
 * each level by op as well, for the dispatch branch, saved nothing: 0.01
 * mispredictions per node either way.)
 *
 * A counting sort, in two passes over the plan in creation order, which
 * is roughly the nodes' order in memory: levels, then each step written
 * into its place.  Reading the nodes in tape order instead cost a cache
 * miss per node: 40% of a fresh scalar-mlp build. */
static nb_status schedule(nb_graph *g)
{
    size_t ops = g->plan_ops, ids = (size_t)g->plan[0]->id + 1;
    uint32_t *scratch = nb__grow(g->scratch, &g->cap_scratch, ids + ops + 1, sizeof *scratch);

    if (!scratch)
        return NB_ERR_NOMEM;
    g->scratch = scratch;
    /* level[id]: the node's level; at[l]: steps of level l (1..ops), then
     * the place of its next step */
    uint32_t *level = scratch, *at = scratch + ids;
    memset(at, 0, (ops + 1) * sizeof *at);
    for (size_t i = g->plan_len; i-- > 0;) {        /* topological order */
        const nb_node *x = g->plan[i];
        uint32_t l = 0;
        for (int k = 0; k < x->n_in; k++)
            l = level[x->in[k]->id] >= l ? level[x->in[k]->id] + 1 : l;
        level[x->id] = l;
        if (x->op != NB_OP_LEAF)
            at[l]++;
    }
    for (size_t l = 0, sum = 0; l <= ops; l++) {
        uint32_t c = at[l];
        at[l] = (uint32_t)sum;
        sum += c;
    }
    nb__tape *t = &g->tape;
    /* packed when every scalar is near enough the arena's lowest block */
    unsigned shift = g->dtype == NB_F32 ? 2 : 3;
    int pack = nb__tape_packing && !g->anomaly && ops <= INT32_MAX &&
               (g->arena.hi - g->arena.lo) >> shift <= INT32_MAX;
    uintptr_t far = 0;
    if (!tape_reserve(t, ops, pack))
        return NB_ERR_NOMEM;
    t->base = g->arena.lo;
    for (size_t i = g->plan_len; i-- > 0;) {
        nb_node *x = g->plan[i];
        if (x->op == NB_OP_LEAF)
            continue;
        size_t step = at[level[x->id]]++;
        t->node[step] = x;
        if (pack)
            far |= packed_set(t, step, x, shift);
    }
    t->n = ops;
    t->packed = pack && !far;
    if (t->packed) {
        compact_backward(t);
        return NB_OK;
    }
    /* wide: the rare case, reading the nodes in tape order */
    if (pack && !tape_reserve(t, ops, 0))
        return NB_ERR_NOMEM;
    for (size_t i = 0; i < ops; i++)
        step_set(t, i, t->node[i]);
    return NB_OK;
}

/* The plan's tape, written now if it is not yet. */
static nb_status tape_for(nb_graph *g)
{
    if (g->has_tape)
        return NB_OK;
    if (schedule(g) != NB_OK)
        return nb__report(g, NB_ERR_NOMEM, "%s: out of memory for the plan",
                          nb__ops[g->plan_root->op].name);
    g->has_tape = 1;
    return NB_OK;
}

/* Append [p, p + bytes) to the zero list, merging with the last range if
 * that lies at or past index first. */
static int zero_add(nb_graph *g, void *p, size_t bytes, size_t first)
{
    struct nb__range *last = g->n_zero > first ? &g->zero[g->n_zero - 1] : NULL;

    if (last && (char *)last->p + last->bytes == (char *)p) {
        last->bytes += bytes;
        return 1;
    }
    struct nb__range *zero = nb__grow(g->zero, &g->cap_zero, g->n_zero + 1, sizeof *zero);
    if (!zero)
        return 0;
    g->zero = zero;
    g->zero[g->n_zero++] = (struct nb__range){ p, bytes };
    return 1;
}

/* n's gradient, allocated if it has none yet, added to the zero list (to
 * ranges from index first on) unless it is fresh; 0 when out of memory. */
static int grad_for(nb_graph *g, nb_node *n, size_t first)
{
    size_t elt = nb__elt(g), bytes = nb__size(n) * elt;

    if (!n->grad) {
        n->grad = bytes == elt ? nb__scalar_alloc(g, elt) : nb__arena_alloc(&g->arena, bytes, 64);
        if (n->grad && n->op == NB_OP_LEAF)     /* backward may accumulate into it */
            memset(n->grad, 0, bytes);
    }
    return n->grad && ((n->flags & NB__FRESH) || zero_add(g, n->grad, bytes, first));
}

/* Fresh gradients.  A gradient whose one contribution in backward comes
 * from a matmul is written by that matmul's product with beta 0 instead
 * of being cleared and then added to: the clearing pass and the product's
 * read of the old values go away (for the small Fashion-MNIST model, dW1's
 * 157 KB on every step).  Marks exactly the plan nodes used once, by a
 * matmul, among the op nodes that backward runs; clears the mark on the
 * others.  (A leaf marked fresh takes beta 1 again while backward
 * accumulates: see nb_backward_seed.) */
static nb_status mark_fresh(nb_graph *g)
{
    size_t ids = (size_t)g->plan[0]->id + 1;
    uint32_t *uses = nb__grow(g->scratch, &g->cap_scratch, ids, sizeof *uses);

    if (!uses)
        return nb__report(g, NB_ERR_NOMEM, "backward: out of memory for gradients");
    g->scratch = uses;
    for (size_t i = 0; i < g->plan_len; i++)
        uses[g->plan[i]->id] = 0;
    for (size_t i = 0; i < g->plan_len; i++) {
        const nb_node *n = g->plan[i];
        if (n->op == NB_OP_LEAF || !(n->flags & NB__WANTS_GRAD))
            continue;
        for (int k = 0; k < n->n_in; k++)   /* 1 for a matmul, 2 for any other use */
            uses[n->in[k]->id] += n->op == NB_OP_MATMUL ? 1u : 2u;
    }
    g->fresh_leaves = 0;
    for (size_t i = 0; i < g->plan_len; i++) {
        nb_node *n = g->plan[i];
        int fresh = uses[n->id] == 1 && (n->flags & NB__WANTS_GRAD);
        n->flags = (uint8_t)(fresh ? n->flags | NB__FRESH : n->flags & ~NB__FRESH);
        g->fresh_leaves += fresh && n->op == NB_OP_LEAF;
    }
    g->fresh_marked = g->plan_matmuls > 0;   /* no matmul, no mark */
    return NB_OK;
}

/* While backward accumulates, the plan's fresh leaves park their mark in
 * NB__MARK (off), then take it back (on). */
static void leaves_fresh(nb_graph *g, int on)
{
    uint8_t from = on ? NB__MARK : NB__FRESH;

    for (size_t i = 0; i < g->plan_len; i++) {
        nb_node *n = g->plan[i];
        if (n->op == NB_OP_LEAF && (n->flags & from))
            n->flags ^= NB__MARK | NB__FRESH;
    }
}

/* Gradients for every plan node that wants one and has none yet, op nodes
 * first and then leaves, so each kind lies contiguous; then the zero list
 * learns where they are, and the tape is written anew. */
static nb_status plan_grads(nb_graph *g)
{
    size_t n_leaves = 0;

    if (g->plan_has_grads)
        return NB_OK;
    if ((g->plan_matmuls || g->fresh_marked) && mark_fresh(g) != NB_OK)
        return NB_ERR_NOMEM;
    /* the leaves that want one wait in scratch (their ids) for round two */
    uint32_t *leaves = nb__grow(g->scratch, &g->cap_scratch, g->plan_len, sizeof *leaves);
    if (!leaves)
        return nb__report(g, NB_ERR_NOMEM, "backward: out of memory for gradients");
    g->scratch = leaves;
    g->n_zero = 0;
    size_t elt = nb__elt(g);
    for (size_t i = 0; i < g->plan_len; i++) {
        nb_node *n = g->plan[i];
        if (!(n->flags & NB__WANTS_GRAD))
            continue;
        if (n->op == NB_OP_LEAF) {
            leaves[n_leaves++] = n->id;
            continue;
        }
        if (!n->grad && !n->ext && !(n->flags & NB__FRESH) &&
            (n->grad = nb__grad_after_last_range(g, elt)) != NULL)
            continue;       /* grad_for's common case, in short */
        if (!grad_for(g, n, 0))
            return nb__report(g, NB_ERR_NOMEM, "backward: out of memory for gradients");
    }
    g->n_zero_ops = g->n_zero;
    for (size_t k = 0; k < n_leaves; k++)
        if (!grad_for(g, g->nodes[leaves[k]], g->n_zero_ops))
            return nb__report(g, NB_ERR_NOMEM, "backward: out of memory for gradients");
    g->plan_has_grads = 1;
    g->any_grads = 1;
    g->has_tape = 0;        /* its steps learn where the gradients are */
    return NB_OK;
}

/* root's gradient: the seed, or 1 */
static void seed_root(nb_graph *g, nb_node *root, const double *seed)
{
    for (size_t i = 0, n = nb__size(root); i < n; i++) {
        double v = seed ? seed[i] : 1.0;
        if (g->dtype == NB_F32)
            ((float *)root->grad)[i] = (float)v;
        else
            ((double *)root->grad)[i] = v;
    }
}

/* ---- A graph's first backward, in one sweep ---------------------------------
 * plan_for, plan_grads, clearing the gradients and the walk each read every
 * node of the plan.  For a graph with no gradient yet (none to clear or to
 * keep) and no matmul (no fresh marks), one sweep from root down does all
 * four: the sweep reaches a node after all its consumers (they come later
 * in creation order), so its gradient is complete, and an input's gradient
 * is made, zeroed, when a consumer first adds to it.  A graph built for one
 * evaluation, as micrograd builds one, then reads its nodes once after
 * building them.  The plan, the gradients and the zero list end as the
 * other path leaves them (leaves' gradients in slabs of their own, so the
 * op nodes' ranges stay few); only the order of the sums differs, as in the
 * walk.  The sweep itself is in tape.inc (nb__sweep_run), where the scalar
 * kernels inline into it. */

/* A zeroed gradient for x; 0 when out of memory.  The sweep does the
 * common case itself. */
int nb__sweep_grad(nb__sweep *w, nb_node *x)
{
    nb_graph *g = w->g;
    size_t elt = nb__elt(g), bytes = nb__size(x) * elt;

    if (x->op != NB_OP_LEAF) {
        x->grad = bytes == elt ? nb__scalar_alloc(g, elt) : nb__arena_alloc(&g->arena, bytes, 64);
        if (!x->grad || !zero_add(g, x->grad, bytes, 0))
            return 0;
    } else if (bytes == elt) {
        if (w->slab_left < elt) {
            if (!(w->slab = nb__arena_alloc(&g->arena, NB__SLAB, 64)))
                return 0;
            w->slab_left = NB__SLAB;
        }
        x->grad = w->slab;
        w->slab += elt;
        w->slab_left -= elt;
        w->leaves[w->n_leaves++] = x->id;
    } else {
        if (!(x->grad = nb__arena_alloc(&g->arena, bytes, 64)))
            return 0;
        w->leaves[w->n_leaves++] = x->id;
    }
    memset(x->grad, 0, bytes);
    return 1;
}

static nb_status first_backward(nb_graph *g, nb_node *root, const double *seed)
{
    size_t ids = (size_t)root->id + 1;
    nb__sweep w = { .g = g, .plan = nb__grow(g->plan, &g->plan_cap, ids, sizeof *w.plan) };

    if (w.plan)
        g->plan = w.plan;
    if (w.plan && (w.leaves = nb__grow(g->scratch, &g->cap_scratch, ids, sizeof *w.leaves)))
        g->scratch = w.leaves;
    g->plan_root = NULL;
    g->n_zero = 0;
    g->any_grads = 1;
    w.ok = w.leaves && nb__sweep_grad(&w, root);
    if (w.ok)
        seed_root(g, root, seed);
    root->flags |= NB__MARK;
    nb__sweep_run[g->dtype](&w, ids);
    g->n_zero_ops = g->n_zero;
    for (size_t k = 0; w.ok && k < w.n_leaves; k++) {
        nb_node *x = g->nodes[w.leaves[k]];
        w.ok = zero_add(g, x->grad, nb__size(x) * nb__elt(g), g->n_zero_ops);
    }
    if (!w.ok)  /* no plan: the next run plans again, with what was made */
        return nb__report(g, NB_ERR_NOMEM, "backward: out of memory for gradients");
    g->plan_len = w.len;
    g->plan_ops = w.ops;
    g->plan_matmuls = 0;
    g->plan_root = root;
    g->plan_has_grads = 1;
    g->has_tape = 0;
    g->plan_runs = 1;
    return NB_OK;
}

/* Common checks for the run functions, without the plan. */
static nb_status checked(nb_graph *g, nb_node *root, const char *what)
{
    if (!g)
        return NB_ERR_ARG;
    if (g->status != NB_OK)
        return g->status;   /* the message of the first error stays */
    if (!root)
        return nb__report(g, NB_ERR_ARG, "%s: root is NULL", what);
    if (!nb__owned(g, root))
        return nb__report(g, NB_ERR_GRAPH, "%s: root belongs to another graph", what);
    return NB_OK;
}

static nb_status runnable(nb_graph *g, nb_node *root, const char *what)
{
    nb_status s = checked(g, root, what);
    return s != NB_OK ? s : plan_for(g, root);
}

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

static const char *nonfinite_str(double v)
{
    return isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf";
}

/* n's value is not finite at element at: say which op made it from what */
static nb_status report_value(nb_graph *g, const nb_node *n, size_t at)
{
    char s0[NB__SHAPE_STR], s1[NB__SHAPE_STR];
    const char *v = nonfinite_str(nb_value_at(n, at));

    if (n->op == NB_OP_LEAF)
        return nb__report(g, NB_ERR_NONFINITE, "%s%s%s (node %u): holds %s at element %zu",
                          nb_op_name(n), nb_name(n) ? " " : "", nb_name(n) ? nb_name(n) : "",
                          n->id, v, at);
    return nb__report(g, NB_ERR_NONFINITE,
                      "%s (node %u): %s at element %zu from finite input%s %s%s%s",
                      nb__ops[n->op].name, n->id, v, at, n->n_in > 1 ? "s" : "",
                      nb__shape_str(n->in[0], s0), n->n_in > 1 ? ", " : "",
                      n->n_in > 1 ? nb__shape_str(n->in[1], s1) : "");
}

/* Root is not finite: name the first op, in topological order, that made a
 * non-finite value from finite inputs (or the leaf that holds one). */
static nb_status blame_nonfinite(nb_graph *g)
{
    for (size_t i = g->plan_len; i-- > 0;) {
        nb_node *n = g->plan[i];
        size_t at = first_nonfinite(n, n->val);
        if (at != SIZE_MAX && inputs_finite(n))
            return report_value(g, n, at);
    }
    return nb__report(g, NB_ERR_NONFINITE, "non-finite value");
}

nb_status nb__check_new(nb_graph *g, nb_node *y)
{
    size_t at = first_nonfinite(y, y->val);

    if (at == SIZE_MAX || !inputs_finite(y))
        return NB_OK;
    if (g->status != NB_OK)
        return g->status;            /* keep the first error */
    report_value(g, y, at);
    g->status = NB_ERR_NONFINITE;    /* a construction error: it sticks */
    return NB_ERR_NONFINITE;
}

void nb_set_anomaly(nb_graph *g, int on)
{
    if (g && g->anomaly != (on != 0)) {
        g->anomaly = on != 0;
        g->has_tape = 0;    /* anomaly mode runs a wide tape, a step at a time */
    }
}

/* Anomaly mode: the tape one step at a time, each output checked. */
static nb_status forward_checked(nb_graph *g)
{
    for (size_t i = 0; i < g->tape.n; i++) {
        nb__steps_forward[g->dtype](&g->tape, i, i + 1);
        nb_node *n = g->tape.node[i];
        size_t at = first_nonfinite(n, n->val);
        if (at != SIZE_MAX && inputs_finite(n))
            return report_value(g, n, at);
    }
    return NB_OK;
}

static nb_status backward_checked(nb_graph *g)
{
    char s0[NB__SHAPE_STR];

    for (size_t i = g->tape.n; i-- > 0;) {
        nb_node *n = g->tape.node[i];
        if (!n->grad)
            continue;
        nb__steps_backward[g->dtype](&g->tape, i, i + 1);
        if (first_nonfinite(n, n->grad) != SIZE_MAX || !all_finite(n) || !inputs_finite(n))
            continue;               /* not this op's doing */
        for (int k = 0; k < n->n_in; k++) {
            nb_node *x = n->in[k];
            size_t at = x->grad ? first_nonfinite(x, x->grad) : SIZE_MAX;
            if (at != SIZE_MAX)
                return nb__report(g, NB_ERR_NONFINITE,
                                  "backward of %s (node %u): gradient %s at element %zu of "
                                  "input %d (%s) from finite values and upstream gradient",
                                  nb__ops[n->op].name, n->id,
                                  nonfinite_str(nb_grad_at(x, at)), at, k + 1,
                                  nb__shape_str(x, s0));
        }
    }
    return NB_OK;
}

/* A backward that is a plan's first run walks the plan itself
 * (nb__plan_backward, or first_backward's sweep) instead of writing the
 * tape, which the next run writes.  A graph built for one backward, as
 * micrograd builds one per evaluation, then never writes a tape: a third of
 * a fresh scalar-mlp build's time was writing it.  Anomaly mode runs the
 * tape. */
static int plan_walk(nb_graph *g)
{
    return g->plan_runs++ == 0 && !g->has_tape && !g->anomaly;
}

nb_status nb_forward(nb_graph *g, nb_node *root)
{
    nb_status s = runnable(g, root, "forward");
    if (s != NB_OK)
        return s;
    g->plan_runs++;
    if ((s = tape_for(g)) != NB_OK)
        return s;
    if (g->anomaly)
        return forward_checked(g) != NB_OK ? NB_ERR_NONFINITE
               : all_finite(root)          ? NB_OK
                                           : blame_nonfinite(g);
    nb__tape_forward[g->dtype](&g->tape);
    return all_finite(root) ? NB_OK : blame_nonfinite(g);
}

nb_status nb_backward_seed(nb_graph *g, nb_node *root, const double *seed, int accumulate)
{
    char s0[NB__SHAPE_STR];
    nb_status s = checked(g, root, "backward");

    if (s != NB_OK)
        return s;
    if (!seed && root->rank != 0)
        return nb__report(g, NB_ERR_SHAPE,
                          "backward: root is %s, not a scalar: give a seed of that shape",
                          nb__shape_str(root, s0));
    if (!(root->flags & NB__WANTS_GRAD))
        return NB_OK;       /* no variable reaches root: nothing to compute */
    if (!g->any_grads && !g->n_matmuls && !g->anomaly)
        return first_backward(g, root, seed);
    if ((s = plan_for(g, root)) != NB_OK)
        return s;
    int walk = plan_walk(g);
    if ((s = plan_grads(g)) != NB_OK || (!walk && (s = tape_for(g)) != NB_OK))
        return s;
    for (size_t i = 0, n = accumulate ? g->n_zero_ops : g->n_zero; i < n; i++)
        memset(g->zero[i].p, 0, g->zero[i].bytes);
    seed_root(g, root, seed);
    /* accumulating: leaves' gradients keep what they hold, so a fresh
     * leaf's matmul adds to it this once */
    int unmark = accumulate && g->fresh_leaves;
    if (unmark)
        leaves_fresh(g, 0);
    s = g->anomaly ? backward_checked(g) : NB_OK;
    if (walk)
        nb__plan_backward[g->dtype](g->plan, g->plan_len);
    else if (!g->anomaly)
        nb__tape_backward[g->dtype](&g->tape);
    if (unmark)
        leaves_fresh(g, 1);
    return s;
}

nb_status nb_backward(nb_graph *g, nb_node *root)
{
    return nb_backward_seed(g, root, NULL, 0);
}

void nb_zero_grad(nb_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_nodes; i++) {
        nb_node *n = g->nodes[i];
        if (n->grad)
            memset(n->grad, 0, nb__size(n) * nb__elt(g));
    }
}

nb_status nb_local_grad(nb_graph *g, nb_node *n, int i, double *out)
{
    if (!g || !n || !out)
        return NB_ERR_ARG;
    if (!nb__owned(g, n))
        return nb__report(g, NB_ERR_GRAPH, "local_grad: node belongs to another graph");
    if (n->op == NB_OP_LEAF || i < 0 || i >= n->n_in)
        return nb__report(g, NB_ERR_ARG, "local_grad: %s has no input %d",
                          nb_op_name(n), i + 1);
    nb_node *x = n->in[i];
    if (n->rank != 0 || x->rank != 0 || nb__size(n) != 1 || nb__size(x) != 1)
        return nb__report(g, NB_ERR_SHAPE, "local_grad: %s: defined for scalar gates only",
                          nb__ops[n->op].name);
    double one64 = 1, acc64 = 0;
    float one32 = 1, acc32 = 0;
    int f32 = g->dtype == NB_F32;
    void *one = f32 ? (void *)&one32 : (void *)&one64, *acc = f32 ? (void *)&acc32 : (void *)&acc64;
    int kernel = nb__step_kernel(n);
    if (kernel != NB_OP_LEAF) {
        /* a one-step tape whose only gradient is input slot i's: the
         * slot's own local gradient, also when both slots hold one node
         * (x*x: d/da = b = x, the mul gate swaps) */
        nb__step st = { .y = n->val, .dy = one, .a = n->in[0]->val,
                        .b = n->in[n->n_in - 1]->val, .da = i == 0 ? acc : NULL,
                        .db = i == 1 ? acc : NULL, .kernel = (uint8_t)kernel };
        nb__steps_backward[g->dtype](&(nb__tape){ .step = &st, .node = &n, .n = 1 }, 0, 1);
        *out = f32 ? acc32 : acc64;
        return NB_OK;
    }
    /* Other ops: their own backward with dy = 1 into a scratch gradient
     * for input i alone. */
    void *saved_y = n->grad, *saved_in[NB__MAX_IN];
    for (int k = 0; k < n->n_in; k++) {
        saved_in[k] = n->in[k]->grad;
        n->in[k]->grad = NULL;
    }
    n->grad = one;
    x->grad = acc;
    nb__ops[n->op].backward[g->dtype](n);
    *out = f32 ? acc32 : acc64;
    n->grad = saved_y;
    for (int k = n->n_in; k-- > 0;)
        n->in[k]->grad = saved_in[k];
    return NB_OK;
}

