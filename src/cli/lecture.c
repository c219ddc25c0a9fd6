/* lecture.c - `nabla lecture`: the lecture's worked examples, built gate by
 * gate with the public API, printed as tables (nb_print_table) and checked against
 * the numbers on the slides.  Each example ends with a one-line verdict. */
#include "cli.h"
#include "view.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 128 /* labels kept per example graph; all ours are smaller */

typedef struct lesson {
    FILE *out;
    nb_graph *g;
    const char *label[MAX_NODES]; /* by nb_index */
    int checked, failed;
} lesson;

/* ---- Helpers ------------------------------------------------------------ */

static nb_graph *fresh_graph(lesson *l)
{
    nb_graph_free(l->g);
    memset(l->label, 0, sizeof l->label);
    l->g = nb_graph_new(NB_F64);
    return l->g;
}

static nb_node *named(lesson *l, nb_node *n, const char *label)
{
    if (n && nb_index(n) < MAX_NODES)
        l->label[nb_index(n)] = label;
    return n;
}

static nb_node *constant(nb_graph *g, const char *name, double v)
{
    return nb_constant(g, name, 0, NULL, &v);
}

/* Backward from root with d(root) = upstream, then the table.  0 if the
 * graph was built and ran; otherwise the failure is counted. */
static int run_and_show(lesson *l, nb_node *root, double upstream, const char *caption)
{
    nb_draw_opts draw = { l->label, MAX_NODES, NULL };

    if (caption)
        fprintf(l->out, "%s\n", caption);
    if (!root || nb_backward_seed(l->g, root, &upstream, 0) != NB_OK ||
        nb_print_table(l->out, l->g, root, &draw) != NB_OK) {
        fprintf(l->out, "  engine error: %s\n", nb_errmsg(l->g));
        l->checked++;
        l->failed++;
        return -1;
    }
    return 0;
}

/* Compare with a value as the slide writes it: its decimal places set the
 * tolerance (half a unit in the last place; integers must match). */
static void check(lesson *l, const char *what, double got, const char *slide)
{
    const char *dot = strchr(slide, '.');
    size_t places = dot ? strlen(dot + 1) : 0;
    double tol = places ? 0.5 * pow(10.0, -(double)places) : 0.0;
    int ok = fabs(got - strtod(slide, NULL)) <= tol * (1 + 1e-9) + 1e-12;
    char num[32];

    l->checked++;
    l->failed += !ok;
    fprintf(l->out, "  check %-16s %-14s slide %-14s %s\n", what, fmt_num(num, got, 10), slide,
            ok ? "ok" : "DIFFERS");
}

/* ---- The examples --------------------------------------------------------- */

static void add_mul(lesson *l)
{
    nb_graph *g = fresh_graph(l);
    nb_node *x = nb_scalar(g, "x", -2), *y = nb_scalar(g, "y", 5), *z = nb_scalar(g, "z", -4);
    nb_node *q = named(l, nb_add(g, x, y), "q = x + y");
    nb_node *f = named(l, nb_mul(g, q, z), "f = q z");

    if (run_and_show(l, f, 1, NULL) != 0)
        return;
    check(l, "q", nb_value_scalar(q), "3");
    check(l, "f", nb_value_scalar(f), "-12");
    check(l, "df/dq = z", nb_grad_scalar(q), "-4");
    check(l, "df/dz = q", nb_grad_scalar(z), "3");
    check(l, "df/dx", nb_grad_scalar(x), "-4");
    check(l, "df/dy", nb_grad_scalar(y), "-4");
}

static void neuron_checks(lesson *l, nb_node *const w[5])
{
    static const char *const name[5] = { "df/dw0", "df/dx0", "df/dw1", "df/dx1", "df/dw2" };
    static const char *const slide[5] = { "-0.1966119332", "0.3932238665", "-0.3932238665",
                                          "-0.5898357997", "0.1966119332" };
    for (int i = 0; i < 5; i++)
        check(l, name[i], nb_grad_scalar(w[i]), slide[i]);
}

