/* test_checkpoint.c - safetensors checkpoints: round trips, atomic saves
 * under a simulated full disk, and every malformed file the loader must
 * reject (with the model left unchanged).  With arguments "write FILE" or
 * "check FILE" it is the C half of the numpy interoperability test
 * (interop_safetensors.py): parameters follow interop_value(). */
#define _DEFAULT_SOURCE /* mknod, makedev */
#include "check.h"
#include "nabla_nn.h"
#include "nn_hooks.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

static char dir[2048];

static nb_mlp *small_mlp(nb_dtype dt, uint64_t seed)
{
    return nb_mlp_new(&(nb_mlp_opts){ .dtype = dt,
                                      .widths = (int[]){ 4, 5, 3 },
                                      .n_widths = 3,
                                      .act = NB_ACT_TANH,
                                      .loss = NB_LOSS_XENT,
                                      .seed = seed },
                      NULL);
}

/* Every parameter value of m, in order, into a malloc'd array. */
static double *snapshot(const nb_mlp *m, size_t *n)
{
    nb_graph *g = nb_mlp_graph(m);
    size_t total = 0, k = 0;
    for (size_t i = 0; i < nb_param_count(g); i++)
        total += nb_size(nb_param_at(g, i));
    double *v = malloc(total * sizeof *v);
    for (size_t i = 0; v && i < nb_param_count(g); i++)
        for (size_t j = 0; j < nb_size(nb_param_at(g, i)); j++)
            v[k++] = nb_value_at(nb_param_at(g, i), j);
    *n = total;
    return v;
}

static int same_params(const nb_mlp *a, const nb_mlp *b)
{
    size_t na, nb;
    double *va = snapshot(a, &na), *vb = snapshot(b, &nb);
    int same = va && vb && na == nb && memcmp(va, vb, na * sizeof *va) == 0;
    free(va);
    free(vb);
    return same;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        rewind(f);
        b = n >= 0 ? malloc((size_t)n + 1) : NULL;
        *len = b ? fread(b, 1, (size_t)n, f) : 0;
    }
    if (f)
        fclose(f);
    return b;
}

static int temp_files_left(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, "ck.safetensors.tmp-") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void round_trip_keeps_values_and_architecture(nb_dtype dt)
{
    char path[2200];
    nb_err err = { 0 };
    nb_safetensors st;
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    nb_mlp *m = small_mlp(dt, 1);
    CHECK(nb_mlp_save(m, path, (nb_meta_kv[]){ { "epochs", "7" } }, 1, &err) == NB_OK);
    nb_mlp *r = nb_mlp_open(path, &st, &err);
    CHECK(r != NULL);
    if (r) {
        CHECK(same_params(m, r));
        CHECK(nb_mlp_options(r)->act == NB_ACT_TANH && nb_mlp_options(r)->dtype == dt);
        CHECK(nb_mlp_options(r)->n_widths == 3 && nb_mlp_options(r)->widths[1] == 5);
        CHECK(strcmp(nb_safetensors_meta(&st, "epochs"), "7") == 0);
        CHECK(nb_safetensors_find(&st, "W2")->dim[0] == 5);
    }
    nb_mlp *other = small_mlp(dt, 2);
    CHECK(!same_params(m, other));
    CHECK(nb_mlp_restore(other, path, &err) == NB_OK);
    CHECK(same_params(m, other));
    /* the reserved keys cannot be overridden */
    CHECK(nb_mlp_save(m, path, (nb_meta_kv[]){ { "widths", "1,1" } }, 1, &err) == NB_ERR_ARG);
    nb_safetensors_free(&st);
    nb_mlp_free(m);
    nb_mlp_free(r);
    nb_mlp_free(other);
}

