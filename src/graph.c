/* graph.c - graphs, the scalar store, leaves, node creation, names and the
 * accessors of nodes.  Running a graph is in run.c (and replay.c); the ops
 * themselves in ops.c. */
#include "internal.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

/* uthash allocates its table and buckets when a graph gets more than a
 * few names (FEW_NAMES, below) and frees them with the graph; the graph keeps them instead for
 * the next graph made from it, so that a small named graph made per step calls no malloc for
 * them (names_alloc).  A failure is an error recorded on the entry, never an exit. */
#define HASH_NONFATAL_OOM      1
#define uthash_malloc(sz)      names_alloc(g, sz)
#define uthash_free(p, sz)     names_free(g, p, sz)
#define uthash_nonfatal_oom(e) ((e)->oom = 1)
#include <uthash.h>

static void *names_alloc(nb_graph *g, size_t size)
{
    if (nb__alloc_should_fail())
        return NULL;
    for (int k = 0; k < 2; k++) {
        void *p = g->names_spare[k];
        if (p && g->names_spare_size[k] == size) {
            g->names_spare[k] = NULL;
            return p;
        }
    }
    return malloc(size);
}

static void names_free(nb_graph *g, void *p, size_t size)
{
    for (int k = 0; k < 2; k++)
        if (!g->names_spare[k]) {
            g->names_spare[k] = p;
            g->names_spare_size[k] = size;
            return;
        }
    free(p);
}

struct nb__name {
    nb_node *node;
    const char *name;
    nb__name *next; /* the graph's list, newest first */
    int oom;
    UT_hash_handle hh; /* keyed on the name, never on a value */
};

/* A graph's first FEW_NAMES names are found on its list, by comparing them
 * in turn; past that uthash's table indexes them all.  A small graph built
 * per step then never fills a table, which cost it more than all its
 * nodes. */
#define FEW_NAMES 8

/* strcmp(a, b) == 0, without a call: names are short */
static int same_name(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static nb__name *name_find(const nb_graph *g, const char *name)
{
    nb__name *e = NULL;

    if (g->names) {
        HASH_FIND_STR(g->names, name, e);
        return e;
    }
    for (e = g->name_list; e && !same_name(e->name, name); e = e->next)
        ;
    return e;
}

/* Adds e (its name and node set); 0, nothing added: out of memory. */
static int name_add(nb_graph *g, nb__name *e)
{
    e->next = g->name_list;
    g->name_list = e;
    if (++g->n_names <= FEW_NAMES)
        return 1;
    /* the first time past FEW_NAMES, every name goes into the table; then
     * each new one */
    nb__name *end = g->names ? e->next : NULL;
    for (nb__name *x = e; x != end; x = x->next) {
        HASH_ADD_KEYPTR(hh, g->names, x->name, strlen(x->name), x);
        if (x->oom) {
            if (!end)
                HASH_CLEAR(hh, g->names);
            g->name_list = e->next;
            g->n_names--;
            return 0;
        }
    }
    return 1;
}

/* Takes back the name last added. */
static void name_undo(nb_graph *g)
{
    nb__name *e = g->name_list;

    g->name_list = e->next;
    g->n_names--;
    if (g->names)
        HASH_DELETE(hh, g->names, e);
}

/* ---- Growable arrays (outside the arena: they move) ------------------------ */

void *nb__grow_to(void *arr, size_t *cap, size_t need, size_t elt)
{
    if (arr && need <= *cap)
        return arr;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elt)
            return NULL;
        ncap *= 2;
    }
    void *p = nb__alloc_should_fail() ? NULL : realloc(arr, ncap * elt);
    if (p)
        *cap = ncap;
    if (p && ncap * elt >= ((size_t)8 << 20))
        nb__advise_huge(p, ncap * elt);
    return p;
}

/* room for one more node pointer in *arr */
static int reserve_one(nb_node ***arr, size_t *cap, size_t len)
{
    nb_node **p = nb__big_grow(*arr, cap, len + 1, sizeof *p);
    if (p)
        *arr = p;
    return p != NULL;
}

/* room for one more node in g->nodes, which a plan may be reading, and
 * a mark for each node there is room for (run.c, plan_write): a plan then
 * allocates nothing when the node index is the plan */
