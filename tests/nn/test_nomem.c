/* test_nomem.c - out of memory in the model layer: every loader, saver and
 * model call run with its n-th allocation failing, for n = 0, 1, 2, ...
 * until it makes fewer than n allocations; each failure must be
 * NB_ERR_NOMEM (not an I/O or format error) or, where the allocation was
 * optional, success, and leak nothing (the ASan and valgrind runs check that).
 * The model layer's allocations, cJSON's and zlib's among them, fail
 * through nb__nn_alloc_fail_after; the engine's, below the model layer,
 * through nb__alloc_fail_after.
 * Usage: test_nn_nomem SCRATCH_DIR */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "check.h"
#include "nabla_nn.h"
#include "nn_hooks.h"

void nb__alloc_fail_after(long n); /* the engine's hook (src/arena.c) */
extern long nb__fail_countdown;    /* its countdown: < 0 once it fired */

static char dir[2048];

/* What one run of a call does: its status, and err for the message. */
typedef nb_status (*scenario)(nb_err *err);

/* An allocator's test hook: set(n) fails its n-th allocation from now on
 * (n < 0: none); failed() says whether one has failed since. */
typedef struct hook {
    void (*set)(long n);
    int (*failed)(void);
} hook;

static int engine_failed(void) { return nb__fail_countdown < 0; }
static const hook nn = { nb__nn_alloc_fail_after, nb__nn_alloc_failed };
static const hook engine = { nb__alloc_fail_after, engine_failed };

/* Run f with the k-th allocation failing, k = 0, 1, ..., until f makes
 * fewer than k + 1 allocations; every failure must say NB_ERR_NOMEM.  A
 * success with an allocation failed had it as optional (a copy of the
 * features as bytes): f goes on to the allocations after it.  Returns the
 * number of failure points, the optional ones among them. */
static int each_failure(const char *name, scenario f, const hook *h)
{
    int failures = 0, optional = 0;
    for (long k = 0; k < 100000; k++) {
        nb_err err = { 0 };
        h->set(k);
        nb_status s = f(&err);
        int failed = h->failed();
        h->set(-1);
        if (!failed) {
            CHECK(s == NB_OK);
            break;
        }
        if (s == NB_OK) {
            optional++;
        } else if (s != NB_ERR_NOMEM || err.code != NB_ERR_NOMEM) {
            fprintf(stderr, "%s: allocation %ld failing gives %s: %s\n", name, k,
                    nb_status_str(s), err.msg);
            CHECK(0);
        }
        failures++;
    }
    printf("%s: %d allocations, each failing with NB_ERR_NOMEM", name, failures);
    if (optional)
        printf(" or, %d optional, with success", optional);
    printf("\n");
    return failures;
}

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* An IDX file of the given shape, bytes i % 10; gzipped or plain. */
static void write_idx(const char *path, int rank, const int *dim, int gz)
{
    unsigned char h[4 + 16] = { 0, 0, 0x08, (unsigned char)rank };
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        h[4 + 4 * i + 2] = (unsigned char)(dim[i] >> 8);
        h[4 + 4 * i + 3] = (unsigned char)(dim[i] & 255);
        n *= (size_t)dim[i];
    }
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i % 10);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, h, (unsigned)(4 + 4 * rank));
        gzwrite(f, data, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(h, 1, (size_t)(4 + 4 * rank), f);
        fwrite(data, 1, n, f);
        fclose(f);
    }
    free(data);
}

/* ---- Loaders ------------------------------------------------------------------ */

static nb_status load_idx(const char *name, nb_err *err)
{
    char p[2200];
    nb_idx a;
    path_of(p, sizeof p, name);
    nb_status s = nb_idx_load(p, &a, err);
    CHECK(s == NB_OK || a.data == NULL);
    nb_idx_free(&a);
    return s;
}

static nb_status idx_gz(nb_err *err) { return load_idx("a.idx.gz", err); }
static nb_status idx_plain(nb_err *err) { return load_idx("a.idx", err); }

