/* nabla.h - reverse-mode automatic differentiation on a graph of scalar and
 * tensor nodes.
 *
 * A graph owns every node made in it.  Each op computes its value as soon as
 * it is built (so a gate's forward value is there to print), remembers its
 * inputs, and knows its local gradient.  nb_backward() walks the ancestors of
 * an output in reverse topological order and leaves d(output)/d(node) in every
 * node that needs it.  After changing leaf values, nb_forward() recomputes the
 * same nodes in place: a training loop builds its graph once and replays it.
 *
 *     nb_graph *g = nb_graph_new(NB_F64);
 *     nb_node *x = nb_scalar(g, "x", -2.0), *y = nb_scalar(g, "y", 5.0);
 *     nb_node *z = nb_scalar(g, "z", -4.0);
 *     nb_node *f = nb_mul(g, nb_add(g, x, y), z);          // -12
 *     if (nb_backward(g, f) != NB_OK)
 *         fprintf(stderr, "%s\n", nb_errmsg(g));
 *     printf("%g %g %g\n", nb_grad_scalar(x), nb_grad_scalar(y),
 *            nb_grad_scalar(z));                           // -4 -4 3
 *     nb_graph_free(g);
 *
 * Errors.  Constructors return NULL on error and the graph records the first
 * error (code and message naming the op and the shapes); a NULL input gives
 * NULL and keeps that first error, so a nested expression is checked once at
 * the end.  A graph with a construction error refuses to run until
 * nb_error_clear().  Functions that run return an nb_status.  The library
 * never prints and never exits or aborts on bad input.
 *
 * Threads: a graph is used by one thread at a time; different graphs are
 * independent.
 */
#ifndef NABLA_H
#define NABLA_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(NB_BUILDING) && defined(__GNUC__)
#define NB_API __attribute__((visibility("default")))
#else
#define NB_API
#endif

#define NB_VERSION  "0.1.0"
#define NB_MAX_RANK 4 /* tensors have rank 0 (scalar) to 4, row-major */

typedef struct nb_graph nb_graph;
typedef struct nb_node nb_node;

/* Element type, chosen per graph: every op supports both. */
typedef enum nb_dtype {
    NB_F64 = 0, /* double: expressions, gradient checks */
    NB_F32 = 1  /* float: fast training */
} nb_dtype;

typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_NOMEM = -1,     /* an allocation failed */
    NB_ERR_ARG = -2,       /* NULL input, bad rank/dim/axis, duplicate name */
    NB_ERR_SHAPE = -3,     /* shapes do not fit the op */
    NB_ERR_DTYPE = -4,     /* f32 data given to an f64 graph, or the reverse */
    NB_ERR_GRAPH = -5,     /* a node from another graph */
    NB_ERR_SIZE = -6,      /* a shape's element count overflows size_t */
    NB_ERR_NONFINITE = -7, /* an op made inf or NaN from finite inputs */
    /* The engine never reads files; these are for the layers built on it
     * (data loaders, checkpoints, the nabla command). */
    NB_ERR_IO = -8,    /* a file cannot be opened, read or written */
    NB_ERR_FORMAT = -9 /* a file's contents are malformed */
} nb_status;

/* ---- Graph lifetime --------------------------------------------------- */

/* An empty graph computing in dtype.  NULL only if the graph itself cannot be
 * allocated.  nb_graph_free() releases the graph and everything made with it
 * (nodes, values, gradients, names); node pointers die with it.  NULL is a
 * no-op.  Up to 64 MB of freed arena blocks are kept, process-wide, for the
 * next graphs, so building a fresh graph per step reuses warm memory (not in
 * AddressSanitizer builds, which then see any use of a freed graph).  The
 * last graph a thread frees keeps its memory (no more than that graph had)
 * for that thread's next graph;
 * past a few megabytes that memory is lent back to the kernel (Linux
 * MADV_FREE), which takes it when it runs short, so that the next huge
 * graph, built at once, is spared page faults and page clearing, while
 * resident-size figures may still count it until the kernel takes it.
 * Freeing a graph twice is a bug; the last graph freed, which waits for
 * reuse, survives it (the second free does nothing). */
NB_API nb_graph *nb_graph_new(nb_dtype dtype);
NB_API void nb_graph_free(nb_graph *g);
NB_API nb_dtype nb_graph_dtype(const nb_graph *g);

/* Number of nodes made so far; the i-th node in creation order (NULL if out
 * of range).  Creation order is a topological order: an op's inputs always
 * come before it. */
