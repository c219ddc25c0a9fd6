/* internal.h - the engine's private structures: graph, node, op table, and
 * the nb__ helpers shared between the engine's files.  Only the engine and
 * its tests include this; models, examples and tools use nabla.h alone. */
#ifndef NB_INTERNAL_H
#define NB_INTERNAL_H

#define NB_BUILDING 1
#include "nabla.h"

#include <stdint.h>

#ifndef NB_HAVE_OPENBLAS
#define NB_HAVE_OPENBLAS 0
#endif
/* matmul goes through OpenBLAS when built with it and this is set (the
 * default); tests clear it to compare the portable kernel. */
extern int nb__blas_enabled;
/* The product itself, by path, for tests/test_matmul.c and bench_gemm:
 * C (m x n) = beta C + op(A) op(B), row-major; ta: A stored (k x m), tb: B
 * stored (n x k), not both.  NB__GEMM_BLAS falls back to the blocked kernel
 * when built without OpenBLAS; NB__GEMM_REF is the plain loops it replaced. */
typedef enum { NB__GEMM_BLAS, NB__GEMM_BLOCKED, NB__GEMM_REF } nb__gemm_path;
void nb__gemm_f64(nb__gemm_path path, int ta, int tb, size_t m, size_t n, size_t k,
                  const double *A, const double *B, double beta, double *C);
void nb__gemm_f32(nb__gemm_path path, int ta, int tb, size_t m, size_t n, size_t k,
                  const float *A, const float *B, float beta, float *C);

/* ---- Arena: the graph's bump allocator -------------------------------- */

typedef struct nb__block nb__block;
typedef struct nb__arena {
    nb__block     *head;       /* current block; older ones chained behind it */
    unsigned char *next, *end; /* the head block's free bytes */
    size_t         used;       /* bytes handed out, all blocks */
    /* The span of the standard-size blocks, from the lowest one's start to
     * the highest one's end: every scalar (value or gradient, from a 4 KB
     * slab) lies in it; a packed tape's offsets count from lo (run.c). */
    uintptr_t      lo, hi;
} nb__arena;

/* Test hook: the n-th allocation from now on fails (arena and the graph's
 * own arrays); n < 0 turns it off. */
void nb__alloc_fail_after(long n);
extern long nb__fail_countdown;     /* < 0: the hook is off */
int  nb__alloc_fail_now(void);      /* counts down; 1 when it reaches 0 */
static inline int nb__alloc_should_fail(void)
{
    return nb__fail_countdown >= 0 && nb__alloc_fail_now();
}

/* size bytes aligned to align (a power of two <= 64), not cleared: every
 * caller writes what it takes (clearing whole blocks for the next graph
 * cost a fresh scalar-mlp build 5%: 4 MB a graph); NULL when out of
 * memory.  Blocks never move, so pointers live as long as the arena.
 * Inline, a bump of a->next: graphs allocate once or twice per node. */
void *nb__arena_alloc_block(nb__arena *a, size_t size, size_t align);
static inline void *nb__arena_alloc(nb__arena *a, size_t size, size_t align)
{
    uintptr_t at = ((uintptr_t)a->next + (align - 1)) & ~(uintptr_t)(align - 1);

    if (!a->head || nb__fail_countdown >= 0 || at > (uintptr_t)a->end ||
        size > (uintptr_t)a->end - at)
        return nb__arena_alloc_block(a, size, align);
    a->next = (unsigned char *)at + size;
    a->used += size;
    return (void *)at;
}
void nb__arena_free(nb__arena *a);

/* ---- Nodes --------------------------------------------------------------
 * 48 bytes.  A scalar's value, and later (only if needed) its gradient,
 * come from 4 KB slabs of the arena (nb__scalar_alloc), packed 8 bytes
 * apart: replay then reads a working set an eighth the size of the nodes
 * (scalar-mlp replay 20 -> 18 cycles per node).  64 bytes in all in f64. */

enum {
    NB__WANTS_GRAD = 1 << 0,  /* a variable, or an op with such an input */
    NB__LEAF       = 1 << 1,
    NB__VARIABLE   = 1 << 2,  /* leaf that receives a gradient */
    NB__PARAM      = 1 << 3,
    NB__F32        = 1 << 4,  /* values are float, not double */
    NB__MARK       = 1 << 5,  /* scratch bit while building a plan */
    NB__FRESH      = 1 << 6   /* gradient overwritten by its one consumer, a
                                 matmul, instead of cleared first (run.c) */
};

