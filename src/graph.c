/* graph.c - graphs, leaves, node creation, the plan (a root's ancestors in
 * topological order) and the forward and backward drivers.  The drivers
 * never look inside an op: they call its table entry.  The ops themselves
 * live in ops.c. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* uthash allocates its bucket tables with malloc; a failure is an error
 * recorded on the entry, never an exit. */
#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) (nb__alloc_should_fail() ? NULL : malloc(sz))
#define uthash_free(p, sz) free(p)
#define uthash_nonfatal_oom(e) ((e)->oom = 1)
#include <uthash.h>

struct nb__name {
    nb_node       *node;
    int            oom;
    UT_hash_handle hh;      /* keyed on the name, never on a value */
};

/* ---- Growable arrays (outside the arena: they move) ------------------------ */

/* Room for need elements of elt bytes in *arrp (capacity *cap). */
static int reserve_n(void *arrp, size_t *cap, size_t need, size_t elt)
{
    void **arr = arrp;

    if (need <= *cap)
        return 1;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elt)
            return 0;
        ncap *= 2;
    }
    if (nb__alloc_should_fail())
        return 0;
    void *p = realloc(*arr, ncap * elt);
    if (!p)
        return 0;
    *arr = p;
    *cap = ncap;
    return 1;
}

static int reserve(nb_node ***arr, size_t *cap, size_t need)
{
    return reserve_n(arr, cap, need, sizeof **arr);
}

/* ---- Graph lifetime ---------------------------------------------------------- */

nb_graph *nb_graph_new(nb_dtype dtype)
{
    if (dtype != NB_F64 && dtype != NB_F32)
        return NULL;
    if (nb__alloc_should_fail())
        return NULL;
    nb_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->dtype = dtype;
    return g;
}

void nb_graph_free(nb_graph *g)
{
    if (!g)
        return;
    HASH_CLEAR(hh, g->names);   /* entries live in the arena */
    nb__arena_free(&g->arena);
    free(g->nodes);
    free(g->params);
    free(g->plan);
    free(g->steps);
    free(g->zero);
    free(g);
}

nb_dtype nb_graph_dtype(const nb_graph *g) { return g ? g->dtype : NB_F64; }
size_t   nb_graph_size(const nb_graph *g) { return g ? g->n_nodes : 0; }
size_t   nb_graph_bytes(const nb_graph *g) { return g ? g->arena.used : 0; }

nb_node *nb_graph_node(const nb_graph *g, size_t i)
{
    return g && i < g->n_nodes ? g->nodes[i] : NULL;
}

/* ---- Shapes ------------------------------------------------------------------ */

static nb__ext *ext_new(nb_graph *g, nb_node *y)
{
    if (!y->ext) {
        y->ext = nb__arena_alloc(&g->arena, sizeof *y->ext, 8);
        if (!y->ext)
            return NULL;
        y->ext->size = 1;
    }
    return y->ext;
}

nb_status nb__set_shape(nb_graph *g, nb_node *y, int rank, const int *dim)
{
    size_t size = 1;

    if (rank < 0 || rank > NB_MAX_RANK)
        return nb__fail(g, NB_ERR_ARG, "%s: rank %d is out of range (0 to %d)",
                        nb__ops[y->op].name, rank, NB_MAX_RANK);
    for (int i = 0; i < rank; i++) {
        if (dim[i] <= 0)
            return nb__fail(g, NB_ERR_ARG, "%s: dimension %d is %d, not positive",
                            nb__ops[y->op].name, i, dim[i]);
        if (size > SIZE_MAX / (size_t)dim[i])
            return nb__fail(g, NB_ERR_SIZE,
                            "%s: element count overflows at dimension %d (%d)",
                            nb__ops[y->op].name, i, dim[i]);
        size *= (size_t)dim[i];
    }
    if (size > SIZE_MAX / 8)
        return nb__fail(g, NB_ERR_SIZE, "%s: %zu elements do not fit in memory",
                        nb__ops[y->op].name, size);
    y->rank = (uint8_t)rank;
    if (rank == 0 && !y->ext)
        return NB_OK;
    if (!ext_new(g, y))
        return nb__fail(g, NB_ERR_NOMEM, "%s: out of memory", nb__ops[y->op].name);
    y->ext->size = size;
    for (int i = 0; i < NB_MAX_RANK; i++)
        y->ext->dim[i] = i < rank ? dim[i] : 0;
    return NB_OK;
}

/* ---- Node creation ----------------------------------------------------------- */

