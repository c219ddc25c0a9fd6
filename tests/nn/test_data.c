/* test_data.c - CSV loading (headers, targets, errors with line and column,
 * gzip), standardisation, seeded splits and mini-batch orders.
 * Usage: test_nn_data SCRATCH_DIR DATA_DIR */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "nabla_nn.h"

static const char *scratch = ".", *datadir = "data";

/* Write text to SCRATCH/name; returns the path (static buffer per call site). */
static const char *put(char *path, size_t size, const char *name, const char *text)
{
    snprintf(path, size, "%s/%s", scratch, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static nb_status load(const char *text, const nb_csv_opts *o, nb_data *d, nb_err *err)
{
    char path[1024];
    return nb_csv_load(put(path, sizeof path, "t.csv", text), o, d, err);
}

static void csv_reads_names_header_and_target_by_name(void)
{
    nb_data d;
    nb_err err = { 0 };
    CHECK(load("a,b,c\n1,2,3\n4,5,6\n\n", &(nb_csv_opts){ .target_name = "b" }, &d, &err) ==
          NB_OK);
    CHECK(d.n == 2 && d.d == 2 && d.n_classes == 0);
    CHECK(d.x[0] == 1 && d.x[1] == 3 && d.y[0] == 2 && d.x[2] == 4 && d.y[1] == 5);
    nb_data_free(&d);
    CHECK(load("a,b\n1,2\n", &(nb_csv_opts){ .target_name = "z" }, &d, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "no column named 'z'") != NULL);
}

static void csv_sklearn_header_sets_classes_and_counts_rows(void)
{
    nb_data d;
    nb_err err = { 0 };
    CHECK(load("3,2,no,yes\r\n1.5,2,0\r\n3,4,1\r\n5,6e-1,1\r\n", NULL, &d, &err) == NB_OK);
    CHECK(d.n == 3 && d.d == 2 && d.n_classes == 2 && d.x[5] == 0.6 && d.y[2] == 1);
    CHECK(nb_data_classes(&d) == 2);
    nb_data_free(&d);
    CHECK(load("4,2,no,yes\n1,2,0\n3,4,1\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "promises 4 rows") != NULL);
    CHECK(d.x == NULL && d.n == 0);
}

static void csv_options_pick_target_header_and_blanks(void)
{
    nb_data d;
    nb_err err = { 0 };
    CHECK(load("1 2 3\n4 5 6\n", &(nb_csv_opts){ .target = 1 }, &d, &err) == NB_OK);
    CHECK(d.d == 2 && d.y[0] == 1 && d.x[0] == 2 && d.x[3] == 6);
    nb_data_free(&d);
    CHECK(load("1,2,3\n4,5,6\n", &(nb_csv_opts){ .target = -2 }, &d, &err) == NB_OK);
    CHECK(d.y[1] == 5 && d.x[1] == 3);
    nb_data_free(&d);
    CHECK(load("1,2,3\n4,5,6\n", &(nb_csv_opts){ .header = NB_CSV_HEADER_YES }, &d, &err) ==
          NB_OK);
    CHECK(d.n == 1 && d.y[0] == 6);
    nb_data_free(&d);
    CHECK(load("1,2\n3,4\n", &(nb_csv_opts){ .no_target = 1 }, &d, &err) == NB_OK);
    CHECK(d.d == 2 && d.n == 2 && d.y[1] == 0);
    nb_data_free(&d);
    CHECK(load("1,2\n", &(nb_csv_opts){ .target = 5 }, &d, &err) == NB_ERR_ARG);
    CHECK(strstr(err.msg, "target column 5") != NULL);
}

static void csv_errors_name_line_and_column(void)
{
    nb_data d;
    nb_err err = { 0 };
    CHECK(load("x,y\n1,2\n3, 4x\n", NULL, &d, &err) == NB_ERR_FORMAT);
    /* "t.csv:3:4: field 2: expected a number, found '4x'" */
    CHECK(strstr(err.msg, "t.csv:3:4: field 2") != NULL);
    CHECK(strstr(err.msg, "'4x'") != NULL && err.code == NB_ERR_FORMAT);
    CHECK(load("1,2,3\n\n4,5\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, ":3:") != NULL && strstr(err.msg, "2 fields, expected 3") != NULL);
    CHECK(load("1,2\n3,4,5\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, ":2:5: field 3") != NULL);
    CHECK(load("1,2\n3,\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, ":2:3: field 2") != NULL);
    CHECK(load("1,2\n3,nan\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(load("a,b\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(strstr(err.msg, "no data rows") != NULL);
    CHECK(nb_csv_load("/nonexistent/x.csv", NULL, &d, &err) == NB_ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent/x.csv: cannot open") != NULL);
    CHECK(strcmp(nb_status_str(NB_ERR_IO), "input/output error") == 0);
}

static void csv_reads_gzip_and_the_shipped_sets(void)
{
    char path[1024];
    nb_data d;
    nb_err err = { 0 };
    snprintf(path, sizeof path, "%s/t.csv.gz", scratch);
    gzFile f = gzopen(path, "wb");
    gzputs(f, "1,2,0\n3,4,1\n");
    gzclose(f);
    CHECK(nb_csv_load(path, NULL, &d, &err) == NB_OK && d.n == 2 && d.x[2] == 3);
    nb_data_free(&d);
    struct {
        const char *file;
        size_t n;
        int d, classes;
    } sets[] = {
        { "digits.csv.gz", 1797, 64, 10 },
        { "iris.csv", 150, 4, 3 },
        { "breast_cancer.csv", 569, 30, 2 },
        { "advertising.csv", 200, 3, -1 },
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", datadir, sets[i].file);
        nb_status s = nb_csv_load(path, NULL, &d, &err);
        CHECK(s == NB_OK);
        if (s != NB_OK)
            fprintf(stderr, "%s\n", err.msg);
        CHECK(d.n == sets[i].n && d.d == sets[i].d && nb_data_classes(&d) == sets[i].classes);
        nb_data_free(&d);
    }
}

static void scaler_gives_zero_mean_unit_std(void)
{
    nb_data d, e;
    nb_scaler s;
    nb_err err = { 0 };
    CHECK(load("1,5,0\n2,5,0\n3,5,0\n6,5,0\n", NULL, &d, &err) == NB_OK);
    CHECK(load("4,7,0\n", NULL, &e, &err) == NB_OK);
    CHECK(nb_scaler_fit(&s, &d, &err) == NB_OK);
    CHECK_NEAR(s.mean[0], 3, 1e-15);
    CHECK_NEAR(s.std[0], sqrt(3.5), 1e-15); /* population: (4+1+0+9)/4 */
    CHECK(s.std[1] == 1);                   /* constant: only centred */
    CHECK(nb_scaler_apply(&s, &d, &err) == NB_OK && nb_scaler_apply(&s, &e, &err) == NB_OK);
    double m = 0, v = 0;
    for (int i = 0; i < 4; i++)
        m += d.x[2 * i] / 4, v += d.x[2 * i] * d.x[2 * i] / 4;
    CHECK_NEAR(m, 0, 1e-15);
    CHECK_NEAR(v, 1, 1e-14);
    CHECK(d.x[1] == 0 && e.x[1] == 2);
    CHECK_NEAR(e.x[0], 1 / sqrt(3.5), 1e-15); /* the training set's mean and std */
    nb_data_free(&e);
    CHECK(load("1\n", &(nb_csv_opts){ .no_target = 1 }, &e, &err) == NB_OK);
    CHECK(nb_scaler_apply(&s, &e, &err) == NB_ERR_SHAPE);
    nb_scaler_free(&s);
    nb_data_free(&d);
    nb_data_free(&e);
}

static void f32_copy_follows_the_scaler(void)
{
    nb_data d;
    nb_scaler s;
    nb_err err = { 0 };
    CHECK(load("1,2,0\n3,4,1\n", NULL, &d, &err) == NB_OK);
    CHECK(d.x32 == NULL && nb_data_f32(&d, &err) == NB_OK);
    CHECK(d.x32 && d.x32[0] == 1.0f && d.x32[3] == 4.0f);
    CHECK(nb_scaler_fit(&s, &d, &err) == NB_OK && nb_scaler_apply(&s, &d, &err) == NB_OK);
    CHECK(d.x32[0] == -1.0f && d.x32[3] == 1.0f); /* refreshed */
    nb_scaler_free(&s);
    nb_data_free(&d);
    CHECK(d.x32 == NULL);
}

/* Pixels k / 255 get a byte copy too; anything else (a value that is not a
 * whole number of 255ths, above 1, NaN, -0, or standardised) gets none. */
static void byte_copy_only_for_pixels(void)
{
    nb_data d;
    nb_err err = { 0 };
    CHECK(nb_data_alloc(&d, 4, 3, &err) == NB_OK);
    for (int i = 0; i < 12; i++)
        d.x[i] = (i * 23 % 256) / 255.0;
    d.x[5] = 1;
    CHECK(d.x8 == NULL && nb_data_f32(&d, &err) == NB_OK && d.x8 != NULL);
    int same = 1;
    for (int i = 0; d.x8 && i < 12; i++)
        same &= d.x8[i] / 255.0 == d.x[i] && d.x32[i] == (float)d.x[i];
    CHECK(same && d.x8 && d.x8[5] == 255 && d.x8[0] == 0);
    const double bad[] = { 256 / 255.0, 0.5, -1 / 255.0, NAN, 1e-3, -0.0 };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        double keep = d.x[7];
        d.x[7] = bad[b];
        CHECK(nb_data_f32(&d, &err) == NB_OK && d.x32 != NULL && d.x8 == NULL);
        d.x[7] = keep;
        CHECK(nb_data_f32(&d, &err) == NB_OK && d.x8 != NULL);
    }
    nb_scaler s;
    CHECK(nb_scaler_fit(&s, &d, &err) == NB_OK && nb_scaler_apply(&s, &d, &err) == NB_OK);
    CHECK(d.x32 != NULL && d.x8 == NULL); /* standardised: no longer bytes */
    nb_scaler_free(&s);
    nb_data_free(&d);
    CHECK(d.x8 == NULL && d.x32 == NULL);
}

/* 4 x 3 pixels k / 255 (one of them 1) in x alone. */
static void pixels(nb_data *d, nb_err *err)
{
    CHECK(nb_data_alloc(d, 4, 3, err) == NB_OK);
    for (int i = 0; d->x && i < 12; i++)
        d->x[i] = (i * 23 % 256) / 255.0;
    if (d->x)
        d->x[5] = 1;
}

/* nb_data_convert leaves one form, and nb_data_rows reads any form back as
 * the same doubles: bytes for pixels, floats otherwise, x for NB_F64. */
static void convert_keeps_one_form(void)
{
    nb_data d, e;
    nb_err err = { 0 };
    double want[12], got[12];
    pixels(&d, &err);
    memcpy(want, d.x, sizeof want);
    CHECK(nb_data_convert(&d, NB_F32, &err) == NB_OK);
    CHECK(d.x == NULL && d.x32 == NULL && d.x8 && d.x8[5] == 255);
    CHECK(nb_data_rows(&d, 0, 4, got, &err) == NB_OK && memcmp(got, want, sizeof got) == 0);
    CHECK(nb_data_f32(&d, &err) == NB_OK && d.x == NULL && d.x32 == NULL); /* nothing to do */
    CHECK(nb_data_rows(&d, 3, 2, got, &err) == NB_ERR_ARG && strstr(err.msg, "rows 3..5 of 4"));
    CHECK(nb_data_convert(&d, NB_F64, &err) == NB_OK);
    CHECK(d.x && d.x8 == NULL && d.x32 == NULL && memcmp(d.x, want, sizeof want) == 0);
    CHECK(nb_data_convert(&d, (nb_dtype)7, &err) == NB_ERR_ARG);
    d.x[7] = 0.1; /* not a byte: floats */
    CHECK(nb_data_convert(&d, NB_F32, &err) == NB_OK);
    CHECK(d.x == NULL && d.x8 == NULL && d.x32 && d.x32[7] == 0.1f && d.x32[5] == 1.0f);
    CHECK(nb_data_rows(&d, 1, 2, got, &err) == NB_OK && got[4] == (double)0.1f);
    CHECK(nb_data_convert(&d, NB_F64, &err) == NB_OK && d.x && d.x[7] == (double)0.1f);
    nb_data_free(&d);
    e = (nb_data){ .n = 2, .d = 2 };
    CHECK(nb_data_convert(&e, NB_F32, &err) == NB_ERR_ARG && strstr(err.msg, "no features"));
    CHECK(nb_data_rows(&e, 0, 1, got, &err) == NB_ERR_ARG);
}

/* The scaler fits the same on any form, applies in doubles and leaves the
 * data in the form it had; a split copies the forms there are. */
static void scaler_and_split_read_any_form(void)
{
    nb_data d, e, tr, te;
    nb_scaler s, t;
    nb_err err = { 0 };
    pixels(&d, &err);
    pixels(&e, &err);
    CHECK(nb_scaler_fit(&s, &d, &err) == NB_OK);
    CHECK(nb_data_convert(&e, NB_F32, &err) == NB_OK && e.x8);
    CHECK(nb_scaler_fit(&t, &e, &err) == NB_OK);
    CHECK(memcmp(s.mean, t.mean, 3 * sizeof(double)) == 0);
    CHECK(memcmp(s.std, t.std, 3 * sizeof(double)) == 0);
    for (size_t i = 0; i < e.n; i++)
        e.y[i] = (double)i; /* the row's number, to find it after the shuffle */
    CHECK(nb_data_split(&e, 0.5, 3, &tr, &te, &err) == NB_OK);
    CHECK(tr.n == 2 && tr.x8 && !tr.x && !tr.x32 && te.x8 && !te.x);
    int moved = 1;
    for (size_t i = 0; tr.x8 && i < 2; i++)
        moved &= memcmp(tr.x8 + 3 * i, e.x8 + 3 * (size_t)tr.y[i], 3) == 0;
    CHECK(moved);
    CHECK(nb_scaler_apply(&s, &d, &err) == NB_OK && nb_scaler_apply(&s, &e, &err) == NB_OK);
    CHECK(e.x == NULL && e.x8 == NULL && e.x32); /* standardised: floats, one copy */
    int same = 1;
    for (int i = 0; e.x32 && i < 12; i++)
        same &= e.x32[i] == (float)d.x[i];
    CHECK(same);
    nb_scaler_free(&s);
    nb_scaler_free(&t);
    nb_data_free(&d);
    nb_data_free(&e);
    nb_data_free(&tr);
    nb_data_free(&te);
}

static void split_is_reproducible_and_a_partition(void)
{
    nb_data all, tr1, te1, tr2, te2, tr3, te3;
    nb_err err = { 0 };
    CHECK(nb_data_alloc(&all, 101, 2, &err) == NB_OK);
    for (size_t i = 0; i < all.n; i++)
        all.x[2 * i] = (double)i, all.y[i] = (double)i;
    CHECK(nb_data_split(&all, 0.2, 5, &tr1, &te1, &err) == NB_OK);
    CHECK(nb_data_split(&all, 0.2, 5, &tr2, &te2, &err) == NB_OK);
    CHECK(nb_data_split(&all, 0.2, 6, &tr3, &te3, &err) == NB_OK);
    CHECK(te1.n == 20 && tr1.n == 81);
    CHECK(memcmp(te1.y, te2.y, 20 * sizeof(double)) == 0);
    CHECK(memcmp(tr1.x, tr2.x, 162 * sizeof(double)) == 0);
    CHECK(memcmp(te1.y, te3.y, 20 * sizeof(double)) != 0);
    int seen[101] = { 0 }, once = 1;
    for (size_t i = 0; i < te1.n; i++)
        seen[(int)te1.y[i]]++;
    for (size_t i = 0; i < tr1.n; i++)
        seen[(int)tr1.y[i]]++, once &= tr1.x[2 * i] == tr1.y[i];
    for (int i = 0; i < 101; i++)
        once &= seen[i] == 1;
    CHECK(once);
    nb_data_free(&tr3);
    nb_data_free(&te3);
    CHECK(nb_data_split(&all, 1.0, 5, &tr3, &te3, &err) == NB_ERR_ARG);
    CHECK(tr3.x == NULL && te3.x == NULL);
    nb_data_free(&all);
    nb_data_free(&tr1);
    nb_data_free(&te1);
    nb_data_free(&tr2);
    nb_data_free(&te2);
}

static void batches_cover_each_row_once_per_epoch(void)
{
    nb_batches b, c;
    nb_err err = { 0 };
    const size_t *idx;
    size_t rows, total = 0, sizes[8], k = 0;
    int seen[23] = { 0 }, ok = 1;
    CHECK(nb_batches_init(&b, 23, 10, 1, 9, &err) == NB_OK);
    CHECK(nb_batches_init(&c, 23, 10, 1, 9, &err) == NB_OK);
    while ((rows = nb_batches_next(&b, &idx)) > 0 && k < 8) {
        sizes[k++] = rows;
        for (size_t i = 0; i < rows; i++)
            seen[idx[i]]++;
        total += rows;
    }
    CHECK(k == 3 && sizes[0] == 10 && sizes[2] == 3 && total == 23);
    for (int i = 0; i < 23; i++)
        ok &= seen[i] == 1;
    CHECK(ok);
    CHECK(memcmp(b.order, c.order, sizeof(size_t) * 23) == 0); /* same seed, same order */
    nb_batches_epoch(&b);
    CHECK(memcmp(b.order, c.order, sizeof(size_t) * 23) != 0); /* reshuffled */
    nb_batches_free(&b);
    nb_batches_free(&c);
    CHECK(nb_batches_init(&b, 0, 10, 1, 9, &err) == NB_ERR_ARG && b.order == NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        scratch = argv[1];
    if (argc > 2)
        datadir = argv[2];
    csv_reads_names_header_and_target_by_name();
    csv_sklearn_header_sets_classes_and_counts_rows();
    csv_options_pick_target_header_and_blanks();
    csv_errors_name_line_and_column();
    csv_reads_gzip_and_the_shipped_sets();
    scaler_gives_zero_mean_unit_std();
    f32_copy_follows_the_scaler();
    byte_copy_only_for_pixels();
    convert_keeps_one_form();
    scaler_and_split_read_any_form();
    split_is_reproducible_and_a_partition();
    batches_cover_each_row_once_per_epoch();
    return check_summary();
}