NB_API size_t nb_graph_size(const nb_graph *g);
NB_API nb_node *nb_graph_node(const nb_graph *g, size_t i);
/* Bytes taken from the graph's arena so far (nodes, values, gradients). */
NB_API size_t nb_graph_bytes(const nb_graph *g);

/* ---- Errors ------------------------------------------------------------ */

/* The graph's first construction error, NB_OK if none. */
NB_API nb_status nb_error(const nb_graph *g);
/* Message of the latest failure in this graph ("" if none): construction
 * errors, and the last non-OK status a run returned.  Borrowed; valid until
 * the next call on g.  A NULL graph gives a message saying so. */
NB_API const char *nb_errmsg(const nb_graph *g);
/* Forget the recorded error: the graph runs again.  Nodes that were made
 * before the error are intact; the failed constructor made nothing. */
NB_API void nb_error_clear(nb_graph *g);
/* A short name for a status code ("shape mismatch", ...). */
NB_API const char *nb_status_str(nb_status s);

/* ---- Leaves -------------------------------------------------------------
 * name may be NULL; a non-NULL name is copied, must be unique in the graph,
 * and nb_lookup() finds the node by it.  dim holds rank positive sizes
 * (rank 0 to NB_MAX_RANK, dim ignored for rank 0).  data holds the values
 * in row-major order, converted to the graph's dtype; NULL means zeros.
 *
 * Variables receive gradients.  Parameters are named variables that an
 * optimiser updates: nb_param_count()/nb_param_at() list them in creation
 * order.  Constants never receive gradients; their values may still be
 * overwritten (inputs of a model) before nb_forward(). */
NB_API nb_node *nb_scalar(nb_graph *g, const char *name, double value);
NB_API nb_node *nb_variable(nb_graph *g, const char *name, int rank, const int *dim,
                            const double *data);
NB_API nb_node *nb_param(nb_graph *g, const char *name, int rank, const int *dim,
                         const double *data);
NB_API nb_node *nb_const_scalar(nb_graph *g, double value);
NB_API nb_node *nb_constant(nb_graph *g, const char *name, int rank, const int *dim,
                            const double *data);

/* A view: a leaf of g whose values are src's elements [offset, offset +
 * size) in place, size the product of dim, read as that shape.  src may
 * belong to another graph of the same dtype; nothing is copied, so g reads
 * src's values as they are when it runs, and writes to either are seen by
 * both (nb_backward in either runs forward first when they changed: see
 * "Running").  kind: a constant, a variable, or a (named) parameter; a
 * view that receives a gradient keeps its own, in g.  src's graph must outlive g.
 * Data-parallel replicas are made this way: each worker's graph views the
 * model's parameters and its rows of the batch (nb_mlp_set_workers in
 * nabla_nn.h).  Errors: NB_ERR_SHAPE if the elements are not all in src,
 * NB_ERR_DTYPE if src's dtype is not g's, NB_ERR_ARG if src is a scalar
 * (rank 0: its value moves with its graph's scalar store). */
typedef enum nb_leaf { NB_LEAF_CONSTANT, NB_LEAF_VARIABLE, NB_LEAF_PARAM } nb_leaf;
NB_API nb_node *nb_view(nb_graph *g, const char *name, nb_node *src, size_t offset, int rank,
                        const int *dim, nb_leaf kind);

/* The named leaf, or NULL (no error recorded) if no node has that name. */
NB_API nb_node *nb_lookup(const nb_graph *g, const char *name);
NB_API size_t nb_param_count(const nb_graph *g);
NB_API nb_node *nb_param_at(const nb_graph *g, size_t i);

/* ---- Ops ----------------------------------------------------------------
 * Each returns a new node with its value computed, or NULL on error.
 * Binary elementwise ops broadcast as NumPy does: shapes are aligned on
 * the right, and a dimension of 1 (or a missing one) stretches to the
 * other's size; the gradient of a stretched input is summed back to its
 * shape. */
NB_API nb_node *nb_add(nb_graph *g, nb_node *a, nb_node *b); /* a + b */
NB_API nb_node *nb_mul(nb_graph *g, nb_node *a, nb_node *b); /* a * b */
/* max routes the gradient to the larger input; on a tie all of it goes to
 * the first input a.  min likewise, to the smaller, first on a tie. */
