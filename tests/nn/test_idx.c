/* test_idx.c - gzipped IDX files: a good one, a missing one, truncated ones
 * (short data, a cut gzip stream, a short header), a bad magic, and the
 * Fashion-MNIST loader's errors naming the Debian package.
 * Usage: test_nn_idx SCRATCH_DIR */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "check.h"
#include "nabla_nn.h"

static const char *scratch = ".";

/* An IDX file of n images of r x c bytes (pixel i = i mod 251), of which
 * only `keep` data bytes are written; gzip or plain. */
static void write_idx(const char *path, int rank, const int *dim, size_t keep, int gz)
{
    unsigned char h[4 + 16] = { 0, 0, 0x08, (unsigned char)rank };
    for (int i = 0; i < rank; i++) {
        h[4 + 4 * i + 2] = (unsigned char)(dim[i] >> 8);
        h[4 + 4 * i + 3] = (unsigned char)(dim[i] & 255);
    }
    unsigned char *data = malloc(keep + 1);
    for (size_t i = 0; i < keep; i++)
        data[i] = (unsigned char)(i % 251 % 10);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, h, (unsigned)(4 + 4 * rank));
        if (keep)
            gzwrite(f, data, (unsigned)keep);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(h, 1, (size_t)(4 + 4 * rank), f);
        fwrite(data, 1, keep, f);
        fclose(f);
    }
    free(data);
}

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", scratch, name);
}

static void idx_loads_a_gzipped_array(void)
{
    char p[1024];
    nb_idx a;
    nb_err err = { 0 };
    path_of(p, sizeof p, "good.idx.gz");
    write_idx(p, 3, (int[]){ 5, 3, 4 }, 60, 1);
    CHECK(nb_idx_load(p, &a, &err) == NB_OK);
    CHECK(a.rank == 3 && a.dim[0] == 5 && a.dim[2] == 4 && a.size == 60 && a.data[17] == 7);
    nb_idx_free(&a);
    path_of(p, sizeof p, "plain.idx");
    write_idx(p, 1, (int[]){ 300 }, 300, 0);
    CHECK(nb_idx_load(p, &a, &err) == NB_OK && a.dim[0] == 300 &&
          a.data[299] == 299 % 251 % 10);
    nb_idx_free(&a);
}

static void idx_reports_missing_truncated_and_bad_files(void)
{
    char p[1024];
    nb_idx a;
    nb_err err = { 0 };
    path_of(p, sizeof p, "missing.idx.gz");
    remove(p);
    CHECK(nb_idx_load(p, &a, &err) == NB_ERR_IO && a.data == NULL);
    CHECK(strstr(err.msg, "cannot open") != NULL);
    path_of(p, sizeof p, "short.idx.gz");
    write_idx(p, 3, (int[]){ 5, 3, 4 }, 50, 1); /* 10 bytes missing */
    CHECK(nb_idx_load(p, &a, &err) == NB_ERR_FORMAT && a.data == NULL);
    CHECK(strstr(err.msg, "truncated: the data needs 60 bytes, the file has 50") != NULL);
    /* headers promising more than the file could hold: the buffer grows as
     * bytes arrive instead of being made that size at once */
    path_of(p, sizeof p, "short.idx");
    write_idx(p, 1, (int[]){ 300 }, 200, 0);
    CHECK(nb_idx_load(p, &a, &err) == NB_ERR_FORMAT && a.data == NULL);
    CHECK(strstr(err.msg, "the data needs 300 bytes, the file has 200") != NULL);
    path_of(p, sizeof p, "big.idx.gz");
    write_idx(p, 2, (int[]){ 400, 400 }, 10, 1); /* 160000 > 1032 x a few dozen bytes */
    CHECK(nb_idx_load(p, &a, &err) == NB_ERR_FORMAT && a.data == NULL);
    CHECK(strstr(err.msg, "the data needs 160000 bytes, the file has 10") != NULL);
    /* a gzip stream cut in the middle */
    path_of(p, sizeof p, "cut.idx.gz");
    write_idx(p, 2, (int[]){ 200, 200 }, 40000, 1);
    struct stat st;
    CHECK(stat(p, &st) == 0);
    CHECK(truncate(p, st.st_size / 2) == 0);
    CHECK(nb_idx_load(p, &a, &err) == NB_ERR_FORMAT && a.data == NULL);
    CHECK(strstr(err.msg, "truncated") != NULL);
    path_of(p, sizeof p, "head.idx");
    write_idx(p, 3, (int[]){ 5, 3, 4 }, 0, 0);
    CHECK(truncate(p, 9) == 0); /* magic and part of the sizes */
    CHECK(nb_idx_load(p, &a, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "truncated: the header") != NULL);
    FILE *f = fopen(p, "w");
    fputs("hello, world\n", f);
    fclose(f);
    CHECK(nb_idx_load(p, &a, &err) == NB_ERR_FORMAT && strstr(err.msg, "magic") != NULL);
}

/* DIR/STEM-images-idx3-ubyte.gz of the shape dim (rank 3) and
 * DIR/STEM-labels-idx1-ubyte.gz of n labels. */
