/* test_draw.c - the table and the picture of any graph (nb_print_table,
 * nb_print_dot): golden text for the lecture's neuron, built gate by gate,
 * and for a tensor graph; the gates a root has; errors. */
#include "check.h"
#include "nabla.h"

#include <stdlib.h>
#include <string.h>

#define HAS(msg, part) (strstr((msg), (part)) != NULL)

typedef nb_status (*printer)(FILE *, nb_graph *, nb_node *, const nb_draw_opts *);

/* What print writes for root, as a string (free it), through tmpfile. */
static char *printed(printer print, nb_graph *g, nb_node *root, const nb_draw_opts *opts)
{
    FILE *f = tmpfile();
    char *text = NULL;

    if (!f)
        return NULL;
    if (print(f, g, root, opts) == NB_OK) {
        long n = ftell(f);
        text = n >= 0 ? malloc((size_t)n + 1) : NULL;
        rewind(f);
        if (text && fread(text, 1, (size_t)n, f) == (size_t)n)
            text[n] = '\0';
        else if (text)
            text[0] = '\0';
    }
    fclose(f);
    return text;
}

/* a golden comparison that shows both texts when they differ */
static void check_text(const char *got, const char *want, const char *what)
{
    int same = got && strcmp(got, want) == 0;
    CHECK(same);
    if (!same)
        fprintf(stderr, "%s: got\n%s\nwant\n%s\n", what, got ? got : "(nothing)", want);
}

/* The lecture's neuron, f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))), one gate
 * per statement (C leaves the order of arguments' evaluation open). */
static nb_graph *neuron(nb_node **f)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *w0 = nb_scalar(g, "w0", 2), *x0 = nb_scalar(g, "x0", -1);
    nb_node *w1 = nb_scalar(g, "w1", -3), *x1 = nb_scalar(g, "x1", -2);
    nb_node *w2 = nb_scalar(g, "w2", -3);
    nb_node *a = nb_mul(g, w0, x0);
    nb_node *b = nb_mul(g, w1, x1);
    nb_node *s = nb_add(g, nb_add(g, a, b), w2);
    nb_node *e = nb_exp(g, nb_mul_const(g, s, -1));
    *f = nb_reciprocal(g, nb_add_const(g, e, 1));
    return g;
}

static void neuron_table_is_the_lecture(void)
{
    static const char want[] =
        "gate  op          what                    inputs  value     local grad  upstream   to "
        "inputs\n"
        "   1  variable    w0                              2                     -0.196612\n"
        "   2  variable    x0                              -1                    0.393224\n"
        "   3  variable    w1                              -3                    -0.393224\n"
        "   4  variable    x1                              -2                    -0.589836\n"
        "   5  variable    w2                              -3                    0.196612\n"
        "   6  mul                                 w0, x0  -2        -1, 2       0.196612   "
        "-0.196612, 0.393224\n"
        "   7  mul                                 w1, x1  6         -2, -3      0.196612   "
        "-0.393224, -0.589836\n"
        "   8  add                                 #6, #7  4         1, 1        0.196612   "
        "0.196612, 0.196612\n"
        "   9  add         s = w0 x0 + w1 x1 + w2  #8, w2  1         1, 1        0.196612   "
        "0.196612, 0.196612\n"
        "  10  constant                                    -1                    -\n"
        "  11  mul                                 #9, -1  -1        -1, -       -0.196612  "
        "0.196612, -\n"
        "  12  exp                                 #11     0.367879  0.367879    -0.534447  "
        "-0.196612\n"
        "  13  constant                                    1                     -\n"
        "  14  add                                 #12, 1  1.36788   1, -        -0.534447  "
        "-0.534447, -\n"
        "  15  reciprocal                          #14     0.731059  -0.534447   1          "
        "-0.534447\n";
    nb_node *f;
    nb_graph *g = neuron(&f);
    const char *labels[9] = { [8] = "s = w0 x0 + w1 x1 + w2" };

    CHECK(nb_backward(g, f) == NB_OK);
    char *got = printed(nb_print_table, g, f, &(nb_draw_opts){ labels, 9, NULL });
    check_text(got, want, "neuron table");
    free(got);
    nb_graph_free(g);
}

