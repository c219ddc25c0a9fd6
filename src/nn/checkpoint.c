/* checkpoint.c - safetensors files: parsing and validating one (every size,
 * offset and name checked before anything is allocated from it or copied
 * out), restoring a graph's parameters from it, and saving them atomically
 * (temporary file, fsync, rename).  The MLP's metadata is checkpoint_mlp.c. */
#define _POSIX_C_SOURCE 200809L
#include "nabla_nn.h"
#include "nn_internal.h"
#include "nn_hooks.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER (100u << 20)       /* the safetensors package's own limit */
#define MAX_INDEX  9007199254740992.0 /* 2^53: every integer below is a double */

/* ---- Little-endian numbers ---------------------------------------------- */

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

/* n values of dtype from little-endian bytes src into host values dst. */
static void decode(void *dst, const unsigned char *src, size_t n, nb_dtype dtype)
{
    for (size_t i = 0; i < n; i++) {
        if (dtype == NB_F32) {
            uint32_t u = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 |
                         (uint32_t)src[4 * i + 2] << 16 | (uint32_t)src[4 * i + 3] << 24;
            memcpy((float *)dst + i, &u, 4);
        } else {
            uint64_t u = get_le64(src + 8 * i);
            memcpy((double *)dst + i, &u, 8);
        }
    }
}

static void encode(unsigned char *dst, const void *src, size_t n, nb_dtype dtype)
{
    for (size_t i = 0; i < n; i++) {
        if (dtype == NB_F32) {
            uint32_t u;
            memcpy(&u, (const float *)src + i, 4);
            for (int k = 0; k < 4; k++, u >>= 8)
                dst[4 * i + (size_t)k] = (unsigned char)(u & 0xff);
        } else {
            uint64_t u;
            memcpy(&u, (const double *)src + i, 8);
            put_le64(dst + 8 * i, u);
        }
    }
}

static size_t dtype_bytes(nb_dtype t) { return t == NB_F32 ? 4 : 8; }

/* ---- The parsed file ------------------------------------------------------ */

void nb_safetensors_free(nb_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; st->t && i < st->n; i++) {
        free(st->t[i].name);
        free(st->t[i].data);
    }
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->key[i]);
        free(st->value[i]);
    }
    free(st->t);
    free(st->key);
    free(st->value);
    *st = (nb_safetensors){ 0 };
}

const char *nb_safetensors_meta(const nb_safetensors *st, const char *key)
{
    for (size_t i = 0; st && key && i < st->n_meta; i++)
        if (strcmp(st->key[i], key) == 0)
            return st->value[i];
    return NULL;
}

const nb_tensor *nb_safetensors_find(const nb_safetensors *st, const char *name)
{
    for (size_t i = 0; st && name && i < st->n; i++)
        if (strcmp(st->t[i].name, name) == 0)
            return &st->t[i];
    return NULL;
}

/* ---- Parsing: one tensor's entry ------------------------------------------ */

/* What parsing needs besides the output: the file's name for messages, the
 * data section, the error. */
typedef struct parse {
    const char *name;
    const unsigned char *data;
    size_t data_len;
    nb_err *err;
    size_t *begin; /* data_offsets[0] per tensor */
} parse;

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = nb__nn_malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

/* v is a JSON integer in [0, 2^53]. */
static int get_index(const cJSON *v, size_t *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= MAX_INDEX) || d != floor(d) || d > (double)SIZE_MAX)
        return 0;
    *out = (size_t)d;
    return 1;
}

static nb_status bad(parse *p, const char *tensor, const char *what)
{
    return nb_err_set(p->err, NB_ERR_FORMAT, "%s: tensor '%.100s': %s", p->name, tensor, what);
}

