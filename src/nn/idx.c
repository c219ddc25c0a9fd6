/* idx.c - IDX arrays of unsigned bytes (the MNIST format), gzipped or plain,
 * and the Fashion-MNIST data set built from four of them. */
#include "nabla_nn.h"
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

void nb_idx_free(nb_idx *idx)
{
    if (!idx)
        return;
    free(idx->data);
    *idx = (nb_idx){ 0 };
}

static nb_status truncated(const char *path, const char *what, size_t want, size_t got,
                           const char *zmsg, nb_err *err)
{
    return nb_err_set(err, NB_ERR_FORMAT,
                      "%s: truncated: %s needs %zu bytes, the file has %zu%s%s", path, what,
                      want, got, zmsg ? ": " : "", zmsg ? zmsg : "");
}

/* Magic 00 00 08 rank, then rank big-endian 32-bit sizes. */
static nb_status read_header(nb__zfile *f, const char *path, nb_idx *out, nb_err *err)
{
    unsigned char h[4 + 16];
    size_t got;
    nb_status s = nb__zread(f, h, 4, &got, err);

    if (s != NB_OK)
        return s;
    if (got < 4)
        return truncated(path, "the header", 4, got, nb__zcut(f), err);
    if (h[0] != 0 || h[1] != 0 || h[2] != 0x08 || h[3] < 1 || h[3] > 4)
        return nb_err_set(err, NB_ERR_FORMAT,
                          "%s: not an IDX file of unsigned bytes (magic %02x %02x %02x %02x)",
                          path, h[0], h[1], h[2], h[3]);
    out->rank = h[3];
    size_t nd = 4 * (size_t)out->rank;
    if ((s = nb__zread(f, h + 4, nd, &got, err)) != NB_OK)
        return s;
    if (got < nd)
        return truncated(path, "the header", 4 + nd, 4 + got, nb__zcut(f), err);
    out->size = 1;
    for (int i = 0; i < out->rank; i++) {
        const unsigned char *p = h + 4 + 4 * i;
        uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (v == 0 || v > 0x7fffffff || out->size > SIZE_MAX / v)
            return nb_err_set(err, NB_ERR_FORMAT, "%s: dimension %d has bad size %lu", path,
                              i + 1, (unsigned long)v);
        out->dim[i] = (int)v;
        out->size *= v;
    }
    return NB_OK;
}

/* The data, read into a buffer that grows (doubling) as bytes arrive: a
 * header promising more than the file holds is "truncated", and memory
 * never exceeds twice what the file really has.  When the file could hold
 * what the header promises (nb__zbound), the buffer is made that size at
 * once, in the pages a data set's features get: the loaders keep it as
 * their one copy of the data, with no copying and no growing. */
static nb_status read_data(nb__zfile *f, const char *path, nb_idx *out, nb_err *err)
{
    size_t cap = 0, got = 0;
    unsigned char *buf = NULL;

    /* no memory for it in one piece: grown below */
    if (out->size <= nb__zbound(f) && (buf = nb__features_alloc(out->size)))
        cap = out->size;
    while (got < out->size) {
        size_t k;
        if (got == cap) {
            size_t grow = cap ? cap : (size_t)1 << 16,
                   ncap = out->size - cap > grow ? cap + grow : out->size;
            unsigned char *nbuf = nb__nn_realloc(buf, ncap);
            if (!nbuf) {
                free(buf);
                return nb_err_set(err, NB_ERR_NOMEM, "%s: out of memory for %zu bytes", path,
                                  ncap);
            }
            buf = nbuf;
            cap = ncap;
        }
        nb_status s = nb__zread(f, buf + got, cap - got, &k, err);
        if (s != NB_OK) {
            free(buf);
            return s;
        }
        got += k;
        if (got < cap)
            break;
    }
    if (got < out->size) {
        free(buf);
        return truncated(path, "the data", out->size, got, nb__zcut(f), err);
    }
    out->data = buf;
    return NB_OK;
}

/* The file opened and its header read into out; f is NULL on error. */
static nb_status idx_open(const char *path, nb__zfile **f, nb_idx *out, nb_err *err)
{
    *out = (nb_idx){ 0 };
    nb_status s = nb__zopen(path, f, err);
    if (s == NB_OK && (s = read_header(*f, path, out, err)) != NB_OK) {
        nb__zclose(*f);
        *f = NULL;
    }
    return s;
}