NB_API nb_node *nb_max(nb_graph *g, nb_node *a, nb_node *b);
NB_API nb_node *nb_min(nb_graph *g, nb_node *a, nb_node *b);
NB_API nb_node *nb_sub(nb_graph *g, nb_node *a, nb_node *b); /* a + neg(b) */
NB_API nb_node *nb_div(nb_graph *g, nb_node *a, nb_node *b); /* a * reciprocal(b) */

NB_API nb_node *nb_neg(nb_graph *g, nb_node *x);        /* -x */
NB_API nb_node *nb_exp(nb_graph *g, nb_node *x);        /* e^x; d = y */
NB_API nb_node *nb_log(nb_graph *g, nb_node *x);        /* ln x; d = 1/x */
NB_API nb_node *nb_reciprocal(nb_graph *g, nb_node *x); /* 1/x; d = -y^2 */
/* 1 / (1 + e^-x), computed without overflow; d = y (1 - y) */
NB_API nb_node *nb_sigmoid(nb_graph *g, nb_node *x);
NB_API nb_node *nb_tanh(nb_graph *g, nb_node *x); /* d = 1 - y^2 */
/* max(0, x), exactly as nb_max(0, x): at x = 0 the tie goes to the
 * constant, so relu'(0) = 0. */
NB_API nb_node *nb_relu(nb_graph *g, nb_node *x);
NB_API nb_node *nb_abs(nb_graph *g, nb_node *x);           /* d = sign(x), 0 at 0 */
NB_API nb_node *nb_pow(nb_graph *g, nb_node *x, double p); /* x^p; d = p x^(p-1) */
/* x^(1/2); d = 1 / (2 y): inf at x = 0, and x < 0 gives NaN, which
 * nb_forward reports. */
NB_API nb_node *nb_sqrt(nb_graph *g, nb_node *x);
/* ln(1 + x) and e^x - 1, accurate for tiny x (where ln of a rounded 1 + x,
 * or e^x - 1 itself, loses every digit).  log1p: d = 1 / (1 + x), x <= -1
 * gives -inf or NaN.  expm1: d = e^x, computed as such rather than as
 * y + 1, which cancels for x below about -37. */
NB_API nb_node *nb_log1p(nb_graph *g, nb_node *x);
NB_API nb_node *nb_expm1(nb_graph *g, nb_node *x);
/* ln(1 + e^x), computed as max(x, 0) + log1p(e^-|x|): no overflow for large
 * x (y = x), full precision for very negative x (y = e^x); d = sigmoid(x). */
NB_API nb_node *nb_softplus(nb_graph *g, nb_node *x);
NB_API nb_node *nb_sin(nb_graph *g, nb_node *x); /* d = cos x */
NB_API nb_node *nb_cos(nb_graph *g, nb_node *x); /* d = -sin x */
/* x if x > 0, else alpha x, alpha a finite constant (made as a constant
 * scalar leaf, as nb_pow's exponent; NB_ERR_ARG if not finite); d = 1 if
 * x > 0, else alpha: as for relu, at x = 0 the slope is that of the side
 * below, so leaky_relu'(0) = alpha. */
NB_API nb_node *nb_leaky_relu(nb_graph *g, nb_node *x, double alpha);
/* min(max(x, lo), hi), built as exactly those two ops with constant bounds;
 * both ties go to x, so d = 1 for lo <= x <= hi (the bounds included) and 0
 * outside.  NB_ERR_ARG unless lo <= hi. */
NB_API nb_node *nb_clamp(nb_graph *g, nb_node *x, double lo, double hi);

/* A constant c on one side, made as a constant scalar leaf: the lecture's
 * "*-1" and "+1" gates. */
NB_API nb_node *nb_mul_const(nb_graph *g, nb_node *x, double c); /* c * x */
NB_API nb_node *nb_add_const(nb_graph *g, nb_node *x, double c); /* x + c */

/* Reductions.  nb_sum/nb_mean: all elements, a scalar.  The _axis forms
 * reduce one axis (negative counts from the end); keepdim keeps it with size
 * 1, so the result broadcasts against x. */
NB_API nb_node *nb_sum(nb_graph *g, nb_node *x);
NB_API nb_node *nb_mean(nb_graph *g, nb_node *x); /* sum * (1/n) */
NB_API nb_node *nb_sum_axis(nb_graph *g, nb_node *x, int axis, int keepdim);
NB_API nb_node *nb_mean_axis(nb_graph *g, nb_node *x, int axis, int keepdim);
/* The largest and smallest element along an axis, with the shape of
 * nb_sum_axis.  The gradient goes to one element of each reduced line: the
 * FIRST maximal (minimal) one on a tie.  A NaN in a line is its max and its
 * min.  nb_min_axis is -max_axis(-x), which gives exactly those ties. */