static void failed_save_keeps_previous_checkpoint(void)
{
    char path[2200];
    nb_err err = { 0 };
    size_t len0 = 0, len1 = 0;
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    nb_mlp *m = small_mlp(NB_F32, 3), *m2 = small_mlp(NB_F32, 4);
    CHECK(nb_mlp_save(m, path, NULL, 0, &err) == NB_OK);
    unsigned char *before = slurp(path, &len0);
    CHECK(before && len0 > 100);
    long long cuts[] = { 0, 1, 7, 8, 9, 100, (long long)len0 - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        nb__checkpoint_fail_after(cuts[i]);
        err = (nb_err){ 0 };
        CHECK(nb_mlp_save(m2, path, NULL, 0, &err) == NB_ERR_IO);
        CHECK(strstr(err.msg, "No space left on device") && strstr(err.msg, "unchanged"));
        unsigned char *after = slurp(path, &len1);
        CHECK(after && len1 == len0 && memcmp(before, after, len0) == 0);
        CHECK(temp_files_left() == 0);
        free(after);
    }
    nb__checkpoint_fail_after(-1);
    /* not finite: refused before any file is touched */
    nb_set_at(nb_mlp_param(m2, "b2"), 1, NAN);
    CHECK(nb_mlp_save(m2, path, NULL, 0, &err) == NB_ERR_NONFINITE);
    CHECK(strstr(err.msg, "b2") != NULL);
    unsigned char *after = slurp(path, &len1);
    CHECK(after && len1 == len0 && memcmp(before, after, len0) == 0);
    CHECK(temp_files_left() == 0);
    /* a directory that does not exist */
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", dir);
    CHECK(nb_mlp_save(m, path, NULL, 0, &err) == NB_ERR_IO && strstr(err.msg, "temporary"));
    free(before);
    free(after);
    nb_mlp_free(m);
    nb_mlp_free(m2);
}

/* Files in dir whose names hold ".tmp-": a save's leftovers. */
static int any_temp_files_left(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, ".tmp-") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* A FIFO, a directory or a device at the path is refused with an error
 * naming what it is, and left as it was: the rename would have replaced it
 * with a regular file. */
static void save_refuses_what_is_not_a_regular_file(void)
{
    char path[2200];
    nb_err err = { 0 };
    struct stat sb;
    nb_mlp *m = small_mlp(NB_F32, 5);
    snprintf(path, sizeof path, "%s/fifo.safetensors", dir);
    remove(path);
    CHECK(mkfifo(path, 0600) == 0);
    CHECK(nb_mlp_save(m, path, NULL, 0, &err) == NB_ERR_IO);
    CHECK(strstr(err.msg, "is a FIFO, not a regular file") != NULL);
    CHECK(lstat(path, &sb) == 0 && S_ISFIFO(sb.st_mode));
    remove(path);
    snprintf(path, sizeof path, "%s/dir.safetensors", dir);
    mkdir(path, 0755);
    CHECK(nb_mlp_save(m, path, NULL, 0, &err) == NB_ERR_IO);
    CHECK(strstr(err.msg, "is a directory") != NULL);
    CHECK(lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
    /* a character device like /dev/null, where mknod is allowed (root) */
    snprintf(path, sizeof path, "%s/null.safetensors", dir);
    remove(path);
    if (mknod(path, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        CHECK(nb_mlp_save(m, path, NULL, 0, &err) == NB_ERR_IO);
        CHECK(strstr(err.msg, "is a character device") != NULL);
        CHECK(lstat(path, &sb) == 0 && S_ISCHR(sb.st_mode));
        remove(path);
    }
    CHECK(any_temp_files_left() == 0);
    nb_mlp_free(m);
}

/* A new checkpoint is 0644 less the umask (mkstemp's 0600 and a fixed 0644
 * are both wrong); one that replaces a file keeps that file's mode.  A
 * symlink is replaced by the file, and its target is left alone. */
static void save_sets_a_sensible_mode_and_replaces_symlinks(void)
{
    char path[2200], target[2200];
    nb_err err = { 0 };
    struct stat sb;
    nb_mlp *m = small_mlp(NB_F64, 6);
    snprintf(path, sizeof path, "%s/mode.safetensors", dir);
    mode_t old = umask(022);
    remove(path);
    CHECK(nb_mlp_save(m, path, NULL, 0, &err) == NB_OK);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    remove(path);
    umask(077);
    CHECK(nb_mlp_save(m, path, NULL, 0, &err) == NB_OK);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    umask(022);
    CHECK(chmod(path, 0640) == 0);
    CHECK(nb_mlp_save(m, path, NULL, 0, &err) == NB_OK);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640);
    umask(old);
    snprintf(target, sizeof target, "%s/mode-target", dir);
    FILE *f = fopen(target, "w");
    fputs("not a checkpoint\n", f);
    fclose(f);
    remove(path);
    CHECK(symlink(target, path) == 0);
    CHECK(nb_mlp_save(m, path, NULL, 0, &err) == NB_OK);
    CHECK(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode));
    size_t len = 0;
    unsigned char *t = slurp(target, &len);
    CHECK(t && len == 17 && memcmp(t, "not a checkpoint\n", 17) == 0);
    free(t);
    nb_mlp *r = nb_mlp_open(path, NULL, &err);
    CHECK(r && same_params(m, r));
    nb_mlp_free(r);
    CHECK(any_temp_files_left() == 0);
    nb_mlp_free(m);
}

