/* draw.c - looking at any graph: a root's ancestors, the lecture's
 * gate-by-gate table and a Graphviz picture with forward values in green
 * and gradients in red.  Scalar gates show their numbers, local gradients
 * and what they pass back; a tensor is summarised by its shape and first
 * few elements.  Writing only: rendering the picture is the caller's. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_COLS 8
#define CELL       128
#define LABEL_MAX  40 /* characters of a label shown in the table */
#define SHOWN      4  /* elements of a tensor shown */
#define GREEN      "#1a7f37"
#define RED        "#cf222e"

/* ---- Ancestors ------------------------------------------------------------
 * Creation order is topological, so one sweep from root down marks its
 * ancestors (as run.c plans), and one sweep up lists them in order. */
static nb_status check_root(nb_graph *g, const nb_node *root, const char *what)
{
    if (!g)
        return NB_ERR_ARG;
    if (!root)
        return nb__report(g, NB_ERR_ARG, "%s: root is NULL", what);
    if (!nb__owned(g, root))
        return nb__report(g, NB_ERR_GRAPH, "%s: root belongs to another graph", what);
    return NB_OK;
}

size_t nb_ancestors(nb_graph *g, nb_node *root, nb_node **out, size_t cap)
{
    if (check_root(g, root, "ancestors") != NB_OK)
        return 0;
    root->flags |= NB__MARK;
    for (size_t i = root->id + 1; i-- > 0;) {
        nb_node *x = g->nodes[i];
        if (x->flags & NB__MARK)
            for (int k = 0; k < x->n_in; k++)
                x->in[k]->flags |= NB__MARK;
    }
    size_t n = 0;
    for (size_t i = 0; i <= root->id; i++) {
        nb_node *x = g->nodes[i];
        if (!(x->flags & NB__MARK))
            continue;
        x->flags &= (uint8_t)~NB__MARK;
        if (out && n < cap)
            out[n] = x;
        n++;
    }
    return n;
}

/* ---- Gates: the ancestors, numbered 1, 2, ... in creation order ----------- */

typedef struct gates {
    nb_graph *g;
    nb_node **node;
    size_t n;
    const nb_draw_opts *opts;
} gates;

static nb_status gates_collect(nb_graph *g, nb_node *root, const nb_draw_opts *opts, gates *gl,
                               const char *what)
{
    *gl = (gates){ .g = g, .opts = opts };
    nb_status s = check_root(g, root, what);
    if (s != NB_OK)
        return s;
    size_t n = nb_ancestors(g, root, NULL, 0);
    gl->node = nb__alloc_should_fail() ? NULL : malloc(n * sizeof *gl->node);
    if (!gl->node)
        return nb__report(g, NB_ERR_NOMEM, "%s: out of memory", what);
    gl->n = nb_ancestors(g, root, gl->node, n);
    return NB_OK;
}

/* x's gate number, 0 if x is not one: the gates are in increasing id */
static size_t gate_number(const gates *gl, const nb_node *x)
{
    size_t lo = 0, hi = gl->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (gl->node[mid]->id < x->id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < gl->n && gl->node[lo] == x ? lo + 1 : 0;
}

static const char *label_of(const gates *gl, const nb_node *n)
{
    const nb_draw_opts *o = gl->opts;
    if (o && o->labels && n->id < o->n_labels && o->labels[n->id])
        return o->labels[n->id];
    return nb_name(n);
}

/* A number for people: %.*g with digits significant digits, no "-0". */
static const char *fmt_num(char buf[32], double v, int digits)
{
    if (isnan(v))
        snprintf(buf, 32, "nan"); /* never "-nan" */
    else
        snprintf(buf, 32, "%.*g", digits, v + 0.0); /* + 0.0 turns -0 into 0 */
    return buf;
}

/* A tensor's values (or gradient, grad set) as "2x3 [1, 2, 3, 4, ...]";
 * the gradient without its shape, which is the value's. */
static const char *summary(char *buf, size_t size, const nb_node *n, int grad, int digits)
{
    char shape[NB__SHAPE_STR], num[32];
    size_t len = 0, count = nb__size(n);

    if (!grad)
        len = (size_t)snprintf(buf, size, "%s ", nb__shape_str(n, shape));
    for (size_t i = 0; i < count && i < SHOWN && len < size; i++) {
        double v = grad ? nb_grad_at(n, i) : nb_value_at(n, i);
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "[",
                                fmt_num(num, v, digits));
    }
    if (len < size)
        snprintf(buf + len, size - len, "%s]", count > SHOWN ? ", ..." : "");
    return buf;
}

static int is_constant(const nb_node *n) { return nb_is_leaf(n) && !nb_wants_grad(n); }
/* a gradient to show: backward from root gave n one */
static int has_grad(const nb_node *n) { return nb__grad(n) != NULL; }
static int scalar_gate(const nb_node *n)
{
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k]->rank != 0)
            return 0;
    return n->rank == 0;
}

