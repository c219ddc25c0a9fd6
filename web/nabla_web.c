/* nabla_web.c - the engine's face in the browser page (web/app.js), built to
 * WebAssembly by web/build.sh: an expression or a lecture example in, one
 * JSON string out with every gate's value, local gradients, upstream
 * gradient and what it passes down, the numerical gradients beside the
 * analytic ones, and one gradient-descent step.  The drawing is in app.js. */
#include "nabla_web.h"

#include "expr.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>
#define WEB_API EMSCRIPTEN_KEEPALIVE
#else
#define WEB_API
#endif

#define WEB_MAX_SRC    2000 /* bytes of expression a page may send */
#define WEB_MAX_VALUES 4000 /* bytes of "NAME=VALUE ..." */
#define WEB_MAX_LABELS 128  /* labelled nodes of a built example */

/* ---- The reply: a growing string ----------------------------------------- */

typedef struct buf {
    char *s;
    size_t len, cap;
    int failed; /* out of memory: the reply becomes a fixed error */
} buf;

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void
put(buf *b, const char *fmt, ...)
{
    va_list ap, ap2;

    if (b->failed)
        return;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && b->s && (size_t)n < b->cap - b->len) {
        b->len += (size_t)n;
        va_end(ap2);
        return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (n >= 0 && cap - b->len <= (size_t)n)
        cap *= 2;
    char *s = n >= 0 ? realloc(b->s, cap) : NULL;
    if (!s) {
        b->failed = 1;
        va_end(ap2);
        return;
    }
    b->s = s;
    b->cap = cap;
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap2);
    b->len += (size_t)n;
    va_end(ap2);
}

/* JSON has no inf or NaN: they go out as null, which the page shows. */
static void put_num(buf *b, double v)
{
    if (isfinite(v))
        put(b, "%.17g", v + 0.0);
    else
        put(b, "null");
}

static void put_str(buf *b, const char *s)
{
    put(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(b, "\\%c", c);
        else if (c < 0x20)
            put(b, "\\u%04x", c);
        else
            put(b, "%c", c);
    }
    put(b, "\"");
}

static buf reply;

static const char *finish(void)
{
    if (reply.failed || !reply.s)
        return "{\"ok\":false,\"kind\":\"engine\",\"message\":\"out of memory\"}";
    return reply.s;
}

static void reset_reply(void)
{
    reply.len = 0;
    reply.failed = 0;
    if (reply.s)
        reply.s[0] = '\0';
}

static const char *fail(const char *kind, const char *field, long column, const char *msg)
{
    reset_reply();
    put(&reply, "{\"ok\":false,\"kind\":");
    put_str(&reply, kind);
    put(&reply, ",\"field\":");
    put_str(&reply, field);
    put(&reply, ",\"column\":%ld,\"message\":", column);
    put_str(&reply, msg);
    put(&reply, "}");
    return finish();
}

/* ---- The current graph ------------------------------------------------------ */

/* What the page is looking at: an expression's graph (spans give each gate
 * its text) or a built lecture example (labels do). */
typedef struct session {
    expr e; /* e.graph, e.root, e.vars; spans when from text */
    int from_text;
    const char *label[WEB_MAX_LABELS]; /* by nb_index; static strings */
    char title[200];
} session;

static session cur;

static void session_clear(void)
{
    if (cur.from_text) {
        expr_free(&cur.e);
    } else {
        nb_graph_free(cur.e.graph);
        free(cur.e.vars);
    }
    memset(&cur, 0, sizeof cur);
}

/* A failed run leaves no graph behind, so that a gradient-descent step
 * cannot act on values the page never showed. */
static const char *drop(const char *kind, const char *field, long column, const char *msg)
{
    const char *r = fail(kind, field, column, msg); /* copies msg first */
    session_clear();
    return r;
}

/* The gates root depends on, in forward order: mark[i] is 1 for them. */
static char *ancestors(nb_graph *g, nb_node *root)
{
    size_t top = nb_index(root);
    char *mark = calloc(top + 1, 1);

    if (!mark)
        return NULL;
    mark[top] = 1;
    /* creation order is topological, so one backward sweep suffices */
    for (size_t i = top + 1; i-- > 0;) {
        nb_node *n = nb_graph_node(g, i);
        for (int k = 0; mark[i] && k < nb_arity(n); k++)
            mark[nb_index(nb_input(n, k))] = 1;
    }
    return mark;
}

