/* grad.c - `nabla grad`: parse an expression (expr.c), bind its variables,
 * evaluate and differentiate it, print the value and gradient, the table or
 * the picture (view.c), and report errors with a caret under the
 * expression. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "expr.h"
#include "view.h"

enum { EXIT_EVAL = CLI_EXIT_ERROR, EXIT_USAGE = CLI_EXIT_USAGE };

#define SHOW_MAX 100 /* characters of expression shown around a caret */

static const char grad_help[] =
    "usage: nabla grad EXPR [NAME=VALUE ...] [--table] [--json] [--hessian]\n"
    "                  [--dot FILE] [--png FILE]\n"
    "\n"
    "Evaluate EXPR at the given values; print its value and its gradient with\n"
    "respect to every variable, in the order the variables first appear.\n"
    "\n"
    "  EXPR         the expression, quoted for the shell: '1/(1+exp(-(w*x+b)))'\n"
    "  NAME=VALUE   the value of a variable; every variable needs exactly one\n"
    "               (before or after EXPR), a number as in EXPR with an\n"
    "               optional sign: -2, 0.5, +1e-3\n"
    "  --table      also print the graph gate by gate, in forward order: gate\n"
    "               number, op, the subexpression, inputs (#gate, variable\n"
    "               name or constant), forward value, local gradient for each\n"
    "               input, upstream gradient, and upstream x local passed to\n"
    "               each input\n"
    "  --json       print only one JSON object on stdout:\n"
    "               {\"value\": V, \"grad\": {\"NAME\": G, ...}}, numbers to 17\n"
    "               significant digits (round-trip exact)\n"
    "  --hessian    also the second derivatives d2f/(da db) for every pair of\n"
    "               variables, rows and columns in the order of the gradient\n"
    "               (in --json: \"hessian\": [[...], ...]); with --table, also\n"
    "               the graph of df/d(first variable) gate by gate, whose\n"
    "               backward pass gives the Hessian's first row\n"
    "  --dot FILE   write the graph in Graphviz DOT: every node and edge with its\n"
    "               forward value (green, above) and gradient (red, below)\n"
    "  --png FILE   draw the same picture as a PNG with Graphviz's 'dot' (if it\n"
    "               is not installed, say so and exit with status 1)\n"
    "  -h, --help   this help\n"
    "  --           what follows is EXPR or NAME=VALUE even if it starts with -\n"
    "\n"
    "grammar:\n"
    "  numbers     3  0.5  .5  1e-3  2.5E+4\n"
    "  variables   [A-Za-z_][A-Za-z0-9_]*, e.g. x  w0  learning_rate\n"
    "  operators   + - * / ^ and unary -, usual precedence; ^ is right-\n"
    "              associative and binds tighter than unary minus:\n"
    "              -x^2 = -(x^2), 2^3^2 = 2^9, 2^-1 = 0.5\n"
    "  functions   exp log sigmoid tanh relu recip sqrt abs   (one argument)\n"
    "              log1p expm1 softplus sin cos              (one argument)\n"
    "              max min                                   (two arguments)\n"
    "              leaky_relu(x, a)     a: a constant slope below 0\n"
    "              clamp(x, lo, hi)     lo <= hi: constant bounds\n"
    "  x^p needs a constant exponent p (numbers only, e.g. x^2, x^(1/3)); for\n"
    "  x^y with x > 0 write exp(y*log(x)); there is no **.  log1p(x) is\n"
    "  log(1+x) and expm1(x) is exp(x)-1, exact for tiny x; softplus(x) is\n"
    "  log(1+exp(x)) without overflow.  Function names cannot be variables.\n"
    "  At a tie max and min pass the whole gradient to their first argument;\n"
    "  relu'(0) = abs'(0) = 0, leaky_relu'(0) = a, and clamp' = 1 on [lo, hi],\n"
    "  the bounds included.\n"
    "\n"
    "exit status: 0 success; 1 evaluation error (log of a negative number or of\n"
    "zero, division by zero, overflow, a non-finite gradient) or a file that\n"
    "cannot be written; 2 usage or parse error.  Messages go to stderr.\n"
    "\n"
    "example:\n"
    "  nabla grad '1/(1+exp(-(w0*x0+w1*x1+w2)))' w0=2 x0=-1 w1=-3 x1=-2 w2=-3\n";