/* Copy the prepared node tmp into the arena with room for its value, and
 * append it to g->nodes (capacity reserved by the caller). */
static nb_node *node_commit(nb_graph *g, const nb_node *tmp)
{
    size_t size = nb__size(tmp), elt = nb__elt(g);
    nb_node *y;

    if (size == 1) {                /* value right behind the node */
        y = nb__arena_alloc(&g->arena, sizeof *y + elt, 8);
        if (!y)
            return NULL;
        *y = *tmp;
        y->val = y + 1;
    } else {
        void *val = nb__arena_alloc(&g->arena, size * elt, 64);
        y = val ? nb__arena_alloc(&g->arena, sizeof *y, 8) : NULL;
        if (!y)
            return NULL;
        *y = *tmp;
        y->val = val;
    }
    y->id = (uint32_t)g->n_nodes;
    g->nodes[g->n_nodes++] = y;
    return y;
}

static int owned(const nb_graph *g, const nb_node *n)
{
    return n->id < g->n_nodes && g->nodes[n->id] == n;
}

nb_node *nb__node_new(nb_graph *g, nb__op op, nb_node *const *in,
                      const nb__ext *params)
{
    const nb__op_def *def = &nb__ops[op];
    nb_node tmp = { .op = (uint8_t)op, .n_in = (uint8_t)def->arity };

    if (!g)
        return NULL;
    for (int i = 0; i < def->arity; i++) {
        if (!in[i]) {       /* keep the first error, from deeper inside */
            if (g->status == NB_OK)
                nb__fail(g, NB_ERR_ARG, "%s: input %d is NULL", def->name, i + 1);
            return NULL;
        }
        if (!owned(g, in[i])) {
            int f32 = (in[i]->flags & NB__F32) != 0;
            if (f32 != (g->dtype == NB_F32))
                nb__fail(g, NB_ERR_DTYPE, "%s: input %d is %s but the graph is %s",
                         def->name, i + 1, f32 ? "f32" : "f64", f32 ? "f64" : "f32");
            else
                nb__fail(g, NB_ERR_GRAPH, "%s: input %d belongs to another graph",
                         def->name, i + 1);
            return NULL;
        }
        tmp.in[i] = in[i];
        tmp.flags |= in[i]->flags & NB__WANTS_GRAD;
    }
    if (g->dtype == NB_F32)
        tmp.flags |= NB__F32;
    if (g->n_nodes >= UINT32_MAX) {
        nb__fail(g, NB_ERR_SIZE, "%s: the graph already holds %zu nodes", def->name,
                 g->n_nodes);
        return NULL;
    }
    if (params) {
        tmp.ext = nb__arena_alloc(&g->arena, sizeof *tmp.ext, 8);
        if (!tmp.ext) {
            nb__fail(g, NB_ERR_NOMEM, "%s: out of memory", def->name);
            return NULL;
        }
        *tmp.ext = *params;
    }
    if (def->shape(g, &tmp) != NB_OK)
        return NULL;
    nb_node *y = NULL;
    if (reserve(&g->nodes, &g->cap_nodes, g->n_nodes + 1))
        y = node_commit(g, &tmp);
    if (!y) {
        nb__fail(g, NB_ERR_NOMEM, "%s: out of memory", def->name);
        return NULL;
    }
    def->forward[g->dtype](y);
    if (g->anomaly && nb__check_new(g, y) != NB_OK)
        return NULL;
    return y;
}

/* ---- Leaves -------------------------------------------------------------------- */

