/* expr.c - recursive-descent parser for the nabla command's expressions
 * (grammar in expr.h), building engine nodes as it goes.  Recursion is
 * bounded by EXPR_MAX_DEPTH and the text by EXPR_MAX_LEN; long sums and
 * products are loops, not recursion.  Evaluation and printing live in
 * grad.c and view.c. */
#include "expr.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUMBER_MAX 400 /* characters in one numeric literal */

typedef struct parser {
    const char *src;
    size_t pos;     /* next unread byte */
    size_t tok_end; /* end of the last token consumed */
    int depth;
    expr_status failed; /* the first error, EXPR_OK while there is none */
    expr_error *err;
    nb_graph *g;
    expr_span *spans; /* by node index */
    size_t n_spans, cap_spans;
    nb_node **vars;
    size_t n_vars, cap_vars;
    char *name; /* scratch: a NUL-terminated variable name */
    size_t cap_name;
} parser;

/* A parsed subexpression: its node (NULL after an error), whether it is
 * made of numbers alone (a valid exponent), and where it starts. */
typedef struct value {
    nb_node *node;
    int is_const;
    size_t begin;
} value;

static const value failed_value = { NULL, 0, 0 };

/* ---- Characters: ASCII only, whatever the locale or the byte; other
 * characters are named in messages, in UTF-8 (expr_utf8) ------------------ */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static char peek(parser *p)
{
    while (is_space(p->src[p->pos]))
        p->pos++;
    return p->src[p->pos];
}

static void advance(parser *p, size_t n)
{
    p->pos += n;
    p->tok_end = p->pos;
}