static nb_status get_dtype(parse *p, const char *name, const cJSON *v, nb_dtype *out)
{
    static const char *const other[] = { "F16", "BF16", "F8_E4M3", "F8_E5M2", "I8",
                                         "U8",  "I16",  "U16",     "I32",     "U32",
                                         "I64", "U64",  "BOOL" };
    if (!cJSON_IsString(v))
        return bad(p, name, "\"dtype\" is missing or not a string");
    if (strcmp(v->valuestring, "F32") == 0 || strcmp(v->valuestring, "F64") == 0) {
        *out = v->valuestring[1] == '3' ? NB_F32 : NB_F64;
        return NB_OK;
    }
    for (size_t i = 0; i < sizeof other / sizeof *other; i++)
        if (strcmp(v->valuestring, other[i]) == 0)
            return nb_err_set(p->err, NB_ERR_FORMAT,
                              "%s: tensor '%.100s': dtype %s is not "
                              "supported (nabla reads F32 and F64)",
                              p->name, name, other[i]);
    return nb_err_set(p->err, NB_ERR_FORMAT, "%s: tensor '%.100s': unknown dtype '%.40s'",
                      p->name, name, v->valuestring);
}

/* Shape, element count and byte count, overflow-checked. */
static nb_status get_shape(parse *p, nb_tensor *t, const cJSON *v, size_t *bytes)
{
    if (!cJSON_IsArray(v))
        return bad(p, t->name, "\"shape\" is missing or not an array");
    int rank = cJSON_GetArraySize(v);
    if (rank > NB_ST_MAX_RANK)
        return bad(p, t->name,
                   "more than "
                   "8"
                   " dimensions");
    t->rank = rank;
    t->size = 1;
    int k = 0;
    for (const cJSON *d = v->child; d; d = d->next, k++) {
        if (!get_index(d, &t->dim[k]))
            return bad(p, t->name, "a dimension of \"shape\" is not a whole number >= 0");
        if (t->dim[k] && t->size > SIZE_MAX / t->dim[k])
            return bad(p, t->name, "the shape's element count overflows");
        t->size *= t->dim[k];
    }
    if (t->size > SIZE_MAX / dtype_bytes(t->dtype))
        return bad(p, t->name, "the shape's byte count overflows");
    *bytes = t->size * dtype_bytes(t->dtype);
    return NB_OK;
}

static nb_status get_offsets(parse *p, const nb_tensor *t, const cJSON *v, size_t bytes,
                             size_t *begin)
{
    size_t b, e;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !get_index(v->child, &b) ||
        !get_index(v->child->next, &e))
        return bad(p, t->name, "\"data_offsets\" is not [begin, end] (whole numbers >= 0)");
    if (b > e || e > p->data_len)
        return nb_err_set(p->err, NB_ERR_FORMAT,
                          "%s: tensor '%.100s': data_offsets [%zu, "
                          "%zu] are out of bounds (the data section has %zu bytes)",
                          p->name, t->name, b, e, p->data_len);
    if (e - b != bytes)
        return nb_err_set(p->err, NB_ERR_FORMAT,
                          "%s: tensor '%.100s': data_offsets [%zu, "
                          "%zu] hold %zu bytes, its shape and dtype need %zu",
                          p->name, t->name, b, e, e - b, bytes);
    *begin = b;
    return NB_OK;
}

/* One "NAME": {"dtype", "shape", "data_offsets"} entry, checked; no data yet. */
static nb_status get_entry(parse *p, const cJSON *e, nb_tensor *t, size_t *begin)
{
    size_t bytes = 0;
    if (!(t->name = dup_str(e->string)))
        return nb_err_set(p->err, NB_ERR_NOMEM, "%s: out of memory", p->name);
    if (!cJSON_IsObject(e))
        return bad(p, t->name, "the entry is not an object");
    for (const cJSON *f = e->child; f; f = f->next)
        if (strcmp(f->string, "dtype") && strcmp(f->string, "shape") &&
            strcmp(f->string, "data_offsets"))
            return nb_err_set(p->err, NB_ERR_FORMAT,
                              "%s: tensor '%.100s': unknown field "
                              "'%.40s'",
                              p->name, t->name, f->string);
    nb_status s =
        get_dtype(p, t->name, cJSON_GetObjectItemCaseSensitive(e, "dtype"), &t->dtype);
    if (s == NB_OK)
        s = get_shape(p, t, cJSON_GetObjectItemCaseSensitive(e, "shape"), &bytes);
    if (s == NB_OK)
        s = get_offsets(p, t, cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), bytes,
                        begin);
    return s;
}

