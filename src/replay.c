/* replay.c - the speed layer: a plan written out as a tape.
 *
 * The reference executor (run.c) visits node after node, reading each
 * node's op, inputs and values through pointers, and calls the op table
 * for every op.  For a graph of scalars that is most of the work.  A
 * replay writes the plan once as an array of steps, each holding the
 * 32-bit store indices of the values and gradients it touches, and runs a
 * scalar elementwise step's math (elementwise.h) inline, in one switch;
 * any other step calls the op table with its node, as run.c does.  Same
 * kernels, same order, so the same bits.
 *
 * A forward step is 16 bytes, a backward step 28, and the backward array
 * holds only the steps with a gradient; replay streams through them. */
#include "internal.h"

#include "elementwise.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX /* no gradient there */

/* op: the op when the step runs inline, else NB_OP_LEAF: call the op
 * table with the step's node (for a backward step, node[y]).  For a unary
 * op b = a. */
typedef struct fstep {
    uint32_t y, a, b, op;
} fstep;
typedef struct bstep {
    uint32_t y, a, b, dy, da, db, op;
} bstep;

/* A span of gradients to clear: store elements [at, at + n), or, when
 * tensor is set, that node's gradient. */
typedef struct span {
    size_t at, n;
    nb_node *tensor;
} span;

struct nb__replay {
    fstep *fwd;
    bstep *bwd;
    nb_node **node; /* the op node of each forward step */
    size_t n_fwd, n_bwd;
    int has_grads; /* bwd and the spans are written */
    span *zero;    /* op nodes' gradients, then the leaves' from zero_leaves */
    size_t n_zero, zero_leaves, cap_zero;
};

/* ---- Writing the tape ----------------------------------------------------------- */

static uint32_t index_of(const nb_graph *g, const void *p)
{
    return p ? (uint32_t)(((const char *)p - g->store) / nb__elt(g)) : NONE;
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
    size_t ops = 0;

    if (!r)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        ops += p->node[i]->op != NB_OP_LEAF;
    size_t n = ops ? ops : 1;
    r->fwd = nb__alloc_should_fail() ? NULL : malloc(n * sizeof *r->fwd);
    r->node = nb__alloc_should_fail() ? NULL : malloc(n * sizeof *r->node);
    if (!r->fwd || !r->node) {
        nb__replay_free(r);
        return NULL;
    }
    advise(r->fwd, n * sizeof *r->fwd);
    advise(r->node, n * sizeof *r->node);
    for (size_t i = 0; i < p->n; i++) {
        nb_node *x = p->node[i];
        if (x->op == NB_OP_LEAF)
            continue;
        r->node[r->n_fwd] = x;
        r->fwd[r->n_fwd++] = runs_inline(x)
                                 ? (fstep){ index_of(g, x->val), index_of(g, x->in[0]->val),
                                            index_of(g, x->in[x->n_in - 1]->val), x->op }
                                 : (fstep){ .op = NB_OP_LEAF };
    }
    return r;
}

/* Append a span of gradients to clear, merging store spans that touch. */
static int zero_add(nb__replay *r, const nb_graph *g, nb_node *x)
{
    span *last = r->n_zero > r->zero_leaves ? &r->zero[r->n_zero - 1] : NULL;
    size_t at = nb__in_store(x) ? index_of(g, x->grad) : 0;

    if (nb__in_store(x) && last && !last->tensor && last->at + last->n == at) {
        last->n++;
        return 1;
    }
    span *zero = nb__grow(r->zero, &r->cap_zero, r->n_zero + 1, sizeof *zero);
    if (!zero)
        return 0;
    r->zero = zero;
    r->zero[r->n_zero++] = nb__in_store(x) ? (span){ at, 1, NULL } : (span){ 0, 0, x };
    return 1;
}

int nb__replay_grads(nb_graph *g, nb__replay *r)
{
    size_t n = r->n_fwd ? r->n_fwd : 1;

    r->bwd = nb__alloc_should_fail() ? NULL : malloc(n * sizeof *r->bwd);
    if (!r->bwd)
        return 0;
    advise(r->bwd, n * sizeof *r->bwd);
    for (size_t i = 0; i < r->n_fwd; i++) {
        const nb_node *x = r->node[i], *a = x->in[0], *b = x->in[x->n_in - 1];
        if (!x->grad)
            continue;
        r->bwd[r->n_bwd++] =
            r->fwd[i].op == NB_OP_LEAF
                ? (bstep){ .y = (uint32_t)i, .op = NB_OP_LEAF }
                : (bstep){ r->fwd[i].y,          r->fwd[i].a,
                           r->fwd[i].b,          index_of(g, x->grad),
                           index_of(g, a->grad), x->n_in > 1 ? index_of(g, b->grad) : NONE,
                           r->fwd[i].op };
    }
    /* op nodes' gradients, then the leaves' (their inputs without one) */
    for (size_t i = 0; i < r->n_fwd; i++)
        if (r->node[i]->grad && !zero_add(r, g, r->node[i]))
            return 0;
    r->zero_leaves = r->n_zero;
    int ok = 1;
    for (size_t i = 0; i < r->n_fwd; i++)
        for (int k = 0; k < r->node[i]->n_in; k++) {
            nb_node *x = r->node[i]->in[k];
            if (x->op != NB_OP_LEAF || !x->grad || (x->flags & NB__MARK))
                continue;
            x->flags |= NB__MARK; /* each leaf once */
            ok = ok && zero_add(r, g, x);
        }
    for (size_t i = 0; i < r->n_fwd; i++)
        for (int k = 0; k < r->node[i]->n_in; k++)
            r->node[i]->in[k]->flags &= (uint8_t)~NB__MARK;
    if (!ok)
        return 0;
    r->has_grads = 1;
    return 1;
}

