/* internal.h - the engine's private structures: graph, node, op table, and
 * the nb__ helpers shared between the engine's files.  Only the engine and
 * its tests include this; models, examples and tools use nabla.h alone. */
#ifndef NB_INTERNAL_H
#define NB_INTERNAL_H

#define NB_BUILDING 1
#include "nabla.h"

#include <stddef.h>
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

/* 1 in AddressSanitizer builds: freed graphs and arena blocks then go back
 * to the allocator at once instead of waiting for reuse, so ASan sees a
 * use after nb_graph_free (and a second free) as the bug it is. */
#if defined(__SANITIZE_ADDRESS__)
#define NB__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NB__ASAN 1
#endif
#endif
#ifndef NB__ASAN
#define NB__ASAN 0
#endif

/* ---- Arena: the graph's bump allocator -------------------------------- */

typedef struct nb__block nb__block;
typedef struct nb__arena {
    nb__block *head;           /* current block; older ones chained behind it */
    unsigned char *next, *end; /* the head block's free bytes */
    size_t used;               /* bytes handed out, all blocks */
    nb__block *spare;          /* a freed graph's big blocks, for the next (arena.c) */
} nb__arena;

/* Test hook: the n-th allocation from now on fails (arena and the graph's
 * own arrays); n < 0 turns it off. */
void nb__alloc_fail_after(long n);
extern long nb__fail_countdown; /* < 0: the hook is off */
int nb__alloc_fail_now(void);   /* counts down; 1 when it reaches 0 */
static inline int nb__alloc_should_fail(void)
{
    return nb__fail_countdown >= 0 && nb__alloc_fail_now();
}

/* size bytes aligned to align (a power of two <= 64), not cleared: every
 * caller writes what it takes, so a fresh graph does not pay for clearing
 * its blocks; NULL when out of memory.  Blocks never move, so pointers
 * live as long as the arena.  Inline, a bump of a->next: graphs allocate
 * once or twice per node. */
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
/* Empty the arena but keep one standard block of it, if it has one, for
 * the next allocations: a recycled graph's first nodes then take no block
 * from the cache; and keep its big blocks as spares, their pages lazily
 * given back (nb__big_idle), for the next graph's big blocks. */
void nb__arena_reset(nb__arena *a);
/* Ask the kernel for transparent huge pages over the whole 2 MB pages of
 * [p, p + bytes) (arena.c): for large arrays that grow with the graph. */
void nb__advise_huge(void *p, size_t bytes);

/* ---- Nodes --------------------------------------------------------------
 * 32 bytes.  A scalar's value and gradient live side by side in the graph's
 * scalar store (below), a tensor's value in the arena and its gradient in
 * its ext. */

enum {
    NB__WANTS_GRAD = 1 << 0, /* a variable, or an op with such an input */
    NB__HAS_GRAD = 1 << 1,   /* its gradient is made (nb__grad) */
    NB__VARIABLE = 1 << 2,   /* leaf that receives a gradient */
    NB__PARAM = 1 << 3,
    NB__F32 = 1 << 4,  /* values are float, not double */
    NB__MARK = 1 << 5, /* scratch bit while planning */
    NB__VIEW = 1 << 6, /* values are another node's (nb_view) */
    NB__EXT = 1 << 7   /* it has an ext (nb__ext_of) */
};

/* Shape, name, op parameters and a tensor's gradient: what a node has
 * beyond the common 32 bytes, just before it in the arena.  Unnamed
 * scalars have none. */
typedef struct nb__ext {
    size_t size; /* product of dim[] */
    int dim[NB_MAX_RANK];
    int axis; /* reductions along an axis */
    int keepdim;
    const char *name;                /* arena copy, or NULL */
    const struct nb__custom *custom; /* a user-defined op's type (custom.c) */
    void *grad;                      /* not in the store: the gradient, once made */
} nb__ext;

#define NB__MAX_IN 2

