/* replay.c - the speed layer: a plan written out as a tape.
 *
 * The reference executor (run.c) visits node after node, reading each
 * node's op, inputs and values through pointers, and calls the op table
 * for every op.  For a graph of scalars that is most of the work.  A
 * replay writes the plan once as an array of steps, each holding the
 * 32-bit store indices of the values it reads and writes, and runs a
 * scalar elementwise step's math (elementwise.h) inline, in one switch;
 * any other step calls the op table with its node, as run.c does.  Same
 * kernels, same order, so the same bits; but for which NaN's payload a sum
 * of two NaNs carries, which C leaves to the compiler (operands of + may
 * be swapped) and which neither executor promises.
 *
 * A step is 16 bytes, and backward runs the same steps back to front: a
 * scalar's gradient is the store element after its value, so a step's
 * indices name both.  Where a step is the first, in backward order, to
 * write an op's gradient, it writes 0 + its term instead of adding to a
 * cleared gradient: the same bits, and no pass to clear them.  A product
 * that the next step adds to something (w x + s, a neuron's sum) runs as
 * one pair: one dispatch for two steps.  Pairs that continue each other's
 * sum (b + w0 x0 + w1 x1 + ...) run as one loop that keeps the sum, and
 * backward its gradient, in a register: through the store, each pair
 * would wait for the last one's write. */
#include "internal.h"

#include "elementwise.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* op: the op (below OP_MASK) when the step runs inline, or CALL: call the
 * op table with node call[a].  For a unary op b = a.  Once the gradients
 * exist, a step whose node has none is marked NO_GRAD (backward passes
 * over it), and FIRST_A / FIRST_B mark the inputs whose gradient it
 * writes first. */
typedef struct step {
    uint32_t y, a, b, op;
} step;

#define CALL    ((uint32_t)NB_OP_LEAF)
#define OP_MASK ((uint32_t)0x7f)
#define NO_GRAD ((uint32_t)0x80)
#define FIRST_A ((uint32_t)0x100)
#define FIRST_B ((uint32_t)0x200)
/* In a pair: on the add, P_IS_A says the product is its input a (else b);
 * on the mul, SUM_IN says the add's other input is the sum the pair
 * before made; on the add, SUM_OUT says backward finds its gradient in the
 * register, as the pair after left it. */
#define P_IS_A  ((uint32_t)0x400)
#define SUM_IN  ((uint32_t)0x800)
#define SUM_OUT ((uint32_t)0x1000)
/* A mul step whose product the next step, an add, reads: forward runs
 * both from the mul (MUL_ADD), backward both from the add (ADD_MUL). */
#define MUL_ADD ((uint32_t)NB_OP_COUNT)
#define ADD_MUL ((uint32_t)NB_OP_COUNT + 1)
static_assert((unsigned)NB_OP_COUNT + 2 <= 0x7fu, "op codes fit in OP_MASK");

/* Nodes whose gradients backward clears first */
typedef struct zero_list {
    nb_node **node;
    size_t n, cap;
} zero_list;

struct nb__replay {
    step *step;
    nb_node **call; /* the op nodes that run through the op table */
    size_t n_step, n_call;
    int has_grads;
    /* What no step writes first: leaves' gradients (kept when
     * accumulating), and op nodes' that the op table adds into. */
    zero_list leaves, ops;
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
            step st = { index_of(g, x->val), index_of(g, x->in[0]->val),
                        index_of(g, x->in[x->n_in - 1]->val), x->op };
            step *prev = r->n_step ? &r->step[r->n_step - 1] : NULL;
            if (x->op == NB_OP_ADD && prev && prev->op == NB_OP_MUL && st.a != st.b &&
                (prev->y == st.a || prev->y == st.b)) {
                step *before = r->n_step > 1 ? prev - 1 : NULL;
                prev->op = MUL_ADD;
                st.op = ADD_MUL | (prev->y == st.a ? P_IS_A : 0);
                if (before && before->op == (ADD_MUL | (before->op & P_IS_A)) &&
                    before->y == (prev->y == st.a ? st.b : st.a))
                    prev->op |= SUM_IN;
            }
            r->step[r->n_step++] = st;
        } else {
            r->step[r->n_step++] = (step){ .a = (uint32_t)r->n_call, .op = CALL };
            r->call[r->n_call++] = x;
        }
    }
    return r;
}

static int zero_add(zero_list *l, nb_node *x)
{
    nb_node **node = nb__grow(l->node, &l->cap, l->n + 1, sizeof *node);
    if (!node)
        return 0;
    l->node = node;
    l->node[l->n++] = x;
    return 1;
}