static void add_mul_picture(void)
{
    static const char want[] =
        "digraph nabla {\n"
        "  rankdir=LR;\n"
        "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
        "  edge [fontname=\"Helvetica\", fontsize=10];\n"
        "  n1 [label=<<b>x</b> <font point-size=\"9\">#1</font><br/><font "
        "color=\"#1a7f37\">-2</font><br/><font color=\"#cf222e\">-4</font>>];\n"
        "  n2 [label=<<b>y</b> <font point-size=\"9\">#2</font><br/><font "
        "color=\"#1a7f37\">5</font><br/><font color=\"#cf222e\">-4</font>>];\n"
        "  n3 [label=<<b>z</b> <font point-size=\"9\">#3</font><br/><font "
        "color=\"#1a7f37\">-4</font><br/><font color=\"#cf222e\">3</font>>];\n"
        "  n4 [label=<<b>add</b> <font point-size=\"9\">#4</font><br/><font "
        "color=\"#1a7f37\">3</font><br/><font color=\"#cf222e\">-4</font>>];\n"
        "  n5 [label=<<b>mul</b> <font point-size=\"9\">#5</font><br/><font "
        "color=\"#1a7f37\">-12</font><br/><font color=\"#cf222e\">1</font>>];\n"
        "  n1 -> n4 [label=<<font color=\"#1a7f37\">-2</font><br/><font "
        "color=\"#cf222e\">-4</font>>];\n"
        "  n2 -> n4 [label=<<font color=\"#1a7f37\">5</font><br/><font "
        "color=\"#cf222e\">-4</font>>];\n"
        "  n4 -> n5 [label=<<font color=\"#1a7f37\">3</font><br/><font "
        "color=\"#cf222e\">-4</font>>];\n"
        "  n3 -> n5 [label=<<font color=\"#1a7f37\">-4</font><br/><font "
        "color=\"#cf222e\">3</font>>];\n"
        "  out [shape=plaintext, label=\"\"];\n"
        "  n5 -> out [label=<<font color=\"#1a7f37\">-12</font><br/><font "
        "color=\"#cf222e\">1</font>>];\n"
        "}\n";
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", -2), *y = nb_scalar(g, "y", 5), *z = nb_scalar(g, "z", -4);
    nb_node *q = nb_add(g, x, y);
    nb_node *f = nb_mul(g, q, z);

    CHECK(nb_backward(g, f) == NB_OK);
    char *got = printed(nb_print_dot, g, f, NULL);
    check_text(got, want, "add-mul picture");
    free(got);
    nb_graph_free(g);
}

/* L = sum((X W + b)^2): dz = 2z, db = column sums of dz, dW = X^T dz */
static nb_graph *tensor_graph(nb_node **L)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *X = nb_constant(g, "X", 2, (int[]){ 2, 3 }, (double[]){ 1, 2, 3, 4, 5, 6 });
    nb_node *W = nb_param(g, "W", 2, (int[]){ 3, 2 }, (double[]){ 1, 0, 0, 1, 1, 1 });
    nb_node *b = nb_param(g, "b", 1, (int[]){ 2 }, (double[]){ 0.5, -0.5 });
    nb_node *z = nb_add(g, nb_matmul(g, X, W), b);
    *L = nb_sum(g, nb_mul(g, z, z));
    return g;
}

static void tensor_graph_table_and_picture(void)
{
    static const char table[] =
        "gate  op        what  inputs  value                               local grad  "
        "upstream                 to inputs\n"
        "   1  constant  X             2x3 [1, 2, 3, 4, ...]                           -\n"
        "   2  param     W             3x2 [1, 0, 0, 1, ...]                           [93, "
        "93, 123, 123, ...]\n"
        "   3  param     b             2 [0.5, -0.5]                                   [30, "
        "30]\n"
        "   4  matmul          X, W    2x2 [4, 5, 10, 11]                              [9, 9, "
        "21, 21]\n"
        "   5  add             #4, b   2x2 [4.5, 4.5, 10.5, 10.5]                      [9, 9, "
        "21, 21]\n"
        "   6  mul             #5, #5  2x2 [20.25, 20.25, 110.25, 110.25]              [1, 1, "
        "1, 1]\n"
        "   7  sum             #6      261                                             1\n";
    static const char dot[] =
        "digraph nabla {\n"
        "  rankdir=LR;\n"
        "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
        "  edge [fontname=\"Helvetica\", fontsize=10];\n"
        "  labelloc=t;\n"
        "  label=<L = sum((X W + b)^2)<br/><font point-size=\"10\"><font "
        "color=\"#1a7f37\">forward value</font>   <font "
        "color=\"#cf222e\">gradient</font></font>>;\n"
        "  n1 [label=<<b>X</b> <font point-size=\"9\">#1</font><br/><font "
        "color=\"#1a7f37\">2x3 [1, 2, 3, 4, ...]</font>>];\n"
        "  n2 [label=<<b>W</b> <font point-size=\"9\">#2</font><br/><font "
        "color=\"#1a7f37\">3x2 [1, 0, 0, 1, ...]</font><br/><font color=\"#cf222e\">[93, 93, "
        "123, 123, ...]</font>>];\n"
        "  n3 [label=<<b>b</b> <font point-size=\"9\">#3</font><br/><font color=\"#1a7f37\">2 "
        "[0.5, -0.5]</font><br/><font color=\"#cf222e\">[30, 30]</font>>];\n"
        "  n4 [label=<<b>matmul</b> <font point-size=\"9\">#4</font><br/><font "
        "color=\"#1a7f37\">2x2 [4, 5, 10, 11]</font><br/><font color=\"#cf222e\">[9, 9, 21, "
        "21]</font>>];\n"
        "  n5 [label=<<b>add</b> <font point-size=\"9\">#5</font><br/><font "
        "color=\"#1a7f37\">2x2 [4.5, 4.5, 10.5, 10.5]</font><br/><font color=\"#cf222e\">[9, "
        "9, 21, 21]</font>>];\n"
        "  n6 [label=<<b>mul</b> <font point-size=\"9\">#6</font><br/><font "
        "color=\"#1a7f37\">2x2 [20.25, 20.25, 110.2, 110.2]</font><br/><font "
        "color=\"#cf222e\">[1, 1, 1, 1]</font>>];\n"
        "  n7 [label=<<b>sum</b> <font point-size=\"9\">#7</font><br/><font "
        "color=\"#1a7f37\">261</font><br/><font color=\"#cf222e\">1</font>>];\n"
        "  n1 -> n4;\n"
        "  n2 -> n4;\n"
        "  n4 -> n5;\n"
        "  n3 -> n5;\n"
        "  n5 -> n6;\n"
        "  n5 -> n6;\n"
        "  n6 -> n7;\n"
        "  out [shape=plaintext, label=\"\"];\n"
        "  n7 -> out [label=<<font color=\"#1a7f37\">261</font><br/><font "
        "color=\"#cf222e\">1</font>>];\n"
        "}\n";
    nb_node *L;
    nb_graph *g = tensor_graph(&L);

    CHECK(nb_backward(g, L) == NB_OK);
    char *got = printed(nb_print_table, g, L, NULL);
    check_text(got, table, "tensor table");
    free(got);
    got = printed(nb_print_dot, g, L, &(nb_draw_opts){ .title = "L = sum((X W + b)^2)" });
    check_text(got, dot, "tensor picture");
    free(got);
    nb_graph_free(g);
}

