/* csv.c - numeric CSV files (plain or gzipped) into nb_data: header lines,
 * the target column, and errors that name the line and column.  Splits,
 * scaling and batches live in data.c. */
#include "nabla_nn.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The whole file, decompressed if it is gzip (zlib passes plain files
 * through), with a terminating NUL.  *buf is malloc'd. */
static nb_status read_all(const char *path, char **buf, size_t *len, nb_err *err)
{
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return nb_err_set(err, NB_ERR_IO, "%s: cannot open: %s", path,
                          errno ? strerror(errno) : "out of memory");
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    int got = 0;
    while (b) {
        if (cap - n < (1 << 15) + 1) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        got = gzread(f, b + n, 1 << 15);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(f, &zerr);
    nb_status s = NB_OK;
    if (!b)
        s = nb_err_set(err, NB_ERR_NOMEM, "%s: out of memory", path);
    else if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
        s = nb_err_set(err, NB_ERR_IO, "%s: read error: %s", path, zmsg);
    gzclose(f);
    if (s != NB_OK) {
        free(b);
        return s;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return NB_OK;
}

/* ---- Fields ------------------------------------------------------------- */

typedef struct fields {
    const char *p, *end; /* rest of the line */
    int comma;           /* separator: ',' or runs of blanks */
} fields;

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The next field's bounds, blanks trimmed; 0 when the line has no more. */
static int next_field(fields *it, const char **fs, const char **fe)
{
    if (it->comma) {
        if (it->p > it->end)
            return 0;
        const char *sep = memchr(it->p, ',', (size_t)(it->end - it->p));
        *fs = it->p;
        *fe = sep ? sep : it->end;
        it->p = *fe + 1;
    } else {
        while (it->p < it->end && is_blank(*it->p))
            it->p++;
        if (it->p >= it->end)
            return 0;
        *fs = it->p;
        while (it->p < it->end && !is_blank(*it->p))
            it->p++;
        *fe = it->p;
    }
    while (*fs < *fe && is_blank(**fs))
        (*fs)++;
    while (*fe > *fs && is_blank((*fe)[-1]))
        (*fe)--;
    return 1;
}

/* A finite number filling the whole field. */
static int parse_number(const char *fs, const char *fe, double *v)
{
    char tmp[64];
    size_t n = (size_t)(fe - fs);

    if (n == 0 || n >= sizeof tmp)
        return 0;
    memcpy(tmp, fs, n);
    tmp[n] = '\0';
    char *stop;
    *v = strtod(tmp, &stop);
    return *stop == '\0' && isfinite(*v);
}

/* ---- The parser's state -------------------------------------------------- */

typedef struct csv {
    const char *path;
    const nb_csv_opts *opts;
    nb_err *err;
    int comma;
    size_t line; /* 1-based, of the current line */
    const char *line_start;
    int ncols;    /* fields per row, from the first row */
    double *vals; /* rows x ncols */
    size_t rows, cap;
    int target;      /* 0-based column, -1 none yet */
    long declared_n; /* scikit-learn header: rows promised, or -1 */
    long declared_d; /* and features */
    int n_classes;
} csv;

static size_t column(const csv *c, const char *at) { return (size_t)(at - c->line_start) + 1; }

/* Header line: count fields, find target_name, recognise "n,d,names...". */
static nb_status read_header(csv *c, const char *start, const char *end)
{
    fields it = { start, end, c->comma };
    const char *fs, *fe;
    int nf = 0, numeric = 0, named = -1, lead = 0;
    double v[2] = { 0, 0 };
    while (next_field(&it, &fs, &fe)) {
        double x;
        int isnum = parse_number(fs, fe, &x);
        if (nf < 2 && isnum)
            v[nf] = x, lead++;
        numeric += isnum;
        const char *want = c->opts->target_name;
        if (want && strlen(want) == (size_t)(fe - fs) && !memcmp(want, fs, (size_t)(fe - fs)))
            named = nf;
        nf++;
    }
    if (c->opts->target_name) {
        if (named < 0)
            return nb_err_set(c->err, NB_ERR_FORMAT,
                              "%s:%zu: no column named '%s' in the header", c->path, c->line,
                              c->opts->target_name);
        c->target = named;
    }
    if (nf >= 3 && lead == 2 && numeric == 2 && v[0] == floor(v[0]) && v[1] == floor(v[1]) &&
        v[0] >= 1 && v[0] < 1e15 && v[1] >= 0 && v[1] < 1e9) {
        c->declared_n = (long)v[0];
        c->declared_d = (long)v[1];
        c->n_classes = nf - 2;
    }
    return NB_OK;
}

static nb_status grow(csv *c)
{
    size_t cap = c->cap ? c->cap * 2 : 1024;
    double *v = realloc(c->vals, cap * sizeof *v);
    if (!v)
        return nb_err_set(c->err, NB_ERR_NOMEM, "%s: out of memory at line %zu", c->path,
                          c->line);
    c->vals = v;
    c->cap = cap;
    return NB_OK;
}

static nb_status read_row(csv *c, const char *start, const char *end)
{
    fields it = { start, end, c->comma };
    const char *fs, *fe;
    int nf = 0;
    nb_status s;

    while (next_field(&it, &fs, &fe)) {
        if (c->ncols && nf >= c->ncols)
            return nb_err_set(c->err, NB_ERR_FORMAT,
                              "%s:%zu:%zu: field %d: more than the %d fields of the first row",
                              c->path, c->line, column(c, fs), nf + 1, c->ncols);
        double v;
        if (!parse_number(fs, fe, &v)) {
            int w = (int)(fe - fs < 40 ? fe - fs : 40);
            return nb_err_set(c->err, NB_ERR_FORMAT,
                              "%s:%zu:%zu: field %d: expected a number, found '%.*s'", c->path,
                              c->line, column(c, fs), nf + 1, w, fs);
        }
        size_t at = c->rows * (size_t)c->ncols + (size_t)nf; /* ncols 0 in row 0 */
        if (at >= c->cap && (s = grow(c)) != NB_OK)
            return s;
        c->vals[at] = v;
        nf++;
    }
    if (c->ncols == 0) {
        c->ncols = nf; /* first row: its values were stored at row 0 */
    } else if (nf < c->ncols) {
        return nb_err_set(c->err, NB_ERR_FORMAT,
                          "%s:%zu:%zu: %d fields, expected %d as in the first row", c->path,
                          c->line, column(c, end), nf, c->ncols);
    }
    c->rows++;
    return NB_OK;
}

/* First line: a header if asked, or (AUTO) if some field is not a number. */
static int is_header(const csv *c, const char *start, const char *end)
{
    if (c->opts->header != NB_CSV_HEADER_AUTO)
        return c->opts->header == NB_CSV_HEADER_YES;
    fields it = { start, end, c->comma };
    const char *fs, *fe;
    double v;
    while (next_field(&it, &fs, &fe))
        if (!parse_number(fs, fe, &v))
            return 1;
    return 0;
}

static nb_status parse(csv *c, const char *text)
{
    const char *p = text;
    int first = 1;
    nb_status s = NB_OK;

    for (c->line = 1; *p && s == NB_OK; c->line++) {
        const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p);
        const char *q = p;
        while (q < end && is_blank(*q))
            q++;
        c->line_start = p;
        if (q < end) {
            if (first) {
                c->comma = memchr(p, ',', (size_t)(end - p)) != NULL;
                first = 0;
                if (is_header(c, p, end)) {
                    s = read_header(c, p, end);
                    p = nl ? nl + 1 : end;
                    continue;
                }
            }
            s = read_row(c, p, end);
        }
        p = nl ? nl + 1 : end;
    }
    return s;
}

/* The target's 0-based column, or -1 with err set. */
static int target_column(const csv *c)
{
    int k = c->opts->target, nc = c->ncols;

    if (c->target >= 0 && c->target < nc)
        return c->target;
    if (c->target >= 0) { /* a named column the rows do not reach */
        nb_err_set(c->err, NB_ERR_FORMAT,
                   "%s: the target '%s' is column %d of the header, "
                   "but the rows have %d fields",
                   c->path, c->opts->target_name, c->target + 1, nc);
        return -1;
    }
    int col = k == 0 ? nc - 1 : k > 0 ? k - 1 : nc + k;
    if (col < 0 || col >= nc || nc < 2) {
        nb_err_set(c->err, NB_ERR_ARG, "%s: target column %d is out of range for %d columns",
                   c->path, k, nc);
        return -1;
    }
    return col;
}

/* Move the parsed values into out: features in order, the target apart. */
static nb_status finish(const csv *c, nb_data *out)
{
    int tcol = c->opts->no_target ? -1 : target_column(c);
    if (tcol < 0 && !c->opts->no_target)
        return c->err ? c->err->code : NB_ERR_FORMAT;
    int d = c->opts->no_target ? c->ncols : c->ncols - 1;
    if (c->declared_n >= 0 && ((size_t)c->declared_n != c->rows || c->declared_d != d))
        return nb_err_set(c->err, NB_ERR_FORMAT,
                          "%s: the header promises %ld rows of %ld features, found %zu of %d "
                          "(truncated file?)",
                          c->path, c->declared_n, c->declared_d, c->rows, d);
    nb_status s = nb_data_alloc(out, c->rows, d, c->err);
    if (s != NB_OK)
        return s;
    for (size_t i = 0; i < c->rows; i++) {
        const double *row = c->vals + i * (size_t)c->ncols;
        double *x = out->x + i * (size_t)d;
        for (int j = 0; j < c->ncols; j++) {
            if (j == tcol)
                out->y[i] = row[j];
            else
                *x++ = row[j];
        }
    }
    out->n_classes = c->n_classes;
    return NB_OK;
}

nb_status nb_csv_load(const char *path, const nb_csv_opts *opts, nb_data *out, nb_err *err)
{
    static const nb_csv_opts defaults = { 0 };
    char *text = NULL;
    size_t len = 0;

    if (!out)
        return nb_err_set(err, NB_ERR_ARG, "csv: out is NULL");
    *out = (nb_data){ 0 };
    if (!path)
        return nb_err_set(err, NB_ERR_ARG, "csv: path is NULL");
    nb_status s = read_all(path, &text, &len, err);
    if (s != NB_OK)
        return s;
    if (memchr(text, '\0', len))
        s = nb_err_set(err, NB_ERR_FORMAT, "%s: not a text file (holds a NUL byte)", path);
    csv c = { .path = path,
              .opts = opts ? opts : &defaults,
              .err = err,
              .target = -1,
              .declared_n = -1,
              .declared_d = -1 };
    if (s == NB_OK)
        s = parse(&c, text);
    if (s == NB_OK && c.rows == 0)
        s = nb_err_set(err, NB_ERR_FORMAT, "%s: no data rows", path);
    if (s == NB_OK)
        s = finish(&c, out);
    free(c.vals);
    free(text);
    return s;
}
