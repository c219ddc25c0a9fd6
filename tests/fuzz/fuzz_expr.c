/* fuzz_expr.c - libFuzzer target for the nabla command's expression parser
 * (src/cli/expr.c).  Any bytes go in; the parser must answer with a graph
 * or with an error at a column inside the text, never crash, leak or trip
 * a sanitizer.  A graph is then run forward and backward at fixed values
 * and printed as a table and as DOT (to /dev/null), as `nabla grad` would.
 * Built with -Dfuzz=true; tests/fuzz/run.sh builds and runs it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"
#include "expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink;

static void must(int cond)
{
    if (!cond)
        __builtin_trap();
}

static void run(expr *e, size_t len)
{
    must(e->root && e->n_spans == nb_graph_size(e->graph));
    for (size_t i = 0; i < e->n_spans; i++)
        must(e->spans[i].begin <= e->spans[i].end && e->spans[i].end <= len);
    for (size_t i = 0; i < e->n_vars; i++)
        must(nb_set_scalar(e->vars[i], 0.25 + 0.5 * (double)i) == NB_OK);
    if (nb_is_leaf(e->root)) /* nothing to run (and see evaluate() in main.c) */
        return;
    nb_status s = nb_forward(e->graph, e->root);
    must(s == NB_OK || s == NB_ERR_NONFINITE);
    if (e->n_vars)
        must(nb_backward(e->graph, e->root) == NB_OK);
    nb_draw_opts draw = { NULL, 0, "fuzz" };
    must(nb_print_table(sink, e->graph, e->root, NULL) == NB_OK &&
         nb_print_dot(sink, e->graph, e->root, &draw) == NB_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    expr e;
    expr_error err;

    if (!src)
        return 0;
    if (!sink)
        sink = fopen("/dev/null", "w");
    memcpy(src, data, size);
    src[size] = '\0';
    size_t len = strlen(src); /* the text ends at the first NUL byte */
    switch (expr_parse(src, &e, &err)) {
    case EXPR_OK:
        if (sink)
            run(&e, len);
        expr_free(&e);
        break;
    case EXPR_SYNTAX:
        must(err.column >= 1 && err.column <= len + 1 && err.msg[0] != '\0');
        break;
    case EXPR_ENGINE:
        must(err.msg[0] != '\0');
        break;
    }
    free(src);
    return 0;
}