static nb_node *leaf_new(nb_graph *g, const char *name, int flags, int rank,
                         const int *dim, const double *data, const char *what)
{
    nb_node tmp = { .op = NB_OP_LEAF, .flags = (uint8_t)(flags | NB__LEAF) };

    if (!g)
        return NULL;
    if (g->dtype == NB_F32)
        tmp.flags |= NB__F32;
    if (rank > 0 && !dim) {
        nb__fail(g, NB_ERR_ARG, "%s '%s': rank %d but no dimensions", what,
                 name ? name : "", rank);
        return NULL;
    }
    if ((flags & NB__PARAM) && (!name || !*name)) {
        nb__fail(g, NB_ERR_ARG, "param: a parameter needs a name");
        return NULL;
    }
    if (name && nb_lookup(g, name)) {
        nb__fail(g, NB_ERR_ARG, "%s: the name '%s' is already taken in this graph",
                 what, name);
        return NULL;
    }
    if (g->n_nodes >= UINT32_MAX) {
        nb__fail(g, NB_ERR_SIZE, "%s: the graph already holds %zu nodes", what,
                 g->n_nodes);
        return NULL;
    }
    if (nb__set_shape(g, &tmp, rank, dim) != NB_OK)
        return NULL;
    size_t len = name ? strlen(name) : 0;
    struct nb__name *entry = NULL;
    char *copy = NULL;
    if (name) {
        entry = nb__arena_alloc(&g->arena, sizeof *entry, 8);
        copy = entry ? nb__arena_alloc(&g->arena, len + 1, 1) : NULL;
        if (!copy || !ext_new(g, &tmp))
            goto nomem;
        memcpy(copy, name, len + 1);
        tmp.ext->name = copy;
    }
    if (!reserve(&g->nodes, &g->cap_nodes, g->n_nodes + 1) ||
        ((flags & NB__PARAM) && !reserve(&g->params, &g->cap_params, g->n_params + 1)))
        goto nomem;
    if (entry) {                     /* the last step that can fail */
        HASH_ADD_KEYPTR(hh, g->names, copy, len, entry);
        if (entry->oom)
            goto nomem;
    }
    nb_node *y = node_commit(g, &tmp);
    if (!y) {
        if (entry)
            HASH_DELETE(hh, g->names, entry);
        goto nomem;
    }
    if (entry)
        entry->node = y;
    if (flags & NB__PARAM)
        g->params[g->n_params++] = y;
    if (data) {
        size_t n = nb__size(y);
        if (g->dtype == NB_F32)
            for (size_t i = 0; i < n; i++)
                ((float *)y->val)[i] = (float)data[i];
        else
            memcpy(y->val, data, n * sizeof *data);
    }
    return y;
nomem:
    nb__fail(g, NB_ERR_NOMEM, "%s '%s': out of memory", what, name ? name : "");
    return NULL;
}

nb_node *nb_scalar(nb_graph *g, const char *name, double value)
{
    return leaf_new(g, name, NB__VARIABLE | NB__WANTS_GRAD, 0, NULL, &value, "scalar");
}

nb_node *nb_variable(nb_graph *g, const char *name, int rank, const int *dim,
                     const double *data)
{
    return leaf_new(g, name, NB__VARIABLE | NB__WANTS_GRAD, rank, dim, data, "variable");
}

nb_node *nb_param(nb_graph *g, const char *name, int rank, const int *dim,
                  const double *data)
{
    return leaf_new(g, name, NB__VARIABLE | NB__WANTS_GRAD | NB__PARAM, rank, dim, data,
                    "param");
}

nb_node *nb_const_scalar(nb_graph *g, double value)
{
    return leaf_new(g, NULL, 0, 0, NULL, &value, "constant");
}

nb_node *nb_constant(nb_graph *g, const char *name, int rank, const int *dim,
                     const double *data)
{
    return leaf_new(g, name, 0, rank, dim, data, "constant");
}

nb_node *nb_lookup(const nb_graph *g, const char *name)
{
    struct nb__name *e = NULL;

    if (!g || !name)
        return NULL;
    HASH_FIND_STR(g->names, name, e);
    return e ? e->node : NULL;
}

size_t nb_param_count(const nb_graph *g) { return g ? g->n_params : 0; }

nb_node *nb_param_at(const nb_graph *g, size_t i)
{
    return g && i < g->n_params ? g->params[i] : NULL;
}

/* ---- The plan -------------------------------------------------------------------
 * Creation order is a topological order, so sweeping the nodes from root
 * down to the first one, keeping the marked ones and marking their inputs,
 * lists exactly root's ancestors in reverse topological order: no recursion,
 * no stack, one pass.  The plan depends on root alone (an op's inputs never
 * change), so it is kept for replay. */
static nb__step step_of(nb_node *n)
{
    return (nb__step){ .y = n->val, .a = n->in[0]->val, .b = n->in[n->n_in - 1]->val,
                       .node = n, .op = n->op,
                       .scalar = nb__ops[n->op].elementwise && nb__size(n) == 1 };
}

/* Write the tape: the plan's op nodes ordered by (level, op), where an
 * op's level is one more than its deepest input's.  That is still a
 * topological order, and runs of one op replace a mixed sequence, so the
 * tape's dispatch branch predicts well (on the scalar-mlp workload this
 * halves the time per node).  Two stable counting sorts: by op into tmp,
 * then by level into the tape.  Nodes of equal (level, op) keep their
 * creation order, so the tape, and every sum the backward pass forms,
 * depends on the graph alone. */