NB_API nb_node *nb_max_axis(nb_graph *g, nb_node *x, int axis, int keepdim);
NB_API nb_node *nb_min_axis(nb_graph *g, nb_node *x, int axis, int keepdim);
/* The index (0 to n-1 along the axis) of the first maximal element of each
 * line, as a value of the graph's dtype (exact up to 2^24 in f32), shape as
 * nb_max_axis; the first NaN if a line has one.  No gradient flows through
 * it: an index is piecewise constant, and its backward adds nothing. */
NB_API nb_node *nb_argmax(nb_graph *g, nb_node *x, int axis, int keepdim);

/* Matrices and shapes. */
NB_API nb_node *nb_matmul(nb_graph *g, nb_node *a, nb_node *b); /* (m x k)(k x n) -> (m x n) */
NB_API nb_node *nb_transpose(nb_graph *g, nb_node *x);          /* (m x n) -> (n x m) */
/* Same elements, new shape; the element counts must agree. */
NB_API nb_node *nb_reshape(nb_graph *g, nb_node *x, int rank, const int *dim);

/* ---- Softmax and losses ---------------------------------------------------
 * Numerically stable: softmax subtracts each row's maximum before exp, and
 * the cross-entropies never take log of a rounded probability.  Labels are
 * class indices 0..C-1 stored as values of a node of n elements (any shape
 * with that many elements; usually a constant); a label out of range makes
 * the loss NaN, which nb_forward reports.  Batch losses are means over the
 * n rows of the (n x C) input, returned as a scalar. */
NB_API nb_node *nb_softmax(nb_graph *g, nb_node *x); /* along the last axis */
NB_API nb_node *nb_log_softmax(nb_graph *g, nb_node *x);
/* mean_i [ logsumexp(s_i) - s_i,y_i ]; d/ds = (softmax(s) - onehot(y)) / n */
NB_API nb_node *nb_softmax_xent(nb_graph *g, nb_node *scores, nb_node *labels);
/* mean_i [ -sum_j t_ij log softmax(s)_ij ]: t rows are one-hot or any
 * probability vectors, t the shape of s; d/ds = (softmax(s) - t) / n */
NB_API nb_node *nb_softmax_xent_onehot(nb_graph *g, nb_node *scores, nb_node *target);
/* mean over all elements of max(x,0) - x t + log(1 + e^-|x|): binary
 * cross-entropy of sigmoid(x) against t in [0, 1], never via
 * log(sigmoid(x)); x and t have the same shape; d/dx = (sigmoid(x) - t)/n */
NB_API nb_node *nb_bce_logits(nb_graph *g, nb_node *logits, nb_node *target);
/* multiclass SVM: mean_i sum_{j != y_i} max(0, s_ij - s_i,y_i + 1) */
NB_API nb_node *nb_hinge(nb_graph *g, nb_node *scores, nb_node *labels);
/* mean((p - t)^2) and mean(|p - t|), with broadcasting of t onto p */
NB_API nb_node *nb_mse(nb_graph *g, nb_node *pred, nb_node *target);
NB_API nb_node *nb_l1(nb_graph *g, nb_node *pred, nb_node *target);

/* ---- User-defined ops -----------------------------------------------------
 * An op of one or two inputs that the library lacks, defined in C: what
 * torch.autograd.Function gives Python.  forward fills out from the
 * inputs' values; backward ADDS grad_out times the local gradient into
 * each grad_in[k] that is not NULL (an input that takes no gradient gets
 * NULL).  Buffers hold the graph's dtype (double for NB_F64, float for
 * NB_F32) in row-major order; the nodes give the shapes (nb_rank, nb_dim,
 * nb_size).  A callback returns NB_OK or an error status, and may write a
 * message into msg (msg_size bytes): the run, or the constructor, then
 * returns that status and nb_errmsg says "NAME (node N): msg".
 *
 * grad, optional, writes the op's backward as ops: the node for what y
 * passes to input k, given gy = d(root)/dy, built from ops of g (NULL with
 * an error recorded on failure; NULL with none: nothing flows to input k).
 * With it the op works in nb_grad_graph and so at second order; without
 * it those return NB_ERR_ARG naming the op.  The type is not copied: it
 * must outlive every graph that uses it.  name shows in tables and
 * pictures (nb_op_name). */