static nb_status fashion(nb_err *err)
{
    char p[2200];
    nb_data tr, te;
    path_of(p, sizeof p, "fmnist");
    nb_status s = nb_fashion_mnist_load(p, &tr, &te, err);
    CHECK(s == NB_OK || (tr.x8 == NULL && te.x8 == NULL));
    nb_data_free(&tr);
    nb_data_free(&te);
    return s;
}

static nb_mlp *small_mlp(nb_err *err)
{
    return nb_mlp_new(&(nb_mlp_opts){ .dtype = NB_F32,
                                      .widths = (int[]){ 4, 5, 3 },
                                      .n_widths = 3,
                                      .act = NB_ACT_TANH,
                                      .loss = NB_LOSS_XENT,
                                      .seed = 1 },
                      err);
}

static nb_status read_checkpoint(nb_err *err)
{
    char p[2200];
    nb_safetensors st;
    path_of(p, sizeof p, "ck.safetensors");
    nb_status s = nb_safetensors_read(p, &st, err);
    CHECK(s == NB_OK || (st.t == NULL && st.n == 0));
    nb_safetensors_free(&st);
    return s;
}

static nb_status open_checkpoint(nb_err *err)
{
    char p[2200];
    nb_safetensors st;
    path_of(p, sizeof p, "ck.safetensors");
    nb_mlp *m = nb_mlp_open(p, &st, err);
    nb_safetensors_free(&st);
    nb_mlp_free(m);
    return m ? NB_OK : err->code;
}

static nb_mlp *saved; /* the model saved in ck.safetensors */

static nb_status restore_checkpoint(nb_err *err)
{
    char p[2200];
    path_of(p, sizeof p, "ck.safetensors");
    return nb_mlp_restore(saved, p, err);
}

/* ---- CSV ------------------------------------------------------------------------ */

/* text into the scratch folder as name, gzipped or plain */
static void put(const char *name, const char *text, int gz)
{
    char p[2200];
    path_of(p, sizeof p, name);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        gzwrite(f, text, (unsigned)strlen(text));
        gzclose(f);
    } else {
        FILE *f = fopen(p, "wb");
        fputs(text, f);
        fclose(f);
    }
}

/* Rows of numbers under a header with quoted names (the quoted-field
 * buffer grows), 300 of them (the row arrays grow twice). */
static void write_numbers(const char *name, int gz)
{
    size_t cap = 1 << 16, at = 0;
    char *t = malloc(cap);
    at += (size_t)snprintf(t, cap, "\"f 1\",f2,\"f \"\"3\"\"\",y\n");
    for (int i = 0; i < 300; i++)
        at += (size_t)snprintf(t + at, cap - at, "%d.5,%d,\"%d\",%d\n", i, i % 7, -i, i % 3);
    put(name, t, gz);
    free(t);
}

/* 40 class names (the label table is rehashed at 32) in 200 rows, with an
 * id column to leave out; fields separated by ';'. */
static void write_species(const char *name, int gz)
{
    size_t cap = 1 << 16, at = 0;
    char *t = malloc(cap);
    at += (size_t)snprintf(t, cap, "id;sepal;petal;species\n");
    for (int i = 0; i < 200; i++)
        at += (size_t)snprintf(t + at, cap - at, "r%d;%d.1;%d;kind %02d\n", i, i % 9, i % 4,
                               (i * 7) % 40);
    put(name, t, gz);
    free(t);
}

/* No header, '|' between fields, and a 100 KB first column (left out,
 * never parsed) that makes the line buffer grow. */
static void write_wide(const char *name)
{
    size_t n = 100000;
    char *t = malloc(n + 100);
    memset(t, 'z', n);
    snprintf(t + n, 100, "|1|2|3\nshort|4|5|6\n");
    put(name, t, 0);
    free(t);
}