/* ---- Malformed files ------------------------------------------------------------- */

/* The float whose bytes are 3f 3f 3f 3f (0.747...), as make_file fills. */
static float fill_value(void)
{
    uint32_t u = 0x3f3f3f3fu;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* A file: 8-byte length, header, then data_len bytes of 0x3f. */
static unsigned char *make_file(const char *header, size_t data_len, uint64_t hlen_override,
                                size_t *len)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + data_len + 1);
    uint64_t n = hlen_override ? hlen_override : h;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, 0x3f, data_len);
    *len = 8 + h + data_len;
    return b;
}

/* parse(header, data_len) fails with NB_ERR_FORMAT and a message with want. */
static void rejects(const char *header, size_t data_len, uint64_t hlen, const char *want)
{
    size_t len;
    unsigned char *b = make_file(header, data_len, hlen, &len);
    nb_safetensors st;
    nb_err err = { 0 };
    nb_status s = nb_safetensors_parse(b, len, "bad", &st, &err);
    CHECK(s == NB_ERR_FORMAT);
    CHECK(st.n == 0 && st.t == NULL);
    if (!strstr(err.msg, want)) {
        check_failed++;
        fprintf(stderr, "header %s: message '%s' lacks '%s'\n", header, err.msg, want);
    }
    free(b);
}

#define T1(x) "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": " x "}}"

static void loader_rejects_each_violation(void)
{
    nb_safetensors st;
    nb_err err = { 0 };
    CHECK(nb_safetensors_parse("1234567", 7, "x", &st, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "too short") != NULL);
    rejects(T1("[0, 8]"), 8, 1000000, "exceeds the file");
    rejects(T1("[0, 8]"), 8, 1000000000000ull, "exceeds the file");
    rejects("[1, 2]", 0, 0, "does not start with '{'");
    rejects("{\"a\": ", 0, 0, "not a JSON object");
    rejects("{\"a\": 1} x", 0, 0, "are not spaces");
    rejects("{\"a\": {\"dtype\": \"F99\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, 0,
            "tensor 'a': unknown dtype 'F99'");
    rejects("{\"a\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4, 0,
            "tensor 'a': dtype F16 is not supported");
    rejects("{\"a\": {\"dtype\": 3, \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, 0,
            "\"dtype\" is missing");
    rejects("{\"a\": {\"dtype\": \"F32\", \"shape\": 2, \"data_offsets\": [0, 8]}}", 8, 0,
            "\"shape\" is missing or not an array");
    rejects("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, 0,
            "not a whole number");
    rejects("{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 8]}}", 8, 0,
            "not a whole number");
    rejects("{\"a\": {\"dtype\": \"F32\", \"shape\": [1000000, 1000000], "
            "\"data_offsets\": [0, 8]}}",
            8, 0,
            "hold 8 bytes, its shape and dtype need "
            "4000000000000");
    rejects("{\"a\": {\"dtype\": \"F64\", \"shape\": [4294967296, 4294967296], "
            "\"data_offsets\": [0, 8]}}",
            8, 0, "element count overflows");
    rejects("{\"a\": {\"dtype\": \"F64\", \"shape\": [1,1,1,1,1,1,1,1,1], "
            "\"data_offsets\": [0, 8]}}",
            8, 0, "more than 8 dimensions");
}