struct nb_node {
    uint8_t op;    /* nb__op */
    uint8_t rank;  /* 0: scalar */
    uint8_t flags; /* NB__* above */
    uint8_t n_in;
    uint32_t id; /* index in g->nodes: creation order */
    union {
        nb_node *in[NB__MAX_IN]; /* op nodes: the inputs */
        nb_graph *owner;         /* leaves: their graph, which counts writes to them */
    };
    void *val; /* size values, float or double */
};

/* A node being made: its ext is written before it is known whether it
 * will have one, and is copied with it (graph.c, node_commit). */
typedef struct nb__proto {
    nb__ext ext;
    nb_node node;
} nb__proto;
_Static_assert(sizeof(nb__ext) % 8 == 0 && offsetof(nb__proto, node) == sizeof(nb__ext),
               "a node follows its ext with no gap");

static inline nb__ext *nb__ext_of(const nb_node *n)
{
    return n->flags & NB__EXT ? (nb__ext *)((uintptr_t)n - sizeof(nb__ext)) : NULL;
}

static inline size_t nb__size(const nb_node *n)
{
    return n->flags & NB__EXT ? nb__ext_of(n)->size : 1;
}

/* Does n keep its value and gradient in the scalar store? */
static inline int nb__in_store(const nb_node *n)
{
    return n->rank == 0 && !(n->flags & NB__VIEW);
}

/* n's gradient: in the store, the element after its value; NULL until
 * a backward run makes it */
static inline void *nb__grad(const nb_node *n)
{
    if (!(n->flags & NB__HAS_GRAD))
        return NULL;
    if (nb__in_store(n))
        return (char *)n->val + (n->flags & NB__F32 ? 4 : 8);
    return nb__ext_of(n)->grad;
}

/* ---- Ops ------------------------------------------------------------------ */

typedef enum nb__op {
    NB_OP_LEAF,
#define NB_OP(E, stem, arity, kind, change) NB_OP_##E,
#include "ops.def"
#undef NB_OP
    NB_OP_COUNT
} nb__op;

/* What an op is, whatever the dtype (ops.c). */
typedef struct nb__op_def {
    const char *name;
    int arity;
    int elementwise; /* its math is in elementwise.h */
    /* Check the inputs, set y's rank and ext (shape, op parameters); record
     * an error on g and return it if they do not fit.  Never allocates
     * values. */
    nb_status (*shape)(nb_graph *g, nb_node *y);
    /* Incremental evaluation (delta.c): list in out[0..cap) the elements of
     * y that read element i of input k and return how many there are (more
     * than cap: out is not filled).  NULL for a WHOLE op in ops.def. */
    size_t (*spread)(const nb_node *y, int k, size_t i, size_t *out, size_t cap);
} nb__op_def;

/* What an op computes, for one dtype (kernels.c, built once per dtype). */
typedef struct nb__kernel {
    /* forward fills y->val from its inputs' values; backward adds nb__grad(y)
     * times the local gradient into every input whose grad is not NULL. */
    void (*forward)(nb_node *y);
    void (*backward)(nb_node *y);
    /* Recompute y's elements at[0..n), listed in increasing order, from its
     * inputs' values (delta.c); NULL for a WHOLE op. */
    void (*forward_at)(nb_node *y, const size_t *at, size_t n);
    /* Elementwise ops: *y = op(*a, *b) for one element (a unary op ignores
     * b), for constructors of scalar nodes; NULL for the others. */
    void (*scalar)(void *y, const void *a, const void *b);
} nb__kernel;

extern const nb__kernel nb__kernels_f64[NB_OP_COUNT], nb__kernels_f32[NB_OP_COUNT];
/* indexed by nb_dtype, then by op */
extern const nb__kernel *const nb__kernels[2];

extern const nb__op_def nb__ops[NB_OP_COUNT];

/* ---- Graph ------------------------------------------------------------------ */

typedef struct nb__name nb__name;
typedef struct nb__replay nb__replay;