/* ---- The table ------------------------------------------------------------- */

/* How a gate's input is named: a variable by name, a scalar constant by
 * value, a gate by number. */
static void input_ref(const gates *gl, const nb_node *x, char *buf, size_t size)
{
    char num[32];
    if (nb_is_leaf(x) && nb_name(x))
        snprintf(buf, size, "%.24s", nb_name(x));
    else if (is_constant(x) && x->rank == 0)
        snprintf(buf, size, "%s", fmt_num(num, nb_value_scalar(x), 6));
    else
        snprintf(buf, size, "#%zu", gate_number(gl, x));
}

/* Append ", " (after the first item) and s to the cell. */
static void cell_add(char *cell, int k, const char *s)
{
    size_t len = strlen(cell);
    snprintf(cell + len, CELL - len, "%s%s", k ? ", " : "", s);
}

/* inputs, and for a scalar gate its local gradients and what it passes back */
static void op_cells(const gates *gl, nb_node *n, char cell[][CELL])
{
    int scalar = scalar_gate(n);
    double up = nb_grad_scalar(n);
    char num[32], ref[40];

    for (int k = 0; k < n->n_in; k++) {
        nb_node *x = n->in[k];
        double local = NAN;
        input_ref(gl, x, ref, sizeof ref);
        cell_add(cell[3], k, ref);
        if (!scalar)
            continue;
        if (!has_grad(x)) {
            cell_add(cell[5], k, "-");
            cell_add(cell[7], k, "-");
            continue;
        }
        if (nb_local_grad(gl->g, n, k, &local) != NB_OK)
            local = NAN;
        cell_add(cell[5], k, fmt_num(num, local, 6));
        cell_add(cell[7], k, has_grad(n) ? fmt_num(num, up * local, 6) : "-");
    }
}

static void row_cells(const gates *gl, size_t i, char cell[TABLE_COLS][CELL])
{
    nb_node *n = gl->node[i];
    const char *label = label_of(gl, n);
    char num[32];

    for (int c = 0; c < TABLE_COLS; c++)
        cell[c][0] = '\0';
    snprintf(cell[0], CELL, "%zu", i + 1);
    snprintf(cell[1], CELL, "%s", nb_op_name(n));
    if (label && strlen(label) > LABEL_MAX)
        snprintf(cell[2], CELL, "%.*s...", LABEL_MAX - 3, label);
    else if (label)
        snprintf(cell[2], CELL, "%s", label);
    if (n->rank == 0) {
        snprintf(cell[4], CELL, "%s", fmt_num(num, nb_value_scalar(n), 6));
        snprintf(cell[6], CELL, "%s", has_grad(n) ? fmt_num(num, nb_grad_scalar(n), 6) : "-");
    } else {
        summary(cell[4], CELL, n, 0, 6);
        if (has_grad(n))
            summary(cell[6], CELL, n, 1, 6);
        else
            snprintf(cell[6], CELL, "-");
    }
    if (!nb_is_leaf(n))
        op_cells(gl, n, cell);
}

static const char *const table_head[TABLE_COLS] = {
    "gate", "op", "what", "inputs", "value", "local grad", "upstream", "to inputs",
};

static void print_row(FILE *out, char cell[TABLE_COLS][CELL], const size_t width[TABLE_COLS])
{
    char line[TABLE_COLS * (CELL + 2) + 1];
    int len = snprintf(line, sizeof line, "%*s", (int)width[0], cell[0]);

    for (int c = 1; c < TABLE_COLS && len >= 0 && (size_t)len < sizeof line; c++)
        len +=
            snprintf(line + len, sizeof line - (size_t)len, "  %-*s", (int)width[c], cell[c]);
    if (len < 0 || (size_t)len >= sizeof line) /* cannot happen: cells are < CELL */
        len = len < 0 ? 0 : (int)sizeof line - 1;
    while (len > 0 && line[len - 1] == ' ')
        len--;
    fprintf(out, "%.*s\n", len, line);
}

static nb_status written(nb_graph *g, FILE *out, const char *what)
{
    return ferror(out) ? nb__report(g, NB_ERR_IO, "%s: write error", what) : NB_OK;
}

nb_status nb_print_table(FILE *out, nb_graph *g, nb_node *root, const nb_draw_opts *opts)
{
    char cell[TABLE_COLS][CELL];
    size_t width[TABLE_COLS];
    gates gl;

    if (!g)
        return NB_ERR_ARG;
    if (!out)
        return nb__report(g, NB_ERR_ARG, "table: no output stream");
    nb_status s = gates_collect(g, root, opts, &gl, "table");
    if (s != NB_OK)
        return s;
    for (int c = 0; c < TABLE_COLS; c++)
        width[c] = strlen(table_head[c]);
    for (size_t i = 0; i < gl.n; i++) {
        row_cells(&gl, i, cell);
        for (int c = 0; c < TABLE_COLS; c++)
            if (strlen(cell[c]) > width[c])
                width[c] = strlen(cell[c]);
    }
    for (int c = 0; c < TABLE_COLS; c++)
        snprintf(cell[c], CELL, "%s", table_head[c]);
    print_row(out, cell, width);
    for (size_t i = 0; i < gl.n; i++) {
        row_cells(&gl, i, cell);
        print_row(out, cell, width);
    }
    free(gl.node);
    return written(g, out, "table");
}