static nb_status load_csv(const char *name, const nb_csv_opts *o, nb_err *err)
{
    char p[2200];
    nb_data d;
    path_of(p, sizeof p, name);
    nb_status s = nb_csv_load(p, o, &d, err);
    CHECK(s == NB_OK || (d.x == NULL && d.names == NULL && d.classes == NULL));
    nb_data_free(&d);
    return s;
}

static nb_status csv_plain(nb_err *err) { return load_csv("numbers.csv", NULL, err); }
static nb_status csv_gz(nb_err *err) { return load_csv("numbers.csv.gz", NULL, err); }
static nb_status csv_names(nb_err *err)
{
    return load_csv("species.csv", &(nb_csv_opts){ .drop = "id" }, err);
}
static nb_status csv_names_gz(nb_err *err)
{
    return load_csv("species.csv.gz", &(nb_csv_opts){ .sep = ';', .drop = "id" }, err);
}
static nb_status csv_sep_drop(nb_err *err)
{
    return load_csv("wide.csv", &(nb_csv_opts){ .sep = '|', .drop = "1,3", .target = 2 }, err);
}

/* A trained model's columns and classes, the label picked by name */
static nb_status csv_features(nb_err *err)
{
    return load_csv("numbers.csv.gz",
                    &(nb_csv_opts){ .features = (const char *[]){ "f2", "f 1" },
                                    .n_features = 2,
                                    .target_name = "y",
                                    .classes = (const char *[]){ "a", "b", "c" },
                                    .n_classes = 3 },
                    err);
}

/* scikit-learn's header names the classes; a single line; blanks between
 * fields */
static nb_status csv_small(nb_err *err)
{
    nb_status s = load_csv("sk.csv", NULL, err);
    if (s == NB_OK)
        s = load_csv("one.csv", NULL, err);
    if (s == NB_OK)
        s = load_csv("blank.txt", NULL, err);
    return s;
}

/* What a trainer does with a file: load, split (names, classes, label and
 * lines copied), scale, convert */
static nb_status csv_split_scale(nb_err *err)
{
    char p[2200];
    nb_data all, train, test;
    nb_scaler sc = { 0 };
    path_of(p, sizeof p, "species.csv.gz");
    nb_status s = nb_csv_load(p, &(nb_csv_opts){ .drop = "id" }, &all, err);
    if (s == NB_OK)
        s = nb_data_split(&all, 0.25, 7, &train, &test, err);
    if (s == NB_OK) {
        CHECK(train.names && train.classes && train.label && train.line);
        if ((s = nb_scaler_fit(&sc, &train, err)) == NB_OK &&
            (s = nb_scaler_apply(&sc, &test, err)) == NB_OK)
            s = nb_data_f32(&test, err);
        nb_scaler_free(&sc);
        nb_data_free(&train);
        nb_data_free(&test);
    }
    nb_data_free(&all);
    return s;
}

/* ---- Saving: no temporary file is left behind ----------------------------------- */

static int temp_files_left(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, ".tmp-") != NULL;
    if (d)
        closedir(d);
    return n;
}

static nb_status save_checkpoint(nb_err *err)
{
    char p[2200];
    path_of(p, sizeof p, "saved.safetensors");
    nb_status s = nb_mlp_save(saved, p, (nb_meta_kv[]){ { "epochs", "3" } }, 1, err);
    CHECK(temp_files_left() == 0);
    return s;
}

/* ---- Data and models ---------------------------------------------------------------- */

static nb_data data; /* 40 rows of 4 features, 3 classes */