/* Shape, name and op parameters.  Unnamed scalars have none (ext NULL). */
typedef struct nb__ext {
    size_t      size;              /* product of dim[] */
    int         dim[NB_MAX_RANK];
    int         axis;              /* reductions along an axis */
    int         keepdim;
    const char *name;              /* arena copy, or NULL */
} nb__ext;

#define NB__MAX_IN 2

struct nb_node {
    uint8_t  op;                   /* nb__op */
    uint8_t  rank;                 /* 0: scalar */
    uint8_t  flags;                /* NB__* above */
    uint8_t  n_in;
    uint32_t id;                   /* index in g->nodes: creation order */
    nb_node *in[NB__MAX_IN];
    void    *val;                  /* size values, float or double */
    void    *grad;                 /* size gradients; NULL if none */
    nb__ext *ext;
};

static inline size_t nb__size(const nb_node *n) { return n->ext ? n->ext->size : 1; }

/* A kernel whose loop vectorises is compiled twice, from one body: for the
 * baseline (SSE2) and for AVX2, which runs where the CPU has it
 * (nb__have_avx2, checked once).  Same operations in the same order and no
 * FMA contraction (ISO C mode), so both give the same bits.
 *     NB__VECTOR_BODY void body(nb_node *node) { ...loop... }
 *     NB__VECTOR_KERNEL(name, name_avx2, body)
 * defines name(node).  A branch per call rather than an ifunc
 * (target_clones): ifunc resolvers run while the loader relocates, before a
 * sanitizer's or fuzzer's runtime is set up, and crashed there. */
#if defined(__x86_64__) && defined(__GNUC__)
int nb__have_avx2(void);
#define NB__VECTOR_BODY __attribute__((always_inline)) static inline
#define NB__VECTOR_KERNEL(name, name_avx2, body)                                         \
    __attribute__((target("avx2"))) static void name_avx2(nb_node *node) { body(node); } \
    static void name(nb_node *node)                                                      \
    {                                                                                    \
        if (nb__have_avx2())                                                             \
            name_avx2(node);                                                             \
        else                                                                             \
            body(node);                                                                  \
    }
#else
#define NB__VECTOR_BODY static inline
#define NB__VECTOR_KERNEL(name, name_avx2, body) \
    static void name(nb_node *node) { body(node); }
#endif

/* ---- Ops ------------------------------------------------------------------ */

typedef enum nb__op {
    NB_OP_LEAF,
#define NB_OP(E, stem, arity, kind, change) NB_OP_##E,
#include "ops.def"
#undef NB_OP
    NB_OP_COUNT
} nb__op;

typedef struct nb__op_def {
    const char *name;
    int         arity;
    int         elementwise;            /* has scalar kernels for the tape */
    /* Check the inputs, set y's rank and ext (shape, op parameters); record
     * an error on g and return it if they do not fit.  Never allocates
     * values. */
    nb_status (*shape)(nb_graph *g, nb_node *y);
    /* Indexed by nb_dtype.  forward fills y->val from its inputs' values;
     * backward adds y->grad times the local gradient into every input whose
     * grad is not NULL. */
    void (*forward[2])(nb_node *y);
    void (*backward[2])(nb_node *y);
    /* Incremental evaluation (delta.c); both NULL for a WHOLE op in
     * ops.def.  spread lists in out[0..cap) the elements of y that read
     * element i of input k and returns how many there are (more than cap:
     * out is not filled).  forward_at recomputes y's elements at[0..n),
     * listed in increasing order, from its inputs' values. */
    size_t (*spread)(const nb_node *y, int k, size_t i, size_t *out, size_t cap);
    void (*forward_at[2])(nb_node *y, const size_t *at, size_t n);
    /* Elementwise ops: *y = op(*a, *b) for one element (a unary op ignores
     * b), for constructors of scalar nodes; NULL for the others. */
    void (*scalar[2])(void *y, const void *a, const void *b);
} nb__op_def;

