/* replay.c - the speed layer: a plan written out as a tape.
 *
 * The reference executor (run.c) visits node after node, reading each
 * node's op, inputs and values through pointers, and calls the op table
 * for every op.  For a graph of scalars that is most of the work.  A
 * replay writes the plan once as an array of steps, each holding the
 * 32-bit store indices of the values it reads and writes, and runs a
 * scalar elementwise step's math (elementwise.h) inline, in one switch;
 * any other step calls the op table with its node, as run.c does.  Same
 * kernels, same order, so the same bits.
 *
 * A step is 16 bytes, and backward runs the same steps back to front: a
 * scalar's gradient has its value's index in the gradient array (g->grads),
 * so a step's indices name both. */
#include "internal.h"

#include "elementwise.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* op: the op when the step runs inline, or CALL: call the op table with
 * node call[a].  For a unary op b = a.  Once the gradients exist, a step
 * whose node has none is marked NO_GRAD, and backward passes over it. */
typedef struct step {
    uint32_t y, a, b, op;
} step;

#define CALL    ((uint32_t)NB_OP_LEAF)
#define NO_GRAD ((uint32_t)0x80)
static_assert((unsigned)NB_OP_COUNT < 0x80u, "op codes fit below the NO_GRAD bit");

/* A span of gradients to clear: elements [at, at + n) of g->grads, or,
 * when tensor is set, that node's gradient. */
typedef struct span {
    size_t at, n;
    nb_node *tensor;
} span;

/* Spans to clear, and the store span that may still grow: open when only
 * gradients nobody reads (of nodes without one) lie past its end. */
typedef struct spans {
    span *s;
    size_t n, cap;
    int open;
} spans;

struct nb__replay {
    step *step;
    nb_node **call; /* the op nodes that run through the op table */
    size_t n_step, n_call;
    int has_grads;
    spans all, ops; /* every gradient backward computes; the op nodes' only */
};

/* ---- Writing the tape ----------------------------------------------------------- */

static uint32_t index_of(const nb_graph *g, const void *val)
{
    return (uint32_t)(((const char *)val - g->store) / nb__elt(g));
}

/* Does op node n run inline: a scalar elementwise op, all in the store? */
static int runs_inline(const nb_node *n)
{
    return nb__ops[n->op].elementwise && nb__in_store(n) && nb__in_store(n->in[0]) &&
           nb__in_store(n->in[n->n_in - 1]);
}

/* A huge graph's tape in huge pages, asked for before the first write */
static void advise(void *p, size_t bytes)
{
    if (bytes >= ((size_t)8 << 20))
        nb__advise_huge(p, bytes);
}

nb__replay *nb__replay_new(nb_graph *g, const nb__plan *p)
{
    nb__replay *r = nb__alloc_should_fail() ? NULL : calloc(1, sizeof *r);
    size_t ops = 0, calls = 0;

    if (!r)
        return NULL;
    for (size_t i = 0; i < p->n; i++) {
        ops += p->node[i]->op != NB_OP_LEAF;
        calls += p->node[i]->op != NB_OP_LEAF && !runs_inline(p->node[i]);
    }
    r->step = nb__alloc_should_fail() ? NULL : malloc((ops ? ops : 1) * sizeof *r->step);
    r->call = nb__alloc_should_fail() ? NULL : malloc((calls ? calls : 1) * sizeof *r->call);
    if (!r->step || !r->call) {
        nb__replay_free(r);
        return NULL;
    }
    advise(r->step, ops * sizeof *r->step);
    for (size_t i = 0; i < p->n; i++) {
        nb_node *x = p->node[i];
        if (x->op == NB_OP_LEAF)
            continue;
        if (runs_inline(x)) {
            r->step[r->n_step++] = (step){ index_of(g, x->val), index_of(g, x->in[0]->val),
                                           index_of(g, x->in[x->n_in - 1]->val), x->op };
        } else {
            r->step[r->n_step++] = (step){ .a = (uint32_t)r->n_call, .op = CALL };
            r->call[r->n_call++] = x;
        }
    }
    return r;
}

