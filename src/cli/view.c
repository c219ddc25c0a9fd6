/* view.c - looking at a differentiated graph: the gates behind a root, the
 * lecture's gate-by-gate table, and a Graphviz picture with forward values
 * in green and gradients in red (rendered to PNG by an external `dot`).
 * Parsing is in expr.c, the commands in grad.c and lecture.c. */
#define _POSIX_C_SOURCE 200809L

#include "view.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define TABLE_COLS 8
#define CELL       128
#define LABEL_MAX  40 /* characters of a label shown in the table */
#define GREEN      "#1a7f37"
#define RED        "#cf222e"

/* ---- Gates ------------------------------------------------------------- */

int gates_collect(nb_graph *g, nb_node *root, gate_list *gl)
{
    size_t n_index = nb_graph_size(g);

    memset(gl, 0, sizeof *gl);
    gl->number = calloc(n_index ? n_index : 1, sizeof *gl->number);
    if (!gl->number)
        return -1;
    gl->n_index = n_index;
    /* Creation order is topological: one backward sweep marks ancestors. */
    size_t n = 0, top = nb_index(root);
    gl->number[top] = 1;
    for (size_t i = top + 1; i-- > 0;) {
        nb_node *node = nb_graph_node(g, i);
        if (!gl->number[i])
            continue;
        n++;
        for (int k = 0; k < nb_arity(node); k++)
            gl->number[nb_index(nb_input(node, k))] = 1;
    }
    gl->node = malloc(n * sizeof *gl->node);
    if (!gl->node) {
        gates_free(gl);
        return -1;
    }
    for (size_t i = 0; i <= top; i++)
        if (gl->number[i]) {
            gl->node[gl->n++] = nb_graph_node(g, i);
            gl->number[i] = gl->n;
        }
    return 0;
}

void gates_free(gate_list *gl)
{
    free(gl->node);
    free(gl->number);
    memset(gl, 0, sizeof *gl);
}

size_t gate_number(const gate_list *gl, const nb_node *n)
{
    size_t i = nb_index(n);
    return i < gl->n_index ? gl->number[i] : 0;
}

double gate_grad(const gate_list *gl, const nb_node *n)
{
    if (gl->n == 1 && n == gl->node[0] && nb_is_leaf(n))
        return nb_wants_grad(n) ? 1.0 : 0.0;
    return nb_grad_scalar(n);
}

const char *fmt_num(char buf[32], double v, int digits)
{
    if (isnan(v))
        snprintf(buf, 32, "nan"); /* never "-nan" */
    else
        snprintf(buf, 32, "%.*g", digits, v + 0.0); /* + 0.0 turns -0 into 0 */
    return buf;
}

static const char *label_of(const gate_labels *labels, const nb_node *n)
{
    size_t i = nb_index(n);
    if (labels && i < labels->n && labels->text[i])
        return labels->text[i];
    return nb_name(n);
}

/* ---- The table ---------------------------------------------------------- */

static int is_constant(const nb_node *n) { return nb_is_leaf(n) && !nb_wants_grad(n); }

/* How a gate's input is named: a variable by name, a constant by value,
 * a gate by number. */
