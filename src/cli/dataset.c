/* dataset.c - what `nabla train` and `nabla predict` share about data: the
 * data sets shipped with nabla found by name, the CSV options (--label,
 * --drop, --sep, --max-bytes), and the checkpoint metadata that lets a
 * saved model be applied (feature names, label, classes, scaler) as JSON
 * strings. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "train.h"

#ifndef NB_DATADIR
#define NB_DATADIR "/usr/local/share/nabla"
#endif

static const struct {
    const char *name, *file;
} shipped[] = {
    { "iris", "iris.csv" },
    { "breast-cancer", "breast_cancer.csv" },
    { "advertising", "advertising.csv" },
    { "digits", "digits.csv.gz" },
};
#define N_SHIPPED (sizeof shipped / sizeof *shipped)

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

int data_is_named(const char *data)
{
    for (size_t k = 0; k < N_SHIPPED; k++)
        if (strcmp(data, shipped[k].name) == 0)
            return 1;
    return strcmp(data, "fashion-mnist") == 0;
}

nb_status data_path(const char *data, const char *dir, char *path, size_t size, nb_err *err)
{
    const char *dirs[] = { NB_DATADIR, NB_SOURCE_DATADIR };
    for (size_t k = 0; k < N_SHIPPED; k++) {
        if (strcmp(data, shipped[k].name) != 0)
            continue;
        if (dir) { /* a missing file is reported by the loader */
            snprintf(path, size, "%s/%s", dir, shipped[k].file);
            return NB_OK;
        }
        for (int i = 0; i < 2; i++) {
            snprintf(path, size, "%s/%s", dirs[i], shipped[k].file);
            if (file_exists(path))
                return NB_OK;
        }
        return nb_err_set(err, NB_ERR_IO,
                          "%s is neither in %s nor in %s (give its directory with --data-dir)",
                          shipped[k].file, dirs[0], dirs[1]);
    }
    snprintf(path, size, "%s", data);
    if (file_exists(path) || strchr(data, '/'))
        return NB_OK;
    for (size_t k = 0; k < N_SHIPPED; k++) /* "iris.csv" from a folder without it */
        if (strcmp(data, shipped[k].file) == 0)
            return nb_err_set(err, NB_ERR_IO,
                              "%s: cannot open: %s (the copy shipped with nabla is --data %s)",
                              data, strerror(ENOENT), shipped[k].name);
    return NB_OK;
}

/* ---- CSV options ------------------------------------------------------------- */

int parse_sep(const char *opt, const char *v, char *sep, int (*usage)(const char *, ...))
{
    if (strcmp(v, "tab") == 0 || strcmp(v, "\\t") == 0)
        *sep = '\t';
    else if (strcmp(v, "space") == 0)
        *sep = ' ';
    else if (strlen(v) == 1 && v[0] != '"' && v[0] != '\n')
        *sep = v[0];
    else
        return usage("%s: '%s' is not one character, tab or space", opt, v);
    return 0;
}

int parse_bytes(const char *opt, const char *v, size_t *out, int (*usage)(const char *, ...))
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    double unit = *end == 'k' || *end == 'K'   ? 1024.0
                  : *end == 'M'                ? 1024.0 * 1024
                  : *end == 'G' || *end == 'g' ? 1024.0 * 1024 * 1024
                                               : 1;
    if (unit > 1)
        end++;
    if (end == v || *end || errno || !(x * unit >= 1 && x * unit < 1e18))
        return usage("%s: '%s' is not a size such as 500M or 4G", opt, v);
    *out = (size_t)(x * unit);
    return 0;
}

nb_status csv_label_opts(const char *label, nb_csv_opts *co, nb_err *err)
{
    if (!label)
        return NB_OK;
    char *end;
    long k = strtol(label, &end, 10);
    if (*end || end == label)
        co->target_name = label;
    else if (k == 0 || k > 1000000 || k < -1000000)
        return nb_err_set(err, NB_ERR_ARG,
                          "--label %s: columns count from 1 (or from -1 at the end)", label);
    else
        co->target = (int)k;
    return NB_OK;
}

/* ---- Metadata: JSON arrays in strings ----------------------------------------- */

char *meta_strings(char *const *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *s = cJSON_CreateString(v[i] ? v[i] : "");
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            cJSON_Delete(a);
            return NULL;
        }
    }
    char *out = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return out;
}

/* %.17g: every double comes back to the bit. */
char *meta_numbers(const double *v, int n)
{
    size_t cap = 2 + (size_t)n * 26, at = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    at += (size_t)snprintf(s, cap, "[");
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(s + at, cap - at, "%s%.17g", i ? "," : "", v[i]);
    snprintf(s + at, cap - at, "]");
    return s;
}

/* A JSON array of n items of type want, or NULL. */
static cJSON *meta_array(const char *json, int want, int *n)
{
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return NULL;
    }
    *n = cJSON_GetArraySize(a);
    for (cJSON *e = a->child; e; e = e->next)
        if (!(e->type & want)) {
            cJSON_Delete(a);
            return NULL;
        }
    return a;
}

int meta_get_strings(const char *json, char ***out, int *n)
{
    cJSON *a = meta_array(json, cJSON_String, n);
    *out = NULL;
    if (!a || *n < 1 || !(*out = calloc((size_t)*n, sizeof **out))) {
        cJSON_Delete(a);
        return 0;
    }
    int i = 0, ok = 1;
    for (cJSON *e = a->child; e; e = e->next, i++)
        ok &= ((*out)[i] = strdup(e->valuestring)) != NULL;
    cJSON_Delete(a);
    if (!ok)
        free_strings(out, *n);
    return ok;
}

void free_strings(char ***v, int n)
{
    for (int i = 0; *v && i < n; i++)
        free((*v)[i]);
    free(*v);
    *v = NULL;
}

int meta_get_numbers(const char *json, double *out, int n)
{
    int got = 0;
    cJSON *a = meta_array(json, cJSON_Number, &got);
    int i = 0, ok = a && got == n;
    for (cJSON *e = a ? a->child : NULL; ok && e; e = e->next)
        ok = isfinite(out[i++] = e->valuedouble);
    cJSON_Delete(a);
    return ok;
}

/* ---- The scaler in a checkpoint ------------------------------------------------- */

nb_status meta_scaler(const nb_safetensors *st, const char *path, int d, nb_scaler *sc,
                      nb_err *err)
{
    const char *mean = nb_safetensors_meta(st, "scaler_mean");
    const char *std = nb_safetensors_meta(st, "scaler_std");
    *sc = (nb_scaler){ 0 };
    if (!mean && !std)
        return NB_OK;
    sc->mean = calloc((size_t)d, sizeof *sc->mean);
    sc->std = calloc((size_t)d, sizeof *sc->std);
    if (!sc->mean || !sc->std) {
        nb_scaler_free(sc);
        return nb_err_set(err, NB_ERR_NOMEM, "%s: out of memory", path);
    }
    sc->d = d;
    int ok = meta_get_numbers(mean, sc->mean, d) && meta_get_numbers(std, sc->std, d);
    for (int j = 0; ok && j < d; j++)
        ok = sc->std[j] > 0;
    if (!ok) {
        nb_scaler_free(sc);
        return nb_err_set(err, NB_ERR_FORMAT,
                          "%s: __metadata__ 'scaler_mean' and 'scaler_std' are not %d finite "
                          "numbers each (std > 0)",
                          path, d);
    }
    return NB_OK;
}
