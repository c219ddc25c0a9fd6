/* zread.c - reading a file that may be gzip-compressed: inflated through
 * zlib when it starts with the gzip magic (member after member, as gzip
 * writes them), passed through otherwise.  Every buffer, zlib's state
 * included, comes from the model layer's allocator (util.c), so running
 * out of memory is NB_ERR_NOMEM and the test hook reaches it. */
#define _POSIX_C_SOURCE 200809L
#include "nn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK ((size_t)1 << 16) /* bytes read from the file at a time */

struct nb__zfile {
    const char *path; /* for messages; the caller's string */
    int fd;
    int gz;          /* 1: inflating */
    int eof;         /* the file is read to its end */
    int ended;       /* the last gzip member ended: nothing more to give */
    const char *cut; /* why the data stopped short, or NULL */
    z_stream z;
    unsigned char *in; /* CHUNK bytes; z.next_in, z.avail_in in it */
};

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return nb__nn_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    free(p);
}

/* More bytes from the file into the empty input buffer. */
static nb_status fill(nb__zfile *f, nb_err *err)
{
    ssize_t k;
    do
        k = read(f->fd, f->in, CHUNK);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return nb_err_set(err, NB_ERR_IO, "%s: read error: %s", f->path, strerror(errno));
    f->z.next_in = f->in;
    f->z.avail_in = (uInt)k;
    f->eof = k == 0;
    return NB_OK;
}

static int gzip_magic(const nb__zfile *f)
{
    return f->z.avail_in >= 2 && f->z.next_in[0] == 0x1f && f->z.next_in[1] == 0x8b;
}

nb_status nb__zopen(const char *path, nb__zfile **out, nb_err *err)
{
    nb__zfile *f = nb__nn_calloc(1, sizeof *f);
    *out = NULL;
    if (!f || !(f->in = nb__nn_malloc(CHUNK))) {
        free(f);
        return nb_err_set(err, NB_ERR_NOMEM, "%s: out of memory", path);
    }
    f->path = path;
    errno = 0;
    do
        f->fd = open(path, O_RDONLY | O_CLOEXEC);
    while (f->fd < 0 && errno == EINTR);
    nb_status s = f->fd < 0
                      ? nb_err_set(err, NB_ERR_IO, "%s: cannot open: %s", path, strerror(errno))
                      : fill(f, err);
    if (s == NB_OK && (f->gz = gzip_magic(f))) {
        f->z.zalloc = z_alloc;
        f->z.zfree = z_free;
        int rc = inflateInit2(&f->z, 15 + 16); /* a gzip wrapper, not zlib's */
        if (rc != Z_OK) {
            f->gz = 0;
            s = nb_err_set(err, rc == Z_MEM_ERROR ? NB_ERR_NOMEM : NB_ERR_IO,
                           "%s: cannot start zlib: %s", path,
                           rc == Z_MEM_ERROR ? "out of memory" : zError(rc));
        }
    }
    if (s != NB_OK) {
        nb__zclose(f);
        return s;
    }
    *out = f;
    return NB_OK;
}

void nb__zclose(nb__zfile *f)
{
    if (!f)
        return;
    if (f->gz)
        inflateEnd(&f->z);
    if (f->fd >= 0)
        close(f->fd);
    free(f->in);
    free(f);
}

const char *nb__zcut(const nb__zfile *f) { return f->cut; }

/* deflate codes at most 258 bytes in 2 bits: no gzip file inflates more */
#define DEFLATE_MAX_RATIO 1032

size_t nb__zbound(const nb__zfile *f)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0)
        return 0;
    size_t n = (size_t)st.st_size;
    if (!f->gz)
        return n;
    return n > SIZE_MAX / DEFLATE_MAX_RATIO ? SIZE_MAX : n * DEFLATE_MAX_RATIO;
}

/* Plain: what is left in the buffer, then the file. */
static nb_status read_plain(nb__zfile *f, unsigned char *dst, size_t n, size_t *got,
                            nb_err *err)
{
    while (*got < n && !f->eof) {
        if (f->z.avail_in == 0) {
            nb_status s = fill(f, err);
            if (s != NB_OK)
                return s;
            continue;
        }
        size_t k = n - *got < f->z.avail_in ? n - *got : f->z.avail_in;
        memcpy(dst + *got, f->z.next_in, k);
        f->z.next_in += k;
        f->z.avail_in -= (uInt)k;
        *got += k;
    }
    return NB_OK;
}

/* At the end of a gzip member: another one, or the end of the data (bytes
 * after the last member are ignored, as gzip does). */
static nb_status next_member(nb__zfile *f, nb_err *err)
{
    if (f->z.avail_in == 0 && !f->eof) {
        nb_status s = fill(f, err);
        if (s != NB_OK)
            return s;
    }
    if (!gzip_magic(f))
        f->ended = 1;
    else if (inflateReset(&f->z) != Z_OK)
        return nb_err_set(err, NB_ERR_FORMAT, "%s: gzip: cannot start the next member",
                          f->path);
    return NB_OK;
}

nb_status nb__zread(nb__zfile *f, void *dst, size_t n, size_t *got, nb_err *err)
{
    unsigned char *out = dst;
    *got = 0;
    if (!f->gz)
        return read_plain(f, out, n, got, err);
    while (*got < n && !f->ended) {
        if (f->z.avail_in == 0 && !f->eof) {
            nb_status s = fill(f, err);
            if (s != NB_OK)
                return s;
        }
        size_t want = n - *got < UINT_MAX ? n - *got : UINT_MAX;
        f->z.next_out = out + *got;
        f->z.avail_out = (uInt)want;
        int rc = inflate(&f->z, Z_NO_FLUSH);
        *got += want - f->z.avail_out;
        if (rc == Z_STREAM_END) {
            nb_status s = next_member(f, err);
            if (s != NB_OK)
                return s;
        } else if (rc == Z_MEM_ERROR) {
            return nb_err_set(err, NB_ERR_NOMEM, "%s: gzip: out of memory", f->path);
        } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
            f->cut = f->z.msg ? f->z.msg : "corrupt gzip data";
            f->ended = 1;
        } else if (rc == Z_BUF_ERROR && f->z.avail_in == 0 && f->eof) {
            f->cut = "unexpected end of file";
            f->ended = 1;
        }
    }
    return NB_OK;
}