static int nodes_reserve(nb_graph *g)
{
    if (g->n_nodes < g->room_nodes)
        return 1;
    if (!reserve_one(&g->nodes, &g->cap_nodes, g->n_nodes))
        return 0;
    if (g->plan.aliased)
        g->plan.node = g->nodes;
    unsigned char *mark = nb__big_grow(g->plan.mark, &g->plan.cap_mark, g->cap_nodes, 1);
    if (!mark)
        return 0;
    g->plan.mark = mark;
    g->room_nodes = g->cap_nodes < g->plan.cap_mark ? g->cap_nodes : g->plan.cap_mark;
    return 1;
}

/* ---- Graph lifetime ---------------------------------------------------------- */

/* ---- Recycled graphs -----------------------------------------------------
 * A freed graph, emptied but with its growable arrays (node index, scalar
 * store, plan) and a block of its arena, waits for the next nb_graph_new, as
 * the arena's other blocks wait in arena.c.  A program that builds a fresh
 * graph per step (as micrograd does) would otherwise hand megabytes back to
 * glibc, which may give them to the kernel, and fault them in again for the
 * next graph; and a graph of a few nodes would spend most of its time
 * allocating.  Graphs with arrays of RECYCLE_MAX bytes at most wait in two
 * places: each thread's own slot, which needs no lock, and, for a graph
 * freed while its thread's slot is full, one slot shared by all threads
 * under a mutex, where a thread that makes graphs finds those another
 * thread frees.  A thread's own graph is released when the thread exits.
 * Arrays of a huge graph that are mapped (nb__big_mapped) and its arena's
 * big blocks do not count: they wait too, but idle (nb__big_idle), so
 * that the kernel takes their pages back when it needs them, and until
 * then the next huge graph neither page-faults nor clears them. */
#define RECYCLE_MAX ((size_t)64 << 20)

static struct {
    nb_graph *g;
    pthread_mutex_t lock;
} recycled = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* a thread's slot, and whether its exit will release what it holds */
typedef struct slot {
    nb_graph *g;
    int keyed;
} slot;

static _Thread_local slot mine;
static pthread_key_t mine_key;
static pthread_once_t mine_once = PTHREAD_ONCE_INIT;
static int mine_key_made;

static void graph_release(nb_graph *g)
{
    nb__arena_free(&g->arena);
    nb__big_free(g->nodes, g->cap_nodes, sizeof *g->nodes);
    nb__big_free(g->params, g->cap_params, sizeof *g->params);
    nb__big_free(g->store, g->store_cap, 1); /* emptied: capacity in bytes */
    free(g->plan.own);
    nb__big_free(g->plan.mark, g->plan.cap_mark, 1);
    free(g->names_spare[0]);
    free(g->names_spare[1]);
    free(g);
}

/* the key's destructor, at a thread's exit */
static void mine_release(void *unused)
{
    nb_graph *g = mine.g;

    (void)unused;
    mine.g = NULL;
    mine.keyed = 0; /* a graph freed later by another destructor keys it again */
    if (g)
        graph_release(g);
}

static void mine_key_new(void)
{
    mine_key_made = pthread_key_create(&mine_key, mine_release) == 0;
}

/* 1 if this thread's slot took g: it was empty, and the thread's exit will
 * release what it holds then */
static int mine_put(nb_graph *g)
{
    slot *s = &mine; /* one look-up of the thread's storage */

    if (s->g)
        return 0;
    if (!s->keyed) { /* the key's value only has to be non-NULL */
        if (pthread_once(&mine_once, mine_key_new) != 0 || !mine_key_made ||
            pthread_setspecific(mine_key, s) != 0)
            return 0;
        s->keyed = 1;
    }
    s->g = g;
    return 1;
}

/* g with every field cleared but its arrays and its arena (emptied before);
 * the store's capacity in bytes, until nb_graph_new knows the next dtype */