static nb_status prepare_data(nb_err *err)
{
    nb_data train, test, copy;
    nb_scaler sc;
    nb_batches b;
    nb_status s = nb_data_split(&data, 0.25, 1, &train, &test, err);
    if (s == NB_OK)
        s = nb_scaler_fit(&sc, &train, err);
    if (s == NB_OK) {
        s = nb_scaler_apply(&sc, &train, err);
        nb_scaler_free(&sc);
    }
    if (s == NB_OK)
        s = nb_data_f32(&train, err);
    if (s == NB_OK) {
        s = nb_batches_init(&b, train.n, 8, 1, 2, err);
        nb_batches_free(&b);
    }
    if (s == NB_OK && (s = nb_data_alloc(&copy, 1000, 784, err)) == NB_OK)
        nb_data_free(&copy);
    nb_data_free(&train);
    nb_data_free(&test);
    return s;
}

/* One form of the features at a time: floats scaled in place, bytes split
 * and read back as doubles, then made doubles. */
static nb_status convert_data(nb_err *err)
{
    nb_data train, test, tr8 = { 0 }, te8 = { 0 };
    nb_scaler sc = { 0 };
    double row[4];
    nb_status s = nb_data_split(&data, 0.25, 1, &train, &test, err);
    if (s == NB_OK && (s = nb_data_convert(&train, NB_F32, err)) == NB_OK &&
        (s = nb_scaler_fit(&sc, &train, err)) == NB_OK)
        s = nb_scaler_apply(&sc, &train, err);
    CHECK(s != NB_OK || (train.x32 && !train.x));
    nb_scaler_free(&sc);
    if (s == NB_OK && (s = nb_data_rows(&train, 1, 1, row, err)) == NB_OK) {
        for (size_t i = 0; i < 4 * test.n; i++)
            test.x[i] = (double)(i % 256) / 255;
        s = nb_data_convert(&test, NB_F32, err);
    }
    if (s == NB_OK && (s = nb_data_split(&test, 0.5, 2, &tr8, &te8, err)) == NB_OK)
        s = nb_data_convert(&tr8, NB_F64, err);
    /* one form each (floats when the optional byte copy failed) */
    CHECK(s != NB_OK || (tr8.x && !tr8.x8 && !tr8.x32 && !te8.x && !te8.x8 != !te8.x32));
    nb_data_free(&tr8);
    nb_data_free(&te8);
    nb_data_free(&train);
    nb_data_free(&test);
    return s;
}

static nb_status train_model(nb_err *err)
{
    nb_mlp *m = nb_mlp_new(&(nb_mlp_opts){ .dtype = NB_F64,
                                           .widths = (int[]){ 4, 6, 3 },
                                           .n_widths = 3,
                                           .act = NB_ACT_RELU,
                                           .loss = NB_LOSS_XENT,
                                           .seed = 3 },
                           err);
    if (!m)
        return err->code;
    nb_train_opts o = { .epochs = 2, .batch = 8, .lr = 0.1, .seed = 4, .threads = 1 };
    nb_train_result r;
    nb_status s = nb_train(m, &data, &data, &o, &r, err);
    nb_eval ev;
    if (s == NB_OK)
        s = nb_mlp_evaluate(m, &data, &ev, err);
    nb_mlp_free(m);
    return s;
}

static nb_status workers(nb_err *err)
{
    nb_mlp *m = small_mlp(err);
    nb_status s = m ? nb_mlp_set_workers(m, 3, err) : err->code;
    nb_mlp_free(m);
    return s;
}