/* A NUL byte in the header is not JSON whitespace (cJSON skips it as
 * one): refused, where a space in the same place is accepted. */
static void loader_rejects_a_nul_byte_in_the_header(void)
{
    static const char h[] = "{\"a\": {\"dtype\": \"F32\", \"shape\": [1],"
                            "\"data_offsets\": [0, 4]}}    ";
    size_t hlen = sizeof h - 1, at = 5; /* after {"a": */
    unsigned char file[8 + sizeof h + 4] = { (unsigned char)hlen };
    nb_safetensors st;
    nb_err err = { 0 };
    memcpy(file + 8, h, hlen);
    memset(file + 8 + hlen, 0, 4);
    CHECK(hlen % 8 == 0 && file[8 + at] == ' ');
    CHECK(nb_safetensors_parse(file, 8 + hlen + 4, "x", &st, &err) == NB_OK);
    nb_safetensors_free(&st);
    file[8 + at] = '\0';
    CHECK(nb_safetensors_parse(file, 8 + hlen + 4, "x", &st, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "x: the header holds a NUL byte (at byte 13)") != NULL);
    file[8 + at] = ' ';
    file[8 + hlen - 1] = '\0'; /* in the padding */
    CHECK(nb_safetensors_parse(file, 8 + hlen + 4, "x", &st, &err) == NB_ERR_FORMAT);
}

static void loader_rejects_bad_offsets_and_names(void)
{
    nb_safetensors st;
    nb_err err = { 0 };
    rejects(T1("[0, 16]"), 8, 0, "out of bounds");
    rejects(T1("[8, 0]"), 8, 0, "out of bounds");
    rejects(T1("[0]"), 8, 0, "is not [begin, end]");
    rejects(T1("[0, \"8\"]"), 8, 0, "is not [begin, end]");
    rejects("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8], "
            "\"x\": 1}}",
            8, 0, "unknown field 'x'");
    rejects("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
            "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
            12, 0, "overlaps 'a'");
    rejects("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, 0,
            "4 bytes before its data belong to no tensor");
    rejects(T1("[0, 8]"), 12, 0, "4 bytes at the end of the data belong to no tensor");
    rejects("{}", 4, 0, "4 bytes at the end");
    rejects("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
            "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
            8, 0, "tensor 'a': the name appears twice");
    rejects("{\"__metadata__\": {\"k\": 1}}", 0, 0, "__metadata__ 'k' is not a string");
    rejects("{\"__metadata__\": [1]}", 0, 0, "__metadata__ is not an object");
    rejects("{\"a\": [1]}", 0, 0, "tensor 'a': the entry is not an object");
    /* and a good one, padded, with a scalar and an empty tensor */
    size_t len;
    unsigned char *b = make_file("{\"__metadata__\": {\"k\": \"v\"}, \"s\": {\"dtype\": "
                                 "\"F32\", \"shape\": [], \"data_offsets\": [0, 4]}, \"e\": "
                                 "{\"dtype\": \"F64\", \"shape\": [0, 3], \"data_offsets\": "
                                 "[4, 4]}}   ",
                                 4, 0, &len);
    CHECK(nb_safetensors_parse(b, len, "good", &st, &err) == NB_OK);
    CHECK(st.n == 2 && strcmp(nb_safetensors_meta(&st, "k"), "v") == 0);
    CHECK(nb_safetensors_find(&st, "s") &&
          *(float *)nb_safetensors_find(&st, "s")->data == fill_value());
    nb_safetensors_free(&st);
    free(b);
}