static void graph_empty(nb_graph *g)
{
    nb__arena arena = g->arena;
    nb__plan plan = { .own = g->plan.own,
                      .cap = g->plan.cap,
                      .mark = g->plan.mark,
                      .cap_mark = g->plan.cap_mark };
    nb_node **nodes = g->nodes, **params = g->params;
    size_t cap_nodes = g->cap_nodes, cap_params = g->cap_params;
    char *store = g->store;
    size_t store_cap = g->store_cap * nb__elt(g);
    void *spare[2] = { g->names_spare[0], g->names_spare[1] };
    size_t spare_size[2] = { g->names_spare_size[0], g->names_spare_size[1] };

    /* in place, and all but the message, most of the graph, which only has
     * to read empty */
    size_t msg_end = offsetof(nb_graph, msg) + sizeof g->msg;
    memset(g, 0, offsetof(nb_graph, msg));
    g->msg[0] = '\0';
    memset((char *)g + msg_end, 0, sizeof *g - msg_end);
    g->arena = arena;
    g->plan = plan;
    g->nodes = nodes;
    g->cap_nodes = cap_nodes;
    g->room_nodes = cap_nodes < plan.cap_mark ? cap_nodes : plan.cap_mark;
    g->params = params;
    g->cap_params = cap_params;
    g->store = store;
    g->store_cap = store_cap;
    memcpy(g->names_spare, spare, sizeof spare);
    memcpy(g->names_spare_size, spare_size, sizeof spare_size);
}

/* bytes of an array that count against RECYCLE_MAX */
static size_t kept_bytes(size_t cap, size_t elt)
{
    return nb__big_mapped(cap, elt) ? 0 : cap * elt;
}

static size_t array_bytes(const nb_graph *g)
{
    return kept_bytes(g->cap_nodes, sizeof(nb_node *)) +
           kept_bytes(g->cap_params, sizeof(nb_node *)) + g->plan.cap * sizeof(nb_node *) +
           kept_bytes(g->plan.cap_mark, 1) + kept_bytes(g->store_cap, 1);
}

/* swap g (an emptied graph, or NULL) with the one in the shared slot; NULL
 * if g is that one already */
static nb_graph *recycled_swap(nb_graph *g)
{
    nb_graph *old = g;

    if (pthread_mutex_lock(&recycled.lock) == 0) {
        old = recycled.g;
        recycled.g = g;
        pthread_mutex_unlock(&recycled.lock);
    }
    return old == g ? NULL : old;
}

nb_graph *nb_graph_new(nb_dtype dtype)
{
    if (dtype != NB_F64 && dtype != NB_F32)
        return NULL;
    if (nb__alloc_should_fail())
        return NULL;
    nb_graph *g = mine.g;
    if (g)
        mine.g = NULL;
    else
        g = recycled_swap(NULL);
    if (!g)
        g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->waiting = 0;
    g->dtype = dtype;
    g->store_cap /= nb__elt(g);
    return g;
}

void nb_graph_free(nb_graph *g)
{
    /* A second free of a graph that waits for reuse is a no-op: released,
     * it would leave a slot pointing at freed memory for nb_graph_new. */
    if (!g || g->waiting)
        return;
    HASH_CLEAR(hh, g->names); /* entries live in the arena; the list goes with it */
    if (nb__big_mapped(g->cap_nodes, sizeof *g->nodes))
        nb__big_idle(g->nodes, g->n_nodes * sizeof *g->nodes);
    if (nb__big_mapped(g->store_cap, nb__elt(g)))
        nb__big_idle(g->store, g->store_len * nb__elt(g));
    if (nb__big_mapped(g->plan.cap_mark, 1))
        nb__big_idle(g->plan.mark, g->n_nodes);
    nb__replay_free(g->replay);
    free(g->plan.snap); /* not recycled: graph_empty drops it */
    nb__arena_reset(&g->arena);
    graph_empty(g);
    if (NB__ASAN || array_bytes(g) > RECYCLE_MAX) {
        graph_release(g);
        return;
    }
    g->waiting = 1;
    if (!mine_put(g) && (g = recycled_swap(g)) != NULL)
        graph_release(g); /* the one that waited in the shared slot */
}

nb_dtype nb_graph_dtype(const nb_graph *g) { return g ? g->dtype : NB_F64; }
size_t nb_graph_size(const nb_graph *g) { return g ? g->n_nodes : 0; }
size_t nb_graph_bytes(const nb_graph *g)
{
    return g ? g->arena.used + g->store_len * nb__elt(g) : 0;
}

nb_node *nb_graph_node(const nb_graph *g, size_t i)
{
    return g && i < g->n_nodes ? g->nodes[i] : NULL;
}

/* ---- Shapes ------------------------------------------------------------------ */

/* y's ext, made if it has none: y is a node being made (nb__proto) */
static nb__ext *ext_new(nb_node *y)
{
    if (!(y->flags & NB__EXT)) {
        y->flags |= NB__EXT;
        *nb__ext_of(y) = (nb__ext){ .size = 1 };
    }
    return nb__ext_of(y);
}

