/* view.h - what the commands add to the engine's table and picture
 * (nb_print_table, nb_print_dot in nabla.h): gate numbers for their
 * messages, numbers for people, and the picture rendered to PNG by
 * Graphviz.  Used by `nabla grad`, `nabla lecture` and the expression
 * fuzzer.  Public engine API only. */
#ifndef NABLA_CLI_VIEW_H
#define NABLA_CLI_VIEW_H

#include <stddef.h>
#include <stdio.h>

#include "nabla.h"

/* The gates root depends on (nb_ancestors), in creation (= forward,
 * topological) order, numbered 1, 2, ... as nb_print_table numbers them. */
typedef struct gate_list {
    nb_node **node; /* n gates */
    size_t n;
} gate_list;

/* 0 on success, -1 if out of memory. */
int gates_collect(nb_graph *g, nb_node *root, gate_list *gl);
void gates_free(gate_list *gl);
/* n's gate number, 0 if n is not a gate. */
size_t gate_number(const gate_list *gl, const nb_node *n);
/* A number for people: %.*g with digits significant digits, no "-0". */
const char *fmt_num(char buf[32], double v, int digits);

/* nb_print_dot piped into `dot -Tpng -o png_path`.  0 on success; -1 with
 * a message in why (e.g. Graphviz is not installed) otherwise. */
int render_png(nb_graph *g, nb_node *root, const nb_draw_opts *opts, const char *png_path,
               char *why, size_t why_size);

#endif /* NABLA_CLI_VIEW_H */