/* ---- Errors ------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static value
fail(parser *p, expr_status why, size_t at, const char *fmt, ...)
{
    if (p->failed == EXPR_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
        va_end(ap);
        p->err->column = at + 1;
        p->failed = why;
    }
    return failed_value;
}

size_t expr_utf8(const char *s, unsigned long *code)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = u[0] < 0x80 ? 1 : u[0] < 0xc2 ? 0 : u[0] < 0xe0 ? 2 : u[0] < 0xf0 ? 3 : 4;

    if (n == 0 || u[0] > 0xf4) /* a continuation byte, overlong lead or past U+10FFFF */
        return 0;
    unsigned long c = n == 1 ? u[0] : u[0] & (0x3fu >> (n - 1));
    for (size_t i = 1; i < n; i++) { /* stops at the NUL too */
        if ((u[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (u[i] & 0x3f);
    }
    /* overlong forms, UTF-16 surrogates and past U+10FFFF are not UTF-8 */
    if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    if (code)
        *code = c;
    return n;
}

size_t expr_column(const char *src, size_t at)
{
    size_t column = 1;

    for (size_t i = 0; i < at && src[i];) {
        size_t n = expr_utf8(src + i, NULL);
        i += n ? n : 1;
        column++;
    }
    return column;
}

/* "'x'" for a printable character (of ASCII or in UTF-8, with its code
 * point), "byte 0xNN" otherwise, "the end". */
static const char *describe(const char *s, char buf[32])
{
    unsigned long code = 0;
    size_t n = expr_utf8(s, &code);

    if (*s == '\0')
        return "the end of the expression";
    if (n == 1 && code >= 0x20 && code < 0x7f)
        snprintf(buf, 32, "'%c'", *s);
    else if (n > 1 && code >= 0xa0) /* not a C1 control */
        snprintf(buf, 32, "'%.*s' (U+%04lX)", (int)n, s, code);
    else
        snprintf(buf, 32, "byte 0x%02x", (unsigned)(unsigned char)*s);
    return buf;
}

static value unexpected(parser *p, const char *wanted)
{
    char buf[32];
    peek(p);
    return fail(p, EXPR_SYNTAX, p->pos, "expected %s, found %s", wanted,
                describe(p->src + p->pos, buf));
}

/* ---- Node bookkeeping ------------------------------------------------- */

/* Record [begin, tok_end) for every node the last constructor made (a
 * composite op such as nb_sub makes two). */
static value made(parser *p, nb_node *node, int is_const, size_t begin)
{
    if (p->failed)
        return failed_value;
    if (!node)
        return fail(p, EXPR_ENGINE, begin, "engine: %s", nb_errmsg(p->g));
    size_t n = nb_graph_size(p->g);
    if (n > p->cap_spans) {
        size_t cap = p->cap_spans ? p->cap_spans : 64;
        while (cap < n)
            cap *= 2;
        expr_span *grown = realloc(p->spans, cap * sizeof *grown);
        if (!grown)
            return fail(p, EXPR_ENGINE, begin, "out of memory");
        p->spans = grown;
        p->cap_spans = cap;
    }
    for (; p->n_spans < n; p->n_spans++)
        p->spans[p->n_spans] = (expr_span){ begin, p->tok_end, '\0' };
    return (value){ node, is_const, begin };
}

/* ---- Leaves ------------------------------------------------------------ */

#define STR_(x) #x
#define STR(x)  STR_(x)

int expr_number(const char *s, size_t *len, double *v, const char **why)
{
    size_t i = 0, digits = 0, nonzero = 0;

    for (; is_digit(s[i]); i++)
        digits++, nonzero += s[i] != '0';
    if (s[i] == '.')
        for (i++; is_digit(s[i]); i++)
            digits++, nonzero += s[i] != '0';
    *len = 0;
    if (digits == 0) {
        *why = "a number needs a digit";
        return -1;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        size_t e = i + 1 + (s[i + 1] == '+' || s[i + 1] == '-');
        if (!is_digit(s[e])) {
            *len = i;
            *why = "the exponent of a number needs digits, as in 1e-3";
            return -1;
        }
        for (i = e; is_digit(s[i]); i++)
            ;
    }
    if (i > NUMBER_MAX) {
        *why = "number longer than " STR(NUMBER_MAX) " characters";
        return -1;
    }
    char text[NUMBER_MAX + 1];
    memcpy(text, s, i);
    text[i] = '\0';
    *v = strtod(text, NULL); /* the C locale: nothing calls setlocale */
    *len = i;
    if (!isfinite(*v) || (*v == 0 && nonzero)) {
        *why = *v == 0 ? "number out of range (it underflows to 0)" : "number out of range";
        return -2;
    }
    return 0;
}

static value number(parser *p)
{
    size_t begin = p->pos, len;
    const char *why;
    double v;

    int rc = expr_number(p->src + begin, &len, &v, &why);
    if (rc == -2)
        return fail(p, EXPR_SYNTAX, begin, "%s: %.*s", why, len > 40 ? 40 : (int)len,
                    p->src + begin);
    if (rc != 0)
        return fail(p, EXPR_SYNTAX, begin + len, "%s", why);
    advance(p, len);
    return made(p, nb_const_scalar(p->g, v), 1, begin);
}

static value variable(parser *p, size_t begin, size_t len)
{
    if (len + 1 > p->cap_name) {
        char *grown = realloc(p->name, len + 1);
        if (!grown)
            return fail(p, EXPR_ENGINE, begin, "out of memory");
        p->name = grown;
        p->cap_name = len + 1;
    }
    memcpy(p->name, p->src + begin, len);
    p->name[len] = '\0';
    nb_node *v = nb_lookup(p->g, p->name);
    if (v)
        return (value){ v, 0, begin };
    if (p->n_vars == p->cap_vars) {
        size_t cap = p->cap_vars ? 2 * p->cap_vars : 8;
        nb_node **grown = realloc(p->vars, cap * sizeof *grown);
        if (!grown)
            return fail(p, EXPR_ENGINE, begin, "out of memory");
        p->vars = grown;
        p->cap_vars = cap;
    }
    value x = made(p, nb_scalar(p->g, p->name, 0.0), 0, begin);
    if (x.node)
        p->vars[p->n_vars++] = x.node;
    return x;
}

/* ---- Functions --------------------------------------------------------- */

static nb_node *leaky_relu_node(nb_graph *g, nb_node *x, const double *c)
{
    return nb_leaky_relu(g, x, c[0]);
}

static nb_node *clamp_node(nb_graph *g, nb_node *x, const double *c)
{
    return nb_clamp(g, x, c[0], c[1]);
}

/* A function of one or two expressions, or of one expression and constant
 * parameters (a slope, bounds), which become part of the op as nb_pow's
 * exponent does. */
static const struct func {
    const char *name;
    int arity;
    nb_node *(*one)(nb_graph *, nb_node *);
    nb_node *(*two)(nb_graph *, nb_node *, nb_node *);
    nb_node *(*with_consts)(nb_graph *, nb_node *, const double *); /* arity - 1 of them */
    const char *consts; /* what they are, for errors */
    const char *example;
} funcs[] = {
    { "exp", 1, nb_exp, NULL, NULL, NULL, NULL },
    { "log", 1, nb_log, NULL, NULL, NULL, NULL },
    { "sigmoid", 1, nb_sigmoid, NULL, NULL, NULL, NULL },
    { "tanh", 1, nb_tanh, NULL, NULL, NULL, NULL },
    { "relu", 1, nb_relu, NULL, NULL, NULL, NULL },
    { "recip", 1, nb_reciprocal, NULL, NULL, NULL, NULL },
    { "sqrt", 1, nb_sqrt, NULL, NULL, NULL, NULL },
    { "abs", 1, nb_abs, NULL, NULL, NULL, NULL },
    { "log1p", 1, nb_log1p, NULL, NULL, NULL, NULL },
    { "expm1", 1, nb_expm1, NULL, NULL, NULL, NULL },
    { "softplus", 1, nb_softplus, NULL, NULL, NULL, NULL },
    { "sin", 1, nb_sin, NULL, NULL, NULL, NULL },
    { "cos", 1, nb_cos, NULL, NULL, NULL, NULL },
    { "max", 2, NULL, nb_max, NULL, NULL, "max(a, b)" },
    { "min", 2, NULL, nb_min, NULL, NULL, "min(a, b)" },
    { "leaky_relu", 2, NULL, NULL, leaky_relu_node, "the slope", "leaky_relu(x, 0.01)" },
    { "clamp", 3, NULL, NULL, clamp_node, "the bounds", "clamp(x, 0, 1)" },
};

static const char *const arity_words[] = { "", "one argument", "two arguments",
                                           "three arguments" };

static const struct func *find_func(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
        if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, s, len) == 0)
            return &funcs[i];
    return NULL;
}