/* Input x of a step, met in backward order: does the step write its
 * gradient first?  An op's gradient (or one nobody reads) can be written
 * first by an inline step; a leaf's is added to, and so is what the op
 * table writes, which then must be cleared before. */
static int first_write(nb__replay *r, uint8_t *seen, nb_node *x, int inline_step)
{
    int first = !seen[x->id];

    seen[x->id] = 1;
    if (!first || !nb__grad(x))
        return first;
    if (x->op == NB_OP_LEAF)
        return zero_add(&r->leaves, x) ? 0 : -1;
    if (inline_step && nb__in_store(x))
        return 1;
    return zero_add(&r->ops, x) ? 0 : -1;
}

/* st, the add of a pair whose sum continues the pair before's: unless its
 * mul also reads that sum, the sum's gradient is what st wrote, and
 * backward may keep it in a register. */
static void sum_out(step *st)
{
    const step *mul = st - 1;
    uint32_t sum = st->op & P_IS_A ? st->b : st->a;

    if (mul->a != sum && mul->b != sum)
        st[-2].op |= SUM_OUT;
}

int nb__replay_grads(nb_graph *g, nb__replay *r)
{
    const nb__plan *p = &g->plan; /* the plan the steps were written from */
    uint8_t *seen = nb__alloc_should_fail() ? NULL : calloc(p->root->id + 1, 1);
    int ok = seen != NULL;

    for (size_t i = p->n, k = r->n_step; ok && i-- > 0;) {
        nb_node *x = p->node[i];
        if (x->op == NB_OP_LEAF) {
            if (!seen[x->id] && nb__grad(x)) /* a leaf that is the root */
                ok = zero_add(&r->leaves, x);
            continue;
        }
        step *st = &r->step[--k];
        seen[x->id] = 1;
        if (!nb__grad(x)) {
            st->op |= NO_GRAD;
            continue;
        }
        int inl = (st->op & OP_MASK) != CALL;
        for (int j = 0; ok && j < x->n_in; j++) {
            int first = first_write(r, seen, x->in[j], inl);
            ok = first >= 0;
            if (first > 0)
                st->op |= j == 0 ? FIRST_A : FIRST_B;
        }
        if ((st->op & OP_MASK) == ADD_MUL && (st[-1].op & SUM_IN))
            sum_out(st);
    }
    free(seen);
    if (ok)
        r->has_grads = 1;
    return ok;
}

int nb__replay_has_grads(const nb__replay *r) { return r->has_grads; }

void nb__replay_free(nb__replay *r)
{
    if (!r)
        return;
    free(r->step);
    free(r->call);
    free(r->leaves.node);
    free(r->ops.node);
    free(r);
}

/* ---- Running it -------------------------------------------------------------------
 * One loop per direction and dtype, over the store v.  The switch has a
 * case for each elementwise op, generated from ops.def; CALL breaks out
 * to the op table.  A gradient written first is 0 + the term, as run.c's
 * cleared gradient plus the term gives (-0 included). */

#if defined(__GNUC__)
#define UNREACHABLE() __builtin_unreachable()
#else
#define UNREACHABLE() (void)0
#endif

/* a store index's gradient, the element after its value (from v + i, so
 * that the + 1 is an address offset, not 32-bit arithmetic) */
#define G(i)                (v + (i))[1]
#define ACC(i, first, term) G(i) = (term) + ((st->op & (first)) ? 0 : G(i))

#define FWD_ELEMENTWISE_1(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
        v[st->y] = stem##_##sfx(v[st->a]);                                                     \
        continue;