static void put_gate(buf *b, nb_graph *g, nb_node *n, int leaf_root)
{
    size_t i = nb_index(n);
    int wants = nb_wants_grad(n);
    /* a root that is a leaf has d root / d root = 1 and no pass to run */
    double up = leaf_root ? 1.0 : nb_grad_scalar(n);

    put(b, "{\"id\":%zu,\"op\":", i);
    put_str(b, nb_op_name(n));
    if (nb_name(n)) {
        put(b, ",\"name\":");
        put_str(b, nb_name(n));
    }
    if (!cur.from_text && i < WEB_MAX_LABELS && cur.label[i]) {
        put(b, ",\"label\":");
        put_str(b, cur.label[i]);
    }
    if (cur.from_text && !nb_is_leaf(n) && i < cur.e.n_spans) {
        expr_span sp = cur.e.spans[i];
        put(b, ",\"span\":[%zu,%zu],\"prefix\":\"%s\"", sp.begin, sp.end,
            sp.prefix == '-'   ? "-"
            : sp.prefix == '/' ? "/"
                               : "");
    }
    put(b, ",\"leaf\":%s,\"wants_grad\":%s,\"value\":", nb_is_leaf(n) ? "true" : "false",
        wants ? "true" : "false");
    put_num(b, nb_value_scalar(n));
    put(b, ",\"grad\":");
    if (wants)
        put_num(b, up);
    else
        put(b, "null");
    put(b, ",\"inputs\":[");
    for (int k = 0; k < nb_arity(n); k++)
        put(b, "%s%zu", k ? "," : "", nb_index(nb_input(n, k)));
    /* local gradient per input and upstream x local, what the input gets */
    put(b, "],\"local\":[");
    for (int k = 0; k < nb_arity(n); k++) {
        double local = NAN;
        if (!nb_wants_grad(nb_input(n, k)) || nb_local_grad(g, n, k, &local) != NB_OK)
            local = NAN;
        put(b, k ? "," : "");
        put_num(b, local);
    }
    put(b, "],\"pass\":[");
    for (int k = 0; k < nb_arity(n); k++) {
        double local = NAN;
        if (!nb_wants_grad(nb_input(n, k)) || nb_local_grad(g, n, k, &local) != NB_OK)
            local = NAN;
        put(b, k ? "," : "");
        put_num(b, up * local);
    }
    put(b, "]}");
}

/* Analytic and central-difference gradient of every variable. */
static void put_vars(buf *b, int leaf_root)
{
    nb_gradcheck_result *res = NULL;
    int checked = 0;

    if (!leaf_root && cur.e.n_vars) {
        res = calloc(cur.e.n_vars, sizeof *res);
        checked = res && nb_gradcheck(cur.e.graph, cur.e.root, cur.e.vars, cur.e.n_vars, NULL,
                                      res) == NB_OK;
    }
    put(b, "\"vars\":[");
    for (size_t i = 0; i < cur.e.n_vars; i++) {
        nb_node *v = cur.e.vars[i];
        double grad = leaf_root ? (v == cur.e.root) : nb_grad_scalar(v);
        put(b, "%s{\"id\":%zu,\"name\":", i ? "," : "", nb_index(v));
        put_str(b, nb_name(v));
        put(b, ",\"value\":");
        put_num(b, nb_value_scalar(v));
        put(b, ",\"grad\":");
        put_num(b, grad);
        put(b, ",\"numeric\":");
        if (checked)
            put_num(b, res[i].numeric);
        else
            put(b, "null");
        put(b, "}");
    }
    put(b, "]");
    free(res);
}

/* Forward, backward, gradient check and the reply for the current graph;
 * before is the loss before a gradient-descent step (NAN: none). */