static value parse_expr(parser *p);

/* The constant parameters of f from arg[1..]: numbers alone, finite. */
static int constants(parser *p, const struct func *f, const value *arg, double *c)
{
    for (int k = 1; k < f->arity; k++) {
        if (!arg[k].is_const) {
            fail(p, EXPR_SYNTAX, arg[k].begin,
                 "%s of %s must be constant (numbers only), as in %s", f->consts, f->name,
                 f->example);
            return 0;
        }
        c[k - 1] = nb_value_scalar(arg[k].node);
        if (!isfinite(c[k - 1])) {
            fail(p, EXPR_SYNTAX, arg[k].begin, "%s of %s is not a finite number", f->consts,
                 f->name);
            return 0;
        }
    }
    if (f->with_consts == clamp_node && !(c[0] <= c[1])) { /* nb_clamp would refuse */
        fail(p, EXPR_SYNTAX, arg[1].begin, "the lower bound of clamp is above the upper bound");
        return 0;
    }
    return 1;
}

static value call(parser *p, const struct func *f, size_t begin)
{
    value arg[3];
    double c[2];

    advance(p, 1); /* '(' */
    for (int k = 0; k < f->arity; k++) {
        if (k > 0) {
            if (peek(p) != ',')
                return peek(p) == ')' ? fail(p, EXPR_SYNTAX, p->pos, "%s takes %s, as in %s",
                                             f->name, arity_words[f->arity], f->example)
                                      : unexpected(p, "',' between the arguments");
            advance(p, 1);
        }
        arg[k] = parse_expr(p);
        if (p->failed)
            return failed_value;
    }
    if (peek(p) != ')')
        return peek(p) == ','
                   ? fail(p, EXPR_SYNTAX, p->pos, "%s takes %s", f->name, arity_words[f->arity])
                   : unexpected(p, "')' to close the call");
    advance(p, 1);
    int is_const = arg[0].is_const && (f->arity == 1 || arg[1].is_const);
    nb_node *y;
    if (f->one)
        y = f->one(p->g, arg[0].node);
    else if (f->two)
        y = f->two(p->g, arg[0].node, arg[1].node);
    else if (constants(p, f, arg, c))
        y = f->with_consts(p->g, arg[0].node, c);
    else
        return failed_value;
    return made(p, y, is_const, begin);
}