typedef struct nb_op_call {
    nb_dtype dtype;
    int n_in;
    const nb_node *input[2], *output; /* for shapes */
    const void *in[2];                /* inputs' values */
    void *out;                        /* forward: fill */
    const void *grad_out;             /* backward: d(root)/d(out) */
    void *grad_in[2];                 /* backward: add into; NULL: none wanted */
    void *user;                       /* the type's user pointer */
    char *msg;                        /* a message on error */
    size_t msg_size;
} nb_op_call;

typedef struct nb_op_type {
    const char *name;
    int arity; /* 1 or 2 */
    nb_status (*forward)(const nb_op_call *c);
    nb_status (*backward)(const nb_op_call *c);
    nb_node *(*grad)(nb_graph *g, nb_node *y, nb_node *gy, int k, void *user);
    void *user;
} nb_op_type;

/* The op applied to in[0..arity): its output has rank/dim, or input 0's
 * shape when rank < 0.  Computes its value, as every constructor does.
 * NB_ERR_ARG for a type without name, forward or backward, or an arity
 * other than 1 or 2. */
NB_API nb_node *nb_custom(nb_graph *g, const nb_op_type *type, nb_node *const *in, int rank,
                          const int *dim);

/* ---- Running ------------------------------------------------------------
 * nb_forward: recompute, in topological order and in place, every op that
 * root depends on (after leaf values changed; nb_backward does it for you
 * when they did, see below).  A run plans once per root (root's ancestors,
 * in the order they were made); after that, forward and backward from
 * this root allocate nothing: build once, then step.  Returns NB_ERR_NONFINITE if root's value
 * is not finite, naming the first op that made inf or NaN from finite
 * inputs (the values are still computed).
 *
 * nb_backward: d(root)/d(node) for every node on a path from a variable to
 * root, visiting only root's ancestors, in reverse topological order,
 * without recursion.  root must be a scalar (seed 1).  Gradients are
 * OVERWRITTEN: each call first zeroes the gradients it is about to compute,
 * so calling it twice gives the same result, to the bit.  Gradients are
 * allocated on the first backward that needs them; nodes off every
 * variable-to-root path never get one.
 *
 * Backward never differentiates stale values.  When a leaf root depends on
 * may have changed since root's values were computed (by the constructors
 * or the last nb_forward), it runs nb_forward itself first, so the gradient
 * and root's value are always those at the leaves' current values; if that
 * forward finds root non-finite, backward returns its NB_ERR_NONFINITE
 * (naming the op) and computes no gradient.  Why run it rather than fail:
 * the gradient at the current values is the only sensible answer, and it is
 * what a PyTorch user expects.  What counts as a change: nb_set_at,
 * nb_set_scalar and nb_write; and, once nb_values has given out a pointer to
 * a leaf or the graph has a view (whose source its own graph may write),
 * any difference in the leaves' bytes, found by comparing them with a copy
 * taken at the last forward.  With nothing to compare yet (the first run
 * from a root, after such a pointer or view, or after a leaf was written
 * since root's ops were made), backward runs forward.  So a loop that writes
 * leaves, calls nb_forward and then nb_backward runs forward once per step,
 * and a graph built and differentiated once runs no forward at all; the
 * cost is one counter comparison, or one copy of the leaves per forward and
 * one comparison per backward when pointers are out.  Writing an op node's
 * values (nb_values) is not a change of a leaf: backward reads them as
 * they are.
 *
 * nb_backward_seed: as nb_backward, with d(root) = seed (nb_size(root)
 * values in row-major order; NULL means all ones, allowed for a scalar
 * root only).  With accumulate set, the variables' gradients are added to
 * instead of overwritten (intermediate nodes are always recomputed): use it
 * to sum gradients over several backward calls, with nb_zero_grad() to
 * start over.
 *
 * nb_forward_backward: nb_forward then nb_backward_seed in one call, the
 * training step.  Nothing can write a leaf between the two, so it skips
 * the copy of the leaves that the pair keeps when pointers are out: the
 * fastest way to take a gradient at the current values (the model layer's
 * steps use it).
 *
 * Two executors run a plan and give the same bits: the reference
 * executor, two loops over the plan that call each op's kernels (src/run.c,
 * written to be read beside the lecture), and the replay, which writes the
 * plan once as a tape and runs it several times faster on scalar graphs
 * (src/replay.c).  A plan's first run, anomaly mode and nb_set_replay(g, 0)
 * take the reference executor; later runs replay. */