extern const nb__op_def nb__ops[NB_OP_COUNT];

/* The kernel a step for op node n runs in the replay loops (tape.inc): its
 * op when they run it inline (a scalar elementwise op), else NB_OP_LEAF,
 * which means the op table. */
static inline int nb__step_kernel(const nb_node *n)
{
    return nb__ops[n->op].elementwise && nb__size(n) == 1 ? n->op : NB_OP_LEAF;
}

/* ---- The replay tape ----------------------------------------------------
 * One step per op node of a plan, in topological order, so replay streams
 * through arrays instead of chasing node -> input -> value.  Replay's speed
 * follows the bytes it streams, so a tape comes in two forms.
 *
 * Packed (the usual one): every scalar value and gradient a step touches
 * as a 32-bit offset, in elements, from the arena's lowest standard block
 * (nb__arena's lo).  Scalars come from slabs in those blocks, which the
 * arena keeps within 1 GB of each other where it can (arena.c), so the
 * offsets fit (checked once on the blocks' span, and again per offset,
 * cheaply, as the tape is written).  A forward step is 16 bytes (y, a, b,
 * kernel), a backward step 28 (y, a, b, dy, da, db, kernel), and the
 * backward array holds only the steps with a gradient.  Against the wide
 * form's 56-byte steps, read by both passes, scalar-mlp replay takes
 * 0.81-0.82 of the time (forward alone 0.66-0.67) for the same
 * instructions (bench_tape).
 *
 * Wide: the pointers themselves, when an offset does not fit in 32 bits
 * (blocks gigabytes apart), in anomaly mode, which runs the tape a step at
 * a time, and for nb_local_grad's one-step tape.
 *
 * For a unary op b = a.  A gradient is NULL (packed: NB__NONE) where there
 * is none.  kernel is the op when it is a scalar elementwise op, whose scalar kernel
 * the tape runs inline, else NB_OP_LEAF: call the op table with the node,
 * which lies in a separate array, node[] (for a packed backward step, at
 * node[y]), that scalar steps never read. */
typedef struct nb__step {
    void       *y, *dy;
    const void *a, *b;
    void       *da, *db;
    uint8_t     kernel;
} nb__step;

#define NB__NONE INT32_MIN          /* packed: no gradient there */
typedef struct nb__fstep { int32_t y, a, b; uint32_t kernel; } nb__fstep;
typedef struct nb__bstep { int32_t y, a, b, dy, da, db; uint32_t kernel; } nb__bstep;

typedef struct nb__tape {
    int        packed;          /* fwd and bwd hold it, else step */
    uintptr_t  base;            /* packed: element o lies at base + o * elt */
    nb__step  *step;            /* wide: n steps */
    nb__fstep *fwd;             /* packed: n forward steps */
    nb__bstep *bwd;             /* packed: n_bwd backward steps */
    nb_node  **node;            /* the node of each of the n steps */
    size_t     n, n_bwd;
    size_t     cap, cap_step, cap_fwd, cap_bwd;    /* of node, step, fwd, bwd */
} nb__tape;

/* Packed tapes are written where they fit unless a test clears this; a
 * tape already written stays as it is (clear the graph's has_tape). */
extern int nb__tape_packing;

/* Indexed by nb_dtype: run the whole tape (either form) forward, or
 * backward in reverse. */
extern void (*const nb__tape_forward[2])(const nb__tape *t);
extern void (*const nb__tape_backward[2])(const nb__tape *t);
/* Steps [first, end) of a wide tape, forward or backward in reverse:
 * anomaly mode, a step at a time, and nb_local_grad. */
extern void (*const nb__steps_forward[2])(const nb__tape *t, size_t first, size_t end);
extern void (*const nb__steps_backward[2])(const nb__tape *t, size_t first, size_t end);
/* Backward over plan[0..len) (root first) itself, for a plan's first run. */
extern void (*const nb__plan_backward[2])(nb_node *const *plan, size_t len);
/* A graph's first backward in one sweep (run.c, first_backward): from node
 * ids - 1 down to 0, the marked nodes (root first) go into plan, each
 * input that wants a gradient gets one, zeroed, from nb__sweep_grad (the
 * slab's next value, extending the last zero range, done inline), and each
 * op node with a gradient runs its backward.  ok turns 0 when out of
 * memory; the sweep then only clears the marks. */