nb_status nb__set_shape(nb_graph *g, nb_node *y, int rank, const int *dim)
{
    size_t size = 1;

    if (rank < 0 || rank > NB_MAX_RANK)
        return nb__fail(g, NB_ERR_ARG, "%s: rank %d is out of range (0 to %d)", nb_op_name(y),
                        rank, NB_MAX_RANK);
    for (int i = 0; i < rank; i++) {
        if (dim[i] <= 0)
            return nb__fail(g, NB_ERR_ARG, "%s: dimension %d is %d, not positive",
                            nb_op_name(y), i, dim[i]);
        if (size > SIZE_MAX / (size_t)dim[i])
            return nb__fail(g, NB_ERR_SIZE, "%s: element count overflows at dimension %d (%d)",
                            nb_op_name(y), i, dim[i]);
        size *= (size_t)dim[i];
    }
    if (size > SIZE_MAX / 8)
        return nb__fail(g, NB_ERR_SIZE, "%s: %zu elements do not fit in memory", nb_op_name(y),
                        size);
    y->rank = (uint8_t)rank;
    if (rank == 0 && !nb__ext_of(y))
        return NB_OK;
    nb__ext *e = ext_new(y);
    e->size = size;
    for (int i = 0; i < NB_MAX_RANK; i++)
        e->dim[i] = i < rank ? dim[i] : 0;
    return NB_OK;
}

/* Moving the store: realloc, which for a large array moves pages rather
 * than bytes.  Every value pointer into it becomes an offset first (the
 * old array's pointers are not to be read once it is gone), and a pointer
 * into the new array after; on failure, into the old one again. */
static void store_rebase(nb_graph *g, char *base, int to_offsets)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        nb_node *x = g->nodes[i];
        if (!nb__in_store(x))
            continue;
        if (to_offsets)
            x->val = (void *)(uintptr_t)((char *)x->val - base);
        else
            x->val = base + (uintptr_t)x->val;
    }
}

int nb__store_reserve(nb_graph *g, size_t n)
{
    size_t elt = nb__elt(g), cap = g->store_cap;

    if (g->store_len + n <= g->store_cap)
        return 1;
    if (g->store_len + n > (size_t)INT32_MAX + 1)
        return 0;
    store_rebase(g, g->store, 1);
    char *store =
        nb__big_grow(g->store, &cap, g->store_len + n < 1024 ? 1024 : g->store_len + n, elt);
    if (store) {
        g->store = store;
        g->store_cap = cap;
    }
    store_rebase(g, g->store, 0);
    return store != NULL;
}

/* ---- Node creation ----------------------------------------------------------- */

/* Copy the prepared node tmp (and its ext, if it has one) into the arena
 * with room for its value (or with the values of a view, when view is not
 * NULL), and append it to g->nodes. */
static nb_node *node_commit(nb_graph *g, const nb__proto *tmp, void *view)
{
    size_t size = nb__size(&tmp->node), elt = nb__elt(g);
    int ext = (tmp->node.flags & NB__EXT) != 0;

    if (!nodes_reserve(g))
        return NULL;
    void *val = view                       ? view
                : nb__in_store(&tmp->node) ? nb__store_alloc(g)
                                           : nb__arena_alloc(&g->arena, size * elt, 64);
    nb__proto *p = val ? nb__arena_alloc(&g->arena, ext ? sizeof *p : sizeof p->node, 8) : NULL;
    if (!p)
        return NULL;
    nb_node *y = ext ? &p->node : (nb_node *)(void *)p;
    if (ext)
        p->ext = tmp->ext;
    *y = tmp->node;
    y->val = val;
    y->id = (uint32_t)g->n_nodes;
    g->nodes[g->n_nodes++] = y;
    return y;
}