static value name_or_call(parser *p)
{
    size_t begin = p->pos, end = begin;

    while (is_alpha(p->src[end]) || is_digit(p->src[end]))
        end++;
    advance(p, end - begin);
    const struct func *f = find_func(p->src + begin, end - begin);
    int paren = peek(p) == '(';
    int len = end - begin > 40 ? 40 : (int)(end - begin);
    if (f && paren)
        return call(p, f, begin);
    if (f)
        return fail(p, EXPR_SYNTAX, p->pos,
                    "expected '(' after the function %s "
                    "(function names cannot be variables)",
                    f->name);
    if (paren)
        return fail(p, EXPR_SYNTAX, begin,
                    "unknown function '%.*s' (functions: exp log sigmoid tanh relu "
                    "recip sqrt abs log1p expm1 softplus sin cos max min leaky_relu clamp)",
                    len, p->src + begin);
    return variable(p, begin, end - begin);
}

/* ---- Operators --------------------------------------------------------- */

static value parse_unary(parser *p);

static value parse_primary(parser *p)
{
    char c = peek(p);

    if (is_digit(c) || c == '.')
        return number(p);
    if (is_alpha(c))
        return name_or_call(p);
    if (c == '(') {
        size_t open = p->pos;
        advance(p, 1);
        value v = parse_expr(p);
        if (p->failed)
            return failed_value;
        if (peek(p) != ')') {
            char buf[32];
            return fail(p, EXPR_SYNTAX, p->pos,
                        "expected ')' to close the '(' at "
                        "column %zu, found %s",
                        expr_column(p->src, open), describe(p->src + p->pos, buf));
        }
        advance(p, 1);
        v.begin = open;
        return v;
    }
    return unexpected(p, "a number, a name or '('");
}

/* power := primary ('^' unary)?  -- the exponent must be a constant. */
static value parse_power(parser *p)
{
    value x = parse_primary(p);
    if (p->failed || peek(p) != '^')
        return x;
    advance(p, 1);
    value e = parse_unary(p);
    if (p->failed)
        return failed_value;
    if (!e.is_const)
        return fail(p, EXPR_SYNTAX, e.begin,
                    "the exponent of ^ must be a constant "
                    "(for x^y with x > 0 write exp(y*log(x)))");
    double power = nb_value_scalar(e.node);
    if (!isfinite(power))
        return fail(p, EXPR_SYNTAX, e.begin, "the exponent of ^ is not a finite number");
    return made(p, nb_pow(p->g, x.node, power), x.is_const, x.begin);
}

/* unary := '-' unary | power.  A minus right before a plain number makes a
 * negative constant, not a neg gate: x*-1 is the lecture's "*-1" gate. */
static value parse_unary(parser *p)
{
    if (++p->depth > EXPR_MAX_DEPTH) {
        p->depth--;
        return fail(p, EXPR_SYNTAX, p->pos,
                    "expression nested too deeply (more than "
                    "%d levels of parentheses, functions, minus signs or ^)",
                    EXPR_MAX_DEPTH);
    }
    value v;
    if (peek(p) != '-') {
        v = parse_power(p);
    } else {
        size_t begin = p->pos;
        advance(p, 1);
        v = parse_unary(p);
        if (v.node && nb_is_leaf(v.node) && v.is_const && v.begin == begin + 1)
            v = made(p, nb_const_scalar(p->g, -nb_value_scalar(v.node)), 1, begin);
        else if (v.node)
            v = made(p, nb_neg(p->g, v.node), v.is_const, begin);
    }
    p->depth--;
    return v;
}