static void neuron(lesson *l)
{
    nb_graph *g = fresh_graph(l);
    nb_node *v[5] = { nb_scalar(g, "w0", 2), nb_scalar(g, "x0", -1), nb_scalar(g, "w1", -3),
                      nb_scalar(g, "x1", -2), nb_scalar(g, "w2", -3) };
    /* One gate per statement: C leaves the order of arguments open, and the
     * table should list the gates in the order the slide draws them. */
    nb_node *m0 = named(l, nb_mul(g, v[0], v[1]), "w0 x0");
    nb_node *m1 = named(l, nb_mul(g, v[2], v[3]), "w1 x1");
    nb_node *s1 = named(l, nb_add(g, m0, m1), "w0x0 + w1x1");
    nb_node *s = named(l, nb_add(g, s1, v[4]), "s = w0x0 + w1x1 + w2");
    nb_node *neg = named(l, nb_mul_const(g, s, -1), "*-1");
    nb_node *e = named(l, nb_exp(g, neg), "exp");
    nb_node *d = named(l, nb_add_const(g, e, 1), "+1");
    nb_node *f = named(l, nb_reciprocal(g, d), "f = 1/x");

    if (run_and_show(l, f, 1, "built from gates: *, +, *-1, exp, +1, 1/x") != 0)
        return;
    check(l, "s", nb_value_scalar(s), "1.00");
    check(l, "exp(-s)", nb_value_scalar(e), "0.37");
    check(l, "1 + exp(-s)", nb_value_scalar(d), "1.37");
    check(l, "f", nb_value_scalar(f), "0.7310585786");
    check(l, "df/d(+1)", nb_grad_scalar(d), "-0.53");
    check(l, "df/d(exp)", nb_grad_scalar(e), "-0.53");
    check(l, "df/d(*-1)", nb_grad_scalar(neg), "-0.20");
    check(l, "df/ds", nb_grad_scalar(s), "0.20");
    neuron_checks(l, v);

    nb_node *f2 = named(l, nb_sigmoid(g, s), "f = sigmoid(s)");
    if (run_and_show(l, f2, 1,
                     "\nthe same neuron with the sigmoid gate, "
                     "local gradient sigmoid(s) (1 - sigmoid(s)):") != 0)
        return;
    check(l, "f", nb_value_scalar(f2), "0.7310585786");
    check(l, "df/ds", nb_grad_scalar(s), "0.1966119332");
    neuron_checks(l, v);
}

static void apple(lesson *l)
{
    nb_graph *g = fresh_graph(l);
    nb_node *a = nb_scalar(g, "apple", 100), *n = nb_scalar(g, "count", 2);
    nb_node *tax = nb_scalar(g, "tax", 1.1);
    nb_node *p = named(l, nb_mul(g, a, n), "apple price");
    nb_node *f = named(l, nb_mul(g, p, tax), "price with tax");

    if (run_and_show(l, f, 1, NULL) != 0)
        return;
    check(l, "apple price", nb_value_scalar(p), "200");
    check(l, "price", nb_value_scalar(f), "220");
    check(l, "d/d(apple price)", nb_grad_scalar(p), "1.1");
    check(l, "d/dapple", nb_grad_scalar(a), "2.2");
    check(l, "d/dcount", nb_grad_scalar(n), "110");
    check(l, "d/dtax", nb_grad_scalar(tax), "200");
}

static void apple_orange(lesson *l)
{
    nb_graph *g = fresh_graph(l);
    nb_node *a = nb_scalar(g, "apple", 100), *na = nb_scalar(g, "apple_count", 2);
    nb_node *o = nb_scalar(g, "orange", 150), *no = nb_scalar(g, "orange_count", 3);
    nb_node *tax = nb_scalar(g, "tax", 1.1);
    nb_node *pa = named(l, nb_mul(g, a, na), "apples");
    nb_node *po = named(l, nb_mul(g, o, no), "oranges");
    nb_node *s = named(l, nb_add(g, pa, po), "apples + oranges");
    nb_node *f = named(l, nb_mul(g, s, tax), "price with tax");

    if (run_and_show(l, f, 1, NULL) != 0)
        return;
    check(l, "apples", nb_value_scalar(pa), "200");
    check(l, "oranges", nb_value_scalar(po), "450");
    check(l, "before tax", nb_value_scalar(s), "650");
    check(l, "price", nb_value_scalar(f), "715");
    check(l, "d/d(before tax)", nb_grad_scalar(s), "1.1");
    check(l, "d/dapple", nb_grad_scalar(a), "2.2");
    check(l, "d/dapple_count", nb_grad_scalar(na), "110");
    check(l, "d/dorange", nb_grad_scalar(o), "3.3");
    check(l, "d/dorange_count", nb_grad_scalar(no), "165");
    check(l, "d/dtax", nb_grad_scalar(tax), "650");
}