/* Append x's gradient to l: a tensor's as its own span, a scalar's
 * merged into the open span when only gradients nobody reads lie
 * between. */
static int spans_add(spans *l, const nb_graph *g, nb_node *x)
{
    if (!nb__in_store(x)) {
        span *s = nb__grow(l->s, &l->cap, l->n + 1, sizeof *s);
        if (!s)
            return 0;
        l->s = s;
        l->s[l->n++] = (span){ 0, 0, x };
        return 1; /* the store span, if open, stays open past it */
    }
    size_t at = index_of(g, x->val);
    span *last = NULL;
    for (size_t k = l->n; l->open && k-- > 0 && !last;)
        last = l->s[k].tensor ? NULL : &l->s[k];
    if (last) {
        last->n = at + 1 - last->at;
        return 1;
    }
    span *s = nb__grow(l->s, &l->cap, l->n + 1, sizeof *s);
    if (!s)
        return 0;
    l->s = s;
    l->s[l->n++] = (span){ at, 1, NULL };
    l->open = 1;
    return 1;
}

/* The spans to clear, from a walk over the nodes in creation order
 * (store order) between the plan's first node and its root: the plan's
 * gradients, merged across the slots of nodes that have none (clearing
 * those changes nothing anyone reads); another node's gradient, and for
 * ops a leaf's, ends a span. */
static int write_spans(nb_graph *g, nb__replay *r, const nb__plan *p)
{
    uint32_t lo = UINT32_MAX, hi = 0;
    int ok = 1;

    for (size_t i = 0; i < p->n; i++) {
        nb_node *x = p->node[i];
        x->flags |= NB__MARK;
        lo = x->id < lo ? x->id : lo;
        hi = x->id > hi ? x->id : hi;
    }
    for (size_t i = lo; i <= hi && ok; i++) {
        nb_node *x = g->nodes[i];
        int planned = (x->flags & NB__MARK) != 0;
        x->flags &= (uint8_t)~NB__MARK;
        if (!x->grad)
            continue; /* nothing to keep: spans stay open */
        if (!planned) {
            if (nb__in_store(x))
                r->all.open = r->ops.open = 0;
            continue;
        }
        ok = spans_add(&r->all, g, x);
        if (ok && x->op != NB_OP_LEAF)
            ok = spans_add(&r->ops, g, x);
        else if (nb__in_store(x))
            r->ops.open = 0; /* a leaf's gradient is kept when accumulating */
    }
    for (size_t i = lo; i <= hi && !ok; i++) /* stopped part of the way */
        g->nodes[i]->flags &= (uint8_t)~NB__MARK;
    return ok;
}

int nb__replay_grads(nb_graph *g, nb__replay *r)
{
    const nb__plan *p = &g->plan; /* the plan the steps were written from */

    for (size_t i = 0, k = 0; i < p->n; i++) {
        if (p->node[i]->op == NB_OP_LEAF)
            continue;
        if (!p->node[i]->grad)
            r->step[k].op |= NO_GRAD;
        k++;
    }
    if (!write_spans(g, r, p))
        return 0;
    r->has_grads = 1;
    return 1;
}

int nb__replay_has_grads(const nb__replay *r) { return r->has_grads; }

void nb__replay_free(nb__replay *r)
{
    if (!r)
        return;
    free(r->step);
    free(r->call);
    free(r->all.s);
    free(r->ops.s);
    free(r);
}

/* ---- Running it -------------------------------------------------------------------
 * One loop per direction and dtype, over values v and gradients d.  The
 * switch has a case for each elementwise op, generated from ops.def; CALL
 * breaks out to the op table.  Backward's default is a step whose node has
 * no gradient. */

#if defined(__GNUC__)
#define UNREACHABLE() __builtin_unreachable()
#else
#define UNREACHABLE() (void)0
#endif

#define FWD_ELEMENTWISE_1(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
    case NB_OP_##E | NO_GRAD:                                                                  \
        v[st->y] = stem##_##sfx(v[st->a]);                                                     \
        continue;
