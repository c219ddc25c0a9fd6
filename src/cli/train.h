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
    const char *data, *data_dir, *target, *loss_csv, *save, *resume;
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

/* --save: a->save gets m, with the model kind and the epoch count. */
nb_status train_save(const train_args *a, const nb_mlp *m, int epochs, nb_err *err);
/* --resume: *m rebuilt from a->resume, checked against the options (exit
 * status 2 if they disagree) and the data (1); *done its epoch count.
 * Returns 0 or the exit status, having printed why. */
int train_resume(const train_args *a, const nb_data *train, nb_mlp **m, int *done);

#endif /* NABLA_CLI_TRAIN_H */