static void chain(lesson *l)
{
    nb_graph *g = fresh_graph(l);
    double xv = 1, yv = 2;
    nb_node *x = nb_scalar(g, "x", xv), *y = nb_scalar(g, "y", yv);
    nb_node *q = named(l, nb_add(g, x, y), "q = x + y");
    nb_node *z = named(l, nb_pow(g, q, 2), "z = q^2");
    char want[32];

    if (run_and_show(l, z, 1,
                     "z = (x + y)^2 at x = 1, y = 2:  dz/dx = dz/dq dq/dx "
                     "= 2q * 1 = 2(x + y)") != 0)
        return;
    check(l, "z", nb_value_scalar(z), "9");
    check(l, "dz/dq = 2q", nb_grad_scalar(q), "6");
    snprintf(want, sizeof want, "%g", 2 * (xv + yv));
    check(l, "dz/dx = 2(x+y)", nb_grad_scalar(x), want);
    check(l, "dz/dy = 2(x+y)", nb_grad_scalar(y), want);
}

/* Each gate alone, receiving an upstream gradient of 2; then all four in
 * the slide's f = 2 (x y + max(z, w)) at x = 3, y = -4, z = 2, w = -1. */
static void gates(lesson *l)
{
    nb_graph *g = fresh_graph(l);
    nb_node *x = nb_scalar(g, "x", 3), *y = nb_scalar(g, "y", -4);
    if (run_and_show(l, named(l, nb_add(g, x, y), "x + y"), 2,
                     "add distributes: both inputs get the upstream 2") != 0)
        return;
    check(l, "dx", nb_grad_scalar(x), "2");
    check(l, "dy", nb_grad_scalar(y), "2");

    if (run_and_show(l, named(l, nb_mul(g, x, y), "x y"), 2,
                     "\nmul swaps: each input gets 2 times the other input") != 0)
        return;
    check(l, "dx = 2 y", nb_grad_scalar(x), "-8");
    check(l, "dy = 2 x", nb_grad_scalar(y), "6");

    nb_node *z = nb_scalar(g, "z", 2), *w = nb_scalar(g, "w", -1);
    nb_node *xy = named(l, nb_mul(g, x, y), "x y");
    nb_node *xz = named(l, nb_mul(g, x, z), "x z");
    if (run_and_show(l, named(l, nb_add(g, xy, xz), "x y + x z"), 2,
                     "\ncopy adds: x feeds two gates, "
                     "its gradient is the sum of what they pass back (2 y + 2 z)") != 0)
        return;
    check(l, "dx = 2y + 2z", nb_grad_scalar(x), "-4");

    if (run_and_show(l, named(l, nb_max(g, z, w), "max(z, w)"), 2,
                     "\nmax routes: the larger input gets all of the upstream 2") != 0)
        return;
    check(l, "dz", nb_grad_scalar(z), "2");
    check(l, "dw", nb_grad_scalar(w), "0");

    xy = named(l, nb_mul(g, x, y), "x y");
    nb_node *m = named(l, nb_max(g, z, w), "max(z, w)");
    nb_node *s = named(l, nb_add(g, xy, m), "x y + max(z, w)");
    nb_node *f = named(l, nb_mul_const(g, s, 2), "f = *2");
    if (run_and_show(l, f, 1, "\nall together: f = 2 (x y + max(z, w))") != 0)
        return;
    check(l, "f", nb_value_scalar(f), "-20");
    check(l, "df/dx", nb_grad_scalar(x), "-8");
    check(l, "df/dy", nb_grad_scalar(y), "6");
    check(l, "df/dz", nb_grad_scalar(z), "2");
    check(l, "df/dw", nb_grad_scalar(w), "0");
}