nb_node *nb__node_new(nb_graph *g, nb__op op, nb_node *const *in, const nb__ext *params)
{
    const nb__op_def *def = &nb__ops[op];
    /* a user-defined op has its own arity */
    int arity = params && params->custom ? params->custom->type->arity : def->arity;

    if (!g)
        return NULL;
    nb__proto proto; /* its ext is written by ext_new, when it gets one */
    proto.node = (nb_node){ .op = (uint8_t)op, .n_in = (uint8_t)arity };
    nb_node *tmp = &proto.node;
    int scalars = 1; /* every input is rank 0 */
    for (int i = 0; i < arity; i++) {
        if (!in[i]) { /* keep the first error, from deeper inside */
            if (g->status == NB_OK)
                nb__fail(g, NB_ERR_ARG, "%s: input %d is NULL", def->name, i + 1);
            return NULL;
        }
        if (!nb__owned(g, in[i])) {
            int f32 = (in[i]->flags & NB__F32) != 0;
            if (f32 != (g->dtype == NB_F32))
                nb__fail(g, NB_ERR_DTYPE, "%s: input %d is %s but the graph is %s", def->name,
                         i + 1, f32 ? "f32" : "f64", f32 ? "f64" : "f32");
            else
                nb__fail(g, NB_ERR_GRAPH, "%s: input %d belongs to another graph", def->name,
                         i + 1);
            return NULL;
        }
        tmp->in[i] = in[i];
        tmp->flags |= in[i]->flags & NB__WANTS_GRAD;
        scalars &= in[i]->rank == 0;
    }
    if (g->dtype == NB_F32)
        tmp->flags |= NB__F32;
    if (g->n_nodes >= UINT32_MAX) {
        nb__fail(g, NB_ERR_SIZE, "%s: the graph already holds %zu nodes", def->name,
                 g->n_nodes);
        return NULL;
    }
    if (params) {
        proto.ext = *params;
        proto.ext.grad = NULL;
        tmp->flags |= NB__EXT;
    }
    /* An elementwise op of scalars makes a scalar without ext: its shape
     * rule has nothing to check, and it has a kernel for one element. */
    const nb__kernel *kernel = &nb__kernels[g->dtype][op];
    int scalar = def->elementwise && scalars && !params;
    if (!scalar && def->shape(g, tmp) != NB_OK)
        return NULL;
    nb_node *y = node_commit(g, &proto, NULL);
    if (!y) {
        nb__fail(g, NB_ERR_NOMEM, "%s: out of memory", def->name);
        return NULL;
    }
    if (scalar)
        kernel->scalar(y->val, y->in[0]->val, y->in[arity - 1]->val);
    else
        kernel->forward(y);
    if (g->op_status != NB_OK) { /* a user's op failed: its message is recorded */
        g->status = nb__op_failed(g);
        return NULL;
    }
    if (g->anomaly && nb__check_new(g, y) != NB_OK)
        return NULL;
    return y;
}

/* ---- Leaves -------------------------------------------------------------------- */

/* The arguments of a leaf constructor make sense: NB_OK or the error. */
static nb_status leaf_check(nb_graph *g, const char *name, int flags, int rank, const int *dim,
                            const char *what)
{
    if (rank > 0 && !dim)
        return nb__fail(g, NB_ERR_ARG, "%s '%s': rank %d but no dimensions", what,
                        name ? name : "", rank);
    if ((flags & NB__PARAM) && (!name || !*name))
        return nb__fail(g, NB_ERR_ARG, "param: a parameter needs a name");
    if (name && nb_lookup(g, name))
        return nb__fail(g, NB_ERR_ARG, "%s: the name '%s' is already taken in this graph", what,
                        name);
    if (g->n_nodes >= UINT32_MAX)
        return nb__fail(g, NB_ERR_SIZE, "%s: the graph already holds %zu nodes", what,
                        g->n_nodes);
    return NB_OK;
}

/* y's values from data (row-major doubles), converted to the dtype */
static void leaf_fill(nb_node *y, const double *data)
{
    size_t n = nb__size(y);

    if (n == 1 && !(y->flags & NB__F32)) /* scalars: no call to memcpy */
        *(double *)y->val = *data;
    else if (y->flags & NB__F32)
        for (size_t i = 0; i < n; i++)
            ((float *)y->val)[i] = (float)data[i];
    else
        memcpy(y->val, data, n * sizeof *data);
}