/* a op b through a composite constructor: the gate it makes before the
 * last one transforms b, so it gets b's span and a prefix (see expr.h). */
static value made_binary(parser *p, nb_node *y, value a, value b, size_t first, char prefix)
{
    value v = made(p, y, a.is_const && b.is_const, a.begin);
    for (size_t i = first; v.node && prefix && i + 1 < p->n_spans; i++)
        p->spans[i] = (expr_span){ b.begin, p->tok_end, prefix };
    return v;
}

/* v is the number 1 as written, not an expression worth 1 */
static int is_one(value v)
{
    return v.node && v.is_const && nb_is_leaf(v.node) && nb_value_scalar(v.node) == 1;
}

static value parse_term(parser *p)
{
    value a = parse_unary(p);

    for (char op; !p->failed && ((op = peek(p)) == '*' || op == '/');) {
        size_t at = p->pos;
        advance(p, 1);
        if (op == '*' && peek(p) == '*') /* Python's power */
            return fail(p, EXPR_SYNTAX, at,
                        "there is no operator **: write a power with ^, as in x^2");
        value b = parse_unary(p);
        if (p->failed)
            break;
        size_t first = nb_graph_size(p->g);
        if (op == '/' && is_one(a)) { /* 1/x: the lecture's reciprocal gate alone */
            a = made(p, nb_reciprocal(p->g, b.node), b.is_const, a.begin);
            continue;
        }
        nb_node *y = op == '*' ? nb_mul(p->g, a.node, b.node) : nb_div(p->g, a.node, b.node);
        a = made_binary(p, y, a, b, first, op == '/' ? '/' : '\0');
    }
    return p->failed ? failed_value : a;
}

static value parse_expr(parser *p)
{
    value a = parse_term(p);

    for (char op; !p->failed && ((op = peek(p)) == '+' || op == '-');) {
        advance(p, 1);
        value b = parse_term(p);
        if (p->failed)
            break;
        size_t first = nb_graph_size(p->g);
        nb_node *y = op == '+' ? nb_add(p->g, a.node, b.node) : nb_sub(p->g, a.node, b.node);
        a = made_binary(p, y, a, b, first, op == '-' ? '-' : '\0');
    }
    return p->failed ? failed_value : a;
}

/* ---- Entry points ------------------------------------------------------ */

expr_status expr_parse(const char *src, expr *e, expr_error *err)
{
    parser p = { .src = src, .err = err };
    size_t len = strlen(src);

    memset(e, 0, sizeof *e);
    err->column = 0;
    err->msg[0] = '\0';
    if (len > EXPR_MAX_LEN) {
        fail(&p, EXPR_SYNTAX, EXPR_MAX_LEN,
             "expression too long (%zu bytes; the limit "
             "is %d)",
             len, EXPR_MAX_LEN);
        return p.failed;
    }
    p.g = nb_graph_new(NB_F64);
    if (!p.g) {
        fail(&p, EXPR_ENGINE, 0, "out of memory");
        return p.failed;
    }
    if (peek(&p) == '\0') {
        fail(&p, EXPR_SYNTAX, p.pos, "empty expression");
    } else {
        value v = parse_expr(&p);
        if (!p.failed && peek(&p) == ')')
            fail(&p, EXPR_SYNTAX, p.pos, "unmatched ')'");
        else if (!p.failed && peek(&p) != '\0')
            unexpected(&p, "an operator (+ - * / ^)");
        e->root = v.node;
    }
    free(p.name);
    if (p.failed) {
        free(p.spans);
        free(p.vars);
        nb_graph_free(p.g);
        e->root = NULL;
        return p.failed;
    }
    e->graph = p.g;
    e->vars = p.vars;
    e->n_vars = p.n_vars;
    e->spans = p.spans;
    e->n_spans = p.n_spans;
    return EXPR_OK;
}

void expr_free(expr *e)
{
    if (!e)
        return;
    nb_graph_free(e->graph);
    free(e->vars);
    free(e->spans);
    memset(e, 0, sizeof *e);
}
