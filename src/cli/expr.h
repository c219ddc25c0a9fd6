/* expr.h - the expression parser of the nabla command: text in, an f64 graph
 * out, built through the public engine API only.  Kept apart from grad.c so
 * that the fuzz target (tests/fuzz/fuzz_expr.c) can call it alone.
 *
 * Grammar (lowest precedence first; ^ is right-associative and binds tighter
 * than unary minus, so -x^2 is -(x^2) and 2^-1 is 0.5):
 *
 *     expr    := term (('+' | '-') term)*
 *     term    := unary (('*' | '/') unary)*
 *     unary   := '-' unary | power
 *     power   := primary ('^' unary)?          exponent: constant only
 *                (there is no '**': a parse error says to write '^')
 *     primary := NUMBER | NAME | FUNC '(' expr ')' | MAX2 '(' expr ',' expr ')'
 *              | 'leaky_relu' '(' expr ',' expr ')'     slope: constant only
 *              | 'clamp' '(' expr ',' expr ',' expr ')'  bounds: constant only
 *              | '(' expr ')'
 *     NUMBER  := digits ['.' digits] [('e' | 'E') ['+' | '-'] digits]
 *                (or '.' digits ...), e.g. 3, 0.5, .5, 1e-3
 *     NAME    := [A-Za-z_][A-Za-z0-9_]*        (not a function name)
 *     FUNC    := exp | log | sigmoid | tanh | relu | recip | sqrt | abs
 *              | log1p | expm1 | softplus | sin | cos
 *     MAX2    := max | min
 */
#ifndef NABLA_CLI_EXPR_H
#define NABLA_CLI_EXPR_H

#include <stddef.h>

#include "nabla.h"

#define EXPR_MAX_LEN   100000 /* bytes of source text */
#define EXPR_MAX_DEPTH 200    /* nesting of (), functions, unary minus, ^ */

/* Where a node came from: bytes [begin, end) of the source.  The hidden
 * gate of a composite op covers the operand it transforms and says how:
 * a - b makes neg(b) with prefix '-', a / b makes reciprocal(b) with '/'. */
typedef struct expr_span {
    size_t begin, end;
    char prefix; /* '\0', '-' (read "-b") or '/' (read "1/b") */
} expr_span;

typedef struct expr {
    nb_graph *graph; /* owned; NB_F64 */
    nb_node *root;   /* the value of the whole expression */
    nb_node **vars;  /* variables in order of first appearance */
    size_t n_vars;
    expr_span *spans; /* spans[nb_index(node)], for every node of graph */
    size_t n_spans;
} expr;

typedef enum expr_status {
    EXPR_OK = 0,
    EXPR_SYNTAX = 1, /* the text is not an expression: see column, msg */
    EXPR_ENGINE = 2  /* the engine refused (out of memory): see msg */
} expr_status;

typedef struct expr_error {
    size_t column; /* 1-based byte column of the problem (expr_column) */
    char msg[256];
} expr_error;

/* Parse src (NUL-terminated) into a new graph.  Variables are nb_scalar
 * leaves named as in the text, holding 0 until the caller sets them
 * (nb_set_scalar, then nb_forward on e->root).  On success fills *e, which
 * the caller releases with expr_free; on failure fills *err and leaves
 * nothing to free. */
expr_status expr_parse(const char *src, expr *e, expr_error *err);
void expr_free(expr *e);

/* The NUMBER (no sign) at the start of s: 0 with its length in *len and
 * its value in *v; -1 if it is not one, with why in *why and the offset of
 * the problem in *len; -2 if it is out of range, with why and its length.
 * Out of range is an error both ways: a number that overflows to inf, and
 * one with a nonzero digit that underflows to 0 (1e-400); a subnormal one
 * (1e-310) is kept.  NAME=VALUE arguments are
 * read with it too, so they take exactly the numbers an expression does. */
int expr_number(const char *s, size_t *len, double *v, const char **why);
/* The valid UTF-8 character at s: its length in bytes (1 to 4), and its
 * code point in *code if code is not NULL; 0 if s starts no character
 * (a stray or invalid byte, an overlong form, a surrogate, the NUL). */
size_t expr_utf8(const char *s, unsigned long *code);
/* The 1-based column, in characters, of byte at of src: what a terminal
 * shows (a character outside UTF-8 counts as one per byte). */
size_t expr_column(const char *src, size_t at);

#endif /* NABLA_CLI_EXPR_H */