/* The data of a file idx_open opened, which it closes. */
static nb_status idx_finish(nb__zfile *f, const char *path, nb_idx *out, nb_err *err)
{
    nb_status s = read_data(f, path, out, err);
    nb__zclose(f);
    if (s != NB_OK)
        nb_idx_free(out);
    return s;
}

nb_status nb_idx_load(const char *path, nb_idx *out, nb_err *err)
{
    nb__zfile *f;
    nb_status s = idx_open(path, &f, out, err);
    return s == NB_OK ? idx_finish(f, path, out, err) : s;
}

/* ---- Fashion-MNIST ------------------------------------------------------------ */

static const char pkg_hint[] =
    " (Fashion-MNIST comes from the Debian package dataset-fashion-mnist: "
    "apt-get install dataset-fashion-mnist, or give the directory that holds the files)";

#define SIDE 28 /* Fashion-MNIST's images are SIDE x SIDE pixels */

/* "n x r x c" for an IDX array's shape in messages. */
static const char *shape_str(const nb_idx *a, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < a->rank && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%d", i ? " x " : "", a->dim[i]);
    return buf;
}

/* images (n x 28 x 28) and labels (n) of one part into out.  The shape is
 * checked before anything is sized from it, so the row length is always
 * 28 * 28 and every image of both parts has the same length. */
static nb_status load_part(const char *dir, const char *stem, nb_data *out, nb_err *err)
{
    char ipath[4096], lpath[4096], ishape[64], lshape[64];
    nb_idx im = { 0 }, lb = { 0 };

    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, stem);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, stem);
    nb__zfile *f = NULL, *g = NULL;
    nb_status s = idx_open(ipath, &f, &im, err);
    if (s == NB_OK)
        s = idx_open(lpath, &g, &lb, err);
    /* the shapes before the data: a header promising gigabytes of images
     * of another size is refused without inflating them */
    if (s == NB_OK && (im.rank != 3 || lb.rank != 1 || im.dim[0] != lb.dim[0] ||
                       im.dim[1] != SIDE || im.dim[2] != SIDE))
        s = nb_err_set(err, NB_ERR_FORMAT,
                       "%s, %s: expected n x 28 x 28 images and n labels, found %s images "
                       "and %s labels",
                       ipath, lpath, shape_str(&im, ishape, sizeof ishape),
                       shape_str(&lb, lshape, sizeof lshape));
    if (s == NB_OK) {
        s = idx_finish(f, ipath, &im, err);
        f = NULL;
    }
    if (s == NB_OK) {
        s = idx_finish(g, lpath, &lb, err);
        g = NULL;
    }
    nb__zclose(f);
    nb__zclose(g);
    /* the pixels stay bytes, the file's buffer the one copy training
     * gathers from */
    if (s == NB_OK &&
        (s = nb__data_alloc(out, (size_t)im.dim[0], SIDE * SIDE, 0, err)) == NB_OK) {
        out->x8 = im.data;
        im.data = NULL;
    }
    for (size_t i = 0; s == NB_OK && i < lb.size; i++) {
        if (lb.data[i] > 9)
            s = nb_err_set(err, NB_ERR_FORMAT, "%s: label %zu is %d, not 0..9", lpath, i,
                           lb.data[i]);
        else
            out->y[i] = lb.data[i];
    }
    if (s == NB_OK)
        out->n_classes = 10;
    else
        nb_data_free(out);
    nb_idx_free(&im);
    nb_idx_free(&lb);
    return s;
}

nb_status nb_fashion_mnist_load(const char *dir, nb_data *train, nb_data *test, nb_err *err)
{
    *train = (nb_data){ 0 };
    *test = (nb_data){ 0 };
    if (!dir)
        dir = NB_FASHION_MNIST_DIR;
    nb_status s = load_part(dir, "train", train, err);
    if (s == NB_OK)
        s = load_part(dir, "t10k", test, err);
    if (s != NB_OK) {
        nb_data_free(train);
        nb_data_free(test);
        if (err && (s == NB_ERR_IO || s == NB_ERR_FORMAT)) {
            size_t len = strlen(err->msg);
            snprintf(err->msg + len, sizeof err->msg - len, "%s", pkg_hint);
        }
    }
    return s;
}