/* z = w_a in_a + w_b in_b, labelled */
static nb_node *unit(lesson *l, nb_node *wa, nb_node *a, nb_node *wb, nb_node *b,
                     const char *label)
{
    nb_node *pa = nb_mul(l->g, wa, a);
    nb_node *pb = nb_mul(l->g, wb, b);
    return named(l, nb_add(l->g, pa, pb), label);
}

static void two_layer(lesson *l)
{
    nb_graph *g = fresh_graph(l);
    static const char *const wname[8] = { "w0_10", "w0_20", "w0_11", "w0_21",
                                          "w1_10", "w1_20", "w1_11", "w1_21" };
    static const double wval[8] = { 0.1, 0.3, 0.2, 0.1, 0.4, 0.1, 0.5, 0.3 };
    nb_node *w[8];
    for (int i = 0; i < 8; i++)
        w[i] = nb_scalar(g, wname[i], wval[i]);
    nb_node *x1 = constant(g, "x1", 0.2), *x2 = constant(g, "x2", 0.5);
    nb_node *t1 = constant(g, "t1", 0.2), *t2 = constant(g, "t2", 0.7);
    nb_node *z10 = unit(l, w[0], x1, w[1], x2, "z10");
    nb_node *z11 = unit(l, w[2], x1, w[3], x2, "z11");
    nb_node *a10 = named(l, nb_sigmoid(g, z10), "a10");
    nb_node *a11 = named(l, nb_sigmoid(g, z11), "a11");
    nb_node *z20 = unit(l, w[4], a10, w[5], a11, "z20");
    nb_node *z21 = unit(l, w[6], a10, w[7], a11, "z21");
    nb_node *a20 = named(l, nb_sigmoid(g, z20), "a20");
    nb_node *a21 = named(l, nb_sigmoid(g, z21), "a21");
    nb_node *d0 = named(l, nb_sub(g, t1, a20), "t1 - a20");
    nb_node *e0 = named(l, nb_pow(g, d0, 2), "(t1 - a20)^2");
    nb_node *d1 = named(l, nb_sub(g, t2, a21), "t2 - a21");
    nb_node *e1 = named(l, nb_pow(g, d1, 2), "(t2 - a21)^2");
    nb_node *sum = named(l, nb_add(g, e0, e1), "sum of squares");
    nb_node *E = named(l, nb_mul_const(g, sum, 0.5), "E");

    fputs("w<l>_ij joins unit i of the layer below (x1, x2 or a10, a11, counted from 1)\n"
          "to unit j above (counted from 0): z1j = w0_1j x1 + w0_2j x2,\n"
          "z2j = w1_1j a10 + w1_2j a11, a = sigmoid(z), no biases;\n"
          "E = 1/2 ((t1 - a20)^2 + (t2 - a21)^2) with t1 = 0.2 and t2 = 0.7 (our choice:\n"
          "the slide gives only t1, and nothing it shows depends on t2).\n",
          l->out);
    if (run_and_show(l, E, 1, NULL) != 0)
        return;
    check(l, "z10", nb_value_scalar(z10), "0.17");
    check(l, "z11", nb_value_scalar(z11), "0.09");
    check(l, "a10", nb_value_scalar(a10), "0.54");
    check(l, "a11", nb_value_scalar(a11), "0.52");
    check(l, "z20", nb_value_scalar(z20), "0.27");
    check(l, "a20", nb_value_scalar(a20), "0.57");
    check(l, "dE/dw1_10", nb_grad_scalar(w[4]), "0.049");

    double before = nb_value_scalar(E), lr = 0.3;
    for (int i = 0; i < 8; i++)
        nb_set_scalar(w[i], nb_value_scalar(w[i]) - lr * nb_grad_scalar(w[i]));
    if (nb_forward(g, E) != NB_OK) {
        fprintf(l->out, "  engine error: %s\n", nb_errmsg(g));
        l->checked++;
        l->failed++;
        return;
    }
    char b[32], a[32];
    fprintf(l->out,
            "one SGD step, learning rate 0.3 (w <- w - 0.3 dE/dw for all eight "
            "weights): E %s -> %s\n",
            fmt_num(b, before, 6), fmt_num(a, nb_value_scalar(E), 6));
    check(l, "w1_10 after", nb_value_scalar(w[4]), "0.3853");
    int down = nb_value_scalar(E) < before;
    l->checked++;
    l->failed += !down;
    fprintf(l->out, "  check %-16s %-14s %s\n", "E went down", "", down ? "ok" : "DIFFERS");
}

