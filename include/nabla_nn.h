/* nabla_nn.h - models on top of the nabla engine: data loading (CSV, gzipped
 * IDX), standardisation, seeded splits and mini-batches, linear layers and
 * MLPs as graphs, losses, SGD and Adam, and a training loop.  Built on
 * nabla.h alone.
 *
 * A model owns one graph holding its parameters ("W1", "b1", "W2", ...).
 * For each batch size it builds in that graph, once, a batch graph:
 * constant input leaves, the forward expression and the loss.  A training
 * step gathers a batch into the inputs, replays the batch graph
 * (nb_forward + nb_backward) and updates the parameters: after the first
 * step nothing is allocated.
 *
 *     nb_data all = {0}, train = {0}, test = {0};
 *     nb_err err = {0};
 *     if (nb_csv_load("data/iris.csv", NULL, &all, &err) != NB_OK ||
 *         nb_data_split(&all, 0.2, 42, &train, &test, &err) != NB_OK)
 *         fprintf(stderr, "%s\n", err.msg);
 *     nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .widths = (int[]){ 4, 3 },
 *                            .n_widths = 2, .loss = NB_LOSS_XENT }, &err);
 *     nb_train_result r;
 *     nb_train(m, &train, &test, &(nb_train_opts){ .epochs = 200,
 *              .lr = 0.1 }, &r, &err);
 *     nb_mlp_free(m);
 *
 * Errors.  Functions that can fail return an nb_status (NB_OK is 0) and, if
 * err is not NULL, fill it with the code and a message that names the file,
 * line and column, or the model and shapes involved.  Nothing here prints
 * (except the training progress a caller asks for), exits or aborts.
 * Output structs are left zeroed on failure, so freeing them is always safe.
 *
 * Reproducibility.  Every random choice (initialisation, splits, shuffles)
 * comes from nb_rng, a xoshiro256** generator seeded with splitmix64: the
 * same seed gives the same numbers on every machine.
 *
 * Threads: one trainer per process.  A model, like a graph, is used by one
 * thread at a time; different models are independent, except for one thing
 * they share: OpenBLAS's thread count, which is process-wide
 * (nb_set_threads).  Training sets it for its steps and puts it back when
 * it returns: nb_train for its whole run, nb_mlp_train_step on workers for
 * the step.  So that two trainers cannot undo each other's count, one
 * thread of the process at a time may train this way; nb_train or a step
 * on workers called from another thread meanwhile fails with NB_ERR_ARG
 * ("another thread of this process is training") and changes nothing.
 * Everything else (nb_mlp_step, nb_mlp_train_step without workers,
 * nb_mlp_evaluate, nb_mlp_predict) leaves the count alone and may run in
 * other threads at any time, on the count in effect.
 */
#ifndef NABLA_NN_H
#define NABLA_NN_H

#include <stdint.h>
#include <stdio.h>

#include "nabla.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors ------------------------------------------------------------- */

/* Errors are nb_status codes (nabla.h), NB_ERR_IO and NB_ERR_FORMAT among
 * them, with a message in an nb_err. */
typedef struct nb_err {
    nb_status code;
    char msg[512];
} nb_err;

/* Record code and a printf-style message in err (if err is not NULL);
 * returns code.  For code built on this layer, like the command line. */
