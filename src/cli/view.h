/* view.h - looking at a differentiated graph (view.c): the gates behind a
 * root, the lecture's gate-by-gate table and the Graphviz picture.  Used by
 * `nabla grad`, `nabla lecture` and the expression fuzzer.  Public engine
 * API only. */
#ifndef NABLA_CLI_VIEW_H
#define NABLA_CLI_VIEW_H

#include <stddef.h>
#include <stdio.h>

#include "nabla.h"

/* The nodes root depends on, in creation (= forward, topological) order,
 * numbered 1, 2, ... as gates; nodes off every path to root are left out. */
typedef struct gate_list {
    nb_node **node; /* n gates */
    size_t n;
    size_t *number; /* by nb_index: gate number, 0 if not a gate */
    size_t n_index;
} gate_list;

/* Optional text shown beside each node, by nb_index (NULL entries: none). */
typedef struct gate_labels {
    const char *const *text;
    size_t n;
} gate_labels;

/* 0 on success, -1 if out of memory. */
int gates_collect(nb_graph *g, nb_node *root, gate_list *gl);
void gates_free(gate_list *gl);
size_t gate_number(const gate_list *gl, const nb_node *n);
/* d root / d n after the backward pass: nb_grad_scalar(n), except that a
 * root which is itself a leaf (the expression "x") has gradient 1 with no
 * pass run at all (see evaluate() in grad.c). */
double gate_grad(const gate_list *gl, const nb_node *n);
/* A number for people: %.*g with digits significant digits, no "-0". */
const char *fmt_num(char buf[32], double v, int digits);

/* One row per gate: gate, op, label, inputs, value, local gradient(s),
 * upstream gradient, gradient passed to each input.  Run after
 * nb_backward (or nb_backward_seed) from root. */
void print_table(FILE *out, nb_graph *g, const gate_list *gl, const gate_labels *labels);

/* Graphviz DOT: every node and edge carries its forward value (green, on
 * top) and gradient (red, below).  title may be NULL. */
void write_dot(FILE *out, nb_graph *g, const gate_list *gl, const gate_labels *labels,
               const char *title);

/* Pipe DOT into `dot -Tpng -o png_path`.  0 on success; -1 with a message
 * in why (e.g. Graphviz is not installed) otherwise. */
int render_png(nb_graph *g, const gate_list *gl, const gate_labels *labels, const char *title,
               const char *png_path, char *why, size_t why_size);

#endif /* NABLA_CLI_VIEW_H */