static const char *run_and_reply(double before)
{
    nb_graph *g = cur.e.graph;
    nb_node *root = cur.e.root;
    int leaf_root = nb_is_leaf(root);
    nb_status s = leaf_root ? NB_OK : nb_forward(g, root);

    if (s != NB_OK && s != NB_ERR_NONFINITE)
        return drop("engine", "expr", 0, nb_errmsg(g));
    char *mark = ancestors(g, root);
    if (!mark)
        return drop("engine", "expr", 0, "out of memory");
    /* the first gate that is not finite made it, its inputs being finite */
    for (size_t i = 0; i <= nb_index(root); i++) {
        nb_node *n = nb_graph_node(g, i);
        if (mark[i] && !isfinite(nb_value_scalar(n))) {
            char msg[160];
            long col = cur.from_text && i < cur.e.n_spans ? (long)cur.e.spans[i].begin + 1 : 0;
            snprintf(msg, sizeof msg, "%s gives %s here (outside its domain, or overflow)",
                     nb_op_name(n), isnan(nb_value_scalar(n)) ? "NaN" : "infinity");
            free(mark);
            return drop("domain", "expr", col, msg);
        }
    }
    if (!leaf_root && cur.e.n_vars && nb_backward(g, root) != NB_OK) {
        free(mark);
        return drop("engine", "expr", 0, nb_errmsg(g));
    }
    reset_reply();
    put(&reply, "{\"ok\":true,\"title\":");
    put_str(&reply, cur.title);
    put(&reply, ",\"root\":%zu,\"value\":", nb_index(root));
    put_num(&reply, nb_value_scalar(root));
    put(&reply, ",\"before\":");
    put_num(&reply, before);
    put(&reply, ",\"gates\":[");
    int first = 1;
    for (size_t i = 0; i <= nb_index(root); i++) {
        if (!mark[i])
            continue;
        put(&reply, first ? "" : ",");
        put_gate(&reply, g, nb_graph_node(g, i), leaf_root);
        first = 0;
    }
    put(&reply, "],");
    put_vars(&reply, leaf_root);
    put(&reply, "}");
    free(mark);
    return finish();
}

/* ---- Values: "x=-2 y=5, z=-4" ----------------------------------------------- */

/* Give each variable its value; NULL on success, else the failure reply. */
static const char *bind_values(const char *values)
{
    char *seen = calloc(cur.e.n_vars + 1, 1);
    const char *p = values;
    char msg[160];

    if (!seen)
        return drop("engine", "values", 0, "out of memory");
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == ';' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        const char *name = p;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        size_t len = (size_t)(p - name);
        long col = (long)(name - values) + 1;
        if (len == 0 || *p != '=') {
            free(seen);
            return drop("values", "values", col, "expected NAME=VALUE");
        }
        size_t k = 0;
        while (k < cur.e.n_vars && (strlen(nb_name(cur.e.vars[k])) != len ||
                                    memcmp(nb_name(cur.e.vars[k]), name, len) != 0))
            k++;
        char *end = NULL;
        double v = strtod(p + 1, &end);
        if (k == cur.e.n_vars) {
            snprintf(msg, sizeof msg, "no variable '%.*s' in the expression", (int)len, name);
        } else if (seen[k]) {
            snprintf(msg, sizeof msg, "%.*s is given twice", (int)len, name);
        } else if (end == p + 1 || !isfinite(v) || (*end && !strchr(" ,;\t\n", *end))) {
            snprintf(msg, sizeof msg, "the value of %.*s must be a finite number", (int)len,
                     name);
        } else {
            seen[k] = 1;
            nb_set_scalar(cur.e.vars[k], v);
            p = end;
            continue;
        }
        free(seen);
        return drop("values", "values", col, msg);
    }
    for (size_t k = 0; k < cur.e.n_vars; k++) {
        if (!seen[k]) {
            snprintf(msg, sizeof msg, "no value for %s (give it as %s=VALUE)",
                     nb_name(cur.e.vars[k]), nb_name(cur.e.vars[k]));
            free(seen);
            return drop("values", "values", (long)strlen(values) + 1, msg);
        }
    }
    free(seen);
    return NULL;
}

/* ---- What the page calls --------------------------------------------------- */