static void write_part(const char *dir, const char *stem, const int *dim, int n)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte.gz", dir, stem);
    write_idx(p, 3, dim, (size_t)dim[0] * (size_t)dim[1] * (size_t)dim[2], 1);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte.gz", dir, stem);
    write_idx(p, 1, (int[]){ n }, (size_t)n, 1);
}

static void fashion_errors_name_the_debian_package(void)
{
    char dir[1024], p[1200];
    nb_data tr, te;
    nb_err err = { 0 };
    CHECK(nb_fashion_mnist_load("/nonexistent", &tr, &te, &err) == NB_ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent/train-images-idx3-ubyte.gz") != NULL);
    CHECK(strstr(err.msg, "dataset-fashion-mnist") != NULL);
    CHECK(tr.x8 == NULL && te.x8 == NULL);
    /* a small, complete set: 3 training and 2 test images of 28 x 28 */
    path_of(dir, sizeof dir, "fmnist");
    mkdir(dir, 0755);
    write_part(dir, "train", (int[]){ 3, 28, 28 }, 3);
    write_part(dir, "t10k", (int[]){ 2, 28, 28 }, 2);
    CHECK(nb_fashion_mnist_load(dir, &tr, &te, &err) == NB_OK);
    CHECK(tr.n == 3 && tr.d == 784 && te.n == 2 && te.d == 784 && tr.n_classes == 10);
    /* one copy, bytes; read as doubles they are the pixels / 255 */
    CHECK(tr.x == NULL && tr.x32 == NULL && te.x == NULL && tr.x8 && te.x8);
    CHECK(tr.x8 && tr.x8[5] == 5 && tr.x8[783] == 783 % 251 % 10);
    double row[784];
    CHECK(nb_data_rows(&tr, 0, 1, row, &err) == NB_OK);
    CHECK(row[5] == 5 / 255.0 && row[783] == 783 % 251 % 10 / 255.0);
    CHECK(tr.y[2] == 2);
    nb_data_free(&tr);
    nb_data_free(&te);
    /* now truncate the test labels */
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", dir);
    write_idx(p, 1, (int[]){ 2 }, 1, 1);
    CHECK(nb_fashion_mnist_load(dir, &tr, &te, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "t10k-labels-idx1-ubyte.gz: truncated") != NULL);
    CHECK(strstr(err.msg, "dataset-fashion-mnist") != NULL);
    CHECK(tr.x8 == NULL && te.x8 == NULL);
}

/* Only 28 x 28 images are Fashion-MNIST: any other shape is refused
 * before the data set is sized from it, so a row length that overflows an
 * int (1 x 3 x 1431655766 once wrapped to a 2-byte row) never reaches the
 * copy, and a test set cannot have images of another size. */
static void fashion_refuses_images_that_are_not_28_by_28(void)
{
    char dir[1024];
    nb_data tr, te;
    nb_err err = { 0 };
    path_of(dir, sizeof dir, "fmnist-shape");
    mkdir(dir, 0755);
    write_part(dir, "train", (int[]){ 2, 3, 5 }, 2);
    write_part(dir, "t10k", (int[]){ 1, 3, 5 }, 1);
    CHECK(nb_fashion_mnist_load(dir, &tr, &te, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "expected n x 28 x 28 images") != NULL);
    CHECK(strstr(err.msg, "found 2 x 3 x 5 images and 2 labels") != NULL);
    CHECK(tr.x8 == NULL && te.x8 == NULL);
    /* a good training set, a test set of 27 x 29 images */
    write_part(dir, "train", (int[]){ 2, 28, 28 }, 2);
    write_part(dir, "t10k", (int[]){ 1, 27, 29 }, 1);
    CHECK(nb_fashion_mnist_load(dir, &tr, &te, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "t10k-images-idx3-ubyte.gz") != NULL);
    CHECK(strstr(err.msg, "found 1 x 27 x 29 images") != NULL);
    CHECK(tr.x8 == NULL && te.x8 == NULL);
    /* a header promising 4 GB of 3 x 1431655766 images is refused from the
     * header alone, before any data is read */
    char q[1200];
    snprintf(q, sizeof q, "%s/t10k-images-idx3-ubyte.gz", dir);
    FILE *f = fopen(q, "wb");
    fwrite(
        (unsigned char[]){ 0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 3, 0x55, 0x55, 0x55, 0x56, 1, 2 },
        1, 18, f);
    fclose(f);
    CHECK(nb_fashion_mnist_load(dir, &tr, &te, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "found 1 x 3 x 1431655766 images") != NULL);
    /* images of rank 2, labels that do not match the images */
    write_part(dir, "t10k", (int[]){ 1, 28, 28 }, 2);
    CHECK(nb_fashion_mnist_load(dir, &tr, &te, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "found 1 x 28 x 28 images and 2 labels") != NULL);
    char p[1200];
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    write_idx(p, 2, (int[]){ 1, 784 }, 784, 1);
    CHECK(nb_fashion_mnist_load(dir, &tr, &te, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "found 1 x 784 images") != NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        scratch = argv[1];
    idx_loads_a_gzipped_array();
    idx_reports_missing_truncated_and_bad_files();
    fashion_errors_name_the_debian_package();
    fashion_refuses_images_that_are_not_28_by_28();
    return check_summary();
}