/* a binary step: its value; the gradients of its inputs */
#define FWD_2(stem, sfx) v[st->y] = stem##_##sfx(v[st->a], v[st->b])
#define BWD_2(stem, sfx)                                                                       \
    ACC(st->a, FIRST_A, stem##_da_##sfx(v[st->a], v[st->b], v[st->y], G(st->y)));              \
    ACC(st->b, FIRST_B, stem##_db_##sfx(v[st->a], v[st->b], v[st->y], G(st->y)))

#define FWD_ELEMENTWISE_2(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
        FWD_2(stem, sfx);                                                                      \
        continue;
#define BWD_ELEMENTWISE_1(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
        ACC(st->a, FIRST_A, stem##_dx_##sfx(v[st->a], v[st->y], G(st->y)));                    \
        continue;
#define BWD_ELEMENTWISE_2(E, stem, sfx)                                                        \
    case NB_OP_##E:                                                                            \
        BWD_2(stem, sfx);                                                                      \
        continue;
#define FWD_TENSOR_1(E, stem, sfx)
#define FWD_TENSOR_2(E, stem, sfx)
#define BWD_TENSOR_1(E, stem, sfx)
#define BWD_TENSOR_2(E, stem, sfx)

/* The product-sum pairs: forward from the mul step, and on to the pairs
 * that continue its sum; backward from the add step, and on to the pairs
 * whose sum it continues.  Same kernels and order as single steps. */
#define FWD_PAIR(sfx, T)                                                                       \
    case MUL_ADD: {                                                                            \
        T s = 0;                                                                               \
        for (;;) {                                                                             \
            T p = mul_##sfx(v[st->a], v[st->b]);                                               \
            int carried = st->op & SUM_IN;                                                     \
            v[st->y] = p;                                                                      \
            st++, i++;                                                                         \
            if (!carried) /* else s is the sum the pair before made */                         \
                s = v[st->op & P_IS_A ? st->b : st->a];                                        \
            s = st->op & P_IS_A ? add_##sfx(p, s) : add_##sfx(s, p);                           \
            v[st->y] = s;                                                                      \
            if (i + 1 == r->n_step || !(st[1].op & SUM_IN))                                    \
                break;                                                                         \
            st++, i++;                                                                         \
        }                                                                                      \
        continue;                                                                              \
    }
#define BWD_PAIR(sfx, T)                                                                       \
    case ADD_MUL: {                                                                            \
        T g = G(st->y);                                                                        \
        for (;;) {                                                                             \
            T gp, gs;                                                                          \
            if ((st->op & (FIRST_A | FIRST_B)) == (FIRST_A | FIRST_B)) {                       \
                /* the add gate passes g to both: written first, both are g + 0 */             \
                gp = gs = G(st->a) = G(st->b) = g + 0;                                         \
            } else {                                                                           \
                T ga = ACC(st->a, FIRST_A, add_da_##sfx(v[st->a], v[st->b], v[st->y], g));     \
                T gb = ACC(st->b, FIRST_B, add_db_##sfx(v[st->a], v[st->b], v[st->y], g));     \
                gp = st->op & P_IS_A ? ga : gb, gs = st->op & P_IS_A ? gb : ga;                \
            }                                                                                  \
            if (!((--st)->op & NO_GRAD)) {                                                     \
                ACC(st->a, FIRST_A, mul_da_##sfx(v[st->a], v[st->b], v[st->y], gp));           \
                ACC(st->b, FIRST_B, mul_db_##sfx(v[st->a], v[st->b], v[st->y], gp));           \
            }                                                                                  \
            if (st == r->step || (st[-1].op & (SUM_OUT | NO_GRAD)) != SUM_OUT)                 \
                break;                                                                         \
            st--, g = gs;                                                                      \
        }                                                                                      \
        continue;                                                                              \
    }

static void forward_f64(const nb__replay *r, double *v)
{
    const step *st = r->step;

    for (size_t i = 0; i < r->n_step; i++, st++) {
        switch (st->op & OP_MASK) {
#define NB_OP(E, stem, arity, kind, change) FWD_##kind##_##arity(E, stem, f64)
#include "ops.def"
#undef NB_OP
            FWD_PAIR(f64, double)
        case CALL:
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
        switch (st->op & OP_MASK) {
#define NB_OP(E, stem, arity, kind, change) FWD_##kind##_##arity(E, stem, f32)
#include "ops.def"
#undef NB_OP
            FWD_PAIR(f32, float)
        case CALL:
            break;
        default:
            UNREACHABLE();
        }
        nb__kernels_f32[r->call[st->a]->op].forward(r->call[st->a]);
    }
}

static void backward_f64(const nb__replay *r, double *v)
{
    for (const step *st = r->step + r->n_step; st-- != r->step;) {
        if (st->op & NO_GRAD)
            continue;
        switch (st->op & OP_MASK) {
#define NB_OP(E, stem, arity, kind, change) BWD_##kind##_##arity(E, stem, f64)
#include "ops.def"
#undef NB_OP
            BWD_PAIR(f64, double)
        case CALL:
            break;
        default:
            UNREACHABLE();
        }
        nb__kernels_f64[r->call[st->a]->op].backward(r->call[st->a]);
    }
}

static void backward_f32(const nb__replay *r, float *v)
{
    for (const step *st = r->step + r->n_step; st-- != r->step;) {
        if (st->op & NO_GRAD)
            continue;
        switch (st->op & OP_MASK) {
#define NB_OP(E, stem, arity, kind, change) BWD_##kind##_##arity(E, stem, f32)
#include "ops.def"
#undef NB_OP
            BWD_PAIR(f32, float)
        case CALL:
            break;
        default:
            UNREACHABLE();
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

/* ---- Two forwards in one pass -----------------------------------------------------
 * For the gradient check, which needs f at x + h and at x - h: every
 * scalar's gradient element holds a second value, and each step computes
 * both with forward's kernels, so each has the bits forward would give it. */

#define FWD2_ELEMENTWISE_1(E, stem, sfx)                                                       \
    case NB_OP_##E:                                                                            \
        v[st->y] = stem##_##sfx(v[st->a]);                                                     \
        G(st->y) = stem##_##sfx(G(st->a));                                                     \
        break;
#define FWD2_ELEMENTWISE_2(E, stem, sfx)                                                       \
    case NB_OP_##E:                                                                            \
        v[st->y] = stem##_##sfx(v[st->a], v[st->b]);                                           \
        G(st->y) = stem##_##sfx(G(st->a), G(st->b));                                           \
        break;
#define FWD2_TENSOR_1(E, stem, sfx)
#define FWD2_TENSOR_2(E, stem, sfx)

/* Pairs, as FWD_PAIR runs them, at both points: two sums in registers */
#define FWD2_PAIR(sfx, T)                                                                      \
    case MUL_ADD: {                                                                            \
        T s = 0, s2 = 0;                                                                       \
        for (;;) {                                                                             \
            T p = mul_##sfx(v[st->a], v[st->b]), p2 = mul_##sfx(G(st->a), G(st->b));           \
            int carried = st->op & SUM_IN;                                                     \
            v[st->y] = p, G(st->y) = p2;                                                       \
            st++;                                                                              \
            if (!carried) {                                                                    \
                uint32_t sum = st->op & P_IS_A ? st->b : st->a;                                \
                s = v[sum], s2 = G(sum);                                                       \
            }                                                                                  \
            if (st->op & P_IS_A)                                                               \
                s = add_##sfx(p, s), s2 = add_##sfx(p2, s2);                                   \
            else                                                                               \
                s = add_##sfx(s, p), s2 = add_##sfx(s2, p2);                                   \
            v[st->y] = s, G(st->y) = s2;                                                       \
            if (st + 1 == end || !(st[1].op & SUM_IN))                                         \
                break;                                                                         \
            st++;                                                                              \
        }                                                                                      \
        break;                                                                                 \
    }

static void forward2_f64(const nb__replay *r, double *v)
{
    for (const step *st = r->step, *end = st + r->n_step; st != end; st++) {
        switch (st->op & OP_MASK) {
#define NB_OP(E, stem, arity, kind, change) FWD2_##kind##_##arity(E, stem, f64)
#include "ops.def"
#undef NB_OP
            FWD2_PAIR(f64, double)
        default:
            UNREACHABLE(); /* no CALL step (nb__replay_inline) */
        }
    }
}

static void forward2_f32(const nb__replay *r, float *v)
{
    for (const step *st = r->step, *end = st + r->n_step; st != end; st++) {
        switch (st->op & OP_MASK) {
#define NB_OP(E, stem, arity, kind, change) FWD2_##kind##_##arity(E, stem, f32)
#include "ops.def"
#undef NB_OP
            FWD2_PAIR(f32, float)
        default:
            UNREACHABLE();
        }
    }
}

int nb__replay_inline(const nb__replay *r) { return r->n_call == 0; }

void nb__replay_forward2(nb_graph *g, const nb__replay *r)
{
    assert(nb__replay_inline(r));
    if (g->dtype == NB_F32)
        forward2_f32(r, (float *)(void *)g->store);
    else
        forward2_f64(r, (double *)(void *)g->store);
}

static void zero(const zero_list *l, size_t elt)
{
    for (size_t i = 0; i < l->n; i++)
        memset(nb__grad(l->node[i]), 0, nb__size(l->node[i]) * elt);
}

void nb__replay_zero(nb_graph *g, const nb__replay *r, int accumulate)
{
    zero(&r->ops, nb__elt(g));
    if (!accumulate)
        zero(&r->leaves, nb__elt(g));
}

void nb__replay_backward(nb_graph *g, const nb__replay *r)
{
    if (g->dtype == NB_F32)
        backward_f32(r, (float *)(void *)g->store);
    else
        backward_f64(r, (double *)(void *)g->store);
}