/* A leaf with values data (NULL: zeros), or over view's values. */
static nb_node *leaf_new(nb_graph *g, const char *name, int flags, int rank, const int *dim,
                         const double *data, void *view, const char *what)
{
    nb__proto proto; /* as in nb__node_new */
    proto.node =
        (nb_node){ .op = NB_OP_LEAF, .flags = (uint8_t)(flags | (view ? NB__VIEW : 0)) };
    nb_node *tmp = &proto.node;

    if (!g || leaf_check(g, name, flags, rank, dim, what) != NB_OK)
        return NULL;
    if (g->dtype == NB_F32)
        tmp->flags |= NB__F32;
    tmp->owner = g;
    if (rank != 0 && nb__set_shape(g, tmp, rank, dim) != NB_OK) /* rank 0: no ext */
        return NULL;
    if (view)
        ext_new(tmp); /* even at rank 0: its gradient is not in the store */
    size_t len = name ? strlen(name) : 0;
    nb__name *entry = NULL;
    char *copy = NULL;
    if (name) {
        entry = nb__arena_alloc(&g->arena, sizeof *entry, 8);
        copy = entry ? nb__arena_alloc(&g->arena, len + 1, 1) : NULL;
        if (!copy)
            goto nomem;
        memcpy(copy, name, len + 1);
        entry->name = copy; /* uthash writes entry->hh when it adds the entry */
        entry->oom = 0;
        ext_new(tmp)->name = copy;
    }
    if (!nodes_reserve(g) ||
        ((flags & NB__PARAM) && !reserve_one(&g->params, &g->cap_params, g->n_params)))
        goto nomem;
    if (entry && !name_add(g, entry))
        goto nomem;
    nb_node *y = node_commit(g, &proto, view);
    if (!y) {
        if (entry)
            name_undo(g);
        goto nomem;
    }
    if (entry)
        entry->node = y;
    if (flags & NB__PARAM)
        g->params[g->n_params++] = y;
    if (data)
        leaf_fill(y, data);
    else if (!view)
        memset(y->val, 0, nb__size(y) * nb__elt(g));
    return y;
nomem:
    nb__fail(g, NB_ERR_NOMEM, "%s '%s': out of memory", what, name ? name : "");
    return NULL;
}

nb_node *nb_scalar(nb_graph *g, const char *name, double value)
{
    return leaf_new(g, name, NB__VARIABLE | NB__WANTS_GRAD, 0, NULL, &value, NULL, "scalar");
}

nb_node *nb_variable(nb_graph *g, const char *name, int rank, const int *dim,
                     const double *data)
{
    return leaf_new(g, name, NB__VARIABLE | NB__WANTS_GRAD, rank, dim, data, NULL, "variable");
}

nb_node *nb_param(nb_graph *g, const char *name, int rank, const int *dim, const double *data)
{
    return leaf_new(g, name, NB__VARIABLE | NB__WANTS_GRAD | NB__PARAM, rank, dim, data, NULL,
                    "param");
}

nb_node *nb_const_scalar(nb_graph *g, double value)
{
    return leaf_new(g, NULL, 0, 0, NULL, &value, NULL, "constant");
}

nb_node *nb_constant(nb_graph *g, const char *name, int rank, const int *dim,
                     const double *data)
{
    return leaf_new(g, name, 0, rank, dim, data, NULL, "constant");
}

nb_node *nb_view(nb_graph *g, const char *name, nb_node *src, size_t offset, int rank,
                 const int *dim, nb_leaf kind)
{
    static const int flags[] = {
        [NB_LEAF_CONSTANT] = 0,
        [NB_LEAF_VARIABLE] = NB__VARIABLE | NB__WANTS_GRAD,
        [NB_LEAF_PARAM] = NB__VARIABLE | NB__WANTS_GRAD | NB__PARAM,
    };

    if (!g)
        return NULL;
    if (!src || (unsigned)kind > NB_LEAF_PARAM) {
        nb__fail(g, NB_ERR_ARG, "view '%s': %s", name ? name : "",
                 src ? "unknown leaf kind" : "no source node");
        return NULL;
    }
    if (src->rank == 0) { /* its value lives in its graph's scalar store, which moves */
        nb__fail(g, NB_ERR_ARG, "view '%s': the source is a scalar; view a tensor",
                 name ? name : "");
        return NULL;
    }
    if (((src->flags & NB__F32) != 0) != (g->dtype == NB_F32)) {
        nb__fail(g, NB_ERR_DTYPE, "view '%s': the source is %s but the graph is %s",
                 name ? name : "", g->dtype == NB_F32 ? "f64" : "f32",
                 g->dtype == NB_F32 ? "f32" : "f64");
        return NULL;
    }
    size_t size = 1, have = nb__size(src);
    for (int i = 0; i < rank && dim && size > 0 && size <= have; i++) /* no overflow */
        size = dim[i] <= 0                    ? 0
               : size > have / (size_t)dim[i] ? SIZE_MAX
                                              : size * (size_t)dim[i];
    if (rank < 0 || rank > NB_MAX_RANK || (rank > 0 && !dim) || size == 0 || offset > have ||
        size > have - offset) {
        nb__fail(g, NB_ERR_SHAPE,
                 "view '%s': the shape does not fit in the %zu elements "
                 "of the source from element %zu",
                 name ? name : "", have, offset);
        return NULL;
    }
    char *at = (char *)src->val + offset * nb__elt(g);
    nb_node *y = leaf_new(g, name, flags[kind], rank, dim, NULL, at, "view");
    if (y) { /* each graph may write these values without telling the other */
        g->untracked = 1;
        if (src->op == NB_OP_LEAF)
            src->owner->untracked = 1;
    }
    return y;
}