/* ---- Parsing: the whole header ----------------------------------------------- */

static nb_status get_metadata(parse *p, const cJSON *m, nb_safetensors *st)
{
    if (!cJSON_IsObject(m))
        return nb_err_set(p->err, NB_ERR_FORMAT, "%s: __metadata__ is not an object", p->name);
    size_t n = (size_t)cJSON_GetArraySize(m);
    if (n && (!(st->key = nb__nn_calloc(n, sizeof *st->key)) ||
              !(st->value = nb__nn_calloc(n, sizeof *st->value))))
        return nb_err_set(p->err, NB_ERR_NOMEM, "%s: out of memory", p->name);
    for (const cJSON *kv = m->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
            return nb_err_set(p->err, NB_ERR_FORMAT,
                              "%s: __metadata__ '%.100s' is not a "
                              "string",
                              p->name, kv->string);
        for (size_t i = 0; i < st->n_meta; i++)
            if (strcmp(st->key[i], kv->string) == 0)
                return nb_err_set(p->err, NB_ERR_FORMAT,
                                  "%s: __metadata__ '%.100s' appears "
                                  "twice",
                                  p->name, kv->string);
        st->key[st->n_meta] = dup_str(kv->string);
        st->value[st->n_meta] = dup_str(kv->valuestring);
        if (!st->key[st->n_meta++] || !st->value[st->n_meta - 1])
            return nb_err_set(p->err, NB_ERR_NOMEM, "%s: out of memory", p->name);
    }
    return NB_OK;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const nb_tensor *)a)->name, ((const nb_tensor *)b)->name);
}

/* A tensor's place in the data section, for sorting by offset. */
typedef struct span {
    size_t begin, index;
} span;

static int by_begin(const void *a, const void *b)
{
    size_t x = ((const span *)a)->begin, y = ((const span *)b)->begin;
    return x < y ? -1 : x > y;
}

/* Names unique; the tensors' bytes tile the data section exactly. */
static nb_status check_layout(parse *p, nb_safetensors *st, span *order)
{
    for (size_t i = 0; i < st->n; i++)
        order[i] = (span){ p->begin[i], i };
    qsort(order, st->n, sizeof *order, by_begin);
    size_t at = 0;
    for (size_t k = 0; k < st->n; k++) {
        const nb_tensor *t = &st->t[order[k].index];
        size_t b = order[k].begin, e = b + t->size * dtype_bytes(t->dtype);
        if (b < at)
            return nb_err_set(p->err, NB_ERR_FORMAT,
                              "%s: tensor '%.100s': its data [%zu, "
                              "%zu] overlaps '%.100s'",
                              p->name, t->name, b, e, st->t[order[k - 1].index].name);
        if (b > at)
            return nb_err_set(p->err, NB_ERR_FORMAT,
                              "%s: tensor '%.100s': %zu bytes before "
                              "its data belong to no tensor",
                              p->name, t->name, b - at);
        at = e;
    }
    if (at != p->data_len)
        return nb_err_set(p->err, NB_ERR_FORMAT,
                          "%s: %zu bytes at the end of the data belong "
                          "to no tensor",
                          p->name, p->data_len - at);
    nb_tensor *copy = nb__nn_malloc((st->n ? st->n : 1) * sizeof *copy);
    if (!copy)
        return nb_err_set(p->err, NB_ERR_NOMEM, "%s: out of memory", p->name);
    memcpy(copy, st->t, st->n * sizeof *copy);
    qsort(copy, st->n, sizeof *copy, by_name);
    nb_status s = NB_OK;
    for (size_t k = 1; k < st->n && s == NB_OK; k++)
        if (strcmp(copy[k - 1].name, copy[k].name) == 0)
            s = bad(p, copy[k].name, "the name appears twice");
    free(copy);
    return s;
}

