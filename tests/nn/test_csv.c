/* test_csv.c - CSV files as users have them: separators, quotes, dropped
 * columns, class names, the header against the rows, missing values, the
 * columns a trained model asks for, and the byte limit on a gzip bomb.
 * Usage: test_nn_csv SCRATCH_DIR DATA_DIR */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "nabla_nn.h"

static const char *scratch = ".";

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
    return nb_csv_load(put(path, sizeof path, "c.csv", text), o, d, err);
}

static int has(const nb_err *err, const char *s)
{
    int ok = strstr(err->msg, s) != NULL;
    if (!ok)
        fprintf(stderr, "  message: %s\n  lacks:   %s\n", err->msg, s);
    return ok;
}

static void string_labels_become_sorted_classes(void)
{
    nb_data d;
    nb_err err = { 0 };
    CHECK(load("id;sepal;petal;species\n"
               "a1;5.1;1.4;setosa\n"
               "a2;7.0;4.7;versicolor\n"
               "\"a;3\";6.3;6.0;virginica\n"
               "a4;4.9;1.4;setosa\n",
               &(nb_csv_opts){ .drop = "id" }, &d, &err) == NB_OK);
    CHECK(d.n == 4 && d.d == 2 && d.n_classes == 3);
    CHECK(d.classes && strcmp(d.classes[0], "setosa") == 0 &&
          strcmp(d.classes[2], "virginica") == 0);
    CHECK(d.y[0] == 0 && d.y[1] == 1 && d.y[2] == 2 && d.y[3] == 0);
    CHECK(d.x[4] == 6.3 && d.x[5] == 6.0);
    CHECK(strcmp(d.names[0], "sepal") == 0 && strcmp(d.names[1], "petal") == 0);
    CHECK(strcmp(d.label, "species") == 0);
    CHECK(d.line[0] == 2 && d.line[3] == 5);
    CHECK(nb_data_classes(&d) == 3);
    nb_data_free(&d);
    /* the first row is data: a species column is not a header */
    CHECK(load("5.1,3.5,setosa\n4.9,3.0,setosa\n6.3,3.3,virginica\n", NULL, &d, &err) == NB_OK);
    CHECK(d.n == 3 && d.n_classes == 2 && d.y[2] == 1 && strcmp(d.names[1], "2") == 0);
    nb_data_free(&d);
}