NB_API nb_status nb_err_set(nb_err *err, nb_status code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- Random numbers ------------------------------------------------------ */

typedef struct nb_rng {
    uint64_t s[4];
} nb_rng;

/* Seed the xoshiro256** state from seed through splitmix64. */
NB_API void nb_rng_seed(nb_rng *r, uint64_t seed);
NB_API uint64_t nb_rng_next(nb_rng *r);
NB_API double nb_rng_uniform(nb_rng *r);         /* [0, 1), 53 bits */
NB_API double nb_rng_normal(nb_rng *r);          /* N(0, 1), Box-Muller */
NB_API size_t nb_rng_below(nb_rng *r, size_t n); /* [0, n), unbiased; 0 if n is 0 */
/* Fisher-Yates shuffle of idx[0..n-1]. */
NB_API void nb_rng_shuffle(nb_rng *r, size_t *idx, size_t n);

/* ---- Data sets ------------------------------------------------------------
 * n rows of d features and one target each.  The target is a class index
 * 0..n_classes-1 (classification) or a value (regression, n_classes 0).
 * The features are held in one or more of three forms, each n x d
 * row-major: x (doubles), x32 (floats) and x8 (bytes k for the value
 * k / 255, as pixels are).  nb_csv_load and nb_data_alloc give x alone;
 * nb_fashion_mnist_load gives x8 alone, with x NULL (to read such a set
 * as doubles, use nb_data_rows or nb_data_convert(data, NB_F64)).  Every
 * function here reads whichever form is there; where there are several
 * they hold the same values.  x, y, x32 and x8 are malloc'd and owned by
 * the struct: nb_data_free() releases them and zeroes it (a zeroed struct
 * is empty and safe to free). */
typedef struct nb_data {
    size_t n;      /* rows */
    int d;         /* features per row */
    double *x;     /* n x d features, or NULL: see above */
    double *y;     /* n targets */
    int n_classes; /* 0: regression or unknown */
    float *x32;    /* NULL, or the features as floats: see nb_data_f32 */
    uint8_t *x8;   /* NULL, or the features as bytes, value = x8 / 255 */
    /* What nb_csv_load knows of the file (NULL elsewhere), kept by
     * nb_data_split, freed by nb_data_free: */
    char **names;   /* d feature names: the header's, or "1", "2", ... (column numbers) */
    char *label;    /* the label column's name; NULL when there is none (y all 0) */
    char **classes; /* n_classes class names (string labels, or a scikit-learn
                     * header's), or NULL: the labels are the numbers 0, 1, ... */
    size_t *line;   /* n file lines, one per row, for messages */
} nb_data;

NB_API void nb_data_free(nb_data *data);
/* Keep the features in one form only, the one a graph of dtype gathers
 * batches from, converting once and freeing the others: NB_F64 keeps x
 * (made from x8 or x32 if need be); NB_F32 keeps x8 when every feature is
 * a whole number of 255ths, k / 255 with k in 0..255 (a quarter of x32's
 * memory, and nb_mlp_gather makes the same floats from it, (float)(k /
 * 255.0) to the bit), else (or if the bytes find no memory) x32, the
 * features rounded to float.  After NB_F32, x is
 * NULL: read rows with nb_data_rows.  Make it after the last change to
 * the features (nb_scaler_apply keeps the form).  NB_ERR_NOMEM leaves the
 * data as it was; NB_ERR_ARG for another dtype or no features.  Large
 * feature arrays (16 MB and more) are asked for in 2 MB pages where Linux
 * gives them, since batches gather rows from all over the set. */
NB_API nb_status nb_data_convert(nb_data *data, nb_dtype dtype, nb_err *err);
/* Rows first..first+rows-1 as doubles into out (rows x d), from whichever
 * form holds them.  NB_ERR_ARG for rows out of range or no features. */
NB_API nb_status nb_data_rows(const nb_data *data, size_t first, size_t rows, double *out,
                              nb_err *err);
/* Keep float forms beside x: x32 (made again if there is one) and, when
 * every feature is k / 255 as for nb_data_convert, x8; nb_mlp_gather then
 * gathers f32 batches from x8, else x32.  nb_data_convert(data, NB_F32)
 * does the same with one copy instead of two or three; this one is for
 * callers that still read x.  Without x (x32 or x8 is there already) it
 * does nothing.  NB_ERR_NOMEM, leaving x32 and x8 NULL.  A struct filled
 * in by hand must have x8 NULL (or bytes that match x). */
NB_API nb_status nb_data_f32(nb_data *data, nb_err *err);
/* An empty data set of n rows and d features (zeros); NB_ERR_NOMEM. */
NB_API nb_status nb_data_alloc(nb_data *data, size_t n, int d, nb_err *err);
/* n_classes, or if that is 0, 1 + the largest target after checking that
 * every target is a whole number >= 0; -1 if one is not (regression). */
NB_API int nb_data_classes(const nb_data *data);

typedef enum nb_csv_header {
    NB_CSV_HEADER_AUTO = 0, /* the first line is a header if a field is not a number */
    NB_CSV_HEADER_YES,
    NB_CSV_HEADER_NO
} nb_csv_header;

/* What nb_csv_load reads without being told: NB_CSV_MAX_BYTES bytes of
 * text (after decompression), 1 GiB. */
#define NB_CSV_MAX_BYTES ((size_t)1 << 30)

typedef struct nb_csv_opts {
    nb_csv_header header;
    /* The label (target) column: 0 (default) the last; k > 0 the k-th
     * (1-based); k < 0 the |k|-th from the end.  target_name, if set, picks
     * the column by its header name instead (in a file without a header the
     * columns are named "1", "2", ...). */
    int target;
    const char *target_name;
    int no_target; /* every column is a feature; y is all zeros */
    /* The separator: 0 (default) ',' if the first line has one outside
     * quotes, else ';' if it has one, else runs of blanks; ' ' runs of
     * blanks and tabs; any other byte itself ('\t', ';', '|') but a quote
     * or a line end (NB_ERR_ARG). */
    char sep;
    /* Columns to leave out (an ID, a date): header names or 1-based
     * numbers, separated by commas ("id,3").  Left out columns are not
     * parsed, so they may hold anything.  NULL: none. */
    const char *drop;
    /* Applying a trained model: the features are exactly these n_features
     * header names, in this order (other columns but the label are left
     * out), and with label_optional a file without the label column loads
     * with label NULL instead of failing. */
    const char *const *features;
    int n_features;
    int label_optional;
    /* The classes the labels must be (a trained model's): a label is one
     * of these names or a whole number 0 .. n_classes - 1; classes NULL:
     * numbers only.  Anything else is an error naming its line.  n_classes
     * 0: any labels. */
    const char *const *classes;
    int n_classes;
    /* Stop with NB_ERR_FORMAT after this many bytes of text (0:
     * NB_CSV_MAX_BYTES); a gzip bomb is refused as it inflates. */
    size_t max_bytes;
} nb_csv_opts;

/* Load a CSV file (plain or gzip-compressed, chosen by content) into out,
 * read as a stream: memory follows the rows kept, not the bytes read.
 * Fields are separated as opts->sep says; a field may be quoted ("a, b",
 * with "" for a quote) but not span lines; blanks around fields and blank
 * lines are skipped.  The first line is a header (with AUTO) when a field
 * is not a number and either every field is not one, or the next line has
 * a number in a column where it has none.  A header holds column names
 * ("TV,radio,newspaper,sales": exactly one per column) or is
 * scikit-learn's "n,d,class names..." ("150,4,setosa,versicolor,
 * virginica"), which names the classes and is checked against the rows
 * read.  Features must be numbers: an empty field is a missing value, an
 * error naming file:line:column, never a 0.  Labels are numbers, or, when
 * the first row's is not one, class names: classes[] gets them sorted
 * (byte order) and y their indices.  opts NULL: the defaults.
 * Errors: NB_ERR_IO (cannot open/read), NB_ERR_FORMAT ("iris.csv:7:12: field
 * 3 (petal length): expected a number, found 'x'", a row with the wrong number
 * of fields, a NUL byte, more than max_bytes, no data rows, a column
 * named in drop, target_name or features that is not in the file),
 * NB_ERR_ARG (target out of range), NB_ERR_NOMEM.  out is zeroed first and on failure. */
NB_API nb_status nb_csv_load(const char *path, const nb_csv_opts *opts, nb_data *out,
                             nb_err *err);

/* Standardisation: x' = (x - mean) / std per feature, population std (over
 * n); a constant feature (std 0) is only centred.  Fit on the training set,
 * apply to every set.  nb_scaler_free() releases mean and std. */
typedef struct nb_scaler {
    int d;
    double *mean;
    double *std;
} nb_scaler;

NB_API nb_status nb_scaler_fit(nb_scaler *s, const nb_data *data, nb_err *err);
/* Applies to the features in the forms data holds them: x, or after
 * nb_data_convert(data, NB_F32) x32 (worked in doubles, then rounded).
 * NB_ERR_SHAPE if data->d differs from the scaler's; NB_ERR_NOMEM, leaving
 * the standardised features in x alone. */
NB_API nb_status nb_scaler_apply(const nb_scaler *s, nb_data *data, nb_err *err);
NB_API void nb_scaler_free(nb_scaler *s);

/* Seeded train/test split: rows are shuffled with nb_rng seeded by seed,
 * the first round(n * test_fraction) go to test (in shuffled order), the
 * rest to train.  train and test are new copies (free both); n_classes is
 * kept.  NB_ERR_ARG unless 0 <= test_fraction < 1 and train gets a row. */
NB_API nb_status nb_data_split(const nb_data *all, double test_fraction, uint64_t seed,
                               nb_data *train, nb_data *test, nb_err *err);

/* Mini-batches over a data set: nb_batches_next() hands out row indices of
 * up to `batch` rows (the last batch of an epoch may be shorter) and 0 at
 * the end of the epoch; nb_batches_epoch() starts the next one, reshuffled
 * if shuffle was set.  The order array is malloc'd; nb_batches_free(). */
typedef struct nb_batches {
    size_t *order;
    size_t n, batch, pos;
    int shuffle;
    nb_rng rng;
} nb_batches;

NB_API nb_status nb_batches_init(nb_batches *b, size_t n, size_t batch, int shuffle,
                                 uint64_t seed, nb_err *err);
NB_API void nb_batches_epoch(nb_batches *b);
NB_API size_t nb_batches_next(nb_batches *b, const size_t **idx);
NB_API void nb_batches_free(nb_batches *b);

/* ---- IDX files (MNIST, Fashion-MNIST) ------------------------------------ */

/* An unsigned-byte IDX array: rank dims, size = their product bytes. */
typedef struct nb_idx {
    int rank;
    int dim[4];
    size_t size;
    unsigned char *data; /* malloc'd; nb_idx_free() */
} nb_idx;

/* Load a gzipped (or plain) IDX file of unsigned bytes (type 0x08, rank 1
 * to 4).  Errors: NB_ERR_IO (missing, unreadable), NB_ERR_NOMEM, NB_ERR_FORMAT (bad
 * magic, or truncated: fewer bytes than the header promises).  out is
 * zeroed first. */
NB_API nb_status nb_idx_load(const char *path, nb_idx *out, nb_err *err);
NB_API void nb_idx_free(nb_idx *idx);

#define NB_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Fashion-MNIST from dir (NULL: NB_FASHION_MNIST_DIR), the four files
 * train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-*: train
 * 60000 and test 10000 rows of 784 pixels / 255 in [0, 1], 10 classes.
 * Each part must be n x 28 x 28 images with n labels 0..9, else
 * NB_ERR_FORMAT naming the shapes found.  A missing or truncated file gives
 * an error naming it and the Debian package dataset-fashion-mnist.  The
 * pixels are kept as bytes in x8 (value x8 / 255) and x is NULL: a copy
 * as doubles would take eight times the memory (see nb_data above).  train
 * and test are zeroed first. */
NB_API nb_status nb_fashion_mnist_load(const char *dir, nb_data *train, nb_data *test,
                                       nb_err *err);

/* ---- Layers -------------------------------------------------------------- */

typedef enum nb_act { NB_ACT_NONE = 0, NB_ACT_SIGMOID, NB_ACT_TANH, NB_ACT_RELU } nb_act;

/* The activation's node (x itself for NB_ACT_NONE); NULL on error. */
NB_API nb_node *nb_activate(nb_graph *g, nb_node *x, nb_act act);
/* "none", "sigmoid", "tanh", "relu"; parse returns -1 for an unknown name. */
NB_API const char *nb_act_name(nb_act act);
NB_API int nb_act_parse(const char *name);

/* Weight initialisation of a linear layer of fan_in inputs and fan_out
 * outputs.  Biases always start at 0.
 *   AUTO   HE for ReLU, GLOROT otherwise
 *   NORMAL W ~ N(0, std^2), std from the model's init_std (default 0.01:
 *          the lecture's weight_init_std)
 *   HE     W ~ N(0, 2 / fan_in)
 *   GLOROT W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out))
 *   ZERO   W = 0 (linear models) */
typedef enum nb_init {
    NB_INIT_AUTO = 0,
    NB_INIT_NORMAL,
    NB_INIT_HE,
    NB_INIT_GLOROT,
    NB_INIT_ZERO
} nb_init;

/* Parameters of a linear layer y = x W + b in g: W (in x out) named wname,
 * b (out) named bname, W drawn from rng (row-major order) as init says.
 * Returns NB_OK or the graph's error (duplicate name, bad size). */
NB_API nb_status nb_linear_params(nb_graph *g, const char *wname, const char *bname, int in,
                                  int out, nb_init init, double std, nb_act act, nb_rng *rng,
                                  nb_node **W, nb_node **b);
/* x W + b for x (rows x in): (rows x out); NULL on error. */
NB_API nb_node *nb_linear(nb_graph *g, nb_node *x, nb_node *W, nb_node *b);

/* ---- Losses ---------------------------------------------------------------
 * Each a mean over the batch, computed by the engine's fused, stable ops.
 * out is the model's (rows x k) output; target is, per loss:
 *   MSE, L1  (rows x k) values                 mean((out - t)^2), mean|out - t|
 *   BCE      (rows x 1) 0/1 labels, k = 1      binary cross-entropy on logits
 *   XENT     (rows) class indices, k classes   softmax cross-entropy
 *   HINGE    (rows) class indices              multiclass SVM hinge */
typedef enum nb_loss {
    NB_LOSS_MSE = 0,
    NB_LOSS_L1,
    NB_LOSS_BCE,
    NB_LOSS_XENT,
    NB_LOSS_HINGE
} nb_loss;

NB_API nb_node *nb_loss_node(nb_graph *g, nb_loss loss, nb_node *out, nb_node *target);
NB_API const char *nb_loss_name(nb_loss loss); /* "mse", "l1", "bce", "xent", "hinge" */
NB_API int nb_loss_parse(const char *name);    /* -1 if unknown */
/* 1 for BCE, XENT and HINGE, whose targets are classes. */
NB_API int nb_loss_is_classifier(nb_loss loss);

/* ---- Optimisers: SGD and Adam ----------------------------------------------
 * One optimiser object, nb_optimizer, for either method.  For each parameter p of
 * the graph (nb_param_at order), with gradient g, both first add the L2
 * weight decay to the gradient, as PyTorch does:
 *     g' = g + weight_decay * p
 * SGD (method NB_OPTIM_SGD, the default), as PyTorch's torch.optim.SGD:
 *     v  = momentum * v + g'          (v starts at 0; skipped if momentum 0)
 *     p  = p - lr * v                 (or p - lr * g' without momentum)
 * Adam (NB_OPTIM_ADAM), as PyTorch's torch.optim.Adam without AMSGrad, t
 * counting this parameter's steps from 1, m and v starting at 0:
 *     m  = beta1 * m + (1 - beta1) * g'
 *     v  = beta2 * v + (1 - beta2) * g'^2
 *     p  = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 * computed, as PyTorch does, as p - (lr / (1 - beta1^t)) * m /
 * (sqrt(v) / sqrt(1 - beta2^t) + eps).  Momentum belongs to SGD: with Adam
 * it must be 0 (beta1 plays its part).  Weight decay applies to every
 * parameter. */
typedef enum nb_optim { NB_OPTIM_SGD = 0, NB_OPTIM_ADAM } nb_optim;

/* "sgd", "adam"; parse returns -1 for an unknown name. */
NB_API const char *nb_optim_name(nb_optim method);
NB_API int nb_optim_parse(const char *name);

typedef struct nb_optimizer_opts {
    double lr;
    double momentum; /* SGD only: 0 <= momentum < 1 */
    double weight_decay;
    nb_optim method; /* NB_OPTIM_SGD (0) or NB_OPTIM_ADAM */
    /* Adam only: 0 <= beta < 1, eps > 0; 0 means PyTorch's defaults 0.9,
     * 0.999 and 1e-8 (so beta1 = 0 itself cannot be asked for). */
    double beta1, beta2, eps;
} nb_optimizer_opts;

typedef struct nb_optimizer nb_optimizer;

/* An optimiser for the parameters g has now (add them first).  Its state
 * (SGD's velocities, Adam's m and v, one buffer per parameter, and Adam's
 * step counts) is allocated here, once.  NULL on error (err says why: an
 * option out of range, NB_ERR_ARG, names it). */
NB_API nb_optimizer *nb_optimizer_new(nb_graph *g, const nb_optimizer_opts *opts, nb_err *err);
NB_API void nb_optimizer_free(nb_optimizer *o);
/* One update from the gradients the parameters hold, which nb_backward
 * left there; parameters without a gradient are left alone (and Adam does
 * not count a step for them).  A backward overwrites the gradients of the
 * parameters it reaches only: one it does not reach keeps an earlier
 * backward's gradient, and a step applies that again.  When steps take
 * their gradients from different roots, clear them first
 * (nb_optimizer_zero_grad).  Allocates nothing. */
NB_API nb_status nb_optimizer_step(nb_optimizer *o);
NB_API void nb_optimizer_zero_grad(nb_optimizer *o); /* nb_zero_grad of its graph */
NB_API void nb_optimizer_set_lr(nb_optimizer *o, double lr);

/* ---- MLP models ------------------------------------------------------------
 * widths[0] inputs, widths[1..n-2] hidden layers with activation act,
 * widths[n-1] outputs with no activation (the loss applies the softmax or
 * sigmoid).  Two widths give linear, logistic or softmax regression.
 * Parameters "W1", "b1", ... "W<n-1>", "b<n-1>", drawn in that order from
 * one nb_rng seeded with seed.  l1 and l2 add l1 * sum|W| + l2 * sum W^2
 * over the weights (not biases) to the training loss. */
typedef struct nb_mlp_opts {
    nb_dtype dtype; /* NB_F64 (default) or NB_F32 */
    const int *widths;
    int n_widths; /* >= 2 */
    nb_act act;
    nb_loss loss;
    nb_init init;
    double init_std; /* NB_INIT_NORMAL; 0 means 0.01 */
    uint64_t seed;
    double l1, l2;
} nb_mlp_opts;

typedef struct nb_mlp nb_mlp;

/* A batch graph: the model's expression for batches of one size, nodes in
 * the model's graph built once and replayed.  x and t are constant leaves
 * to overwrite (x rows x in; t as nb_loss says), out the (rows x outputs)
 * scores or predictions, data_loss the loss alone, loss data_loss plus the
 * penalties.  Owned by the model. */
typedef struct nb_batch_graph {
    int rows;
    nb_node *x, *t, *out, *data_loss, *loss;
} nb_batch_graph;

/* NULL on error (err says why).  nb_mlp_free releases the model, its graph
 * and batch graphs; NULL is a no-op. */
NB_API nb_mlp *nb_mlp_new(const nb_mlp_opts *opts, nb_err *err);
NB_API void nb_mlp_free(nb_mlp *m);
NB_API nb_graph *nb_mlp_graph(const nb_mlp *m);            /* borrowed */
NB_API const nb_mlp_opts *nb_mlp_options(const nb_mlp *m); /* widths copied */
/* A parameter by name ("W1", "b2"): nb_lookup on the model's graph. */
NB_API nb_node *nb_mlp_param(const nb_mlp *m, const char *name);
/* The batch graph for batches of rows rows, built on the first call (up to
 * 16 sizes per model).  NULL on error. */
NB_API const nb_batch_graph *nb_mlp_batch_graph(nb_mlp *m, int rows, nb_err *err);
/* Gather rows idx[0..bg->rows-1] of data into bg->x and bg->t, converting
 * to the graph's dtype from whichever form holds them (an f32 graph
 * prefers x8, then x32, then x; an f64 graph x, then x8, then x32: the
 * same values either way).
 * NB_ERR_SHAPE if data->d is not the model's input width;
 * NB_ERR_ARG for a class label out of range or no features. */
NB_API nb_status nb_mlp_gather(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                               const size_t *idx, nb_err *err);
/* forward + backward of bg->loss, then o's update; *loss gets the loss
 * before the update (may be NULL). */
NB_API nb_status nb_mlp_step(nb_mlp *m, const nb_batch_graph *bg, nb_optimizer *o, double *loss,
                             nb_err *err);

/* nb_mlp_gather then nb_mlp_step: one training step on rows
 * idx[0..bg->rows-1] of data.  With workers (below), on them or alone:
 * on them, bg's own leaves are left as they were, and *loss is still the
 * whole batch's mean loss. */
NB_API nb_status nb_mlp_train_step(nb_mlp *m, const nb_batch_graph *bg, const nb_data *data,
                                   const size_t *idx, nb_optimizer *o, double *loss,
                                   nb_err *err);

/* Data-parallel training on n threads (the caller and n - 1 the model
 * starts; 1 to NB_MAX_WORKERS).  nb_mlp_train_step then splits each batch
 * by rows into n parts: thread k gathers its part and runs forward and
 * backward on its own replica of the graph, whose parameters are views of
 * the model's (nb_view); then the threads sum the parts' gradients, each
 * weighted by its share of the rows, into the model's parameters, and the
 * optimiser steps once.  The gradient is the whole batch's, up to
 * rounding: not bit for bit the same as n = 1's.  Each thread's products
 * run on one OpenBLAS thread (the step sets OpenBLAS to 1 thread while it
 * runs and then restores the count, so it is refused while another thread
 * trains: see Threads at the top), so a step's small products, which gain
 * little from OpenBLAS's own threads, gain from n cores.
 * Workers lose where a step is small or another process holds a core (a
 * step waits for its slowest part), so the model times its steps and runs
 * them alone, as with 1 worker (on the caller, bg and the whole batch),
 * while that has lately been faster, trying the other way now and then.
 * A step alone rounds as n = 1 does and a step on workers as n workers
 * do, so with n > 1 the last bits of a training run depend on the
 * machine's load; 1 worker gives the same bits on every run.  Idle workers
 * sleep after tens of microseconds.  1 (the default) stops the threads.
 * NB_ERR_ARG for n out of range, NB_ERR_NOMEM if a replica or thread
 * cannot be made (the model then has none).  nb_mlp_workers returns the
 * count. */
#define NB_MAX_WORKERS 8
/* Across processes and hosts: nabla_mpi.h (built with MPI) gives a model a
 * communicator (nb_mlp_set_comm); nb_mlp_train_step then takes this rank's
 * shard of the global batch idx (each rank's threads as above) and sums the
 * ranks' gradients before the update, and nb_mlp_evaluate and nb_train
 * become collective.  It is a header of its own so that programs without
 * MPI never include mpi.h. */
NB_API nb_status nb_mlp_set_workers(nb_mlp *m, int n, nb_err *err);
NB_API int nb_mlp_workers(const nb_mlp *m);

/* Metrics over a whole data set, in batches of at most 1000 rows. */
typedef struct nb_eval {
    double loss;     /* mean data loss (no penalties) */
    double accuracy; /* classifiers; NaN for regression */
    double r2;       /* regression with one output: 1 - SSE/SST; NaN otherwise */
} nb_eval;

NB_API nb_status nb_mlp_evaluate(nb_mlp *m, const nb_data *data, nb_eval *out, nb_err *err);
/* The outputs for rows x (rows x in, row-major doubles) into out (rows x
 * outputs): scores, logits or predictions.  Builds a batch graph for rows. */
NB_API nb_status nb_mlp_predict(nb_mlp *m, const double *x, int rows, double *out, nb_err *err);

/* ---- Training -------------------------------------------------------------- */

/* One epoch's figures, for nb_train_opts.on_epoch: the test ones are NaN
 * on epochs not evaluated, test_accuracy for classifiers, test_r2 for
 * regression. */
typedef struct nb_epoch {
    int epoch; /* 1-based */
    double train_loss, test_loss, test_accuracy, test_r2;
} nb_epoch;

typedef struct nb_train_opts {
    int epochs; /* >= 1 */
    int batch;  /* rows per step; 0: the whole training set */
    double lr;
    double momentum;
    double weight_decay;
    uint64_t seed;  /* shuffling */
    int no_shuffle; /* keep the data order (full-batch GD) */
    int eval_every; /* evaluate the test set every k epochs (0: 1) */
    FILE *progress; /* progress lines; NULL: silent */
    /* If set, a CSV file "epoch,train_loss,test_loss,test_accuracy", one
     * row per epoch; the test columns are empty on epochs not evaluated
     * and test_accuracy for regression. */
    const char *loss_csv;
    /* Threads while training: n > 0, or 0 for the count nb_set_threads
     * set (OpenBLAS's default: the cores).  A step of at least n x 2^22
     * multiply-adds (rows x in x out, summed over the layers) whose batch
     * gives each thread 16 rows or more runs on min(n, NB_MAX_WORKERS)
     * data-parallel workers (nb_mlp_set_workers), each with one OpenBLAS
     * thread; else OpenBLAS gets n threads if a product has 2^24
     * multiply-adds or more, and 1 if not.  The OpenBLAS count and the
     * model's workers are restored on return.  NB_ERR_ARG while another
     * thread trains (one trainer per process: Threads at the top). */
    int threads;
    /* The optimiser: SGD (0, with momentum above) or NB_OPTIM_ADAM with
     * these (0: 0.9, 0.999, 1e-8), as nb_optimizer_opts says. */
    nb_optim method;
    double beta1, beta2, eps;
    /* If set, called after every epoch with on_epoch_arg (to draw the
     * curves, say). */
    void (*on_epoch)(void *arg, const nb_epoch *e);
    void *on_epoch_arg;
} nb_train_opts;

typedef struct nb_train_result {
    int epochs;
    double train_loss;    /* mean training loss of the last epoch */
    double test_loss;     /* NaN without a test set */
    double test_accuracy; /* classifiers; NaN otherwise */
    double test_r2;       /* regression; NaN otherwise */
    double seconds;       /* training loop only */
    double samples_per_second;
} nb_train_result;

/* Train m on train with SGD or Adam (opts->method; the optimiser's state
 * starts from zero on every call), evaluating on test (may be NULL) as it
 * goes, printing one line per evaluated epoch to opts->progress (a live
 * bar between them when it is a terminal).  res (may be NULL) gets the
 * final figures.  Errors: bad options (NB_ERR_ARG, naming the option),
 * data that does not fit the model (NB_ERR_SHAPE), a non-finite loss
 * (NB_ERR_NONFINITE: lower the learning rate), the loss CSV not writable
 * (NB_ERR_IO), another thread of the process training (NB_ERR_ARG: one
 * trainer per process, see Threads at the top). */
NB_API nb_status nb_train(nb_mlp *m, const nb_data *train, const nb_data *test,
                          const nb_train_opts *opts, nb_train_result *res, nb_err *err);

/* ---- Checkpoints: safetensors files ---------------------------------------
 * The safetensors format (also read and written by Python's safetensors
 * package, PyTorch and numpy): 8 bytes little-endian N, N bytes of JSON
 *     {"W1": {"dtype": "F32", "shape": [64, 50], "data_offsets": [0, 12800]},
 *      ..., "__metadata__": {"widths": "64,50,10", ...}}
 * (padded with spaces), then the tensors' raw little-endian values, row-
 * major; offsets count from the start of that data.  nabla reads and
 * writes F32 and F64.  A weight W of a layer is (inputs x outputs): y = x W
 * + b, the transpose of PyTorch's nn.Linear weight. */

#define NB_ST_MAX_RANK 8

/* One tensor of a file: values in host order, converted from the file. */
typedef struct nb_tensor {
    char *name;
    nb_dtype dtype; /* NB_F32 ("F32") or NB_F64 ("F64") */
    int rank;
    size_t dim[NB_ST_MAX_RANK];
    size_t size; /* elements: product of dim[] */
    void *data;  /* size floats or doubles */
} nb_tensor;

/* A parsed file; everything malloc'd, released by nb_safetensors_free()
 * (which zeroes the struct; a zeroed struct is empty and safe to free). */
typedef struct nb_safetensors {
    size_t n; /* tensors, in the header's order */
    nb_tensor *t;
    size_t n_meta; /* the __metadata__ strings */
    char **key, **value;
} nb_safetensors;

typedef struct nb_meta_kv {
    const char *key, *value;
} nb_meta_kv;

/* Parse and validate a whole file held in buf[0..len-1]; name (may be
 * NULL) prefixes messages.  Checked before anything is allocated from the
 * file's numbers: the header length against len (and a 100 MB limit), the
 * JSON (an object, then only space padding), every entry (dtype F32 or F64,
 * a shape of whole numbers whose element and byte counts do not overflow,
 * data_offsets [begin, end] inside the data section and exactly as long as
 * the shape needs), names unique, __metadata__ an object of strings, and
 * the tensors' bytes covering the data section exactly, without overlap or
 * gap.  Errors: NB_ERR_FORMAT with a message naming the tensor and the
 * problem, NB_ERR_NOMEM.  out is zeroed first and on failure. */
NB_API nb_status nb_safetensors_parse(const void *buf, size_t len, const char *name,
                                      nb_safetensors *out, nb_err *err);
/* The same for a file (read whole: its real size bounds every allocation);
 * NB_ERR_IO if it cannot be opened or read. */
NB_API nb_status nb_safetensors_read(const char *path, nb_safetensors *out, nb_err *err);
NB_API void nb_safetensors_free(nb_safetensors *st);
/* Borrowed; NULL if absent. */
NB_API const char *nb_safetensors_meta(const nb_safetensors *st, const char *key);
NB_API const nb_tensor *nb_safetensors_find(const nb_safetensors *st, const char *name);

/* Copy st's tensors into g's parameters of the same names, converting the
 * dtype if needed.  Every parameter must have a tensor and every tensor a
 * parameter, with the same shape and finite values; all is checked before
 * the first value is written, so on error (NB_ERR_FORMAT naming the tensor)
 * g is unchanged. */
NB_API nb_status nb_safetensors_restore(nb_graph *g, const nb_safetensors *st, const char *name,
                                        nb_err *err);

/* Write every parameter of g (nb_param_at order, g's dtype) and the
 * metadata to path, atomically: into a temporary file beside it, flushed
 * and fsync'd, renamed over path, the directory fsync'd.  The new file
 * takes the mode of the regular file it replaces, or 0644 less the umask.
 * A symlink at path is replaced itself (its target is not touched); a
 * directory, device, FIFO or socket is refused (NB_ERR_IO), never
 * replaced.  On any failure the temporary file is removed and an existing
 * path is untouched; a save killed before its rename leaves the temporary
 * file PATH.tmp-XXXXXX behind.  Errors: NB_ERR_NONFINITE (a parameter is
 * inf or NaN: nothing is written), NB_ERR_IO (with the system's reason),
 * NB_ERR_ARG, NB_ERR_NOMEM. */
NB_API nb_status nb_safetensors_save(const nb_graph *g, const char *path,
                                     const nb_meta_kv *meta, size_t n_meta, nb_err *err);

/* ---- MLP checkpoints ---------------------------------------------------------
 * nb_mlp_save records the architecture in __metadata__ ("format"
 * "nabla-mlp/1", "widths" "64,50,10", "activation", "loss", "dtype" "f32" or
 * "f64", "init", "init_std", "seed", "l1", "l2") and then the caller's extra
 * pairs (which must not reuse those keys: NB_ERR_ARG). */
NB_API nb_status nb_mlp_save(const nb_mlp *m, const char *path, const nb_meta_kv *extra,
                             size_t n_extra, nb_err *err);
/* The model's options from a checkpoint's metadata; widths (room for
 * max_widths) receives the widths and opts->widths points at it.  The
 * tensors W1, b1, ... must be there with the shapes the widths imply, so a
 * hostile file cannot make the caller build a huge model.  NB_ERR_FORMAT
 * naming the key or tensor otherwise. */
NB_API nb_status nb_mlp_checkpoint_opts(const nb_safetensors *st, nb_mlp_opts *opts,
                                        int *widths, int max_widths, nb_err *err);
/* Load path into an existing model: its architecture metadata, if present,
 * must agree with the model's (widths, activation, loss), then
 * nb_safetensors_restore.  On error the model is unchanged. */
NB_API nb_status nb_mlp_restore(nb_mlp *m, const char *path, nb_err *err);
/* A new model rebuilt from path's metadata, its parameters loaded.  If st
 * is not NULL it receives the parsed file (its metadata: free it with
 * nb_safetensors_free).  NULL on error (err says why). */
NB_API nb_mlp *nb_mlp_open(const char *path, nb_safetensors *st, nb_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_NN_H */