/* Every entry of the header object into st (data not yet copied). */
static nb_status get_entries(parse *p, const cJSON *root, nb_safetensors *st)
{
    size_t n = 0;
    const cJSON *meta = NULL;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (meta)
                return nb_err_set(p->err, NB_ERR_FORMAT, "%s: __metadata__ appears twice",
                                  p->name);
            meta = e;
        } else {
            n++;
        }
    }
    if (meta && get_metadata(p, meta, st) != NB_OK)
        return p->err ? p->err->code : NB_ERR_FORMAT;
    if (!(st->t = nb__nn_calloc(n ? n : 1, sizeof *st->t)) ||
        !(p->begin = nb__nn_calloc(n ? n : 1, sizeof *p->begin)))
        return nb_err_set(p->err, NB_ERR_NOMEM, "%s: out of memory", p->name);
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e == meta)
            continue;
        nb_status s = get_entry(p, e, &st->t[st->n], &p->begin[st->n]);
        st->n++;
        if (s != NB_OK)
            return s;
    }
    return NB_OK;
}

/* The JSON header of hlen bytes: an object, then nothing but padding. */
static nb_status get_header(parse *p, const char *h, size_t hlen, nb_safetensors *st)
{
    const char *end = NULL;
    if (hlen == 0 || h[0] != '{')
        return nb_err_set(p->err, NB_ERR_FORMAT, "%s: the header does not start with '{'",
                          p->name);
    /* cJSON skips a NUL as it skips blanks; JSON has no place for one */
    const char *nul = memchr(h, '\0', hlen);
    if (nul)
        return nb_err_set(p->err, NB_ERR_FORMAT,
                          "%s: the header holds a NUL byte (at byte %zu)", p->name,
                          8 + (size_t)(nul - h));
    cJSON *root = cJSON_ParseWithLengthOpts(h, hlen, &end, 0);
    if (!root && nb__json_valid(h, hlen))
        return nb_err_set(p->err, NB_ERR_NOMEM, "%s: out of memory parsing the header",
                          p->name);
    if (!root || !cJSON_IsObject(root)) {
        size_t at = end && end >= h && end <= h + hlen ? (size_t)(end - h) : 0;
        cJSON_Delete(root);
        return nb_err_set(p->err, NB_ERR_FORMAT,
                          "%s: the header is not a JSON object "
                          "(error at byte %zu of %zu)",
                          p->name, 8 + at, hlen);
    }
    for (const char *q = end; q < h + hlen; q++) {
        if (*q != ' ') {
            cJSON_Delete(root);
            return nb_err_set(p->err, NB_ERR_FORMAT,
                              "%s: bytes after the header's JSON "
                              "object (at byte %zu) are not spaces",
                              p->name, 8 + (size_t)(q - h));
        }
    }
    nb_status s = get_entries(p, root, st);
    cJSON_Delete(root);
    return s;
}

static nb_status copy_data(parse *p, nb_safetensors *st)
{
    for (size_t i = 0; i < st->n; i++) {
        nb_tensor *t = &st->t[i];
        size_t bytes = t->size * dtype_bytes(t->dtype);
        if (!(t->data = nb__nn_malloc(bytes ? bytes : 1)))
            return nb_err_set(p->err, NB_ERR_NOMEM, "%s: out of memory for tensor '%.100s'",
                              p->name, t->name);
        decode(t->data, p->data + p->begin[i], t->size, t->dtype);
    }
    return NB_OK;
}