/* ---- Graphviz ----------------------------------------------------------------- */

static void html(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\n':
        case '\r':
        case '\t':
            fputc(' ', out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

/* value (green) over gradient (red); no red line if there is no gradient */
static void value_grad(FILE *out, double value, int has_grad, double grad)
{
    char num[32];
    fprintf(out, "<font color=\"" GREEN "\">%s</font>", fmt_num(num, value, 4));
    if (has_grad)
        fprintf(out, "<br/><font color=\"" RED "\">%s</font>", fmt_num(num, grad, 4));
}

/* a tensor's summaries: its values (green) over its gradient (red) */
static void tensor_value_grad(FILE *out, const nb_node *n)
{
    char buf[CELL];
    fputs("<font color=\"" GREEN "\">", out);
    html(out, summary(buf, sizeof buf, n, 0, 4));
    fputs("</font>", out);
    if (has_grad(n)) {
        fputs("<br/><font color=\"" RED "\">", out);
        html(out, summary(buf, sizeof buf, n, 1, 4));
        fputs("</font>", out);
    }
}

static void dot_node(FILE *out, const gates *gl, size_t i)
{
    nb_node *n = gl->node[i];
    const char *label = label_of(gl, n);
    int plain = is_constant(n) && n->rank == 0; /* a number beside its edge */

    fprintf(out, "  n%zu [", i + 1);
    if (plain)
        fputs("shape=plaintext, ", out);
    fputs("label=<", out);
    if (!plain) {
        fputs("<b>", out);
        html(out, nb_is_leaf(n) && label ? label : nb_op_name(n));
        fprintf(out, "</b> <font point-size=\"9\">#%zu</font><br/>", i + 1);
        if (!nb_is_leaf(n) && label) {
            fputs("<font point-size=\"9\" color=\"gray35\">", out);
            html(out, label);
            fputs("</font><br/>", out);
        }
    }
    if (n->rank == 0)
        value_grad(out, nb_value_scalar(n), has_grad(n), nb_grad_scalar(n));
    else
        tensor_value_grad(out, n);
    fputs(">];\n", out);
}

/* A scalar edge carries the input's value and the gradient the gate
 * passes along it; a tensor's are on its node. */
static void dot_edges(FILE *out, const gates *gl, size_t i)
{
    nb_node *n = gl->node[i];
    int scalar = scalar_gate(n);

    for (int k = 0; k < n->n_in; k++) {
        nb_node *x = n->in[k];
        double local = 0;
        if (!scalar) {
            fprintf(out, "  n%zu -> n%zu;\n", gate_number(gl, x), i + 1);
            continue;
        }
        int flows = has_grad(x) && has_grad(n) && nb_local_grad(gl->g, n, k, &local) == NB_OK;
        fprintf(out, "  n%zu -> n%zu [label=<", gate_number(gl, x), i + 1);
        value_grad(out, nb_value_scalar(x), flows, nb_grad_scalar(n) * local);
        fputs(">];\n", out);
    }
}

nb_status nb_print_dot(FILE *out, nb_graph *g, nb_node *root, const nb_draw_opts *opts)
{
    gates gl;

    if (!g)
        return NB_ERR_ARG;
    if (!out)
        return nb__report(g, NB_ERR_ARG, "dot: no output stream");
    nb_status s = gates_collect(g, root, opts, &gl, "dot");
    if (s != NB_OK)
        return s;
    fputs("digraph nabla {\n"
          "  rankdir=LR;\n"
          "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
          "  edge [fontname=\"Helvetica\", fontsize=10];\n",
          out);
    if (opts && opts->title) {
        fputs("  labelloc=t;\n  label=<", out);
        html(out, opts->title);
        fputs("<br/><font point-size=\"10\"><font color=\"" GREEN "\">forward value</font>"
              "   <font color=\"" RED "\">gradient</font></font>>;\n",
              out);
    }
    for (size_t i = 0; i < gl.n; i++)
        dot_node(out, &gl, i);
    for (size_t i = 0; i < gl.n; i++)
        dot_edges(out, &gl, i);
    if (root->rank == 0) { /* the output's value and gradient on an edge out */
        fprintf(out, "  out [shape=plaintext, label=\"\"];\n  n%zu -> out [label=<", gl.n);
        value_grad(out, nb_value_scalar(root), has_grad(root), nb_grad_scalar(root));
        fputs(">];\n", out);
    }
    fputs("}\n", out);
    free(gl.node);
    return written(g, out, "dot");
}