WEB_API const char *nbw_eval(const char *src, const char *values)
{
    expr_error err;

    session_clear();
    if (!src || !values)
        return fail("syntax", "expr", 0, "no expression");
    if (strlen(src) > WEB_MAX_SRC)
        return fail("syntax", "expr", WEB_MAX_SRC + 1,
                    "the expression is too long for this page (2000 bytes at most)");
    if (strlen(values) > WEB_MAX_VALUES)
        return fail("values", "values", WEB_MAX_VALUES + 1, "too many values");
    expr_status s = expr_parse(src, &cur.e, &err);
    if (s != EXPR_OK)
        return fail(s == EXPR_SYNTAX ? "syntax" : "engine", "expr", (long)err.column, err.msg);
    cur.from_text = 1;
    snprintf(cur.title, sizeof cur.title, "%s", src);
    const char *bad = bind_values(values);
    return bad ? bad : run_and_reply(NAN);
}

/* w <- w - lr dL/dw for every variable, then forward and backward again. */
WEB_API const char *nbw_step(double lr)
{
    if (!cur.e.graph)
        return fail("state", "lr", 0, "nothing to step: run an expression first");
    if (!isfinite(lr) || lr <= 0 || lr > 1e6)
        return fail("values", "lr", 1, "the learning rate must be a positive number");
    double before = nb_value_scalar(cur.e.root);
    if (nb_is_leaf(cur.e.root))
        return fail("state", "lr", 0, "a lone variable has no gates to step through");
    for (size_t i = 0; i < cur.e.n_vars; i++) {
        nb_node *v = cur.e.vars[i];
        nb_set_scalar(v, nb_value_scalar(v) - lr * nb_grad_scalar(v));
    }
    return run_and_reply(before);
}

/* ---- The lecture's examples ------------------------------------------------- */

/* The 2-2-2 sigmoid network of `nabla lecture two-layer`, built gate by
 * gate because its hidden units feed both output units (fan-out), which
 * an expression would duplicate. */
static nb_node *labelled(nb_node *n, const char *label)
{
    if (n && nb_index(n) < WEB_MAX_LABELS)
        cur.label[nb_index(n)] = label;
    return n;
}

static nb_node *unit(nb_graph *g, nb_node *wa, nb_node *a, nb_node *wb, nb_node *b,
                     const char *const label[3])
{
    nb_node *pa = labelled(nb_mul(g, wa, a), label[0]);
    nb_node *pb = labelled(nb_mul(g, wb, b), label[1]);
    return labelled(nb_add(g, pa, pb), label[2]);
}

static nb_node *constant(nb_graph *g, const char *name, double v)
{
    return nb_constant(g, name, 0, NULL, &v);
}

static int build_two_layer(void)
{
    static const char *const wname[8] = { "w0_10", "w0_20", "w0_11", "w0_21",
                                          "w1_10", "w1_20", "w1_11", "w1_21" };
    static const double wval[8] = { 0.1, 0.3, 0.2, 0.1, 0.4, 0.1, 0.5, 0.3 };
    nb_graph *g = nb_graph_new(NB_F64);

    cur.e.graph = g;
    cur.e.vars = calloc(8, sizeof *cur.e.vars);
    if (!g || !cur.e.vars)
        return -1;
    for (int i = 0; i < 8; i++)
        cur.e.vars[i] = nb_scalar(g, wname[i], wval[i]);
    cur.e.n_vars = 8;
    nb_node *x1 = constant(g, "x1", 0.2), *x2 = constant(g, "x2", 0.5);
    nb_node *t1 = constant(g, "t1", 0.2), *t2 = constant(g, "t2", 0.7);
    nb_node *const *w = cur.e.vars;
    nb_node *z10 =
        unit(g, w[0], x1, w[1], x2, (const char *[]){ "w0_10 x1", "w0_20 x2", "z10" });
    nb_node *z11 =
        unit(g, w[2], x1, w[3], x2, (const char *[]){ "w0_11 x1", "w0_21 x2", "z11" });
    nb_node *a10 = labelled(nb_sigmoid(g, z10), "a10");
    nb_node *a11 = labelled(nb_sigmoid(g, z11), "a11");
    nb_node *z20 =
        unit(g, w[4], a10, w[5], a11, (const char *[]){ "w1_10 a10", "w1_20 a11", "z20" });
    nb_node *z21 =
        unit(g, w[6], a10, w[7], a11, (const char *[]){ "w1_11 a10", "w1_21 a11", "z21" });
    nb_node *a20 = labelled(nb_sigmoid(g, z20), "a20");
    nb_node *a21 = labelled(nb_sigmoid(g, z21), "a21");
    /* a - b is a + neg(b): the hidden gate gets its name too */
    nb_node *d0 = labelled(nb_sub(g, t1, a20), "t1 - a20");
    labelled(d0 ? nb_input(d0, 1) : NULL, "-a20");
    nb_node *e0 = labelled(nb_pow(g, d0, 2), "(t1 - a20)^2");
    nb_node *d1 = labelled(nb_sub(g, t2, a21), "t2 - a21");
    labelled(d1 ? nb_input(d1, 1) : NULL, "-a21");
    nb_node *e1 = labelled(nb_pow(g, d1, 2), "(t2 - a21)^2");
    nb_node *sum = labelled(nb_add(g, e0, e1), "sum of squares");
    cur.e.root = labelled(nb_mul_const(g, sum, 0.5), "E");
    return cur.e.root ? 0 : -1;
}