/* ---- Showing where in the expression ------------------------------------ */

/* The expression, then a caret under byte begin and ~ up to end; a long
 * expression is shown as a window around begin. */
static void show_caret(const char *src, size_t begin, size_t end)
{
    size_t len = strlen(src), from = 0;

    if (begin > len)
        begin = len;
    if (end <= begin)
        end = begin + 1;
    if (len > SHOW_MAX && begin > SHOW_MAX / 2)
        from = begin - SHOW_MAX / 2;
    while (from > 0 && from < begin && (src[from] & 0xc0) == 0x80)
        from++; /* not inside a UTF-8 character */
    size_t to = from + SHOW_MAX < len ? from + SHOW_MAX : len;
    fputs(from ? "  ..." : "  ", stderr);
    /* a UTF-8 character is shown as itself, in one column; another
     * non-printable byte as '?' */
    for (size_t i = from, n; i < to; i += n) {
        unsigned long c = 0;
        n = expr_utf8(src + i, &c);
        if (n > 1 && c >= 0xa0 && i + n <= to)
            fwrite(src + i, 1, n, stderr);
        else
            fputc(src[i] == '\t' || src[i] == '\n' || src[i] == '\r' ? ' '
                  : n != 1 || c < 0x20 || c == 0x7f                  ? '?'
                                                                     : src[i],
                  stderr);
        n = n > 1 && i + n <= to ? n : 1;
    }
    size_t at = expr_column(src + from, begin - from) - 1; /* characters */
    fprintf(stderr, "%s\n%*s^", to < len ? "..." : "", (int)(at + (from ? 5 : 2)), "");
    size_t tildes = expr_column(src + begin, (end < to ? end : to) - begin) - 1;
    for (size_t i = 1; i < tildes; i++)
        fputc('~', stderr);
    fputc('\n', stderr);
}

/* ---- nabla grad: arguments ---------------------------------------------- */

typedef struct grad_args {
    const char *src;
    const char **bind; /* NAME=VALUE arguments */
    size_t n_bind;
    int table, json, hessian;
    const char *dot_path, *png_path;
} grad_args;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int
usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int status = cli_vusage("grad", EXIT_USAGE, fmt, ap);
    va_end(ap);
    return status;
}

/* -1: parsed; otherwise the exit status (0 after --help). */
static int parse_grad_args(int argc, char **argv, grad_args *a)
{
    int options = 1;

    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        char clip[CLI_CLIP + 4];
        if (options && strcmp(s, "--") == 0) {
            options = 0;
        } else if (options && (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)) {
            fputs(grad_help, stdout);
            return 0;
        } else if (options && strcmp(s, "--table") == 0) {
            a->table = 1;
        } else if (options && strcmp(s, "--json") == 0) {
            a->json = 1;
        } else if (options && strcmp(s, "--hessian") == 0) {
            a->hessian = 1;
        } else if (options && (strcmp(s, "--dot") == 0 || strcmp(s, "--png") == 0)) {
            if (i + 1 >= argc)
                return usage_error("%s needs a FILE", s);
            *(s[2] == 'd' ? &a->dot_path : &a->png_path) = argv[++i];
        } else if (options && (strncmp(s, "--dot=", 6) == 0 || strncmp(s, "--png=", 6) == 0)) {
            *(s[2] == 'd' ? &a->dot_path : &a->png_path) = s + 6;
        } else if (options && s[0] == '-' && s[1] == '-') {
            return usage_error("unknown option %s", cli_clip(s, clip));
        } else if (strchr(s, '=')) { /* never in an expression: NAME=VALUE */
            a->bind[a->n_bind++] = s;
        } else if (!a->src) {
            a->src = s;
        } else {
            return usage_error("unexpected argument '%s' (values are given as NAME=VALUE)",
                               cli_clip(s, clip));
        }
    }
    if (!a->src)
        return usage_error("missing EXPR");
    if (a->table && a->json)
        return usage_error("--table and --json both print on stdout: choose one");
    if ((a->dot_path && !*a->dot_path) || (a->png_path && !*a->png_path))
        return usage_error("--dot and --png need a file name");
    return -1;
}

