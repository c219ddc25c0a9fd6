/* csv.c - CSV files (plain or gzipped) into nb_data, read as a stream of
 * lines: header, separator, quoted fields, the label column (numbers or
 * class names), left-out columns, and errors that name file, line and
 * column.  Splits, scaling and batches live in data.c. */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK       (1 << 16)
#define MAX_CLASSES 65536 /* distinct label names: more is not a class column */

enum { SKIP = -1, LABEL = -2 }; /* a column's role; k >= 0: feature k */

typedef struct csv {
    const char *path;
    const nb_csv_opts *o;
    nb_err *err;
    char sep;         /* ' ': runs of blanks */
    size_t line;      /* 1-based, of the line being read */
    const char *at;   /* its first byte, for columns */
    char *field;      /* an unquoted copy of the current quoted field */
    size_t field_cap; /* and its room */
    char *first;      /* the first line, kept until the second decides the header */
    size_t first_len, first_line;
    int ncols;         /* fields per row; 0 until the columns are set */
    int header_fields; /* the header's field count, 0 without one */
    char **names;      /* ncols column names */
    int *role;         /* ncols roles */
    int d, label;      /* features; the label's column or -1 */
    long declared_n;   /* scikit-learn header: rows and features promised, or -1 */
    long declared_d;
    char **sk_classes; /* and its class names */
    int n_sk;
    double *x, *y; /* rows x d, rows */
    size_t *lines;
    size_t rows, cap;
    int names_kind; /* labels: 0 not yet known, 1 numbers, 2 names */
    char **lab;     /* label names in order of appearance */
    int n_lab;
    int *slot; /* open addressing: index into lab + 1, or 0 */
    size_t n_slot;
    int oom; /* memory ran out: is_header, which sets no error, asks */
} csv;

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static size_t column(const csv *c, const char *p) { return (size_t)(p - c->at) + 1; }

static nb_status nomem(csv *c)
{
    c->oom = 1;
    return nb_err_set(c->err, NB_ERR_NOMEM, "%s:%zu: out of memory", c->path, c->line);
}