nb_status nb_safetensors_parse(const void *buf, size_t len, const char *name,
                               nb_safetensors *out, nb_err *err)
{
    const unsigned char *b = buf;
    parse p = { .name = name ? name : "safetensors", .err = err };

    *out = (nb_safetensors){ 0 };
    if (!buf || len < 8)
        return nb_err_set(err, NB_ERR_FORMAT,
                          "%s: %zu bytes: too short for a safetensors "
                          "file (the header length alone takes 8)",
                          p.name, buf ? len : 0);
    uint64_t hlen = get_le64(b);
    if (hlen > len - 8)
        return nb_err_set(err, NB_ERR_FORMAT,
                          "%s: the header length %llu exceeds the file "
                          "(%zu bytes)",
                          p.name, (unsigned long long)hlen, len);
    if (hlen > MAX_HEADER)
        return nb_err_set(err, NB_ERR_FORMAT,
                          "%s: the header length %llu exceeds the limit "
                          "of %u bytes",
                          p.name, (unsigned long long)hlen, MAX_HEADER);
    p.data = b + 8 + hlen;
    p.data_len = len - 8 - (size_t)hlen;
    nb_status s = get_header(&p, (const char *)b + 8, (size_t)hlen, out);
    span *order = s == NB_OK ? nb__nn_malloc((out->n ? out->n : 1) * sizeof *order) : NULL;
    if (s == NB_OK && !order)
        s = nb_err_set(err, NB_ERR_NOMEM, "%s: out of memory", p.name);
    if (s == NB_OK)
        s = check_layout(&p, out, order);
    if (s == NB_OK)
        s = copy_data(&p, out);
    free(order);
    free(p.begin);
    if (s != NB_OK)
        nb_safetensors_free(out);
    return s;
}

/* ---- Reading a file ------------------------------------------------------------ */

nb_status nb_safetensors_read(const char *path, nb_safetensors *out, nb_err *err)
{
    struct stat sb;
    *out = (nb_safetensors){ 0 };
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return nb_err_set(err, errno == ENOMEM ? NB_ERR_NOMEM : NB_ERR_IO,
                          "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0 ||
        (uintmax_t)sb.st_size > SIZE_MAX / 2) {
        fclose(f);
        return nb_err_set(err, NB_ERR_IO, "%s: not a regular file of a readable size", path);
    }
    size_t len = (size_t)sb.st_size;
    unsigned char *buf = nb__nn_malloc(len ? len : 1);
    nb_status s = NB_OK;
    if (!buf)
        s = nb_err_set(err, NB_ERR_NOMEM, "%s: out of memory for %zu bytes", path, len);
    else if (fread(buf, 1, len, f) != len || ferror(f))
        s = nb_err_set(err, NB_ERR_IO, "%s: read error (%s)", path,
                       ferror(f) ? strerror(errno) : "the file shrank while being read");
    fclose(f);
    if (s == NB_OK)
        s = nb_safetensors_parse(buf, len, path, out, err);
    free(buf);
    return s;
}

/* ---- Restoring a graph's parameters ------------------------------------------------- */

static void shape_str(char *buf, size_t size, int rank, const size_t *dim)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int k = 0; k < rank && at < size; k++)
        at += (size_t)snprintf(buf + at, size - at, "%s%zu", k ? ", " : "", dim[k]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
}

/* t fits parameter w: same rank and dimensions, finite values. */
static nb_status check_fit(const nb_tensor *t, const nb_node *w, const char *name, nb_err *err)
{
    size_t dim[NB_ST_MAX_RANK] = { 0 };
    int same = nb_rank(w) == t->rank;
    for (int k = 0; k < nb_rank(w); k++) {
        dim[k] = (size_t)nb_dim(w, k);
        same = same && dim[k] == t->dim[k];
    }
    if (!same) {
        char a[160], b[160];
        shape_str(a, sizeof a, t->rank, t->dim);
        shape_str(b, sizeof b, nb_rank(w), dim);
        return nb_err_set(err, NB_ERR_FORMAT,
                          "%s: tensor '%.100s' has shape %s, the "
                          "model's is %s",
                          name, t->name, a, b);
    }
    for (size_t i = 0; i < t->size; i++) {
        double v =
            t->dtype == NB_F32 ? ((const float *)t->data)[i] : ((const double *)t->data)[i];
        if (!isfinite(v))
            return nb_err_set(err, NB_ERR_FORMAT, "%s: tensor '%.100s': element %zu is %g",
                              name, t->name, i, v);
    }
    return NB_OK;
}