static nb_node *find_var(const expr *e, const char *name, size_t len)
{
    for (size_t i = 0; i < e->n_vars; i++) {
        const char *v = nb_name(e->vars[i]);
        if (strlen(v) == len && memcmp(v, name, len) == 0)
            return e->vars[i];
    }
    return NULL;
}

static void list_vars(const expr *e)
{
    if (e->n_vars == 0)
        fputs("it has no variables", stderr);
    for (size_t i = 0; i < e->n_vars; i++)
        fprintf(stderr, "%s%s", i ? ", " : "its variables: ", nb_name(e->vars[i]));
    fputc('\n', stderr);
}

/* Give every variable its value: exactly one NAME=VALUE each. */
static int bind_values(const expr *e, const grad_args *a)
{
    char *seen = calloc(e->n_vars + 1, 1);

    if (!seen)
        return usage_error("out of memory");
    for (size_t i = 0; i < a->n_bind; i++) {
        const char *s = a->bind[i], *eq = strchr(s, '=');
        nb_node *v = find_var(e, s, (size_t)(eq - s));
        size_t k = 0;
        while (v && e->vars[k] != v)
            k++;
        /* VALUE is a NUMBER of the grammar with an optional sign: no hex,
         * blanks, inf or nan, and out of range either way is an error */
        const char *num = eq + 1 + (eq[1] == '-' || eq[1] == '+'), *why = NULL;
        size_t len = 0;
        double value = 0;
        int rc = expr_number(num, &len, &value, &why);
        char clip[CLI_CLIP + 4];
        const char *arg = cli_clip(s, clip);
        if (rc == 0 && num[len] != '\0')
            rc = -1, why = NULL;
        if (eq[1] == '-')
            value = -value;
        if (!v) {
            fprintf(stderr, "nabla grad: %s: no variable '%.*s' in the expression; ", arg,
                    (int)(eq - s > CLI_CLIP ? CLI_CLIP : eq - s), s);
            list_vars(e);
        } else if (seen[k]) {
            fprintf(stderr, "nabla grad: %s: %s is given twice\n", arg, nb_name(v));
        } else if (rc == -2) {
            fprintf(stderr, "nabla grad: %s: the value must be a finite number: %s\n", arg,
                    why);
        } else if (rc != 0) {
            fprintf(stderr,
                    "nabla grad: %s: the value must be a finite number, written as in "
                    "the expression (-2, 0.5, 1e-3)\n",
                    arg);
        } else {
            seen[k] = 1;
            nb_set_scalar(v, value);
            continue;
        }
        free(seen);
        return EXIT_USAGE;
    }
    for (size_t k = 0; k < e->n_vars; k++) {
        if (!seen[k]) {
            fprintf(stderr, "nabla grad: no value for %s (give it as %s=VALUE)\n",
                    nb_name(e->vars[k]), nb_name(e->vars[k]));
            free(seen);
            return EXIT_USAGE;
        }
    }
    free(seen);
    return 0;
}

/* ---- nabla grad: evaluation errors -------------------------------------- */

/* The first gate whose value is not finite: in forward order its inputs
 * are finite, so it is the one that made inf or NaN. */