NB_API nb_status nb_forward(nb_graph *g, nb_node *root);
NB_API nb_status nb_backward(nb_graph *g, nb_node *root);
NB_API nb_status nb_backward_seed(nb_graph *g, nb_node *root, const double *seed,
                                  int accumulate);
NB_API nb_status nb_forward_backward(nb_graph *g, nb_node *root, const double *seed,
                                     int accumulate);
/* Anomaly mode, off by default: every op's output is checked as it is
 * computed, by constructors, nb_forward and nb_backward, and the first op
 * that makes inf or NaN from finite inputs stops the run with
 * NB_ERR_NONFINITE; nb_errmsg names the op, its node index (nb_index),
 * its input shapes, the value and the element ("log (node 3): NaN at
 * element 0 from finite input scalar").  In backward, the first op whose
 * gradient into an input turns non-finite from finite values and a finite
 * upstream gradient ("backward of pow (node 5): gradient inf ...").  A
 * constructor that trips it returns NULL, a construction error.  Costs one
 * pass over every value and gradient. */
NB_API void nb_set_anomaly(nb_graph *g, int on);
/* Replay on (the default) or off: off, every run takes the reference
 * executor, for stepping through it or to compare the two. */
NB_API void nb_set_replay(nb_graph *g, int on);

/* Set every gradient the graph holds to zero. */
NB_API void nb_zero_grad(nb_graph *g);

/* ---- Reading and writing nodes ------------------------------------------ */

NB_API int nb_rank(const nb_node *n);
NB_API int nb_dim(const nb_node *n, int axis); /* 0 if axis out of range */
NB_API size_t nb_size(const nb_node *n);       /* element count */
NB_API const char *nb_name(const nb_node *n);  /* NULL if unnamed */
/* Op name ("add", "sigmoid", ...; "variable", "param", "constant" for
 * leaves), inputs, and creation index (see nb_graph_node). */
NB_API const char *nb_op_name(const nb_node *n);
NB_API int nb_arity(const nb_node *n);
NB_API nb_node *nb_input(const nb_node *n, int i); /* NULL if out of range */
NB_API size_t nb_index(const nb_node *n);
NB_API int nb_is_leaf(const nb_node *n);
NB_API int nb_wants_grad(const nb_node *n); /* variable, or depends on one */

/* Element i (row-major) of the value or the gradient, as a double.  A node
 * without a gradient (constant, or not reached by the last backward) reads
 * 0.  Out of range reads NaN. */
NB_API double nb_value_at(const nb_node *n, size_t i);
NB_API double nb_grad_at(const nb_node *n, size_t i);
NB_API double nb_value_scalar(const nb_node *n); /* element 0 */
NB_API double nb_grad_scalar(const nb_node *n);
/* Set a leaf's element i; NB_ERR_ARG for an op node or i out of range.
 * The next nb_backward sees it (it runs forward first); read the values of
 * op nodes after nb_forward or nb_backward. */
NB_API nb_status nb_set_at(nb_node *n, size_t i, double v);
NB_API nb_status nb_set_scalar(nb_node *n, double v);

/* The raw buffers, nb_size(n) elements of the graph's dtype (float or
 * double); borrowed, valid until nb_graph_free for a tensor (rank >= 1).
 * A scalar's (rank 0) live in the graph's scalar store, which moves as the
 * graph grows: valid until the next node is made or the next backward from
 * a new root (read scalars with nb_value_at instead).  Writes through the
 * pointer of a leaf are seen by the next nb_backward (which then runs
 * forward first): from then on the graph keeps a copy of its leaves at each
 * forward to compare with.  Writing the values of an op node is allowed but
 * is overwritten by the next nb_forward.
 * nb_grads is NULL while the node has no gradient. */
NB_API void *nb_values(nb_node *n);
NB_API void *nb_grads(nb_node *n);
/* Copy nb_size(n) elements in or out; NB_ERR_DTYPE if dtype is not the
 * graph's.  nb_write refuses op nodes (NB_ERR_ARG). */
NB_API nb_status nb_write(nb_node *n, const void *src, nb_dtype dtype);
NB_API nb_status nb_read(const nb_node *n, void *dst, nb_dtype dtype);
NB_API nb_status nb_read_grad(const nb_node *n, void *dst, nb_dtype dtype);