/* Expressions and values as `nabla grad` takes them; a NULL expression is
 * built by the function instead. */
static const struct lecture {
    const char *name, *title, *src, *values;
    int (*build)(void);
} lectures[] = {
    { "add-mul", "f = (x + y) z", "(x+y)*z", "x=-2 y=5 z=-4", NULL },
    { "neuron", "a sigmoid neuron from gates: *, +, -, exp, +1, 1/x",
      "1/(1+exp(-(w0*x0+w1*x1+w2)))", "w0=2 x0=-1 w1=-3 x1=-2 w2=-3", NULL },
    { "apple", "2 apples at 100 each, tax 1.1", "apple*count*tax", "apple=100 count=2 tax=1.1",
      NULL },
    { "apple-orange", "2 apples at 100, 3 oranges at 150, tax 1.1",
      "(apple*apple_count + orange*orange_count)*tax",
      "apple=100 apple_count=2 orange=150 orange_count=3 tax=1.1", NULL },
    { "chain", "the chain rule: z = (x + y)^2", "(x+y)^2", "x=1 y=2", NULL },
    { "gates", "add distributes, mul swaps, max routes: f = 2 (x y + max(z, w))",
      "2*(x*y + max(z, w))", "x=3 y=-4 z=2 w=-1", NULL },
    { "copy", "copy adds: x feeds two gates, its gradient is the sum", "x*y + x*z",
      "x=3 y=-4 z=2", NULL },
    { "two-layer",
      "2-2-2 sigmoid network, x = (0.2, 0.5), targets (0.2, 0.7), "
      "E = 1/2 ((t1 - a20)^2 + (t2 - a21)^2); try a step with learning rate 0.3",
      NULL, NULL, build_two_layer },
};
#define N_LECTURES (sizeof lectures / sizeof lectures[0])

WEB_API const char *nbw_lectures(void)
{
    reset_reply();
    put(&reply, "[");
    for (size_t i = 0; i < N_LECTURES; i++) {
        put(&reply, "%s{\"name\":", i ? "," : "");
        put_str(&reply, lectures[i].name);
        put(&reply, ",\"title\":");
        put_str(&reply, lectures[i].title);
        put(&reply, ",\"src\":");
        if (lectures[i].src)
            put_str(&reply, lectures[i].src);
        else
            put(&reply, "null");
        put(&reply, ",\"values\":");
        if (lectures[i].values)
            put_str(&reply, lectures[i].values);
        else
            put(&reply, "null");
        put(&reply, "}");
    }
    put(&reply, "]");
    return finish();
}

WEB_API const char *nbw_lecture(const char *name)
{
    for (size_t i = 0; name && i < N_LECTURES; i++) {
        const struct lecture *l = &lectures[i];
        if (strcmp(name, l->name) != 0)
            continue;
        if (l->src)
            return nbw_eval(l->src, l->values);
        session_clear();
        if (l->build() != 0)
            return drop("engine", "expr", 0,
                        cur.e.graph ? nb_errmsg(cur.e.graph) : "out of memory");
        snprintf(cur.title, sizeof cur.title, "%s", l->title);
        return run_and_reply(NAN);
    }
    return fail("state", "lecture", 0, "no such lecture example");
}
