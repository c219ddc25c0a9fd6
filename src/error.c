/* error.c - status names and the graph's error record.  The library never
 * prints: messages wait in the graph for nb_errmsg(). */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

const char *nb_status_str(nb_status s)
{
    switch (s) {
    case NB_OK:
        return "ok";
    case NB_ERR_NOMEM:
        return "out of memory";
    case NB_ERR_ARG:
        return "bad argument";
    case NB_ERR_SHAPE:
        return "shape mismatch";
    case NB_ERR_DTYPE:
        return "dtype mismatch";
    case NB_ERR_GRAPH:
        return "node from another graph";
    case NB_ERR_SIZE:
        return "size overflow";
    case NB_ERR_NONFINITE:
        return "non-finite value";
    case NB_ERR_IO:
        return "input/output error";
    case NB_ERR_FORMAT:
        return "malformed file";
    }
    return "unknown status";
}

#ifdef __GNUC__
__attribute__((format(printf, 4, 0)))
#endif
static nb_status
record(nb_graph *g, int sticky, nb_status code, const char *fmt, va_list ap)
{
    if (sticky && g->status != NB_OK)
        return code; /* keep the first construction error */
    if (sticky)
        g->status = code;
    vsnprintf(g->msg, sizeof g->msg, fmt, ap);
    return code;
}

nb_status nb__fail(nb_graph *g, nb_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(g, 1, code, fmt, ap);
    va_end(ap);
    return code;
}

nb_status nb__report(nb_graph *g, nb_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(g, 0, code, fmt, ap);
    va_end(ap);
    return code;
}

nb_status nb_error(const nb_graph *g) { return g ? g->status : NB_ERR_ARG; }

const char *nb_errmsg(const nb_graph *g)
{
    return g ? g->msg : "no graph (nb_graph_new returned NULL: out of memory?)";
}

void nb_error_clear(nb_graph *g)
{
    if (!g)
        return;
    g->status = NB_OK;
    g->msg[0] = '\0';
}

int nb__dim(const nb_node *n, int i) { return nb__ext_of(n) ? nb__ext_of(n)->dim[i] : 1; }

const char *nb__shape_str(const nb_node *n, char *buf)
{
    if (n->rank == 0) {
        snprintf(buf, NB__SHAPE_STR, "scalar");
        return buf;
    }
    int len = 0;
    for (int i = 0; i < n->rank; i++)
        len += snprintf(buf + len, (size_t)(NB__SHAPE_STR - len), i ? "x%d" : "%d",
                        nb__ext_of(n)->dim[i]);
    return buf;
}