static nb_status check_all(const nb_graph *g, const nb_safetensors *st, const char *name,
                           nb_err *err)
{
    size_t np = nb_param_count(g);
    for (size_t i = 0; i < np; i++) {
        const nb_node *w = nb_param_at(g, i);
        const nb_tensor *t = nb_safetensors_find(st, nb_name(w));
        if (!t)
            return nb_err_set(err, NB_ERR_FORMAT,
                              "%s: no tensor '%s' for the model's "
                              "parameter of that name",
                              name, nb_name(w));
        nb_status s = check_fit(t, w, name, err);
        if (s != NB_OK)
            return s;
    }
    for (size_t i = 0; i < st->n; i++) {
        const nb_node *w = nb_lookup(g, st->t[i].name);
        size_t k = 0;
        while (w && k < np && nb_param_at(g, k) != w)
            k++;
        if (!w || k == np)
            return nb_err_set(err, NB_ERR_FORMAT,
                              "%s: tensor '%.100s' is not a parameter "
                              "of the model",
                              name, st->t[i].name);
    }
    return NB_OK;
}

nb_status nb_safetensors_restore(nb_graph *g, const nb_safetensors *st, const char *name,
                                 nb_err *err)
{
    if (!g || !st)
        return nb_err_set(err, NB_ERR_ARG, "restore: NULL argument");
    name = name ? name : "safetensors";
    nb_status s = check_all(g, st, name, err);
    size_t most = 1;
    for (size_t i = 0; i < st->n; i++)
        most = st->t[i].size > most ? st->t[i].size : most;
    nb_dtype gt = nb_graph_dtype(g);
    void *buf = s == NB_OK ? nb__nn_malloc(most * dtype_bytes(gt)) : NULL;
    if (s == NB_OK && !buf)
        s = nb_err_set(err, NB_ERR_NOMEM, "%s: out of memory", name);
    /* Checked: from here on nothing fails, so the model changes whole. */
    for (size_t i = 0; s == NB_OK && i < st->n; i++) {
        const nb_tensor *t = &st->t[i];
        for (size_t k = 0; gt != t->dtype && k < t->size; k++) {
            if (gt == NB_F32)
                ((float *)buf)[k] = (float)((const double *)t->data)[k];
            else
                ((double *)buf)[k] = ((const float *)t->data)[k];
        }
        s = nb_write(nb_lookup(g, t->name), gt == t->dtype ? t->data : buf, gt);
        if (s != NB_OK)
            s = nb_err_set(err, s, "%s: tensor '%s': %s", name, t->name, nb_errmsg(g));
    }
    free(buf);
    return s;
}

/* ---- Saving --------------------------------------------------------------------------- */

static long long fail_after = -1; /* test hook: bytes before writes fail */

void nb__checkpoint_fail_after(long long bytes) { fail_after = bytes; }

/* Every write of a save goes through here, so a test can make the disk
 * "fill up" after a given number of bytes (ENOSPC). */
static int put(FILE *f, const void *p, size_t n, long long *written)
{
    if (fail_after >= 0 && *written + (long long)n > fail_after) {
        size_t part = (size_t)(fail_after - *written);
        if (part && fwrite(p, 1, part, f) == part)
            *written += (long long)part;
        errno = ENOSPC;
        return -1;
    }
    if (fwrite(p, 1, n, f) != n)
        return -1;
    *written += (long long)n;
    return 0;
}

static nb_status check_finite(const nb_graph *g, nb_err *err)
{
    for (size_t i = 0; i < nb_param_count(g); i++) {
        const nb_node *w = nb_param_at(g, i);
        for (size_t k = 0; k < nb_size(w); k++)
            if (!isfinite(nb_value_at(w, k)))
                return nb_err_set(err, NB_ERR_NONFINITE,
                                  "parameter %s element %zu is %g: "
                                  "not saving a checkpoint that is not finite",
                                  nb_name(w), k, nb_value_at(w, k));
    }
    return NB_OK;
}

/* cJSON_AddItemToObject, but the item is freed when it cannot be added
 * (cJSON leaves it to the caller then: a leak when out of memory). */