/* The local gradient of a scalar op node with respect to its input i,
 * d node / d input_i at the current values: what the lecture writes beside
 * each gate.  For the input slot alone: for x*x, d/d(input 1) = x, as the
 * mul gate swaps (the copy gate then adds the two, so x's gradient gets
 * 2x).  NB_ERR_SHAPE unless the node and that input are scalars;
 * NB_ERR_ARG for a leaf or i out of range. */
NB_API nb_status nb_local_grad(nb_graph *g, nb_node *n, int i, double *out);

/* ---- Gradient check ------------------------------------------------------
 * Compares the backprop gradient of a scalar root with central finite
 * differences (f(x+h) - f(x-h)) / 2h for every element of each given leaf,
 * on the built graph (nothing is rebuilt; leaf values are restored and the
 * graph is left forwarded at them, its gradients as backward leaves them).
 * Each f(x +- h) is a real forward evaluation, but incremental: only the
 * elements that read the changed element are recomputed (a changed W[p, q]
 * of x W recomputes column q), which makes checking every parameter of a
 * network cost little more than a forward pass per layer-column.  On a
 * graph of scalars, f(x + h) and f(x - h) come from one pass of the
 * replay, each with the bits its own forward pass would give.  In anomaly
 * mode each is a full forward pass.
 * An element passes if |a - n| <= atol or |a - n| / max(|a|, |n|, 1e-300)
 * <= rtol. */
typedef struct nb_gradcheck_opts {
    double eps;  /* h; default 1e-6 (f64), 1e-2 (f32) */
    double atol; /* default 1e-7 (f64), 1e-3 (f32) */
    double rtol; /* default 1e-6 (f64), 2e-2 (f32) */
} nb_gradcheck_opts;

typedef struct nb_gradcheck_result {
    const nb_node *leaf;
    size_t n;           /* elements checked */
    double max_abs_err; /* max |a - n| */
    double max_rel_err; /* max |a - n| / max(|a|, |n|, tiny) */
    size_t worst;       /* element with the largest relative error */
    double analytic;    /* the two gradients at that element */
    double numeric;
    int pass; /* every element within tolerance */
} nb_gradcheck_result;

/* opts NULL: the defaults for the graph's dtype; a zero field also takes
 * its default.  results: one per leaf.  Returns NB_OK when it ran (see
 * each result's pass), or an error (bad arguments, non-scalar root,
 * non-finite values). */
NB_API nb_status nb_gradcheck(nb_graph *g, nb_node *root, nb_node *const *leaves,
                              size_t n_leaves, const nb_gradcheck_opts *opts,
                              nb_gradcheck_result *results);

/* ---- Gradients as nodes, and second order --------------------------------
 * nb_grad_graph: out[i] = d(root)/d(wrt[i]) as NEW NODES of g, each of
 * wrt[i]'s shape, built from ordinary ops by each op's backward written as
 * ops (src/derivatives.c).  Their values are computed as they are built;
 * nb_forward(g, out[i]) recomputes them after leaves change, and they can
 * be fed to other ops and differentiated again, to any order (PyTorch's
 * create_graph=True).  root must be a scalar when seed is NULL (seed 1);
 * with a seed node of root's shape, out[i] is the vector-Jacobian product
 * sum_j seed_j d(root_j)/d(wrt[i]).  wrt may be any node that wants a
 * gradient (a variable, or an op that depends on one; NB_ERR_ARG for a
 * constant); one that root does not depend on gets a zero constant.  The
 * numbers agree with nb_backward's to the last bits (every op is tested).
 * At max/min ties, relu(0), abs(0), leaky_relu(0), clamp's bounds and
 * ties along an axis (max_axis, min_axis), the gradient nodes are masks
 * that follow the same conventions, and their own derivative is 0.  A
 * failing constructor inside leaves a construction error on g, as any op
 * would. */
NB_API nb_status nb_grad_graph(nb_graph *g, nb_node *root, nb_node *seed, size_t n,
                               nb_node *const *wrt, nb_node **out);