typedef struct nb__sweep {
    nb_graph *g;
    nb_node **plan;        /* NULL: out of memory */
    size_t    len, ops;    /* plan nodes, op nodes among them */
    int       ok;
    uint32_t *leaves;      /* ids of the leaves given a gradient */
    size_t    n_leaves;
    char     *slab;        /* leaves' scalar gradients */
    size_t    slab_left;
} nb__sweep;
int nb__sweep_grad(nb__sweep *w, nb_node *x);
extern void (*const nb__sweep_run[2])(nb__sweep *w, size_t ids);

/* ---- Graph ------------------------------------------------------------------ */

typedef struct nb__name nb__name;

struct nb_graph {
    nb_dtype   dtype;
    nb__arena  arena;
    char      *slab;               /* scalar values and gradients, packed */
    size_t     slab_left;
    nb_node  **nodes;              /* creation order; malloc'd, grows */
    size_t     n_nodes, cap_nodes;
    nb_node  **params;             /* parameters in creation order */
    size_t     n_params, cap_params;
    nb__name  *names;              /* uthash head: named leaves */
    /* The plan: root's ancestors in reverse topological order, and the
     * tape of its op nodes in topological order, kept for replay (the
     * tape is written when the plan first runs). */
    nb_node  **plan;
    size_t     plan_len, plan_cap;
    nb__tape   tape;
    uint32_t  *scratch;            /* for writing the tape */
    size_t     cap_scratch;
    /* The plan's gradients as byte ranges to clear before backward: op
     * nodes' [0, n_zero_ops), then leaves' up to n_zero (kept when
     * accumulating).  Allocated together, they merge into few ranges. */
    struct nb__range { void *p; size_t bytes; } *zero;
    size_t     n_zero_ops, n_zero, cap_zero;
    nb_node   *plan_root;
    size_t     plan_ops;           /* op nodes in the plan: the tape's length */
    size_t     plan_matmuls;       /* matmul nodes in the plan */
    size_t     fresh_leaves;       /* leaves of the plan marked NB__FRESH */
    int        fresh_marked;       /* some node may carry NB__FRESH */
    int        plan_has_grads;     /* gradients allocated along the plan */
    int        has_tape;           /* tape is the plan's */
    int        plan_runs;          /* forward or backward runs of this plan */
    size_t     n_matmuls;          /* matmul nodes in the graph */
    int        any_grads;          /* some node of the graph has a gradient */
    int        anomaly;            /* check every op's output (nb_set_anomaly) */
    nb_status  status;             /* first construction error */
    char       msg[320];
};

/* n was made in g: catches nodes from another graph */
static inline int nb__owned(const nb_graph *g, const nb_node *n)
{
    return n->id < g->n_nodes && g->nodes[n->id] == n;
}

/* arr (capacity *cap elements of elt bytes) with room for need: arr
 * itself, or moved by realloc, never NULL (even for need 0) unless out of
 * memory, and then arr is untouched. */
void *nb__grow(void *arr, size_t *cap, size_t need, size_t elt);

/* Record an error (the first one sticks as g->status when sticky) and its
 * message; returns code. */