static void input_ref(const gate_list *gl, const nb_node *x, char *buf, size_t size)
{
    char num[32];
    if (nb_is_leaf(x) && nb_name(x))
        snprintf(buf, size, "%.24s", nb_name(x));
    else if (is_constant(x))
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

static void op_cells(nb_graph *g, const gate_list *gl, nb_node *n, char cell[][CELL])
{
    int arity = nb_arity(n);
    double up = gate_grad(gl, n);
    char num[32], ref[40];

    for (int k = 0; k < arity; k++) {
        nb_node *x = nb_input(n, k);
        double local = NAN;
        input_ref(gl, x, ref, sizeof ref);
        cell_add(cell[3], k, ref);
        if (!nb_wants_grad(x)) {
            cell_add(cell[5], k, "-");
            cell_add(cell[7], k, "-");
            continue;
        }
        if (nb_local_grad(g, n, k, &local) != NB_OK)
            local = NAN;
        cell_add(cell[5], k, fmt_num(num, local, 6));
        cell_add(cell[7], k, nb_wants_grad(n) ? fmt_num(num, up * local, 6) : "-");
    }
}

static void row_cells(nb_graph *g, const gate_list *gl, const gate_labels *labels, size_t i,
                      char cell[TABLE_COLS][CELL])
{
    nb_node *n = gl->node[i];
    const char *label = label_of(labels, n);
    char num[32];

    for (int c = 0; c < TABLE_COLS; c++)
        cell[c][0] = '\0';
    snprintf(cell[0], CELL, "%zu", i + 1);
    snprintf(cell[1], CELL, "%s", nb_op_name(n));
    if (label && strlen(label) > LABEL_MAX)
        snprintf(cell[2], CELL, "%.*s...", LABEL_MAX - 3, label);
    else if (label)
        snprintf(cell[2], CELL, "%s", label);
    snprintf(cell[4], CELL, "%s", fmt_num(num, nb_value_scalar(n), 6));
    snprintf(cell[6], CELL, "%s", nb_wants_grad(n) ? fmt_num(num, gate_grad(gl, n), 6) : "-");
    if (!nb_is_leaf(n))
        op_cells(g, gl, n, cell);
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

void print_table(FILE *out, nb_graph *g, const gate_list *gl, const gate_labels *labels)
{
    char cell[TABLE_COLS][CELL];
    size_t width[TABLE_COLS];

    for (int c = 0; c < TABLE_COLS; c++)
        width[c] = strlen(table_head[c]);
    for (size_t i = 0; i < gl->n; i++) {
        row_cells(g, gl, labels, i, cell);
        for (int c = 0; c < TABLE_COLS; c++)
            if (strlen(cell[c]) > width[c])
                width[c] = strlen(cell[c]);
    }
    for (int c = 0; c < TABLE_COLS; c++)
        snprintf(cell[c], CELL, "%s", table_head[c]);
    print_row(out, cell, width);
    for (size_t i = 0; i < gl->n; i++) {
        row_cells(g, gl, labels, i, cell);
        print_row(out, cell, width);
    }
}

/* ---- Graphviz ----------------------------------------------------------- */

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

static void dot_node(FILE *out, const gate_list *gl, const gate_labels *labels, size_t i)
{
    nb_node *n = gl->node[i];
    const char *label = label_of(labels, n);

    fprintf(out, "  n%zu [", i + 1);
    if (is_constant(n))
        fputs("shape=plaintext, ", out);
    fputs("label=<", out);
    if (!is_constant(n)) {
        fputs("<b>", out);
        html(out, nb_is_leaf(n) && label ? label : nb_op_name(n));
        fprintf(out, "</b> <font point-size=\"9\">#%zu</font><br/>", i + 1);
        if (!nb_is_leaf(n) && label) {
            fputs("<font point-size=\"9\" color=\"gray35\">", out);
            html(out, label);
            fputs("</font><br/>", out);
        }
    }
    value_grad(out, nb_value_scalar(n), nb_wants_grad(n), gate_grad(gl, n));
    fputs(">];\n", out);
}

static void dot_edges(FILE *out, nb_graph *g, const gate_list *gl, size_t i)
{
    nb_node *n = gl->node[i];

    for (int k = 0; k < nb_arity(n); k++) {
        nb_node *x = nb_input(n, k);
        double local = 0;
        int flows =
            nb_wants_grad(x) && nb_wants_grad(n) && nb_local_grad(g, n, k, &local) == NB_OK;
        fprintf(out, "  n%zu -> n%zu [label=<", gate_number(gl, x), i + 1);
        value_grad(out, nb_value_scalar(x), flows, nb_grad_scalar(n) * local);
        fputs(">];\n", out);
    }
}

void write_dot(FILE *out, nb_graph *g, const gate_list *gl, const gate_labels *labels,
               const char *title)
{
    fputs("digraph nabla {\n"
          "  rankdir=LR;\n"
          "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
          "  edge [fontname=\"Helvetica\", fontsize=10];\n",
          out);
    if (title) {
        fputs("  labelloc=t;\n  label=<", out);
        html(out, title);
        fputs("<br/><font point-size=\"10\"><font color=\"" GREEN "\">forward value</font>"
              "   <font color=\"" RED "\">gradient</font></font>>;\n",
              out);
    }
    for (size_t i = 0; i < gl->n; i++)
        dot_node(out, gl, labels, i);
    for (size_t i = 0; i < gl->n; i++)
        dot_edges(out, g, gl, i);
    if (gl->n) {
        nb_node *root = gl->node[gl->n - 1];
        fprintf(out, "  out [shape=plaintext, label=\"\"];\n  n%zu -> out [label=<", gl->n);
        value_grad(out, nb_value_scalar(root), nb_wants_grad(root), gate_grad(gl, root));
        fputs(">];\n", out);
    }
    fputs("}\n", out);
}

/* ---- PNG through Graphviz ------------------------------------------------ */

/* The first executable `dot` on PATH, in buf; NULL if there is none. */
static const char *find_dot(char *buf, size_t size)
{
    const char *path = getenv("PATH");

    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        int n = snprintf(buf, size, "%.*s/dot", (int)len, len ? path : ".");
        if (n > 0 && (size_t)n < size && access(buf, X_OK) == 0)
            return buf;
        path += len + (path[len] == ':');
    }
    return NULL;
}

int render_png(nb_graph *g, const gate_list *gl, const gate_labels *labels, const char *title,
               const char *png_path, char *why, size_t why_size)
{
    char dot[4096], *out_path;
    int fd[2];

    if (!find_dot(dot, sizeof dot)) {
        snprintf(why, why_size,
                 "Graphviz is not installed (no 'dot' program on PATH); "
                 "install it (Debian: apt-get install graphviz) or use --dot FILE");
        return -1;
    }
    /* One argument, "-oFILE", which dot never takes for an option of its
     * own; a name starting with '-' gets "./" too. */
    size_t len = strlen(png_path) + 5;
    if ((out_path = malloc(len)))
        snprintf(out_path, len, "-o%s%s", png_path[0] == '-' ? "./" : "", png_path);
    if (!out_path || pipe(fd) != 0) {
        snprintf(why, why_size, "%s", strerror(errno));
        free(out_path);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_size, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        free(out_path);
        return -1;
    }
    if (pid == 0) {
        char *argv[] = { dot, "-Tpng", out_path, NULL };
        close(fd[1]);
        if (dup2(fd[0], STDIN_FILENO) < 0)
            _exit(127);
        close(fd[0]);
        execv(dot, argv);
        _exit(127);
    }
    close(fd[0]);
    /* If dot dies early, writing gets EPIPE instead of killing us. */
    struct sigaction ignore = { .sa_handler = SIG_IGN }, old;
    sigaction(SIGPIPE, &ignore, &old);
    FILE *to_dot = fdopen(fd[1], "w");
    if (to_dot) {
        write_dot(to_dot, g, gl, labels, title);
        fclose(to_dot);
    } else {
        close(fd[1]);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    sigaction(SIGPIPE, &old, NULL);
    free(out_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, why_size, "%s -Tpng failed (%s %d)", dot,
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}