int main(int argc, char **argv)
{
    char p[2200];
    nb_err err = { 0 };
    snprintf(dir, sizeof dir, "%s/nomem", argc > 1 ? argv[1] : ".");
    mkdir(dir, 0755);
    path_of(p, sizeof p, "a.idx.gz");
    write_idx(p, 3, (int[]){ 300, 20, 20 }, 1); /* 120 KB: the data buffer grows */
    path_of(p, sizeof p, "a.idx");
    write_idx(p, 3, (int[]){ 300, 20, 20 }, 0);
    path_of(p, sizeof p, "fmnist");
    mkdir(p, 0755);
    path_of(p, sizeof p, "fmnist/train-images-idx3-ubyte.gz");
    write_idx(p, 3, (int[]){ 3, 28, 28 }, 1);
    path_of(p, sizeof p, "fmnist/train-labels-idx1-ubyte.gz");
    write_idx(p, 1, (int[]){ 3 }, 1);
    path_of(p, sizeof p, "fmnist/t10k-images-idx3-ubyte.gz");
    write_idx(p, 3, (int[]){ 2, 28, 28 }, 1);
    path_of(p, sizeof p, "fmnist/t10k-labels-idx1-ubyte.gz");
    write_idx(p, 1, (int[]){ 2 }, 0);
    saved = small_mlp(NULL);
    path_of(p, sizeof p, "ck.safetensors");
    CHECK(saved && nb_mlp_save(saved, p, NULL, 0, &err) == NB_OK);
    CHECK(nb_data_alloc(&data, 40, 4, &err) == NB_OK);
    write_numbers("numbers.csv", 0);
    write_numbers("numbers.csv.gz", 1);
    write_species("species.csv", 0);
    write_species("species.csv.gz", 1);
    write_wide("wide.csv");
    put("sk.csv", "3,2,setosa,versicolor,virginica\n1,2,0\n3,4,2\n5,6,1\n", 0);
    put("one.csv", "1,2,3", 0);
    put("blank.txt", "1 2\t3\n4  5 6\n", 0);
    for (size_t i = 0; i < 40; i++) {
        data.y[i] = (double)(i % 3);
        for (int j = 0; j < 4; j++)
            data.x[i * 4 + (size_t)j] = (double)((i * 7 + (size_t)j * 3) % 11) + data.y[i];
    }

    CHECK(each_failure("nb_csv_load, plain", csv_plain, &nn) >= 8);
    CHECK(each_failure("nb_csv_load, gzip", csv_gz, &nn) >= 10);
    CHECK(each_failure("nb_csv_load, class names", csv_names, &nn) >= 80);
    CHECK(each_failure("nb_csv_load, gzip, class names, sep", csv_names_gz, &nn) >= 80);
    CHECK(each_failure("nb_csv_load, sep, drop, target", csv_sep_drop, &nn) >= 8);
    CHECK(each_failure("nb_csv_load, features, classes", csv_features, &nn) >= 10);
    CHECK(each_failure("nb_csv_load, scikit-learn, one line, blanks", csv_small, &nn) >= 20);
    CHECK(each_failure("nb_csv_load, split, scale, f32", csv_split_scale, &nn) >= 100);
    CHECK(each_failure("nb_idx_load, gzip", idx_gz, &nn) >= 3);
    CHECK(each_failure("nb_idx_load, plain", idx_plain, &nn) >= 3);
    CHECK(each_failure("nb_fashion_mnist_load", fashion, &nn) >= 10);
    CHECK(each_failure("nb_safetensors_read", read_checkpoint, &nn) >= 10);
    CHECK(each_failure("nb_mlp_open", open_checkpoint, &nn) >= 10);
    CHECK(each_failure("nb_mlp_open (engine)", open_checkpoint, &engine) >= 3);
    CHECK(each_failure("nb_mlp_restore", restore_checkpoint, &nn) >= 10);
    CHECK(each_failure("nb_mlp_save", save_checkpoint, &nn) >= 10);
    CHECK(each_failure("split, scale, f32, batches", prepare_data, &nn) >= 8);
    CHECK(each_failure("nb_data_convert, scale, split bytes", convert_data, &nn) >= 8);
    CHECK(each_failure("nb_train, nb_mlp_evaluate", train_model, &nn) >= 3);
    CHECK(each_failure("nb_train, nb_mlp_evaluate (engine)", train_model, &engine) >= 3);
    CHECK(each_failure("nb_mlp_set_workers", workers, &nn) >= 3);
    CHECK(each_failure("nb_mlp_set_workers (engine)", workers, &engine) >= 3);
    nb_mlp_free(saved);
    nb_data_free(&data);
    return check_summary();
}