nb_node *nb_lookup(const nb_graph *g, const char *name)
{
    if (!g || !name)
        return NULL;
    nb__name *e = name_find(g, name);
    return e ? e->node : NULL;
}

size_t nb_param_count(const nb_graph *g) { return g ? g->n_params : 0; }

nb_node *nb_param_at(const nb_graph *g, size_t i)
{
    return g && i < g->n_params ? g->params[i] : NULL;
}

/* ---- Reading and writing ---------------------------------------------------------- */

int nb_rank(const nb_node *n) { return n ? n->rank : 0; }
size_t nb_size(const nb_node *n) { return n ? nb__size(n) : 0; }
const char *nb_name(const nb_node *n)
{
    return n && nb__ext_of(n) ? nb__ext_of(n)->name : NULL;
}
int nb_arity(const nb_node *n) { return n ? n->n_in : 0; }
size_t nb_index(const nb_node *n) { return n ? n->id : 0; }
int nb_is_leaf(const nb_node *n) { return n && n->op == NB_OP_LEAF; }
int nb_wants_grad(const nb_node *n) { return n && (n->flags & NB__WANTS_GRAD); }

int nb_dim(const nb_node *n, int axis)
{
    return n && axis >= 0 && axis < n->rank ? nb__ext_of(n)->dim[axis] : 0;
}

const char *nb_op_name(const nb_node *n)
{
    if (!n)
        return "";
    if (n->op == NB_OP_CUSTOM && nb__ext_of(n) && nb__ext_of(n)->custom)
        return nb__ext_of(n)->custom->type->name;
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
double nb_grad_at(const nb_node *n, size_t i) { return element(n, n ? nb__grad(n) : NULL, i); }
double nb_value_scalar(const nb_node *n) { return nb_value_at(n, 0); }
double nb_grad_scalar(const nb_node *n) { return nb_grad_at(n, 0); }

nb_status nb_set_at(nb_node *n, size_t i, double v)
{
    if (!n || n->op != NB_OP_LEAF || i >= nb__size(n))
        return NB_ERR_ARG;
    nb__leaf_written(n);
    if (n->flags & NB__F32)
        ((float *)n->val)[i] = (float)v;
    else
        ((double *)n->val)[i] = v;
    return NB_OK;
}

nb_status nb_set_scalar(nb_node *n, double v) { return nb_set_at(n, 0, v); }

/* A leaf's pointer lets writes bypass nb_set_at: runs compare values.
 * Written once only: the threads that update a model's parameters call
 * this at once (and the model's replicas, made before, have set it). */
void *nb_values(nb_node *n)
{
    if (n && n->op == NB_OP_LEAF && !n->owner->untracked)
        n->owner->untracked = 1;
    return n ? n->val : NULL;
}
void *nb_grads(nb_node *n) { return n ? nb__grad(n) : NULL; }

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
    nb_status s = copy(n, n ? n->val : NULL, src, dtype);
    if (s == NB_OK)
        nb__leaf_written(n);
    return s;
}

nb_status nb_read(const nb_node *n, void *dst, nb_dtype dtype)
{
    return copy(n, dst, n ? n->val : NULL, dtype);
}

nb_status nb_read_grad(const nb_node *n, void *dst, nb_dtype dtype)
{
    if (n && !nb__grad(n) && dst) { /* no gradient: zeros */
        if ((dtype == NB_F32) != ((n->flags & NB__F32) != 0))
            return NB_ERR_DTYPE;
        memset(dst, 0, nb__size(n) * (dtype == NB_F32 ? 4 : 8));
        return NB_OK;
    }
    return copy(n, dst, n ? nb__grad(n) : NULL, dtype);
}