static char *dup_range(const char *s, size_t n)
{
    char *d = nb__nn_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* ---- Fields ------------------------------------------------------------------ */

typedef struct fields {
    const char *p, *end; /* the rest of the line */
    int done;
} fields;

/* The next field of the line: its text in [*fs, *fe) (blanks around it
 * trimmed, quotes removed: a quoted field's text is in c->field) and where
 * it starts in the line; 0 at the end of the line, -1 on error. */
static int next_field(csv *c, fields *it, const char **fs, const char **fe, const char **start)
{
    if (c->sep == ' ')
        while (it->p < it->end && is_blank(*it->p))
            it->p++;
    if (it->done || (c->sep == ' ' && it->p >= it->end))
        return 0;
    while (it->p < it->end && is_blank(*it->p) && *it->p != c->sep)
        it->p++;
    *start = it->p;
    if (it->p < it->end && *it->p == '"') {
        size_t n = 0;
        const char *q = it->p + 1;
        for (;; q++) {
            if (q >= it->end) {
                nb_err_set(c->err, NB_ERR_FORMAT,
                           "%s:%zu:%zu: the quote opened here is not closed on this line "
                           "(a field cannot span lines)",
                           c->path, c->line, column(c, *start));
                return -1;
            }
            if (*q == '"' && (q + 1 >= it->end || q[1] != '"'))
                break;
            if (n + 1 >= c->field_cap) {
                size_t cap = c->field_cap ? 2 * c->field_cap : 256;
                char *f = nb__nn_realloc(c->field, cap);
                if (!f)
                    return nomem(c), -1;
                c->field = f;
                c->field_cap = cap;
            }
            c->field[n++] = *q;
            q += *q == '"'; /* "" is one quote */
        }
        *fs = c->field ? c->field : q;
        *fe = *fs + n;
        for (it->p = q + 1; it->p < it->end && is_blank(*it->p) && *it->p != c->sep;)
            it->p++;
        if (it->p < it->end && *it->p != c->sep && c->sep != ' ') {
            nb_err_set(c->err, NB_ERR_FORMAT, "%s:%zu:%zu: text after the closing quote",
                       c->path, c->line, column(c, it->p));
            return -1;
        }
    } else {
        *fs = it->p;
        while (it->p < it->end && *it->p != c->sep && !(c->sep == ' ' && is_blank(*it->p)))
            it->p++;
        *fe = it->p;
        while (*fe > *fs && is_blank((*fe)[-1]))
            (*fe)--;
    }
    if (it->p < it->end && c->sep != ' ')
        it->p++; /* past the separator: a field follows, even an empty one */
    else if (c->sep != ' ')
        it->done = 1;
    return 1;
}

/* The fields of a line; -1 on error. */
static int count_fields(csv *c, const char *p, const char *end)
{
    fields it = { p, end, 0 };
    const char *fs, *fe, *st;
    int n = 0, k;
    while ((k = next_field(c, &it, &fs, &fe, &st)) > 0)
        n++;
    return k < 0 ? -1 : n;
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

/* ---- Columns ----------------------------------------------------------------- */

static int find_column(const csv *c, const char *name, size_t len)
{
    for (int j = 0; j < c->ncols; j++)
        if (strlen(c->names[j]) == len && memcmp(c->names[j], name, len) == 0)
            return j;
    return -1;
}

static nb_status set_label(csv *c)
{
    const nb_csv_opts *o = c->o;
    int k = o->target, nc = c->ncols;

    c->label = -1;
    if (o->no_target)
        return NB_OK;
    if (o->target_name) {
        c->label = find_column(c, o->target_name, strlen(o->target_name));
        if (c->label >= 0 || o->label_optional)
            return NB_OK;
        return nb_err_set(c->err, NB_ERR_FORMAT, "%s:%zu: no column named '%s'%s", c->path,
                          c->line, o->target_name,
                          c->header_fields ? " in the header" : " (no header: give a number)");
    }
    c->label = k == 0 ? nc - 1 : k > 0 ? k - 1 : nc + k;
    if (c->label < 0 || c->label >= nc || nc < 2)
        return nb_err_set(c->err, NB_ERR_ARG,
                          "%s: target column %d is out of range for %d columns", c->path, k,
                          nc);
    return NB_OK;
}

/* opts->drop: header names or 1-based numbers, separated by commas. */
static nb_status set_drops(csv *c)
{
    const char *p = c->o->drop;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int j = find_column(c, p, n);
        char *stop;
        long k = strtol(p, &stop, 10);
        if (j < 0 && stop == p + n && n > 0 && k >= 1 && k <= c->ncols)
            j = (int)k - 1;
        if (j < 0)
            return nb_err_set(c->err, NB_ERR_FORMAT,
                              "%s: cannot leave out '%.*s': no column of that name or "
                              "number (1 to %d)",
                              c->path, (int)(n < 100 ? n : 100), p, c->ncols);
        if (j == c->label)
            return nb_err_set(c->err, NB_ERR_FORMAT,
                              "%s: cannot leave out '%s': it is the label", c->path,
                              c->names[j]);
        c->role[j] = SKIP;
        p = e ? e + 1 : p + n;
    }
    return NB_OK;
}

/* The columns once their count (and names, from a header) are known:
 * names, the label, left-out columns, each feature's place. */
static nb_status set_columns(csv *c, int ncols, char **names)
{
    c->ncols = ncols;
    c->names = names ? names : nb__nn_calloc((size_t)ncols, sizeof *c->names);
    c->role = nb__nn_calloc((size_t)ncols, sizeof *c->role);
    if (!c->names || !c->role)
        return nomem(c);
    for (int j = 0; !names && j < ncols; j++) {
        char num[16];
        snprintf(num, sizeof num, "%d", j + 1);
        if (!(c->names[j] = dup_range(num, strlen(num))))
            return nomem(c);
    }
    nb_status s = set_label(c);
    if (s == NB_OK)
        s = set_drops(c);
    if (s != NB_OK)
        return s;
    if (c->label >= 0)
        c->role[c->label] = LABEL;
    if (c->o->features) {
        for (int j = 0; j < ncols; j++)
            if (c->role[j] >= 0)
                c->role[j] = SKIP;
        for (int k = 0; k < c->o->n_features; k++) {
            const char *f = c->o->features[k];
            int j = f ? find_column(c, f, strlen(f)) : -1;
            if (j < 0 || c->role[j] == LABEL)
                return nb_err_set(c->err, NB_ERR_FORMAT,
                                  "%s: no column '%s', a feature the model needs", c->path,
                                  f ? f : "(null)");
            c->role[j] = k;
        }
        c->d = c->o->n_features;
    } else {
        for (int j = 0; j < ncols; j++)
            if (c->role[j] >= 0)
                c->role[j] = c->d++;
    }
    if (c->d < 1)
        return nb_err_set(c->err, NB_ERR_FORMAT, "%s: no feature columns are left", c->path);
    return NB_OK;
}

/* A header line: column names, or scikit-learn's "n,d,class names...". */
static nb_status read_header(csv *c, const char *p, const char *end)
{
    int nf = count_fields(c, p, end);
    if (nf < 0)
        return c->err->code;
    char **names = nb__nn_calloc((size_t)nf + 1, sizeof *names);
    fields it = { p, end, 0 };
    const char *fs, *fe, *st;
    double v[2] = { 0, 0 };
    int lead = 0, later = 0; /* numbers among the first two fields, and after them */
    if (!names)
        return nomem(c);
    for (int j = 0; j < nf && next_field(c, &it, &fs, &fe, &st) > 0; j++) {
        double num;
        if (j < 2)
            lead += parse_number(fs, fe, &v[j]);
        else
            later += parse_number(fs, fe, &num);
        if (!(names[j] = dup_range(fs, (size_t)(fe - fs)))) {
            for (int k = 0; k < j; k++)
                free(names[k]);
            free(names);
            return nomem(c);
        }
    }
    if (nf >= 3 && lead == 2 && !later && v[0] == floor(v[0]) && v[1] == floor(v[1]) &&
        v[0] >= 1 && v[0] < 1e15 && v[1] >= 0 && v[1] < 1e9) {
        c->declared_n = (long)v[0];
        c->declared_d = (long)v[1];
        free(names[0]);
        free(names[1]);
        c->sk_classes = names;
        c->n_sk = nf - 2;
        memmove(names, names + 2, (size_t)c->n_sk * sizeof *names);
        return NB_OK; /* the columns come from the first row */
    }
    c->header_fields = nf;
    return set_columns(c, nf, names);
}

/* ---- Labels ------------------------------------------------------------------- */

static size_t hash(const char *s, size_t n)
{
    size_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* The index of a label name, added if new; -1 with err set. */
static int intern(csv *c, const char *s, size_t n)
{
    if ((size_t)c->n_lab * 2 >= c->n_slot) {
        size_t ns = c->n_slot ? 2 * c->n_slot : 64;
        int *slot = nb__nn_calloc(ns, sizeof *slot);
        if (!slot)
            return nomem(c), -1;
        for (int i = 0; i < c->n_lab; i++) {
            size_t h = hash(c->lab[i], strlen(c->lab[i])) & (ns - 1);
            while (slot[h])
                h = (h + 1) & (ns - 1);
            slot[h] = i + 1;
        }
        free(c->slot);
        c->slot = slot;
        c->n_slot = ns;
    }
    size_t h = hash(s, n) & (c->n_slot - 1);
    for (; c->slot[h]; h = (h + 1) & (c->n_slot - 1)) {
        const char *l = c->lab[c->slot[h] - 1];
        if (strlen(l) == n && memcmp(l, s, n) == 0)
            return c->slot[h] - 1;
    }
    if (c->n_lab == MAX_CLASSES) {
        nb_err_set(c->err, NB_ERR_FORMAT,
                   "%s:%zu: more than %d different labels in column '%s': is it a class?",
                   c->path, c->line, MAX_CLASSES, c->names[c->label]);
        return -1;
    }
    char **lab = nb__nn_realloc(c->lab, ((size_t)c->n_lab + 1) * sizeof *lab);
    if (!lab)
        return nomem(c), -1;
    c->lab = lab;
    if (!(lab[c->n_lab] = dup_range(s, n)))
        return nomem(c), -1;
    c->slot[h] = ++c->n_lab;
    return c->n_lab - 1;
}

static nb_status bad_field(const csv *c, int j, const char *st, const char *fs, const char *fe,
                           const char *what)
{
    int w = (int)(fe - fs < 40 ? fe - fs : 40);
    if (fe == fs)
        return nb_err_set(c->err, NB_ERR_FORMAT, "%s:%zu:%zu: field %d (%s): missing value",
                          c->path, c->line, column(c, st), j + 1, c->names[j]);
    return nb_err_set(c->err, NB_ERR_FORMAT, "%s:%zu:%zu: field %d (%s): %s, found '%.*s'",
                      c->path, c->line, column(c, st), j + 1, c->names[j], what, w, fs);
}

/* A label against known classes (a model's, or a scikit-learn header's): one
 * of the names, or a whole number below their count. */
static nb_status known_label(const csv *c, const char *st, const char *fs, const char *fe,
                             double *y)
{
    const char *const *classes = c->n_sk ? (const char *const *)c->sk_classes : c->o->classes;
    int count = c->n_sk ? c->n_sk : c->o->n_classes;
    size_t n = (size_t)(fe - fs);
    for (int k = 0; classes && k < count; k++)
        if (classes[k] && strlen(classes[k]) == n && memcmp(classes[k], fs, n) == 0)
            return *y = k, NB_OK;
    if (parse_number(fs, fe, y) && *y >= 0 && *y < count && *y == floor(*y))
        return NB_OK;
    if (fe == fs)
        return bad_field(c, c->label, st, fs, fe, "");
    if (c->n_sk && parse_number(fs, fe, y))
        return nb_err_set(c->err, NB_ERR_FORMAT,
                          "%s:%zu:%zu: label %g is not a class 0 to %d of the header", c->path,
                          c->line, column(c, st), *y, count - 1);
    char list[200] = "";
    size_t at = 0;
    for (int k = 0; classes && k < count && at < sizeof list; k++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", k ? ", " : " (",
                               classes[k] ? classes[k] : "");
    if (classes && at < sizeof list)
        snprintf(list + at, sizeof list - at, ")");
    return nb_err_set(c->err, NB_ERR_FORMAT,
                      "%s:%zu:%zu: label '%.*s' is not one of the %s %d classes%s", c->path,
                      c->line, column(c, st), (int)(n < 40 ? n : 40), fs,
                      c->n_sk ? "header's" : "model's", count, list);
}

static nb_status read_label(csv *c, const char *st, const char *fs, const char *fe, double *y)
{
    if (c->o->n_classes > 0 || c->n_sk)
        return known_label(c, st, fs, fe, y);
    if (!c->names_kind)
        c->names_kind = parse_number(fs, fe, y) || fe == fs ? 1 : 2;
    if (c->names_kind == 1) {
        if (!parse_number(fs, fe, y))
            return bad_field(c, c->label, st, fs, fe, "expected a number as the labels above");
        return NB_OK;
    }
    if (fe == fs)
        return bad_field(c, c->label, st, fs, fe, "");
    int k = intern(c, fs, (size_t)(fe - fs));
    *y = k;
    return k < 0 ? c->err->code : NB_OK;
}

/* ---- Rows --------------------------------------------------------------------- */

static nb_status grow(csv *c)
{
    size_t cap = c->cap ? c->cap * 2 : 256, d = (size_t)c->d;
    if (cap > SIZE_MAX / sizeof(double) / d)
        return nomem(c);
    double *x = nb__nn_realloc(c->x, cap * d * sizeof *x);
    if (x)
        c->x = x;
    double *y = x ? nb__nn_realloc(c->y, cap * sizeof *y) : NULL;
    if (y)
        c->y = y;
    size_t *l = y ? nb__nn_realloc(c->lines, cap * sizeof *l) : NULL;
    if (!l)
        return nomem(c);
    c->lines = l;
    c->cap = cap;
    return NB_OK;
}

static nb_status read_row(csv *c, const char *p, const char *end)
{
    nb_status s;
    if (!c->ncols) { /* no header, or scikit-learn's: the first row counts */
        int nf = count_fields(c, p, end);
        if (nf < 0)
            return c->err->code;
        if ((s = set_columns(c, nf, NULL)) != NB_OK)
            return s;
    }
    if (c->rows == c->cap && (s = grow(c)) != NB_OK)
        return s;
    fields it = { p, end, 0 };
    const char *fs, *fe, *st = p;
    double *x = c->x + c->rows * (size_t)c->d, y = 0;
    int nf = 0, k;
    while ((k = next_field(c, &it, &fs, &fe, &st)) > 0) {
        if (nf >= c->ncols)
            return nb_err_set(c->err, NB_ERR_FORMAT,
                              "%s:%zu:%zu: field %d: more than the %d fields of the %s",
                              c->path, c->line, column(c, st), nf + 1, c->ncols,
                              c->header_fields ? "header" : "first row");
        int r = c->role[nf];
        if (r == LABEL)
            s = read_label(c, st, fs, fe, &y);
        else if (r >= 0 && !parse_number(fs, fe, &x[r]))
            s = bad_field(c, nf, st, fs, fe, "expected a number");
        else
            s = NB_OK;
        if (s != NB_OK)
            return s;
        nf++;
    }
    if (k < 0)
        return c->err->code;
    if (nf < c->ncols)
        return nb_err_set(c->err, NB_ERR_FORMAT, "%s:%zu:%zu: %d fields, expected %d as %s",
                          c->path, c->line, column(c, end), nf, c->ncols,
                          c->header_fields ? "the header names" : "in the first row");
    c->y[c->rows] = y;
    c->lines[c->rows++] = c->line;
    return NB_OK;
}

/* ---- Lines -------------------------------------------------------------------- */

static char pick_sep(const char *p, const char *end)
{
    int quoted = 0, semi = 0;
    for (; p < end; p++) {
        quoted ^= *p == '"';
        if (!quoted && *p == ',')
            return ',';
        semi |= !quoted && *p == ';';
    }
    return semi ? ';' : ' ';
}

/* AUTO: the first line is a header if a field is not a number and either
 * none is, or the second line (NULL: none) has a number where it has none,
 * or another number of fields.  Empty fields count as neither.  -1: out of
 * memory for a quoted field (with the error set). */
static int is_header(csv *c, const char *p1, const char *e1, const char *p2, const char *e2)
{
    if (c->o->header != NB_CSV_HEADER_AUTO)
        return c->o->header == NB_CSV_HEADER_YES;
    fields a = { p1, e1, 0 }, b = { p2, e2, 0 };
    const char *fs, *fe, *st, *gs, *ge;
    int words = 0, numbers = 0, under_number = 0, n1 = 0, n2 = 0;
    nb_err *err = c->err;
    c->err = NULL; /* a bad quote is reported when the line is read */
    while (next_field(c, &a, &fs, &fe, &st) > 0) {
        double v;
        int word = fe > fs && !parse_number(fs, fe, &v);
        words += word;
        numbers += fe > fs && !word;
        n1++;
        if (p2 && next_field(c, &b, &gs, &ge, &st) > 0) {
            n2++;
            under_number |= word && parse_number(gs, ge, &v);
        }
    }
    while (p2 && next_field(c, &b, &gs, &ge, &st) > 0)
        n2++;
    c->err = err;
    if (c->oom)
        return nomem(c), -1;
    return words && (!numbers || !p2 || under_number || n1 != n2);
}

static nb_status read_line(csv *c, const char *p, const char *end)
{
    if (c->line == 1 && end - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3; /* the byte order mark spreadsheets put before UTF-8 text */
    const char *q = p;
    while (q < end && is_blank(*q))
        q++;
    if (q == end)
        return NB_OK;
    c->at = p;
    if (!c->sep)
        c->sep = c->o->sep ? c->o->sep : pick_sep(p, end);
    if (!c->first && !c->ncols && !c->rows && !c->n_sk) {
        if (!(c->first = dup_range(p, (size_t)(end - p))))
            return nomem(c);
        c->first_len = (size_t)(end - p);
        c->first_line = c->line;
        return NB_OK; /* the next line decides whether this one is a header */
    }
    nb_status s = NB_OK;
    if (c->first) {
        size_t line = c->line;
        char *f = c->first;
        int header = is_header(c, f, f + c->first_len, p, end);
        c->first = NULL;
        c->line = c->first_line;
        c->at = f;
        s = header < 0 ? NB_ERR_NOMEM
            : header   ? read_header(c, f, f + c->first_len)
                       : read_row(c, f, f + c->first_len);
        free(f);
        c->line = line;
        c->at = p;
    }
    return s == NB_OK ? read_row(c, p, end) : s;
}

/* The got bytes just read at buf + *have: refused if one is NUL or the
 * total passes the limit, else every whole line in buf goes through
 * read_line and what is left of the last one moves to the front. */
static nb_status take(csv *c, char *buf, size_t *have, size_t got, size_t *total)
{
    size_t limit = c->o->max_bytes ? c->o->max_bytes : NB_CSV_MAX_BYTES;
    nb_status s = NB_OK;

    if (memchr(buf + *have, '\0', got))
        return nb_err_set(c->err, NB_ERR_FORMAT,
                          "%s: not a text file (a NUL byte in the first %zu bytes)", c->path,
                          *total + got);
    if ((*total += got) > limit)
        return nb_err_set(c->err, NB_ERR_FORMAT,
                          "%s: more than %zu bytes of text (the limit: raise it with "
                          "max_bytes, or --max-bytes)",
                          c->path, limit);
    *have += got;
    char *p = buf, *nl;
    while (s == NB_OK && (nl = memchr(p, '\n', *have - (size_t)(p - buf)))) {
        s = read_line(c, p, nl);
        c->line++;
        p = nl + 1;
    }
    *have -= (size_t)(p - buf);
    memmove(buf, p, *have);
    return s;
}

/* Stream the file through read_line, CHUNK bytes at a time; lines longer
 * than a chunk grow the buffer, up to the byte limit.  A gzip stream cut
 * short or corrupt is a read error before its last bytes are parsed. */
static nb_status read_file(csv *c, nb__zfile *f)
{
    size_t cap = 2 * CHUNK, have = 0, total = 0, got;
    char *buf = nb__nn_malloc(cap);
    nb_status s = NB_OK;

    if (!buf)
        return nomem(c);
    c->line = 1;
    while (s == NB_OK) {
        if ((s = nb__zread(f, buf + have, cap - have - 1, &got, c->err)) != NB_OK)
            break;
        if (nb__zcut(f)) {
            s = nb_err_set(c->err, NB_ERR_IO, "%s: read error: %s", c->path, nb__zcut(f));
            break;
        }
        if (got == 0)
            break;
        s = take(c, buf, &have, got, &total);
        if (s == NB_OK && cap - have < CHUNK) {
            char *b = nb__nn_realloc(buf, cap * 2);
            if (!b) {
                s = nomem(c);
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    if (s == NB_OK && have)
        s = read_line(c, buf, buf + have);
    if (s == NB_OK && c->first) { /* a single line */
        char *one = c->first, *end = one + c->first_len;
        c->first = NULL;
        c->line = c->first_line;
        c->at = one;
        int header = is_header(c, one, end, NULL, NULL);
        s = header < 0 ? NB_ERR_NOMEM
            : header   ? read_header(c, one, end)
                       : read_row(c, one, end);
        free(one);
    }
    free(buf);
    return s;
}

/* ---- The result ------------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* Label names sorted, y renumbered to match. */
static nb_status sort_classes(csv *c, nb_data *out)
{
    char ***order = nb__nn_malloc((size_t)c->n_lab * sizeof *order);
    int *rank = nb__nn_malloc((size_t)c->n_lab * sizeof *rank);
    if (!order || !rank) {
        free(order);
        free(rank);
        return nomem(c);
    }
    for (int i = 0; i < c->n_lab; i++)
        order[i] = &c->lab[i];
    qsort(order, (size_t)c->n_lab, sizeof *order, by_name);
    for (int i = 0; i < c->n_lab; i++)
        rank[order[i] - c->lab] = i;
    for (size_t i = 0; i < c->rows; i++)
        out->y[i] = rank[(int)out->y[i]];
    out->classes = nb__nn_malloc((size_t)c->n_lab * sizeof *out->classes);
    for (int i = 0; out->classes && i < c->n_lab; i++)
        out->classes[i] = *order[i];
    if (out->classes) {
        free(c->lab);
        c->lab = NULL;
        out->n_classes = c->n_lab;
        c->n_lab = 0;
    }
    free(order);
    free(rank);
    return out->classes ? NB_OK : nomem(c);
}

/* Move what was read into out. */
static nb_status finish(csv *c, nb_data *out)
{
    if (c->declared_n >= 0 && ((size_t)c->declared_n != c->rows || c->declared_d != c->d))
        return nb_err_set(c->err, NB_ERR_FORMAT,
                          "%s: the header promises %ld rows of %ld features, found %zu of %d "
                          "(truncated file?)",
                          c->path, c->declared_n, c->declared_d, c->rows, c->d);
    *out = (nb_data){ .n = c->rows, .d = c->d, .x = c->x, .y = c->y, .line = c->lines };
    c->x = c->y = NULL;
    c->lines = NULL;
    out->names = nb__nn_calloc((size_t)c->d, sizeof *out->names);
    if (!out->names)
        return nomem(c);
    for (int j = 0; j < c->ncols; j++)
        if (c->role[j] >= 0) {
            out->names[c->role[j]] = c->names[j];
            c->names[j] = NULL;
        }
    if (c->label >= 0) {
        out->label = c->names[c->label];
        c->names[c->label] = NULL;
    }
    if (c->n_sk) {
        out->classes = c->sk_classes;
        out->n_classes = c->n_sk;
        c->sk_classes = NULL;
        c->n_sk = 0;
    } else if (c->o->n_classes > 0) {
        const char *const *names = c->o->classes; /* NULL: numbers only */
        out->n_classes = c->o->n_classes;
        if (names &&
            !(out->classes = nb__nn_calloc((size_t)out->n_classes, sizeof *out->classes)))
            return nomem(c);
        for (int k = 0; names && k < out->n_classes; k++)
            if (names[k] && !(out->classes[k] = dup_range(names[k], strlen(names[k]))))
                return nomem(c);
    } else if (c->names_kind == 2) {
        return sort_classes(c, out);
    }
    return NB_OK;
}

static void free_strings(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

nb_status nb_csv_load(const char *path, const nb_csv_opts *opts, nb_data *out, nb_err *err)
{
    static const nb_csv_opts defaults = { 0 };

    if (!out)
        return nb_err_set(err, NB_ERR_ARG, "csv: out is NULL");
    *out = (nb_data){ 0 };
    if (!path)
        return nb_err_set(err, NB_ERR_ARG, "csv: path is NULL");
    if (opts && (opts->sep == '"' || opts->sep == '\n' || opts->sep == '\r'))
        return nb_err_set(err, NB_ERR_ARG, "csv: a quote or line end cannot separate fields");
    nb__zfile *f;
    nb_status s = nb__zopen(path, &f, err);
    if (s != NB_OK)
        return s;
    nb_err own; /* err NULL: the codes still come from a record */
    csv c = { .path = path,
              .o = opts ? opts : &defaults,
              .err = err ? err : &own,
              .label = -1,
              .declared_n = -1,
              .declared_d = -1 };
    s = read_file(&c, f);
    nb__zclose(f);
    if (s == NB_OK && c.rows == 0)
        s = nb_err_set(err, NB_ERR_FORMAT, "%s: no data rows", path);
    if (s == NB_OK)
        s = finish(&c, out);
    if (s != NB_OK)
        nb_data_free(out);
    free(c.field);
    free(c.first);
    free_strings(c.names, c.ncols);
    free(c.role);
    free_strings(c.sk_classes, c.n_sk);
    free(c.x);
    free(c.y);
    free(c.lines);
    free_strings(c.lab, c.n_lab);
    free(c.slot);
    return s;
}