static nb_status schedule(nb_graph *g, size_t ops)
{
    size_t max_level = 0, count[NB_OP_COUNT + 1] = { 0 };
    uint32_t *level = nb__alloc_should_fail() ? NULL
                      : malloc(((size_t)g->plan[0]->id + 1) * sizeof *level);
    nb_node **tmp = level && !nb__alloc_should_fail() ? malloc((ops + 1) * sizeof *tmp) : NULL;
    size_t *at = NULL;

    if (!tmp)
        goto out;
    for (size_t i = g->plan_len; i-- > 0;) {        /* topological order */
        nb_node *x = g->plan[i];
        uint32_t l = 0;
        for (int k = 0; k < x->n_in; k++)
            l = level[x->in[k]->id] >= l ? level[x->in[k]->id] + 1 : l;
        level[x->id] = l;
        max_level = l > max_level ? l : max_level;
        count[x->op + 1] += x->op != NB_OP_LEAF;
    }
    for (int op = 1; op <= NB_OP_COUNT; op++)
        count[op] += count[op - 1];
    for (size_t i = g->plan_len; i-- > 0;)
        if (g->plan[i]->op != NB_OP_LEAF)
            tmp[count[g->plan[i]->op]++] = g->plan[i];
    at = nb__alloc_should_fail() ? NULL : calloc(max_level + 2, sizeof *at);
    if (!at)
        goto out;
    for (size_t i = 0; i < ops; i++)
        at[level[tmp[i]->id] + 1]++;
    for (size_t l = 1; l <= max_level + 1; l++)
        at[l] += at[l - 1];
    for (size_t i = 0; i < ops; i++)
        g->steps[at[level[tmp[i]->id]]++] = step_of(tmp[i]);
    g->n_steps = ops;
out:
    free(level);
    free(tmp);
    free(at);
    return at ? NB_OK : NB_ERR_NOMEM;
}

static nb_status plan_for(nb_graph *g, nb_node *root)
{
    if (g->plan_root == root)
        return NB_OK;
    g->plan_root = NULL;
    if (!reserve(&g->plan, &g->plan_cap, (size_t)root->id + 1))
        return nb__report(g, NB_ERR_NOMEM, "%s: out of memory for the plan",
                          nb__ops[root->op].name);
    size_t len = 0, ops = 0;
    root->flags |= NB__MARK;
    for (size_t i = (size_t)root->id + 1; i-- > 0;) {
        nb_node *n = g->nodes[i];
        if (!(n->flags & NB__MARK))
            continue;
        n->flags &= (uint8_t)~NB__MARK;
        g->plan[len++] = n;
        ops += n->op != NB_OP_LEAF;
        for (int k = 0; k < n->n_in; k++)
            n->in[k]->flags |= NB__MARK;
    }
    g->plan_len = len;
    if (!reserve_n(&g->steps, &g->cap_steps, ops, sizeof *g->steps) ||
        schedule(g, ops) != NB_OK)
        return nb__report(g, NB_ERR_NOMEM, "%s: out of memory for the plan",
                          nb__ops[root->op].name);
    g->plan_root = root;
    g->plan_has_grads = 0;
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
    if (!reserve_n(&g->zero, &g->cap_zero, g->n_zero + 1, sizeof *g->zero))
        return 0;
    g->zero[g->n_zero++] = (struct nb__range){ p, bytes };
    return 1;
}

/* Gradients for every plan node that wants one and has none yet, op nodes
 * first and then leaves, so each kind lies contiguous; then the zero list
 * and the tape learn where they are. */
static nb_status plan_grads(nb_graph *g)
{
    size_t elt = nb__elt(g);

    if (g->plan_has_grads)
        return NB_OK;
    g->n_zero = g->n_zero_ops = 0;
    for (int leaves = 0; leaves < 2; leaves++) {
        for (size_t i = 0; i < g->plan_len; i++) {
            nb_node *n = g->plan[i];
            if (!(n->flags & NB__WANTS_GRAD) || (n->op == NB_OP_LEAF) != leaves)
                continue;
            size_t bytes = nb__size(n) * elt;
            if (!n->grad)
                n->grad = nb__arena_alloc(&g->arena, bytes, bytes == elt ? 8 : 64);
            if (!n->grad || !zero_add(g, n->grad, bytes, g->n_zero_ops))
                return nb__report(g, NB_ERR_NOMEM, "backward: out of memory for gradients");
        }
        if (!leaves)
            g->n_zero_ops = g->n_zero;
    }
    for (size_t i = 0; i < g->n_steps; i++) {
        nb__step *s = &g->steps[i];
        s->dy = s->node->grad;
        s->da = s->node->in[0]->grad;
        s->db = s->node->n_in > 1 ? s->node->in[1]->grad : NULL;
    }
    g->plan_has_grads = 1;
    return NB_OK;
}