/* The plan for a root: its ancestors in creation order, a topological
 * order.  Both executors run it in this order (forward front to back,
 * backward back to front), so every gradient sums its contributions in the
 * same order and they give the same bits. */
typedef struct nb__plan {
    nb_node *root;  /* NULL: no plan */
    nb_node **node; /* n nodes: own, or g->nodes itself when aliased */
    size_t n;
    nb_node **own; /* cap elements */
    size_t cap;
    unsigned char *mark; /* plan_write's, one per node of g->nodes' room (nb__big_grow) */
    size_t cap_mark;
    int aliased;   /* every node up to root is in the plan: node is g->nodes */
    int has_grads; /* every node that wants a gradient has one */
    int trimmed;   /* node holds the leaves alone (run.c, plan_trim) */
    int runs;      /* forward and backward runs from it */
    /* Whether the values are those of the leaves (run.c, "Stale values"):
     * synced: they were when g->writes was writes; snapped: snap holds the
     * leaves' bytes as they were then. */
    uint32_t first_op; /* smallest id of an op node in the plan */
    int synced, snapped;
    uint64_t writes;
    unsigned char *snap;
    size_t cap_snap; /* bytes */
} nb__plan;

struct nb_graph {
    nb_dtype dtype;
    nb__arena arena; /* nodes, names, tensors' values and gradients */
    /* The scalar store: the value and the gradient of every rank-0 node
     * (but views), elt bytes each, side by side in one array, so that the
     * replay names them by a 32-bit index (the gradient's is the value's
     * plus one).  It grows by moving (nb__store_reserve), and then every
     * value pointer into it is moved along. */
    char *store;
    size_t store_len, store_cap; /* elements */
    nb_node **nodes;             /* creation order; malloc'd, grows */
    size_t n_nodes, cap_nodes;
    size_t room_nodes; /* nodes there is room for: in g->nodes and in plan.mark */
    nb_node **params;  /* parameters in creation order */
    size_t n_params, cap_params;
    nb__name *name_list; /* named leaves, newest first */
    size_t n_names;
    nb__name *names;      /* uthash head: the same, once there are more than a few */
    void *names_spare[2]; /* uthash's table and buckets, kept (graph.c) */
    size_t names_spare_size[2];
    nb__plan plan;       /* for the last root run (run.c) */
    nb__replay *replay;  /* the plan's replay (replay.c), or NULL */
    int anomaly;         /* nb_set_anomaly */
    int no_replay;       /* nb_set_replay(g, 0) */
    int waiting;         /* freed, it waits for reuse (graph.c) */
    nb_status op_status; /* a user-defined op failed in the last run */
    nb_status status;    /* first construction error */
    char msg[320];
    /* Writes to leaves, for runs to know whether values are stale (run.c):
     * how many went through nb_set_at or nb_write, how many nodes there
     * were at the last one, and whether some may bypass both (a pointer
     * from nb_values, a view's source written through its own graph). */
    uint64_t writes;
    size_t write_mark;
    int untracked;
};

/* Leaf n's values are about to change through the API: ops built before
 * now may hold stale values. */
static inline void nb__leaf_written(nb_node *n)
{
    n->owner->writes++;
    n->owner->write_mark = n->owner->n_nodes;
}

/* n was made in g: catches nodes from another graph */
static inline int nb__owned(const nb_graph *g, const nb_node *n)
{
    return n->id < g->n_nodes && g->nodes[n->id] == n;
}

/* arr (capacity *cap elements of elt bytes) with room for need: arr
 * itself, or moved by realloc, never NULL (even for need 0) unless out of
 * memory, and then arr is untouched. */
void *nb__grow_to(void *arr, size_t *cap, size_t need, size_t elt);
/* inline, since it mostly finds the room there */
static inline void *nb__grow(void *arr, size_t *cap, size_t need, size_t elt)
{
    return arr && need <= *cap ? arr : nb__grow_to(arr, cap, need, elt);
}

/* nb__grow for the arrays that grow with the graph (arena.c: the node
 * index and the scalar store), which nb__big_free, with their capacity,
 * must release: past a few megabytes they are mapped, not allocated. */