static nb_node *first_nonfinite(const gate_list *gl)
{
    for (size_t i = 0; i < gl->n; i++)
        if (!isfinite(nb_value_scalar(gl->node[i])))
            return gl->node[i];
    return NULL;
}

/* Why gate n, with finite inputs, made a non-finite value. */
static void describe_domain(const nb_node *n, char *buf, size_t size)
{
    const char *op = nb_op_name(n);
    double x = nb_value_scalar(nb_input(n, 0));
    double p = nb_arity(n) > 1 ? nb_value_scalar(nb_input(n, 1)) : 0;
    char xs[32], ps[32], ys[32];

    fmt_num(xs, x, 10);
    fmt_num(ps, p, 10);
    fmt_num(ys, nb_value_scalar(n), 10);
    if (strcmp(op, "log") == 0 && x < 0)
        snprintf(buf, size, "log of a negative number: log(%s) = %s", xs, ys);
    else if (strcmp(op, "log") == 0 && x == 0)
        snprintf(buf, size, "log of zero: log(0) = %s", ys);
    else if (strcmp(op, "reciprocal") == 0 && x == 0)
        snprintf(buf, size, "division by zero: 1/0 = %s", ys);
    else if (strcmp(op, "log1p") == 0 && x < -1)
        snprintf(buf, size, "log1p of a number below -1: log1p(%s) = %s", xs, ys);
    else if (strcmp(op, "log1p") == 0 && x == -1)
        snprintf(buf, size, "log of zero: log1p(-1) = %s", ys);
    else if (strcmp(op, "sqrt") == 0 && x < 0)
        snprintf(buf, size, "square root of a negative number: sqrt(%s) = %s", xs, ys);
    else if (strcmp(op, "pow") == 0 && x < 0 && p == 0.5)
        snprintf(buf, size, "square root of a negative number: sqrt(%s) = %s", xs, ys);
    else if (strcmp(op, "pow") == 0 && x < 0 && p != floor(p))
        snprintf(buf, size, "negative number to a fractional power: (%s)^%s = %s", xs, ps, ys);
    else if (strcmp(op, "pow") == 0 && x == 0 && p < 0)
        snprintf(buf, size, "division by zero: 0^%s = %s", ps, ys);
    else if (strcmp(op, "exp") == 0 || strcmp(op, "expm1") == 0)
        snprintf(buf, size, "overflow: %s(%s) = %s", op, xs, ys);
    else
        snprintf(buf, size, "overflow: %s gives %s from finite input%s", op, ys,
                 nb_arity(n) > 1 ? "s" : "");
}

static void report_at(const expr *e, const char *src, const nb_node *n)
{
    size_t i = nb_index(n);
    if (i < e->n_spans)
        show_caret(src, e->spans[i].begin, e->spans[i].end);
}

/* Walking back from the root: the first gate that turns a finite upstream
 * gradient into a non-finite one for an input (sqrt at 0, say).  Returns
 * that gate, and the input in *input. */
static nb_node *first_bad_gradient(nb_graph *g, const gate_list *gl, int *input, double *local)
{
    for (size_t i = gl->n; i-- > 0;) {
        nb_node *n = gl->node[i];
        if (nb_is_leaf(n) || !nb_wants_grad(n) || !isfinite(nb_grad_scalar(n)))
            continue;
        for (int k = 0; k < nb_arity(n); k++) {
            if (!nb_wants_grad(nb_input(n, k)) || nb_local_grad(g, n, k, local) != NB_OK)
                continue;
            if (!isfinite(nb_grad_scalar(n) * *local)) {
                *input = k;
                return n;
            }
        }
    }
    return NULL;
}