/* Write f (with tensors as text) to the directory and try to restore it. */
static void restore_rejects(nb_mlp *m, const char *header, size_t data_len, const char *want)
{
    char path[2200];
    size_t len;
    unsigned char *b = make_file(header, data_len, 0, &len);
    nb_err err = { 0 };
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, len, f) == len);
    if (f)
        fclose(f);
    free(b);
    size_t n;
    double *before = snapshot(m, &n);
    CHECK(nb_mlp_restore(m, path, &err) == NB_ERR_FORMAT);
    if (!strstr(err.msg, want)) {
        check_failed++;
        fprintf(stderr, "restore: message '%s' lacks '%s'\n", err.msg, want);
    }
    size_t n2;
    double *after = snapshot(m, &n2);
    CHECK(n == n2 && memcmp(before, after, n * sizeof *before) == 0);
    free(before);
    free(after);
}

#define W(name, d0, d1, b, e)                                                                  \
    "\"" name "\": {\"dtype\": \"F32\", \"shape\": [" #d0 ", " #d1 "], "                       \
    "\"data_offsets\": [" #b ", " #e "]}"
#define B(name, d0, b, e)                                                                      \
    "\"" name "\": {\"dtype\": \"F32\", \"shape\": [" #d0 "], \"data_offsets\": [" #b ", " #e  \
    "]}"

static void restore_checks_the_model(void)
{
    nb_mlp *m = nb_mlp_new(
        &(nb_mlp_opts){
            .dtype = NB_F32, .widths = (int[]){ 2, 2 }, .n_widths = 2, .loss = NB_LOSS_XENT },
        NULL);
    nb_err err = { 0 };
    nb_safetensors st;
    restore_rejects(m, "{" W("W1", 2, 2, 0, 16) "}", 16, "no tensor 'b1'");
    restore_rejects(m,
                    "{" W("W1", 2, 2, 0, 16) "," B("b1", 2, 16, 24) "," B("c", 1, 24, 28) "}",
                    28, "tensor 'c' is not a parameter");
    restore_rejects(m, "{" W("W1", 1, 4, 0, 16) "," B("b1", 2, 16, 24) "}", 24,
                    "tensor 'W1' has shape [1, 4], the model's is [2, 2]");
    restore_rejects(m,
                    "{\"__metadata__\": {\"format\": \"nabla-mlp/1\", \"widths\": \"2,3\", "
                    "\"activation\": \"none\", \"loss\": \"xent\", \"dtype\": \"f32\"}," W(
                        "W1", 2, 2, 0, 16) "," B("b1", 2, 16, 24) "}",
                    24, "tensor 'W1' does not have the shape [2, 3]");
    /* a NaN in the data: 0xff bytes */
    char path[2200];
    size_t len;
    unsigned char *b =
        make_file("{" W("W1", 2, 2, 0, 16) "," B("b1", 2, 16, 24) "}", 24, 0, &len);
    memset(b + len - 4, 0xff, 4);
    CHECK(nb_safetensors_parse(b, len, "nan", &st, &err) == NB_OK);
    CHECK(nb_safetensors_restore(nb_mlp_graph(m), &st, "nan", &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "tensor 'b1': element 1 is") != NULL);
    nb_safetensors_free(&st);
    free(b);
    /* bare tensors (numpy-style, no metadata) of the right shapes load */
    b = make_file("{" W("W1", 2, 2, 0, 16) "," B("b1", 2, 16, 24) "}", 24, 0, &len);
    snprintf(path, sizeof path, "%s/bare.safetensors", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, len, f) == len);
    if (f)
        fclose(f);
    CHECK(nb_mlp_restore(m, path, &err) == NB_OK);
    CHECK(nb_value_at(nb_mlp_param(m, "b1"), 1) == fill_value());
    /* but nb_mlp_open needs the architecture */
    CHECK(nb_mlp_open(path, NULL, &err) == NULL && strstr(err.msg, "'format'"));
    snprintf(path, sizeof path, "%s/none.safetensors", dir);
    CHECK(nb_mlp_restore(m, path, &err) == NB_ERR_IO && strstr(err.msg, "cannot open"));
    free(b);
    nb_mlp_free(m);
}