/* ---- Running them ------------------------------------------------------------ */

static const struct example {
    const char *name, *title;
    void (*run)(lesson *);
} examples[] = {
    { "add-mul", "f = (x + y) z at x = -2, y = 5, z = -4", add_mul },
    { "neuron",
      "f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) at w0 = 2, x0 = -1, "
      "w1 = -3, x1 = -2, w2 = -3",
      neuron },
    { "apple", "2 apples at 100 each, tax 1.1", apple },
    { "apple-orange", "2 apples at 100, 3 oranges at 150, tax 1.1", apple_orange },
    { "chain", "the chain rule: z = (x + y)^2", chain },
    { "gates", "gradient patterns: add distributes, mul swaps, copy adds, max routes", gates },
    { "two-layer", "2-2-2 sigmoid network, squared error, x = (0.2, 0.5), t1 = 0.2",
      two_layer },
};
#define N_EXAMPLES (sizeof examples / sizeof examples[0])

static void lecture_list(FILE *out)
{
    for (size_t i = 0; i < N_EXAMPLES; i++)
        fprintf(out, "%-13s %s\n", examples[i].name, examples[i].title);
}

/* One example: header, tables and checks, verdict.  1 if it passed. */
static int run_one(const struct example *ex, FILE *out)
{
    lesson l = { .out = out };

    fprintf(out, "== %s: %s ==\n", ex->name, ex->title);
    ex->run(&l);
    nb_graph_free(l.g);
    if (l.failed)
        fprintf(out, "%s: FAILED, %d of %d values disagree with the slides\n\n", ex->name,
                l.failed, l.checked);
    else
        fprintf(out, "%s: ok, all %d values agree with the slides\n\n", ex->name, l.checked);
    return l.failed == 0;
}

/* 0 if every example checked agrees with the slides, 1 if one disagrees, 2
 * for an unknown name. */
static int lecture_run(const char *name, FILE *out)
{
    size_t passed = 0, ran = 0;

    for (size_t i = 0; i < N_EXAMPLES; i++) {
        if (name && strcmp(name, examples[i].name) != 0)
            continue;
        passed += (size_t)run_one(&examples[i], out);
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "nabla lecture: no example '%s'; the examples are:\n", name);
        lecture_list(stderr);
        return 2;
    }
    if (!name)
        fprintf(out, "%zu of %zu examples agree with the slides\n", passed, ran);
    return passed == ran ? 0 : 1;
}

/* ---- nabla lecture: arguments --------------------------------------------- */

static const char lecture_help[] =
    "usage: nabla lecture [NAME] [--list]\n"
    "\n"
    "Run the lecture's worked examples: each graph is printed gate by gate\n"
    "(value, local and upstream gradients, what each gate passes back), every\n"
    "number on the slides is checked within the slides' rounding, and each\n"
    "example ends with a one-line verdict.  With no NAME all of them run.\n"
    "\n"
    "  NAME         one example (see --list)\n"
    "  --list       list the examples\n"
    "  -h, --help   this help\n"
    "\n"
    "exit status: 0 if every value agrees with the slides, 1 if one does not,\n"
    "2 for an unknown NAME.\n";

int cmd_lecture(int argc, char **argv)
{
    const char *name = NULL;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(lecture_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--list") == 0) {
            lecture_list(stdout);
            return 0;
        } else if (argv[i][0] == '-' || name) {
            fprintf(stderr,
                    "nabla lecture: unexpected argument '%s'\n"
                    "(see nabla lecture --help)\n",
                    argv[i]);
            return CLI_EXIT_USAGE;
        }
        name = argv[i];
    }
    return lecture_run(name, stdout);
}