static int check_gradients(const expr *e, const char *src, const gate_list *gl)
{
    size_t k = 0;
    while (k < e->n_vars && isfinite(nb_grad_scalar(e->vars[k])))
        k++;
    if (k == e->n_vars)
        return 0;
    int input = 0;
    double local = 0;
    nb_node *n = first_bad_gradient(e->graph, gl, &input, &local);
    char g1[32], g2[32], g3[32];
    if (!n) {
        fprintf(stderr, "nabla grad: evaluation error: the gradient for %s is %s\n",
                nb_name(e->vars[k]), fmt_num(g1, nb_grad_scalar(e->vars[k]), 10));
        return EXIT_EVAL;
    }
    fprintf(stderr,
            "nabla grad: evaluation error: gradient not finite at gate %zu (%s): "
            "upstream %s x local gradient %s = %s for input %d\n",
            gate_number(gl, n), nb_op_name(n), fmt_num(g1, nb_grad_scalar(n), 10),
            fmt_num(g2, local, 10), fmt_num(g3, nb_grad_scalar(n) * local, 10), input + 1);
    report_at(e, src, n);
    return EXIT_EVAL;
}

/* ---- nabla grad: output -------------------------------------------------- */

/* The subexpression of every gate, whitespace squeezed, cut at 40 bytes;
 * "1/" or "-" before the operand of a division's or subtraction's hidden
 * gate. */
static char *span_text(const char *src, expr_span span)
{
    char *t = malloc(41);
    size_t len = 0;

    if (!t)
        return NULL;
    if (span.prefix == '/')
        t[len++] = '1';
    if (span.prefix)
        t[len++] = span.prefix;
    for (size_t j = span.begin; j < span.end && len < 40; j++) {
        char c = src[j] == '\t' || src[j] == '\n' || src[j] == '\r' ? ' ' : src[j];
        if (c != ' ' || (len > 0 && t[len - 1] != ' '))
            t[len++] = c;
    }
    if (len == 40 && span.end - span.begin > 40 - 2)
        memcpy(t + 37, "...", 3);
    t[len] = '\0';
    return t;
}

static char **span_labels(const expr *e, const char *src, const gate_list *gl)
{
    char **text = calloc(e->n_spans + 1, sizeof *text);

    for (size_t i = 0; text && i < gl->n; i++) {
        size_t idx = nb_index(gl->node[i]);
        if (!nb_is_leaf(gl->node[i]) && idx < e->n_spans)
            text[idx] = span_text(src, e->spans[idx]);
    }
    return text;
}

/* H (n x n) as rows under the variables' names, numbers aligned */
static void print_hessian(const expr *e, const double *H)
{
    size_t n = e->n_vars, w = 1;
    char num[32];

    for (size_t i = 0; i < n * n; i++)
        w = strlen(fmt_num(num, H[i], 10)) > w ? strlen(num) : w;
    for (size_t i = 0; i < n; i++)
        w = strlen(nb_name(e->vars[i])) > w ? strlen(nb_name(e->vars[i])) : w;
    printf("d2f/(da db), a down, b across:\n%*s", (int)w + 2, "");
    for (size_t j = 0; j < n; j++)
        printf("  %*s", (int)w, nb_name(e->vars[j]));
    putchar('\n');
    for (size_t i = 0; i < n; i++) {
        printf("  %*s", (int)w, nb_name(e->vars[i]));
        for (size_t j = 0; j < n; j++)
            printf("  %*s", (int)w, fmt_num(num, H[i * n + j], 10));
        putchar('\n');
    }
}

/* H NULL: no Hessian asked for. */
static void print_results(const expr *e, int json, const double *H)
{
    char num[32];
    size_t n = e->n_vars;

    if (json) {
        printf("{\"value\": %.17g, \"grad\": {", nb_value_scalar(e->root));
        for (size_t i = 0; i < n; i++)
            printf("%s\"%s\": %.17g", i ? ", " : "", nb_name(e->vars[i]),
                   nb_grad_scalar(e->vars[i]));
        printf("}");
        if (H) {
            printf(", \"hessian\": [");
            for (size_t i = 0; i < n; i++) {
                printf("%s[", i ? ", " : "");
                for (size_t j = 0; j < n; j++)
                    printf("%s%.17g", j ? ", " : "", H[i * n + j]);
                printf("]");
            }
            printf("]");
        }
        printf("}\n");
        return;
    }
    printf("f = %s\n", fmt_num(num, nb_value_scalar(e->root), 10));
    for (size_t i = 0; i < n; i++)
        printf("df/d%s = %s\n", nb_name(e->vars[i]),
               fmt_num(num, nb_grad_scalar(e->vars[i]), 10));
    if (H && n)
        print_hessian(e, H);
}