nb_status nb__fail(nb_graph *g, nb_status code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A run-time failure: message recorded, graph stays usable. */
nb_status nb__report(nb_graph *g, nb_status code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- Incremental evaluation (delta.c) ---------------------------------------
 * f(root) with one leaf element changed, recomputing only the elements that
 * read it, then every value put back bit for bit: what the gradient check
 * runs per element.  nb__delta_new needs a plan for root (nb_forward ran). */
typedef struct nb__delta nb__delta;
nb__delta *nb__delta_new(nb_graph *g, nb_node *root);
/* root's value with element i of leaf set to v (rounded to the dtype);
 * NB_ERR_NONFINITE when that is not finite (nothing else is checked). */
nb_status  nb__delta_eval(nb__delta *d, nb_node *leaf, size_t i, double v, double *f);
void       nb__delta_free(nb__delta *d);

/* Anomaly mode: y was just computed; if it is non-finite from finite
 * inputs, record that as a construction error and return it. */
nb_status nb__check_new(nb_graph *g, nb_node *y);

/* "3x4", "scalar"; buf of at least NB__SHAPE_STR bytes. */
#define NB__SHAPE_STR 64
const char *nb__shape_str(const nb_node *n, char *buf);
int         nb__dim(const nb_node *n, int i);

/* Make op node y = op(in[0..arity-1]): checks inputs, runs the op's shape
 * rule, allocates the value and computes it.  NULL on error.  params, if
 * not NULL, is copied into y->ext before the shape rule runs: the op's
 * parameters (axis, keepdim; for reshape the wanted dims, dim[i] = 0 past
 * the rank). */
nb_node *nb__node_new(nb_graph *g, nb__op op, nb_node *const *in,
                      const nb__ext *params);
/* Give y the shape rank/dim, checking each dim and the size product;
 * allocates the ext.  For shape rules. */
nb_status nb__set_shape(nb_graph *g, nb_node *y, int rank, const int *dim);
/* Scalars' values and gradients come from slabs of this many bytes. */
#define NB__SLAB 4096
/* One scalar (elt bytes) from the current slab, a new slab when it is
 * used up (nb__scalar_slab); not cleared; NULL when out of memory. */
void *nb__scalar_slab(nb_graph *g, size_t elt);
static inline void *nb__scalar_alloc(nb_graph *g, size_t elt)
{
    if (g->slab_left < elt)
        return nb__scalar_slab(g, elt);
    void *p = g->slab;
    g->slab += elt;
    g->slab_left -= elt;
    return p;
}

static inline size_t nb__elt(const nb_graph *g) { return g->dtype == NB_F32 ? 4 : 8; }

/* A scalar gradient in short, the common case of a scalar graph's backward:
 * the slab's next value when it directly follows the last range of the zero
 * list, which then extends over it (not cleared here); NULL when that does
 * not fit, and the caller takes its general path. */
static inline void *nb__grad_after_last_range(nb_graph *g, size_t elt)
{
    struct nb__range *last = g->n_zero ? g->zero + g->n_zero - 1 : NULL;

    if (g->slab_left < elt || !last || (char *)last->p + last->bytes != g->slab)
        return NULL;
    last->bytes += elt;
    return nb__scalar_alloc(g, elt);
}

/* The constructors' common case in short: an elementwise op (binary, or
 * unary with b = a) of scalars of this graph, with room for the node in
 * g->nodes and for its value in the slab.  The node is the one the general
 * path (nb__node_new) makes (the same checks pass, the shape rule would give a
 * scalar without ext, the value comes from the op's scalar kernel); NULL
 * means: take the general path, which also reports any error.  A fresh
 * scalar-mlp build spent ~190 instructions per node in the general path,
 * and ~50 here.  Inline, so that the constructors of ops.c (which try it
 * first) compile it for their op. */
static inline nb_node *nb__scalar_op_new(nb_graph *g, nb__op op, nb_node *a, nb_node *b)
{
    const nb__op_def *def = &nb__ops[op];
    size_t elt = nb__elt(g);

    if (a->rank != 0 || b->rank != 0 || !nb__owned(g, a) || !nb__owned(g, b) ||
        g->n_nodes == g->cap_nodes || g->n_nodes >= UINT32_MAX || g->slab_left < elt ||
        g->anomaly || nb__fail_countdown >= 0)
        return NULL;
    void *val = nb__scalar_alloc(g, elt);              /* room checked above */
    nb_node *y = nb__arena_alloc(&g->arena, sizeof *y, 8);
    if (!y)
        return NULL;
    y->op = (uint8_t)op;
    y->rank = 0;
    y->n_in = (uint8_t)def->arity;
    y->flags = (uint8_t)(((a->flags | b->flags) & NB__WANTS_GRAD) |
                         (g->dtype == NB_F32 ? NB__F32 : 0));
    y->id = (uint32_t)g->n_nodes;
    y->in[0] = a;
    y->in[1] = def->arity > 1 ? b : NULL;
    y->val = val;
    y->grad = NULL;
    y->ext = NULL;
    g->nodes[g->n_nodes++] = y;
    def->scalar[g->dtype](y->val, a->val, b->val);
    return y;
}

/* The element size of the graph's dtype. */

#endif /* NB_INTERNAL_H */