/* Before any backward a gradient shows as "-"; f32 graphs print the same. */
static void before_backward_gradients_are_dashes(void)
{
    nb_graph *g = nb_graph_new(NB_F32);
    nb_node *x = nb_scalar(g, "x", 3);
    nb_node *f = nb_mul(g, x, x);
    char *got = printed(nb_print_table, g, f, NULL);

    check_text(got,
               "gate  op        what  inputs  value  local grad  upstream  to inputs\n"
               "   1  variable  x             3                  -\n"
               "   2  mul             x, x    9      -, -        -         -, -\n",
               "table before backward");
    free(got);
    CHECK(nb_backward(g, f) == NB_OK);
    got = printed(nb_print_table, g, f, NULL);
    check_text(got,
               "gate  op        what  inputs  value  local grad  upstream  to inputs\n"
               "   1  variable  x             3                  6\n"
               "   2  mul             x, x    9      3, 3        1         3, 3\n",
               "table after backward");
    free(got);
    nb_graph_free(g);
}

static void ancestors_in_creation_order(void)
{
    nb_node *L, *gates[8];
    nb_graph *g = tensor_graph(&L);
    nb_node *other = nb_scalar(g, "unused", 1);

    CHECK(nb_ancestors(g, L, NULL, 0) == 7);
    CHECK(nb_ancestors(g, L, gates, 8) == 7);
    for (size_t i = 0; i < 7; i++)
        CHECK(nb_index(gates[i]) == i);
    CHECK(nb_ancestors(g, L, gates, 2) == 7 && nb_index(gates[1]) == 1);
    CHECK(nb_ancestors(g, other, gates, 8) == 1 && gates[0] == other);
    CHECK(nb_ancestors(g, NULL, gates, 8) == 0 && HAS(nb_errmsg(g), "root is NULL"));
    nb_graph_free(g);
}

static void errors_are_reported(void)
{
    nb_node *L;
    nb_graph *g = tensor_graph(&L), *h = nb_graph_new(NB_F64);
    nb_node *y = nb_scalar(h, "y", 1);

    CHECK(nb_print_table(NULL, g, L, NULL) == NB_ERR_ARG);
    CHECK(HAS(nb_errmsg(g), "table: no output stream"));
    CHECK(nb_print_dot(stdout, g, NULL, NULL) == NB_ERR_ARG);
    CHECK(HAS(nb_errmsg(g), "dot: root is NULL"));
    CHECK(nb_print_table(stdout, g, y, NULL) == NB_ERR_GRAPH);
    CHECK(HAS(nb_errmsg(g), "table: root belongs to another graph"));
    CHECK(nb_print_table(stdout, NULL, L, NULL) == NB_ERR_ARG);
    FILE *ro = fopen("/dev/null", "r"); /* every write to it fails */
    if (ro) {
        CHECK(nb_print_dot(ro, g, L, NULL) == NB_ERR_IO);
        CHECK(HAS(nb_errmsg(g), "dot: write error"));
        fclose(ro);
    }
    CHECK(nb_error(g) == NB_OK); /* none of these stops the graph running */
    nb_graph_free(h);
    nb_graph_free(g);
}

int main(void)
{
    neuron_table_is_the_lecture();
    add_mul_picture();
    tensor_graph_table_and_picture();
    before_backward_gradients_are_dashes();
    ancestors_in_creation_order();
    errors_are_reported();
    return check_summary();
}