#define FWD_ELEMENTWISE_2(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
    case NB_OP_##E | NO_GRAD:                                                                  \
        v[st->y] = stem##_##sfx(v[st->a], v[st->b]);                                           \
        continue;
#define BWD_ELEMENTWISE_1(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
        d[st->a] += stem##_dx_##sfx(v[st->a], v[st->y], d[st->y]);                             \
        continue;
#define BWD_ELEMENTWISE_2(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
        d[st->a] += stem##_da_##sfx(v[st->a], v[st->b], v[st->y], d[st->y]);                   \
        d[st->b] += stem##_db_##sfx(v[st->a], v[st->b], v[st->y], d[st->y]);                   \
        continue;
#define FWD_TENSOR_1(E, stem, sfx)
#define FWD_TENSOR_2(E, stem, sfx)
#define BWD_TENSOR_1(E, stem, sfx)
#define BWD_TENSOR_2(E, stem, sfx)

static void forward_f64(const nb__replay *r, double *v)
{
    const step *st = r->step;

    for (size_t i = 0; i < r->n_step; i++, st++) {
        switch (st->op) {
#define NB_OP(E, stem, arity, kind, change) FWD_##kind##_##arity(E, stem, f64)
#include "ops.def"
#undef NB_OP
        case CALL:
        case CALL | NO_GRAD:
            break;
        default:
            UNREACHABLE();
        }
        nb__kernels_f64[r->call[st->a]->op].forward(r->call[st->a]);
    }
}

static void forward_f32(const nb__replay *r, float *v)
{
    const step *st = r->step;

    for (size_t i = 0; i < r->n_step; i++, st++) {
        switch (st->op) {
#define NB_OP(E, stem, arity, kind, change) FWD_##kind##_##arity(E, stem, f32)
#include "ops.def"
#undef NB_OP
        case CALL:
        case CALL | NO_GRAD:
            break;
        default:
            UNREACHABLE();
        }
        nb__kernels_f32[r->call[st->a]->op].forward(r->call[st->a]);
    }
}

static void backward_f64(const nb__replay *r, const double *v, double *d)
{
    for (const step *st = r->step + r->n_step; st-- != r->step;) {
        switch (st->op) {
#define NB_OP(E, stem, arity, kind, change) BWD_##kind##_##arity(E, stem, f64)
#include "ops.def"
#undef NB_OP
        case CALL:
            break;
        default:
            continue;
        }
        nb__kernels_f64[r->call[st->a]->op].backward(r->call[st->a]);
    }
}

static void backward_f32(const nb__replay *r, const float *v, float *d)
{
    for (const step *st = r->step + r->n_step; st-- != r->step;) {
        switch (st->op) {
#define NB_OP(E, stem, arity, kind, change) BWD_##kind##_##arity(E, stem, f32)
#include "ops.def"
#undef NB_OP
        case CALL:
            break;
        default:
            continue;
        }
        nb__kernels_f32[r->call[st->a]->op].backward(r->call[st->a]);
    }
}

void nb__replay_forward(nb_graph *g, const nb__replay *r)
{
    if (g->dtype == NB_F32)
        forward_f32(r, (float *)(void *)g->store);
    else
        forward_f64(r, (double *)(void *)g->store);
}

void nb__replay_zero(nb_graph *g, const nb__replay *r, int accumulate)
{
    size_t elt = nb__elt(g);
    const spans *l = accumulate ? &r->ops : &r->all;

    for (size_t i = 0; i < l->n; i++) {
        const span *z = &l->s[i];
        if (z->tensor)
            memset(z->tensor->grad, 0, nb__size(z->tensor) * elt);
        else
            memset(g->grads + z->at * elt, 0, z->n * elt);
    }
}

void nb__replay_backward(nb_graph *g, const nb__replay *r)
{
    if (g->dtype == NB_F32)
        backward_f32(r, (const float *)(void *)g->store, (float *)(void *)g->grads);
    else
        backward_f64(r, (const double *)(void *)g->store, (double *)(void *)g->grads);
}