void *nb__big_grow(void *arr, size_t *cap, size_t need, size_t elt);
void nb__big_free(void *arr, size_t cap, size_t elt);
/* Past NB__BIG bytes such an array is mapped (on Linux): then its size does
 * not count against what a recycled graph may keep (graph.c), since
 * nb__big_idle lets the kernel take its pages back. */
#if defined(__linux__)
#define NB__BIG_MAPS 1
#define NB__BIG      ((size_t)8 << 20)
#else
#define NB__BIG_MAPS 0
#define NB__BIG      SIZE_MAX
#endif
static inline int nb__big_mapped(size_t cap, size_t elt)
{
    return NB__BIG_MAPS && cap * elt >= NB__BIG;
}
/* The kernel may take back the pages of [p, p + bytes) whenever it needs
 * them (MADV_FREE), their contents then lost; until then, writing them
 * again costs no page fault and no clearing.  For memory a freed graph
 * keeps for the next one. */
void nb__big_idle(void *p, size_t bytes);

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
nb_status nb__delta_eval(nb__delta *d, nb_node *leaf, size_t i, double v, double *f);
void nb__delta_free(nb__delta *d);

/* Anomaly mode: y was just computed; if it is non-finite from finite
 * inputs, record that as a construction error and return it. */
nb_status nb__check_new(nb_graph *g, nb_node *y);

/* ---- Replay (replay.c): the optional speed layer ---------------------------
 * A replay is the plan written out as a tape of steps over the scalar
 * store's indices, whose scalar elementwise steps run their op's math
 * inline; it gives the reference executor's bits (run.c) in a fraction of
 * its time.  nb__replay_new writes the forward steps; NULL when out of
 * memory (the reference executor runs instead). */
nb__replay *nb__replay_new(nb_graph *g, const nb__plan *p);
/* Ready the tape for backward once the plan's gradients exist (the replay
 * must be g->plan's); 0 when out of memory. */
int nb__replay_grads(nb_graph *g, nb__replay *r);
int nb__replay_has_grads(const nb__replay *r);
void nb__replay_forward(nb_graph *g, const nb__replay *r);
/* 1 when every step runs inline (none calls the op table); then
 * nb__replay_forward2 runs forward at two points at once: from the leaves'
 * values and from their gradient elements, into every scalar's value and
 * gradient element. */
int nb__replay_inline(const nb__replay *r);
void nb__replay_forward2(nb_graph *g, const nb__replay *r);
/* Clear the gradients backward adds into (the leaves' too unless
 * accumulating; the others it writes first); then, once run.c has seeded
 * the root, backward. */
void nb__replay_zero(nb_graph *g, const nb__replay *r, int accumulate);
void nb__replay_backward(nb_graph *g, const nb__replay *r);
void nb__replay_free(nb__replay *r);

/* Ops that only the gradients written as ops use (ops.c): a > b as 1 or 0;
 * x^p with p a node; x broadcast to dim (x itself when it has that shape);
 * labels as one-hot rows of classes. */
nb_node *nb__gt(nb_graph *g, nb_node *a, nb_node *b);
nb_node *nb__pow_node(nb_graph *g, nb_node *x, nb_node *p);
nb_node *nb__expand(nb_graph *g, nb_node *x, int rank, const int *dim);
nb_node *nb__onehot(nb_graph *g, nb_node *labels, int classes);

/* User-defined ops (custom.c).  The op table's custom kernels call the
 * user's callbacks; a callback that fails records its message and sets
 * g->op_status, which the executor that ran it returns (nb__op_failed
 * takes it back, NB_OK if none). */
struct nb__custom {
    const nb_op_type *type;
    nb_graph *g;
};
void nb__custom_forward(nb_node *y);
void nb__custom_backward(nb_node *y);
nb_node *nb__custom_grad(nb_graph *g, nb_node *y, nb_node *gy, int k);
nb_status nb__op_failed(nb_graph *g);