static void quotes_separators_and_drops(void)
{
    nb_data d;
    nb_err err = { 0 };
    CHECK(load("\"a, b\",\"say \"\"hi\"\"\",y\n\" 1\",2,3\n", NULL, &d, &err) == NB_OK);
    CHECK(d.n == 1 && d.d == 2 && d.x[0] == 1 && d.x[1] == 2 && d.y[0] == 3);
    CHECK(strcmp(d.names[0], "a, b") == 0 && strcmp(d.names[1], "say \"hi\"") == 0);
    nb_data_free(&d);
    CHECK(load("1\t\t3\n", &(nb_csv_opts){ .sep = '\t' }, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:1:3: field 2 (2): missing value"));
    CHECK(load("1|2|3|4\n5|6|7|8\n", &(nb_csv_opts){ .sep = '|', .drop = "1,3", .target = 2 },
               &d, &err) == NB_OK);
    CHECK(d.d == 1 && d.x[1] == 8 && d.y[1] == 6);
    nb_data_free(&d);
    CHECK(load("a,b,c\n1,2,3\n", &(nb_csv_opts){ .drop = "zz" }, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "cannot leave out 'zz'"));
    CHECK(load("a,b,c\n1,2,3\n", &(nb_csv_opts){ .drop = "c" }, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "'c': it is the label"));
    CHECK(load("a,b\n\"1,2\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:2:1: the quote opened here is not closed"));
    CHECK(load("a,b\n\"1\"x,2\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:2:4: text after the closing quote"));
}

static void header_must_match_the_rows(void)
{
    nb_data d;
    nb_err err = { 0 };
    CHECK(load("a,b\n1,2,3\n4,5,6\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:2:5: field 3: more than the 2 fields of the header"));
    CHECK(load("a,b,c,d\n1,2,3\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:2:6: 3 fields, expected 4 as the header names"));
    CHECK(d.x == NULL && d.names == NULL);
}

static void missing_values_are_errors_never_zeros(void)
{
    nb_data d;
    nb_err err = { 0 };
    CHECK(load("x,y,z\n1,2,0\n3,,1\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:3:3: field 2 (y): missing value"));
    CHECK(load("x,y,z\n1,2,0\n3,4,\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:3:5: field 3 (z): missing value"));
    CHECK(load("x,y,z\n1,NA,0\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:2:3: field 2 (y): expected a number, found 'NA'"));
    CHECK(load("x,y,z\n1,2,0\n3,4,cat\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:3:5: field 3 (z): expected a number as the labels above"));
}

/* nabla predict: features by name in the model's order, the label optional,
 * labels checked against the model's classes with their line. */
static void a_model_picks_its_columns(void)
{
    const char *feats[] = { "petal", "sepal" }, *classes[] = { "setosa", "virginica" };
    nb_csv_opts o = { .features = feats,
                      .n_features = 2,
                      .target_name = "species",
                      .label_optional = 1,
                      .classes = classes,
                      .n_classes = 2 };
    nb_data d;
    nb_err err = { 0 };
    CHECK(load("id,sepal,note,petal,species\n7,5.1,x y,1.4,virginica\n8,4.9,,1.3,1\n", &o, &d,
               &err) == NB_OK);
    CHECK(d.n == 2 && d.d == 2 && d.x[0] == 1.4 && d.x[1] == 5.1 && d.x[2] == 1.3);
    CHECK(d.y[0] == 1 && d.y[1] == 1 && d.label && d.n_classes == 2);
    CHECK(strcmp(d.classes[1], "virginica") == 0 && strcmp(d.names[0], "petal") == 0);
    nb_data_free(&d);
    CHECK(load("petal,sepal\n1,2\n", &o, &d, &err) == NB_OK);
    CHECK(d.n == 1 && d.label == NULL && d.y[0] == 0);
    nb_data_free(&d);
    CHECK(load("sepal,petal,species\n1,2,setosa\n\n3,4,versicolor\n", &o, &d, &err) ==
          NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:4:5: label 'versicolor' is not one of the model's 2 classes "
                    "(setosa, virginica)"));
    CHECK(load("sepal,species\n1,setosa\n", &o, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "no column 'petal', a feature the model needs"));
    /* numeric classes: a label above them names its line */
    CHECK(load("1,2,0\n3,4,5\n", &(nb_csv_opts){ .n_classes = 3 }, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:2:5: label '5' is not one of the model's 3 classes"));
    /* a scikit-learn header's classes bound the labels too */
    CHECK(load("2,1,no,yes\n1,0\n2,2\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:3:3: label 2 is not a class 0 to 1 of the header"));
    CHECK(load("\xef\xbb\xbf"
               "2,1,no,yes\n1,yes\n2,no\n",
               NULL, &d, &err) == NB_OK);
    CHECK(d.y[0] == 1 && d.y[1] == 0 && d.n_classes == 2 && d.x[1] == 2);
    nb_data_free(&d);
    CHECK(load("2,1,no,yes\n1,yes\n2,maybe\n", NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "c.csv:3:3: label 'maybe' is not one of the header's 2 classes (no, yes)"));
}

static void split_keeps_names_classes_and_lines(void)
{
    nb_data all, train, test;
    nb_err err = { 0 };
    CHECK(load("f,g,k\n1,2,b\n3,4,a\n5,6,b\n7,8,c\n", NULL, &all, &err) == NB_OK);
    CHECK(nb_data_split(&all, 0.5, 3, &train, &test, &err) == NB_OK);
    CHECK(train.n == 2 && test.n == 2 && test.n_classes == 3 && train.n_classes == 3);
    CHECK(strcmp(test.classes[2], "c") == 0 && strcmp(train.names[1], "g") == 0);
    CHECK(strcmp(test.label, "k") == 0);
    for (size_t i = 0; i < test.n; i++) /* line L holds x = 2(L - 2) + 1 */
        CHECK(test.x[2 * i] == 2.0 * (double)(test.line[i] - 2) + 1);
    nb_data_free(&all);
    nb_data_free(&train);
    nb_data_free(&test);
}

/* A gzip bomb stops at the limit or at its first NUL byte, after reading a
 * chunk or so, not after inflating it all. */
static void inflating_is_bounded(void)
{
    char path[1024];
    nb_data d;
    nb_err err = { 0 };
    char *block = malloc(1 << 20);
    CHECK(block != NULL);
    if (!block)
        return;
    snprintf(path, sizeof path, "%s/bomb.csv.gz", scratch);
    gzFile f = gzopen(path, "wb9");
    for (int i = 0; i < (1 << 20); i += 4)
        memcpy(block + i, "0,1\n", 4);
    for (int k = 0; k < 64; k++) /* 64 MB of "0,1" rows, a few hundred KB gzipped */
        gzwrite(f, block, 1 << 20);
    gzclose(f);
    CHECK(nb_csv_load(path, &(nb_csv_opts){ .max_bytes = 1 << 20 }, &d, &err) == NB_ERR_FORMAT);
    CHECK(has(&err, "more than 1048576 bytes of text"));
    CHECK(d.x == NULL);
    CHECK(load("0,1\n2,3\n", &(nb_csv_opts){ .max_bytes = 8 }, &d, &err) == NB_OK && d.n == 2);
    nb_data_free(&d);

    memset(block, 0, 1 << 20);
    f = gzopen(path, "wb9");
    gzputs(f, "a,b\n1,2\n");
    for (int k = 0; k < 64; k++)
        gzwrite(f, block, 1 << 20);
    gzclose(f);
    CHECK(nb_csv_load(path, NULL, &d, &err) == NB_ERR_FORMAT);
    const char *at = strstr(err.msg, "a NUL byte in the first ");
    CHECK(at && strtol(at + 24, NULL, 10) <= 1 << 17); /* one chunk of 64 MB read */
    free(block);
}

/* A gzip stream cut short or corrupt is a read error, however many whole
 * lines came before the cut; gzip members one after another are one text. */
static void cut_gzip_is_a_read_error(void)
{
    char path[1024];
    nb_data d;
    nb_err err = { 0 };
    snprintf(path, sizeof path, "%s/cut.csv.gz", scratch);
    gzFile f = gzopen(path, "wb");
    for (int i = 0; i < 20000; i++)
        gzprintf(f, "%d,%d\n", i, i % 2);
    gzclose(f);
    f = gzopen(path, "ab"); /* a second member */
    gzputs(f, "7,1\n");
    gzclose(f);
    CHECK(nb_csv_load(path, NULL, &d, &err) == NB_OK && d.n == 20001 && d.x[20000] == 7);
    nb_data_free(&d);
    FILE *raw = fopen(path, "rb");
    unsigned char buf[1 << 16];
    size_t n = raw ? fread(buf, 1, sizeof buf, raw) : 0;
    if (raw)
        fclose(raw);
    CHECK(n > 1000 && n < sizeof buf);
    raw = fopen(path, "wb");
    fwrite(buf, 1, n / 2, raw); /* half the first member */
    fclose(raw);
    CHECK(nb_csv_load(path, NULL, &d, &err) == NB_ERR_IO);
    CHECK(has(&err, "cut.csv.gz: read error: unexpected end of file") && d.x == NULL);
    buf[n / 2] ^= 0xff; /* corrupt: a bad code, a bad check or a bad length */
    raw = fopen(path, "wb");
    fwrite(buf, 1, n, raw);
    fclose(raw);
    CHECK(nb_csv_load(path, NULL, &d, &err) == NB_ERR_IO);
    CHECK(has(&err, "cut.csv.gz: read error: ") && d.x == NULL);
    /* without an error record, the codes are the same */
    CHECK(nb_csv_load(path, NULL, &d, NULL) == NB_ERR_IO);
    CHECK(load("a,b\n1,\"2\n", NULL, &d, NULL) == NB_ERR_FORMAT);
    CHECK(load("1,x\n1,y\n", NULL, &d, NULL) == NB_OK && d.n_classes == 2);
    nb_data_free(&d);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        scratch = argv[1];
    string_labels_become_sorted_classes();
    quotes_separators_and_drops();
    header_must_match_the_rows();
    missing_values_are_errors_never_zeros();
    a_model_picks_its_columns();
    split_keeps_names_classes_and_lines();
    inflating_is_bounded();
    cut_gzip_is_a_read_error();
    return check_summary();
}
