/* train.h - what the files of `nabla train` share: the parsed arguments,
 * data and model set-up (train.c), checkpoints (train_ckpt.c). */
#ifndef NABLA_CLI_TRAIN_H
#define NABLA_CLI_TRAIN_H

#include <stdint.h>

#include "nabla_nn.h"

enum { TRAIN_ERROR = 1, TRAIN_USAGE = 2 };
enum { MODEL_LINEAR, MODEL_LOGISTIC, MODEL_SOFTMAX, MODEL_MLP };

#define TRAIN_MAX_HIDDEN 16

typedef struct train_args {
    const char *model; /* as given; kind is its MODEL_* */
    int kind;
    const char *data, *data_dir, *label, *drop, *test_data, *loss_csv, *plot, *save, *resume;
    char sep;                               /* 0: guessed from the first line */
    size_t max_bytes;                       /* 0: NB_CSV_MAX_BYTES */
    int hidden[TRAIN_MAX_HIDDEN], n_hidden; /* n_hidden 0: not given */
    int act, loss;                          /* -1: not given */
    nb_dtype dtype;
    int dtype_set;
    int epochs, batch, threads;
    double lr, momentum, weight_decay, test_fraction; /* lr 0: not given */
    nb_optim optim;
    double beta1, beta2, eps; /* 0: not given */
    int test_fraction_set;
    uint64_t seed;
    int json, quiet, no_standardize, anomaly;
} train_args;

/* Print "nabla train: MESSAGE" and a pointer to --help; returns TRAIN_USAGE. */
int train_usage(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* The model's options for the training data: widths (room for
 * TRAIN_MAX_HIDDEN + 2) point into widths. */
nb_status train_model_opts(const train_args *a, const nb_data *train, nb_mlp_opts *o,
                           int *widths, nb_err *err);

/* --save: a->save gets m, with the model kind, the epoch count and what
 * `nabla predict` needs to apply it: the data's feature names, label and
 * classes, and the scaler sc (NULL: features used as they are). */
nb_status train_save(const train_args *a, const nb_mlp *m, int epochs, const nb_data *train,
                     const nb_scaler *sc, nb_err *err);
/* --resume: *m rebuilt from a->resume, checked against the options (exit
 * status 2 if they disagree) and the data (1); *done its epoch count; sc
 * the checkpoint's scaler, if it has one (else zeroed).  Returns 0 or the
 * exit status, having printed why. */
int train_resume(const train_args *a, const nb_data *train, nb_mlp **m, int *done,
                 nb_scaler *sc);

/* ---- train_job.c: a job across processes (mpirun), with MPI ---------------- */

typedef struct job {
    int rank, size;
    int mpi; /* MPI was initialised: launched by mpirun or the like */
} job;

/* Join the job if a launcher (mpirun) started this process, else run
 * alone (rank 0 of 1).  Without --threads, each rank gets its share of the
 * host's cores.  Ranks other than 0 send stdout and stderr to /dev/null:
 * rank 0 speaks for the job. */
void job_start(job *j, int threads_given);
/* The exit status: the worst of every rank's rc.  Ends MPI. */
int job_end(const job *j, int rc);
/* Every rank's s: NB_OK if all are, else the first failing rank's error,
 * "rank K: ...", on every rank (nb_comm_agree). */
nb_status job_agree(const job *j, nb_status s, nb_err *err);
/* Rank 0's rc on every rank. */
int job_rc(const job *j, int rc);
/* Train m across the job's ranks (nb_mlp_set_comm). */
nb_status job_attach(const job *j, nb_mlp *m, nb_err *err);
/* --resume: rank 0's model, epochs done and scaler on every rank. */
nb_status job_share_resume(const job *j, nb_mlp **m, int *done, nb_scaler *sc, nb_err *err);

/* ---- dataset.c: data sets by name, CSV options, checkpoint metadata ---- */

/* 1 for a data set shipped with nabla (iris, breast-cancer, advertising,
 * digits) or fashion-mnist. */
int data_is_named(const char *data);
/* The file behind --data: a shipped set's (in dir, else the installed data
 * directory, else the source tree's), or data itself. */
nb_status data_path(const char *data, const char *dir, char *path, size_t size, nb_err *err);
/* --sep and --max-bytes values; 0 or usage()'s status. */
int parse_sep(const char *opt, const char *v, char *sep, int (*usage)(const char *, ...));
int parse_bytes(const char *opt, const char *v, size_t *out, int (*usage)(const char *, ...));
/* --label NAME|INDEX into co. */
nb_status csv_label_opts(const char *label, nb_csv_opts *co, nb_err *err);
/* Metadata values: JSON arrays of strings or numbers (%.17g, exact),
 * malloc'd; NULL if memory runs out. */
char *meta_strings(char *const *v, int n);
char *meta_numbers(const double *v, int n);
/* Parsed back: 1 if json is such an array (of exactly n numbers). */
int meta_get_strings(const char *json, char ***out, int *n);
int meta_get_numbers(const char *json, double *out, int n);
void free_strings(char ***v, int n);
/* The scaler saved in st for d features; zeroed if there is none. */
nb_status meta_scaler(const nb_safetensors *st, const char *path, int d, nb_scaler *sc,
                      nb_err *err);

/* ---- plot.c: --plot ---------------------------------------------------------- */

typedef struct plot plot;
/* A recorder of each epoch's figures; NULL if memory runs out. */
plot *plot_new(const char *title, int classify);
void plot_free(plot *p);
/* nb_train_opts.on_epoch */
void plot_epoch(void *p, const nb_epoch *e);
/* Draw the curves into path: SVG, or PNG (through rsvg-convert or
 * ImageMagick) when path ends in .png. */
nb_status plot_write(const plot *p, const char *path, nb_err *err);

#endif /* NABLA_CLI_TRAIN_H */