static int add_item(cJSON *object, const char *key, cJSON *item)
{
    if (item && cJSON_AddItemToObject(object, key, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. */
static char *make_header(const nb_graph *g, const nb_meta_kv *meta, size_t n_meta, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    const char *dt = nb_graph_dtype(g) == NB_F32 ? "F32" : "F64";
    double at = 0, esize = (double)dtype_bytes(nb_graph_dtype(g));
    int ok = root != NULL;
    for (size_t i = 0; ok && i < nb_param_count(g); i++) {
        const nb_node *w = nb_param_at(g, i);
        int dim[NB_MAX_RANK];
        for (int k = 0; k < nb_rank(w); k++)
            dim[k] = nb_dim(w, k);
        cJSON *e = cJSON_AddObjectToObject(root, nb_name(w));
        double next = at + (double)nb_size(w) * esize;
        ok = e && cJSON_AddStringToObject(e, "dtype", dt) &&
             add_item(e, "shape", cJSON_CreateIntArray(dim, nb_rank(w))) &&
             add_item(e, "data_offsets", cJSON_CreateDoubleArray((double[]){ at, next }, 2));
        at = next;
    }
    cJSON *m = ok && n_meta ? cJSON_AddObjectToObject(root, "__metadata__") : NULL;
    for (size_t i = 0; ok && i < n_meta; i++)
        ok = m && cJSON_AddStringToObject(m, meta[i].key, meta[i].value);
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return NULL;
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    char *h = nb__nn_realloc(text, padded + 1);
    if (!h) {
        free(text);
        return NULL;
    }
    memset(h + n, ' ', padded - n);
    *len = padded;
    return h;
}

/* The directory part of path ("." if none), for syncing the rename. */
static void dir_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, size, ".");
    else if (slash == path)
        snprintf(dir, size, "/");
    else
        snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

/* Length, header, then each parameter's values, little-endian. */
static int write_body(FILE *f, const nb_graph *g, const char *h, size_t hlen)
{
    unsigned char len8[8];
    long long written = 0;
    size_t most = 1, esize = dtype_bytes(nb_graph_dtype(g));
    put_le64(len8, hlen);
    if (put(f, len8, 8, &written) || put(f, h, hlen, &written))
        return -1;
    for (size_t i = 0; i < nb_param_count(g); i++)
        most = nb_size(nb_param_at(g, i)) > most ? nb_size(nb_param_at(g, i)) : most;
    void *vals = nb__nn_malloc(most * esize);
    unsigned char *bytes = nb__nn_malloc(most * esize);
    int rc = vals && bytes ? 0 : (errno = ENOMEM, -1);
    for (size_t i = 0; rc == 0 && i < nb_param_count(g); i++) {
        const nb_node *w = nb_param_at(g, i);
        rc = nb_read(w, vals, nb_graph_dtype(g)) == NB_OK ? 0 : (errno = EINVAL, -1);
        encode(bytes, vals, nb_size(w), nb_graph_dtype(g));
        if (rc == 0)
            rc = put(f, bytes, nb_size(w) * esize, &written);
    }
    free(vals);
    free(bytes);
    return rc;
}

/* NB_OK if path is absent, a symlink or a regular file, whose mode goes in
 * *mode (else 0: the new file gets 0644 less the umask); an error for
 * anything else, so that a device, FIFO, socket or directory is never
 * replaced by a file.  lstat, not stat: the rename replaces a symlink
 * itself, never its target.  (A path swapped for a device between this
 * check and the rename is still replaced: the check is for mistakes, not
 * for an attacker who can write to the directory.) */
static nb_status check_target(const char *path, mode_t *mode, nb_err *err)
{
    struct stat sb;
    *mode = 0;
    if (lstat(path, &sb) != 0 || S_ISLNK(sb.st_mode))
        return NB_OK; /* absent, or an error the rename reports */
    if (!S_ISREG(sb.st_mode))
        return nb_err_set(err, NB_ERR_IO,
                          "%s: is a %s, not a regular file: not replacing it with a "
                          "checkpoint",
                          path,
                          S_ISDIR(sb.st_mode)    ? "directory"
                          : S_ISCHR(sb.st_mode)  ? "character device"
                          : S_ISBLK(sb.st_mode)  ? "block device"
                          : S_ISFIFO(sb.st_mode) ? "FIFO"
                          : S_ISSOCK(sb.st_mode) ? "socket"
                                                 : "special file");
    *mode = sb.st_mode & 0777;
    return NB_OK;
}

/* A new file PATH.tmp-XXXXXX beside path, opened for writing, created
 * with mode 0644 so the kernel applies the umask (and any default ACL) as
 * for any new file; mkstemp would give 0600.  The name is random, made
 * with O_EXCL, so concurrent saves never share a file.  -1 on error. */
static int open_temp(char *tmp, size_t size, const char *path)
{
    static const char digits[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static atomic_ulong counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 40;
    for (int attempt = 0; attempt < 100; attempt++) {
        nb_rng r;
        nb_rng_seed(&r, x ^ (uint64_t)atomic_fetch_add(&counter, 1) << 20);
        char name[7];
        for (int i = 0; i < 6; i++)
            name[i] = digits[nb_rng_below(&r, sizeof digits - 1)];
        name[6] = '\0';
        snprintf(tmp, size, "%s.tmp-%s", path, name);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* Write into PATH.tmp-XXXXXX, flush, fsync, rename over path, fsync the
 * directory.  On failure the temporary file is removed and path is as it
 * was.  A save killed before the rename (kill -9, power loss) leaves its
 * temporary file behind: another save may be writing one of its own at
 * that moment, so none is removed here (the README says so). */
static nb_status write_atomic(const char *path, const nb_graph *g, const char *h, size_t hlen,
                              nb_err *err)
{
    size_t n = strlen(path);
    mode_t mode;
    nb_status s = check_target(path, &mode, err);
    if (s != NB_OK)
        return s;
    char *tmp = nb__nn_malloc(n + 12), dir[4096];
    if (!tmp)
        return nb_err_set(err, NB_ERR_NOMEM, "%s: out of memory", path);
    int fd = open_temp(tmp, n + 12, path);
    if (fd < 0) {
        s = nb_err_set(err, NB_ERR_IO,
                       "%s: cannot create a temporary file beside "
                       "it: %s",
                       path, strerror(errno));
        free(tmp);
        return s;
    }
    if (mode)
        fchmod(fd, mode); /* replacing a file keeps its mode */
    FILE *f = fdopen(fd, "wb");
    int rc = f ? write_body(f, g, h, hlen) : -1;
    if (rc == 0)
        rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -1;
    int e = errno;
    if ((f ? fclose(f) : close(fd)) != 0 && rc == 0)
        rc = -1, e = errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1, e = errno;
    if (rc != 0) {
        unlink(tmp);
        free(tmp);
        if (e == ENOMEM) /* write_body's buffers */
            return nb_err_set(err, NB_ERR_NOMEM,
                              "%s: out of memory (the previous file, if "
                              "any, is unchanged)",
                              path);
        return nb_err_set(err, NB_ERR_IO,
                          "%s: cannot write: %s (the previous file, if any, "
                          "is unchanged)",
                          path, strerror(e));
    }
    free(tmp);
    dir_of(path, dir, sizeof dir);
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
        rc = fsync(fd) != 0 && errno != EINVAL ? -1 : 0; /* some file systems cannot */
        e = errno;
        close(fd);
    }
    return rc == 0 ? NB_OK
                   : nb_err_set(err, NB_ERR_IO,
                                "%s: written, but syncing %s "
                                "failed: %s",
                                path, dir, strerror(e));
}

nb_status nb_safetensors_save(const nb_graph *g, const char *path, const nb_meta_kv *meta,
                              size_t n_meta, nb_err *err)
{
    size_t hlen = 0;
    if (!g || !path || (n_meta && !meta))
        return nb_err_set(err, NB_ERR_ARG, "save: NULL argument");
    for (size_t i = 0; i < n_meta; i++)
        if (!meta[i].key || !meta[i].value)
            return nb_err_set(err, NB_ERR_ARG, "save: metadata %zu has no key or value", i);
    nb_status s = check_finite(g, err);
    if (s != NB_OK)
        return s;
    char *h = make_header(g, meta, n_meta, &hlen);
    if (!h)
        return nb_err_set(err, NB_ERR_NOMEM, "%s: out of memory for the header", path);
    s = write_atomic(path, g, h, hlen, err);
    free(h);
    return s;
}