/* Common checks for the run functions. */
static nb_status runnable(nb_graph *g, nb_node *root, const char *what)
{
    if (!g)
        return NB_ERR_ARG;
    if (g->status != NB_OK)
        return g->status;   /* the message of the first error stays */
    if (!root)
        return nb__report(g, NB_ERR_ARG, "%s: root is NULL", what);
    if (!owned(g, root))
        return nb__report(g, NB_ERR_GRAPH, "%s: root belongs to another graph", what);
    return plan_for(g, root);
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
    if (g)
        g->anomaly = on != 0;
}

/* Anomaly mode: the tape one step at a time, each output checked. */
static nb_status forward_checked(nb_graph *g)
{
    for (size_t i = 0; i < g->n_steps; i++) {
        nb__tape_forward[g->dtype](&g->steps[i], 1);
        nb_node *n = g->steps[i].node;
        size_t at = first_nonfinite(n, n->val);
        if (at != SIZE_MAX && inputs_finite(n))
            return report_value(g, n, at);
    }
    return NB_OK;
}

static nb_status backward_checked(nb_graph *g)
{
    char s0[NB__SHAPE_STR];

    for (size_t i = g->n_steps; i-- > 0;) {
        nb_node *n = g->steps[i].node;
        if (!n->grad)
            continue;
        nb__tape_backward[g->dtype](&g->steps[i], 1);
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

nb_status nb_forward(nb_graph *g, nb_node *root)
{
    nb_status s = runnable(g, root, "forward");
    if (s != NB_OK)
        return s;
    if (g->anomaly)
        return forward_checked(g) != NB_OK ? NB_ERR_NONFINITE
               : all_finite(root)          ? NB_OK
                                           : blame_nonfinite(g);
    nb__tape_forward[g->dtype](g->steps, g->n_steps);
    return all_finite(root) ? NB_OK : blame_nonfinite(g);
}

nb_status nb_backward_seed(nb_graph *g, nb_node *root, const double *seed, int accumulate)
{
    char s0[NB__SHAPE_STR];
    nb_status s = runnable(g, root, "backward");

    if (s != NB_OK)
        return s;
    if (!seed && root->rank != 0)
        return nb__report(g, NB_ERR_SHAPE,
                          "backward: root is %s, not a scalar: give a seed of that shape",
                          nb__shape_str(root, s0));
    if (!(root->flags & NB__WANTS_GRAD))
        return NB_OK;       /* no variable reaches root: nothing to compute */
    if ((s = plan_grads(g)) != NB_OK)
        return s;
    for (size_t i = 0, n = accumulate ? g->n_zero_ops : g->n_zero; i < n; i++)
        memset(g->zero[i].p, 0, g->zero[i].bytes);
    size_t n_root = nb__size(root);
    for (size_t i = 0; i < n_root; i++) {
        double v = seed ? seed[i] : 1.0;
        if (g->dtype == NB_F32)
            ((float *)root->grad)[i] = (float)v;
        else
            ((double *)root->grad)[i] = v;
    }
    if (g->anomaly)
        return backward_checked(g);
    nb__tape_backward[g->dtype](g->steps, g->n_steps);
    return NB_OK;
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
    if (!owned(g, n))
        return nb__report(g, NB_ERR_GRAPH, "local_grad: node belongs to another graph");
    if (n->op == NB_OP_LEAF || i < 0 || i >= n->n_in)
        return nb__report(g, NB_ERR_ARG, "local_grad: %s has no input %d",
                          nb_op_name(n), i + 1);
    nb_node *x = n->in[i];
    if (n->rank != 0 || x->rank != 0 || nb__size(n) != 1 || nb__size(x) != 1)
        return nb__report(g, NB_ERR_SHAPE, "local_grad: %s: defined for scalar gates only",
                          nb__ops[n->op].name);
    /* Run the op's own backward with dy = 1 into a scratch gradient for
     * input i alone. */
    double one64 = 1, acc64 = 0;
    float one32 = 1, acc32 = 0;
    int f32 = g->dtype == NB_F32;
    void *saved_y = n->grad, *saved_in[NB__MAX_IN];
    for (int k = 0; k < n->n_in; k++) {
        saved_in[k] = n->in[k]->grad;
        n->in[k]->grad = NULL;
    }
    n->grad = f32 ? (void *)&one32 : (void *)&one64;
    x->grad = f32 ? (void *)&acc32 : (void *)&acc64;
    nb__ops[n->op].backward[g->dtype](n);
    *out = f32 ? acc32 : acc64;
    n->grad = saved_y;
    for (int k = n->n_in; k-- > 0;)
        n->in[k]->grad = saved_in[k];
    return NB_OK;
}

/* ---- Reading and writing ---------------------------------------------------------- */

int nb_rank(const nb_node *n) { return n ? n->rank : 0; }
size_t nb_size(const nb_node *n) { return n ? nb__size(n) : 0; }
const char *nb_name(const nb_node *n) { return n && n->ext ? n->ext->name : NULL; }
int nb_arity(const nb_node *n) { return n ? n->n_in : 0; }
size_t nb_index(const nb_node *n) { return n ? n->id : 0; }
int nb_is_leaf(const nb_node *n) { return n && n->op == NB_OP_LEAF; }
int nb_wants_grad(const nb_node *n) { return n && (n->flags & NB__WANTS_GRAD); }

int nb_dim(const nb_node *n, int axis)
{
    return n && axis >= 0 && axis < n->rank ? n->ext->dim[axis] : 0;
}

const char *nb_op_name(const nb_node *n)
{
    if (!n)
        return "";
    if (n->op != NB_OP_LEAF)
        return nb__ops[n->op].name;
    return n->flags & NB__PARAM ? "param" : n->flags & NB__VARIABLE ? "variable" : "constant";
}

nb_node *nb_input(const nb_node *n, int i)
{
    return n && i >= 0 && i < n->n_in ? n->in[i] : NULL;
}

static double element(const nb_node *n, const void *buf, size_t i)
{
    if (!n || i >= nb__size(n))
        return NAN;
    if (!buf)
        return 0;
    return n->flags & NB__F32 ? (double)((const float *)buf)[i] : ((const double *)buf)[i];
}

double nb_value_at(const nb_node *n, size_t i) { return element(n, n ? n->val : NULL, i); }
double nb_grad_at(const nb_node *n, size_t i) { return element(n, n ? n->grad : NULL, i); }
double nb_value_scalar(const nb_node *n) { return nb_value_at(n, 0); }
double nb_grad_scalar(const nb_node *n) { return nb_grad_at(n, 0); }

nb_status nb_set_at(nb_node *n, size_t i, double v)
{
    if (!n || n->op != NB_OP_LEAF || i >= nb__size(n))
        return NB_ERR_ARG;
    if (n->flags & NB__F32)
        ((float *)n->val)[i] = (float)v;
    else
        ((double *)n->val)[i] = v;
    return NB_OK;
}

nb_status nb_set_scalar(nb_node *n, double v) { return nb_set_at(n, 0, v); }

void *nb_values(nb_node *n) { return n ? n->val : NULL; }
void *nb_grads(nb_node *n) { return n ? n->grad : NULL; }

static nb_status copy(const nb_node *n, void *dst, const void *src, nb_dtype dtype)
{
    if (!n || !dst || !src)
        return NB_ERR_ARG;
    if ((dtype == NB_F32) != ((n->flags & NB__F32) != 0))
        return NB_ERR_DTYPE;
    memcpy(dst, src, nb__size(n) * (dtype == NB_F32 ? 4 : 8));
    return NB_OK;
}

nb_status nb_write(nb_node *n, const void *src, nb_dtype dtype)
{
    if (n && n->op != NB_OP_LEAF)
        return NB_ERR_ARG;
    return copy(n, n ? n->val : NULL, src, dtype);
}

nb_status nb_read(const nb_node *n, void *dst, nb_dtype dtype)
{
    return copy(n, dst, n ? n->val : NULL, dtype);
}

nb_status nb_read_grad(const nb_node *n, void *dst, nb_dtype dtype)
{
    if (n && !n->grad && dst) {     /* no gradient: zeros */
        if ((dtype == NB_F32) != ((n->flags & NB__F32) != 0))
            return NB_ERR_DTYPE;
        memset(dst, 0, nb__size(n) * (dtype == NB_F32 ? 4 : 8));
        return NB_OK;
    }
    return copy(n, dst, n ? n->grad : NULL, dtype);
}
