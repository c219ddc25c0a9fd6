/* test_nomem.c - out of memory in the model layer: every loader, saver and
 * model call run with its n-th allocation failing, for n = 0, 1, 2, ...
 * until it succeeds; each failure must be NB_ERR_NOMEM (not an I/O or
 * format error) and leak nothing (the ASan and valgrind runs check that).
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

static char dir[2048];

/* What one run of a call does: its status, and err for the message. */
typedef nb_status (*scenario)(nb_err *err);

/* Run f with the k-th allocation failing (through hook), k = 0, 1, ...,
 * until it succeeds; every failure must say NB_ERR_NOMEM.  Returns the
 * number of failure points. */
static int each_failure(const char *name, scenario f, void (*hook)(long))
{
    int failures = 0;
    for (long k = 0; k < 100000; k++) {
        nb_err err = { 0 };
        hook(k);
        nb_status s = f(&err);
        hook(-1);
        if (s == NB_OK)
            break;
        if (s != NB_ERR_NOMEM || err.code != NB_ERR_NOMEM)
            fprintf(stderr, "%s: allocation %ld failing gives %s: %s\n", name, k,
                    nb_status_str(s), err.msg);
        CHECK(s == NB_ERR_NOMEM && err.code == NB_ERR_NOMEM);
        failures++;
    }
    printf("%s: %d allocations, each failing with NB_ERR_NOMEM\n", name, failures);
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
    CHECK(s == NB_OK || (tr.x == NULL && te.x == NULL));
    nb_data_free(&tr);
    nb_data_free(&te);
    return s;
}

static nb_mlp *small_mlp(void)
{
    return nb_mlp_new(&(nb_mlp_opts){ .dtype = NB_F32,
                                      .widths = (int[]){ 4, 5, 3 },
                                      .n_widths = 3,
                                      .act = NB_ACT_TANH,
                                      .loss = NB_LOSS_XENT,
                                      .seed = 1 },
                      NULL);
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

static void nn_hook(long n) { nb__nn_alloc_fail_after(n); }
static void engine_hook(long n) { nb__alloc_fail_after(n); }

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
    saved = small_mlp();
    path_of(p, sizeof p, "ck.safetensors");
    CHECK(saved && nb_mlp_save(saved, p, NULL, 0, &err) == NB_OK);
    CHECK(nb_data_alloc(&data, 40, 4, &err) == NB_OK);
    for (size_t i = 0; i < 40; i++) {
        data.y[i] = (double)(i % 3);
        for (int j = 0; j < 4; j++)
            data.x[i * 4 + (size_t)j] = (double)((i * 7 + (size_t)j * 3) % 11) + data.y[i];
    }

    CHECK(each_failure("nb_idx_load, gzip", idx_gz, nn_hook) >= 3);
    CHECK(each_failure("nb_idx_load, plain", idx_plain, nn_hook) >= 3);
    CHECK(each_failure("nb_fashion_mnist_load", fashion, nn_hook) >= 10);
    CHECK(each_failure("nb_safetensors_read", read_checkpoint, nn_hook) >= 10);
    CHECK(each_failure("nb_mlp_open", open_checkpoint, nn_hook) >= 10);
    CHECK(each_failure("nb_mlp_open (engine)", open_checkpoint, engine_hook) >= 3);
    CHECK(each_failure("nb_mlp_restore", restore_checkpoint, nn_hook) >= 10);
    CHECK(each_failure("nb_mlp_save", save_checkpoint, nn_hook) >= 10);
    CHECK(each_failure("split, scale, f32, batches", prepare_data, nn_hook) >= 8);
    CHECK(each_failure("nb_train, nb_mlp_evaluate", train_model, nn_hook) >= 3);
    CHECK(each_failure("nb_train, nb_mlp_evaluate (engine)", train_model, engine_hook) >= 3);
    nb_mlp_free(saved);
    nb_data_free(&data);
    return check_summary();
}