/* The Hessian into H (n_vars^2); with the table, also the graph of
 * df/d(first variable), gate by gate after its own backward pass.  Then
 * the first-order pass again, for the results and pictures.  0, or the
 * exit status after a message. */
static int hessian(const expr *e, const grad_args *a, double *H)
{
    nb_graph *g = e->graph;
    nb_hessian *h = nb_hessian_new(g, e->root, e->n_vars, e->vars);
    char num[32];

    if (!h || nb_hessian_dense(h, H) != NB_OK) {
        fprintf(stderr, "nabla grad: hessian: %s\n", nb_errmsg(g));
        return EXIT_EVAL;
    }
    for (size_t i = 0; i < e->n_vars * e->n_vars; i++)
        if (!isfinite(H[i])) {
            fprintf(stderr,
                    "nabla grad: evaluation error: d2f/(d%s d%s) = %s is not finite "
                    "at these values\n",
                    nb_name(e->vars[i / e->n_vars]), nb_name(e->vars[i % e->n_vars]),
                    fmt_num(num, H[i], 10));
            return EXIT_EVAL;
        }
    if (a->table) {
        nb_node *d = nb_hessian_grad(h, 0);
        if (nb_forward(g, d) != NB_OK || (nb_wants_grad(d) && nb_backward(g, d) != NB_OK)) {
            fprintf(stderr, "nabla grad: hessian: %s\n", nb_errmsg(g));
            return EXIT_EVAL;
        }
        printf("second order: df/d%s as a graph, gate by gate; its backward pass gives "
               "d2f/(d%s db) for every b\n",
               nb_name(e->vars[0]), nb_name(e->vars[0]));
        if (nb_print_table(stdout, g, d, NULL) != NB_OK) {
            fprintf(stderr, "nabla grad: hessian: %s\n", nb_errmsg(g));
            return EXIT_EVAL;
        }
        putchar('\n');
    }
    if (nb_forward(g, e->root) != NB_OK || nb_backward(g, e->root) != NB_OK) {
        fprintf(stderr, "nabla grad: %s\n", nb_errmsg(g));
        return EXIT_EVAL;
    }
    return 0;
}

/* Table and results on stdout, then the picture files. */
static int write_outputs(const expr *e, const grad_args *a, const gate_list *gl)
{
    int rc = 0;
    char **text = NULL, title[160], why[256];
    double *H = NULL;

    if (a->table || a->dot_path || a->png_path) {
        text = span_labels(e, a->src, gl);
        if (!text) {
            fputs("nabla grad: out of memory\n", stderr);
            return EXIT_EVAL;
        }
    }
    snprintf(title, sizeof title, "f = %.120s%s", a->src, strlen(a->src) > 120 ? "..." : "");
    nb_draw_opts draw = { (const char *const *)text, e->n_spans, title };
    if (a->table) {
        nb_print_table(stdout, e->graph, e->root, &draw);
        putchar('\n');
    }
    if (a->hessian && e->n_vars && !nb_is_leaf(e->root)) {
        H = malloc(e->n_vars * e->n_vars * sizeof *H);
        rc = H ? hessian(e, a, H) : EXIT_EVAL;
        if (!H)
            fputs("nabla grad: out of memory\n", stderr);
    } else if (a->hessian) { /* a leaf or a constant: every second derivative is 0 */
        H = calloc(e->n_vars * e->n_vars + 1, sizeof *H);
        rc = H ? 0 : EXIT_EVAL;
    }
    if (rc != 0) {
        free(H);
        for (size_t i = 0; text && i < e->n_spans; i++)
            free(text[i]);
        free(text);
        return rc;
    }
    print_results(e, a->json, H);
    free(H);
    if (a->dot_path) {
        FILE *f = fopen(a->dot_path, "w");
        if (f)
            nb_print_dot(f, e->graph, e->root, &draw);
        if (!f || ferror(f) | fclose(f)) {
            perror(a->dot_path);
            fprintf(stderr, "nabla grad: cannot write %s\n", a->dot_path);
            rc = EXIT_EVAL;
        }
    }
    if (a->png_path &&
        render_png(e->graph, e->root, &draw, a->png_path, why, sizeof why) != 0) {
        fprintf(stderr, "nabla grad: cannot draw %s: %s\n", a->png_path, why);
        rc = EXIT_EVAL;
    }
    for (size_t i = 0; text && i < e->n_spans; i++)
        free(text[i]);
    free(text);
    return rc;
}