/* Plan root (run.c): g->plan then holds root's ancestors in the order both
 * executors run them (a plan trimmed to its leaves is written again). */
nb_status nb__plan_for(nb_graph *g, nb_node *root);
/* The replay of g's plan, written now if it is not yet; NULL when the
 * replay is off (nb_set_replay, anomaly mode) or out of memory. */
nb__replay *nb__replay_now(nb_graph *g);

/* "3x4", "scalar"; buf of at least NB__SHAPE_STR bytes. */
#define NB__SHAPE_STR 64
const char *nb__shape_str(const nb_node *n, char *buf);
int nb__dim(const nb_node *n, int i);

/* Make op node y = op(in[0..arity-1]): checks inputs, runs the op's shape
 * rule, allocates the value and computes it.  NULL on error.  params, if
 * not NULL, is copied into nb__ext_of(y) before the shape rule runs: the op's
 * parameters (axis, keepdim; for reshape the wanted dims, dim[i] = 0 past
 * the rank). */
nb_node *nb__node_new(nb_graph *g, nb__op op, nb_node *const *in, const nb__ext *params);
/* Give y the shape rank/dim, checking each dim and the size product;
 * makes y's ext.  For shape rules: y is a node being made (nb__proto). */
nb_status nb__set_shape(nb_graph *g, nb_node *y, int rank, const int *dim);
static inline size_t nb__elt(const nb_graph *g) { return g->dtype == NB_F32 ? 4 : 8; }

/* Room in the store for n more elements, moving it if it must grow; 0 when
 * out of memory (or past 2^31 elements, the replay's index range). */
int nb__store_reserve(nb_graph *g, size_t n);

/* A scalar's value and gradient in the store, not cleared; NULL when out
 * of memory. */
static inline void *nb__store_alloc(nb_graph *g)
{
    if (g->store_cap - g->store_len < 2 && !nb__store_reserve(g, 2))
        return NULL;
    g->store_len += 2;
    return g->store + (g->store_len - 2) * nb__elt(g);
}

/* The constructors' common case in short: an elementwise op (binary, or
 * unary with b = a) of scalars of this graph, with room for the node in
 * g->nodes and for its value in the store.  The node is the one the general
 * path (nb__node_new) makes (the same checks pass, the shape rule would give a
 * scalar without ext, the value comes from the op's scalar kernel); NULL
 * means: take the general path, which also reports any error.  Building a
 * scalar graph is mostly this, so it is kept to a few dozen instructions;
 * inline, so that each constructor compiles it for its op. */
static inline nb_node *nb__scalar_op_new(nb_graph *g, nb__op op, nb_node *a, nb_node *b)
{
    const nb__op_def *def = &nb__ops[op];
    size_t elt = nb__elt(g);

    if (a->rank != 0 || b->rank != 0 || !nb__owned(g, a) || !nb__owned(g, b) ||
        g->n_nodes == g->room_nodes || g->n_nodes >= UINT32_MAX ||
        g->store_cap - g->store_len < 2 || g->anomaly || nb__fail_countdown >= 0)
        return NULL;
    nb_node *y = nb__arena_alloc(&g->arena, sizeof *y, 8);
    if (!y)
        return NULL;
    void *val = g->store + g->store_len * elt; /* room checked above */
    g->store_len += 2;
    y->op = (uint8_t)op;
    y->rank = 0;
    y->n_in = (uint8_t)def->arity;
    y->flags = (uint8_t)(((a->flags | b->flags) & NB__WANTS_GRAD) |
                         (g->dtype == NB_F32 ? NB__F32 : 0));
    y->id = (uint32_t)g->n_nodes;
    y->in[0] = a;
    y->in[1] = def->arity > 1 ? b : NULL;
    y->val = val;
    g->nodes[g->n_nodes++] = y;
    nb__kernels[g->dtype][op].scalar(y->val, a->val, b->val);
    return y;
}

#endif /* NB_INTERNAL_H */