/* widths claiming a huge model are refused before any model is built */
static void huge_widths_are_refused(void)
{
    size_t len;
    nb_safetensors st;
    nb_mlp_opts o;
    int w[8];
    nb_err err = { 0 };
    unsigned char *b = make_file("{\"__metadata__\": {\"format\": \"nabla-mlp/1\", \"widths\": "
                                 "\"1000000000,1000000000\", \"activation\": \"relu\", "
                                 "\"loss\": \"mse\", \"dtype\": \"f64\"}}",
                                 0, 0, &len);
    CHECK(nb_safetensors_parse(b, len, "huge", &st, &err) == NB_OK);
    CHECK(nb_mlp_checkpoint_opts(&st, &o, w, 8, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "no tensor 'W1'") != NULL);
    nb_safetensors_free(&st);
    free(b);
}

/* ---- The C half of the numpy test -------------------------------------------------- */

static double interop_value(const char *name, size_t i)
{
    return (name[0] == 'W' ? 0.5 : -0.25) * (double)(name[1] - '0') + 0.001 * (double)i;
}

static int interop(const char *mode, const char *path)
{
    nb_err err = { 0 };
    if (strcmp(mode, "write") == 0) {
        nb_mlp *m = small_mlp(NB_F32, 5);
        nb_graph *g = nb_mlp_graph(m);
        for (size_t i = 0; i < nb_param_count(g); i++)
            for (size_t k = 0; k < nb_size(nb_param_at(g, i)); k++)
                nb_set_at(nb_param_at(g, i), k, interop_value(nb_name(nb_param_at(g, i)), k));
        nb_status s = nb_mlp_save(m, path, NULL, 0, &err);
        nb_mlp_free(m);
        return s == NB_OK ? 0 : (fprintf(stderr, "%s\n", err.msg), 1);
    }
    nb_mlp *m = nb_mlp_open(path, NULL, &err);
    if (!m)
        return fprintf(stderr, "%s\n", err.msg), 1;
    nb_graph *g = nb_mlp_graph(m);
    for (size_t i = 0; i < nb_param_count(g); i++)
        for (size_t k = 0; k < nb_size(nb_param_at(g, i)); k++)
            CHECK_NEAR(nb_value_at(nb_param_at(g, i), k),
                       interop_value(nb_name(nb_param_at(g, i)), k), 1e-6);
    CHECK(nb_mlp_options(m)->act == NB_ACT_RELU && nb_graph_dtype(g) == NB_F64);
    nb_mlp_free(m);
    return check_summary();
}

int main(int argc, char **argv)
{
    if (argc == 3)
        return interop(argv[1], argv[2]);
    snprintf(dir, sizeof dir, "%s", argc > 1 ? argv[1] : ".");
    round_trip_keeps_values_and_architecture(NB_F32);
    round_trip_keeps_values_and_architecture(NB_F64);
    failed_save_keeps_previous_checkpoint();
    save_refuses_what_is_not_a_regular_file();
    save_sets_a_sensible_mode_and_replaces_symlinks();
    loader_rejects_each_violation();
    loader_rejects_bad_offsets_and_names();
    loader_rejects_a_nul_byte_in_the_header();
    restore_checks_the_model();
    huge_widths_are_refused();
    return check_summary();
}