int nb__replay_has_grads(const nb__replay *r) { return r->has_grads; }

void nb__replay_free(nb__replay *r)
{
    if (!r)
        return;
    free(r->fwd);
    free(r->bwd);
    free(r->node);
    free(r->zero);
    free(r);
}

/* ---- Running it -------------------------------------------------------------------
 * One loop per direction and dtype.  The switch has a case for each
 * elementwise op, generated from ops.def; NB_OP_LEAF breaks out to the op
 * table. */

#if defined(__GNUC__)
#define UNREACHABLE() __builtin_unreachable()
#else
#define UNREACHABLE() (void)0
#endif

#define FWD_ELEMENTWISE_1(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
        s[st->y] = stem##_##sfx(s[st->a]);                                                     \
        continue;
#define FWD_ELEMENTWISE_2(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
        s[st->y] = stem##_##sfx(s[st->a], s[st->b]);                                           \
        continue;
#define BWD_ELEMENTWISE_1(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
        if (st->da != NONE)                                                                    \
            s[st->da] += stem##_dx_##sfx(s[st->a], s[st->y], s[st->dy]);                       \
        continue;
#define BWD_ELEMENTWISE_2(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
        if (st->da != NONE)                                                                    \
            s[st->da] += stem##_da_##sfx(s[st->a], s[st->b], s[st->y], s[st->dy]);             \
        if (st->db != NONE)                                                                    \
            s[st->db] += stem##_db_##sfx(s[st->a], s[st->b], s[st->y], s[st->dy]);             \
        continue;
#define FWD_TENSOR_1(E, stem, sfx)
#define FWD_TENSOR_2(E, stem, sfx)
#define BWD_TENSOR_1(E, stem, sfx)
#define BWD_TENSOR_2(E, stem, sfx)

static void forward_f64(const nb__replay *r, double *s)
{
    const fstep *st = r->fwd;

    for (size_t i = 0; i < r->n_fwd; i++, st++) {
        switch (st->op) {
#define NB_OP(E, stem, arity, kind, change) FWD_##kind##_##arity(E, stem, f64)
#include "ops.def"
#undef NB_OP
        case NB_OP_LEAF:
            break;
        default:
            UNREACHABLE();
        }
        nb__kernels_f64[r->node[i]->op].forward(r->node[i]);
    }
}

static void forward_f32(const nb__replay *r, float *s)
{
    const fstep *st = r->fwd;

    for (size_t i = 0; i < r->n_fwd; i++, st++) {
        switch (st->op) {
#define NB_OP(E, stem, arity, kind, change) FWD_##kind##_##arity(E, stem, f32)
#include "ops.def"
#undef NB_OP
        case NB_OP_LEAF:
            break;
        default:
            UNREACHABLE();
        }
        nb__kernels_f32[r->node[i]->op].forward(r->node[i]);
    }
}

static void backward_f64(const nb__replay *r, double *s)
{
    for (const bstep *st = r->bwd + r->n_bwd; st-- != r->bwd;) {
        switch (st->op) {
#define NB_OP(E, stem, arity, kind, change) BWD_##kind##_##arity(E, stem, f64)
#include "ops.def"
#undef NB_OP
        case NB_OP_LEAF:
            break;
        default:
            UNREACHABLE();
        }
        nb__kernels_f64[r->node[st->y]->op].backward(r->node[st->y]);
    }
}

static void backward_f32(const nb__replay *r, float *s)
{
    for (const bstep *st = r->bwd + r->n_bwd; st-- != r->bwd;) {
        switch (st->op) {
#define NB_OP(E, stem, arity, kind, change) BWD_##kind##_##arity(E, stem, f32)
#include "ops.def"
#undef NB_OP
        case NB_OP_LEAF:
            break;
        default:
            UNREACHABLE();
        }
        nb__kernels_f32[r->node[st->y]->op].backward(r->node[st->y]);
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
    size_t elt = nb__elt(g), n = accumulate ? r->zero_leaves : r->n_zero;

    for (size_t i = 0; i < n; i++) {
        const span *z = &r->zero[i];
        if (z->tensor)
            memset(z->tensor->grad, 0, nb__size(z->tensor) * elt);
        else
            memset(g->store + z->at * elt, 0, z->n * elt);
    }
}

void nb__replay_backward(nb_graph *g, const nb__replay *r)
{
    if (g->dtype == NB_F32)
        backward_f32(r, (float *)(void *)g->store);
    else
        backward_f64(r, (double *)(void *)g->store);
}