/* Second derivatives of a scalar root with respect to leaves wrt[0..n)
 * (variables or parameters; N of their elements in all, in that order),
 * by reverse over reverse: nb_hessian_new builds the gradient nodes g_i
 * (nb_grad_graph), constants v_i of wrt[i]'s shape and the scalar
 * s = sum_i <g_i, v_i>, whose gradient with respect to wrt is H v.  Built
 * once, in g's arena: it lives until nb_graph_free, and each product
 * after that replays the same nodes (one forward and one backward of s).
 * NULL on error (nb_errmsg(g) says why).
 *
 * nb_hessian_vec: hv = H v for v of N elements; overwrites the
 * gradients of wrt (and of s's other ancestors), and leaves v in the v_i.
 * nb_hessian_dense: H, N x N row-major, as N products with unit vectors:
 * for small N.  A second-order gradient check is nb_gradcheck on s: set
 * the v_i (nb_hessian_vector, nb_write) and check s against wrt; the
 * finite differences of s = <g, v> are then checked against H v.
 * nb_hessian_grad(h, i) is g_i; nb_hessian_root(h) is s. */
typedef struct nb_hessian nb_hessian;
NB_API nb_hessian *nb_hessian_new(nb_graph *g, nb_node *root, size_t n, nb_node *const *wrt);
NB_API size_t nb_hessian_size(const nb_hessian *h); /* N */
NB_API nb_status nb_hessian_vec(nb_hessian *h, const double *v, double *hv);
NB_API nb_status nb_hessian_dense(nb_hessian *h, double *H);
NB_API nb_node *nb_hessian_grad(const nb_hessian *h, size_t i);
NB_API nb_node *nb_hessian_vector(const nb_hessian *h, size_t i);
NB_API nb_node *nb_hessian_root(const nb_hessian *h);

/* ---- Looking at a graph ---------------------------------------------------
 * The gates behind a root are its ancestors (root included) in creation
 * order, which is forward order, numbered 1, 2, ...; nodes off every path
 * to root are left out.  Any graph, of scalars or tensors, built in C or by
 * a parser: as micrograd's draw_dot(any_value).  Call them after
 * nb_backward (or nb_backward_seed) from root to see gradients; before it,
 * and for nodes that get none (constants), the gradient shows as "-".
 *
 * nb_ancestors: how many gates root has; the first cap of them (in
 * creation order) go to out, which may be NULL to count.  0 on error (a
 * NULL or foreign root; see nb_errmsg).  Allocates nothing.
 *
 * nb_print_table: the lecture's table, one row per gate: gate number, op
 * ("add", "variable", ...), label, inputs (a named leaf by name, a scalar
 * constant by value, a gate as #n), forward value, local gradient of each
 * input, upstream gradient d(root)/d(gate), and what the gate passes to
 * each input (upstream x local).  A tensor shows its shape and first
 * elements ("2x3 [1, 2, 3, 4, ...]", the gradient as "[...]"); local
 * gradients and what is passed are shown for scalar gates only.
 *
 * nb_print_dot: a Graphviz digraph (render it with `dot -Tpng`) with one
 * node per gate, forward value in green over gradient in red; scalar edges
 * carry the input's value and the gradient passed along them, and a scalar
 * root has an edge out with its value and gradient.
 *
 * Both write to out and return NB_OK, NB_ERR_ARG (NULL out, NULL root),
 * NB_ERR_GRAPH (root of another graph), NB_ERR_NOMEM (the gate list) or
 * NB_ERR_IO (out reports an error after writing), with nb_errmsg saying
 * which; for a string, write to open_memstream(3) or tmpfile(3).  The
 * graph is not changed.  opts may be NULL. */
typedef struct nb_draw_opts {
    /* Text shown beside node i (by nb_index), instead of its name, for i <
     * n_labels and labels[i] not NULL: a subexpression, say.  Borrowed. */
    const char *const *labels;
    size_t n_labels;
    const char *title; /* dot: a heading with a colour key; NULL for none */
} nb_draw_opts;
NB_API size_t nb_ancestors(nb_graph *g, nb_node *root, nb_node **out, size_t cap);
NB_API nb_status nb_print_table(FILE *out, nb_graph *g, nb_node *root,
                                const nb_draw_opts *opts);
NB_API nb_status nb_print_dot(FILE *out, nb_graph *g, nb_node *root, const nb_draw_opts *opts);

/* ---- Library -------------------------------------------------------------
 * Matrix products go through OpenBLAS when the library was built with it
 * (meson option openblas, on where found), else through a portable C
 * kernel.  nb_set_threads(n > 0) sets OpenBLAS's thread count for the
 * process; it returns the count in effect (always 1 without OpenBLAS).
 * nb_backend() describes the backend, e.g. "OpenBLAS (...; core Haswell;
 * 1 thread)"; a static string, overwritten by the next call. */
NB_API int nb_set_threads(int n);
NB_API const char *nb_backend(void);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_H */