/* Forward, domain check, backward, gradient check, output. */
static int evaluate(const expr *e, const grad_args *a)
{
    gate_list gl;
    char why[200];

    /* A root that is a leaf ("x", "2") has no forward to run; backward
     * alone gives d x / d x = 1 (and, as a plan's first run, takes the
     * reference loops, never the replay of an empty tape: NULL + 0, which
     * UBSan reports). */
    int leaf_root = nb_is_leaf(e->root);
    nb_status s = leaf_root ? NB_OK : nb_forward(e->graph, e->root);
    if (s != NB_OK && s != NB_ERR_NONFINITE) {
        fprintf(stderr, "nabla grad: %s\n", nb_errmsg(e->graph));
        return EXIT_EVAL;
    }
    if (gates_collect(e->graph, e->root, &gl) != 0) {
        fputs("nabla grad: out of memory\n", stderr);
        return EXIT_EVAL;
    }
    int rc = 0;
    nb_node *bad = first_nonfinite(&gl);
    if (bad) {
        describe_domain(bad, why, sizeof why);
        fprintf(stderr, "nabla grad: domain error at gate %zu (%s): %s\n",
                gate_number(&gl, bad), nb_op_name(bad), why);
        report_at(e, a->src, bad);
        rc = EXIT_EVAL;
    } else if (e->n_vars && (s = nb_backward(e->graph, e->root)) != NB_OK) {
        fprintf(stderr, "nabla grad: %s\n", nb_errmsg(e->graph));
        rc = EXIT_EVAL;
    } else {
        rc = check_gradients(e, a->src, &gl);
    }
    if (rc == 0)
        rc = write_outputs(e, a, &gl);
    gates_free(&gl);
    return rc;
}

int cmd_grad(int argc, char **argv)
{
    grad_args a = { 0 };
    expr e;
    expr_error err;

    a.bind = calloc((size_t)argc + 1, sizeof *a.bind);
    if (!a.bind) {
        fputs("nabla grad: out of memory\n", stderr);
        return EXIT_EVAL;
    }
    int rc = parse_grad_args(argc, argv, &a);
    if (rc < 0) {
        switch (expr_parse(a.src, &e, &err)) {
        case EXPR_SYNTAX:
            fprintf(stderr, "nabla grad: parse error at column %zu: %s\n",
                    expr_column(a.src, err.column - 1), err.msg);
            show_caret(a.src, err.column - 1, err.column);
            rc = EXIT_USAGE;
            break;
        case EXPR_ENGINE:
            fprintf(stderr, "nabla grad: %s\n", err.msg);
            rc = EXIT_EVAL;
            break;
        case EXPR_OK:
            rc = bind_values(&e, &a);
            if (rc == 0)
                rc = evaluate(&e, &a);
            expr_free(&e);
            break;
        }
    }
    free(a.bind);
    return rc;
}
