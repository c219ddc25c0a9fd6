/* nabla_web.h - what the browser page (web/app.js) calls in nabla_web.c.
 * Each returns a JSON string owned by nabla_web.c, valid until the next
 * call: {"ok": true, "title", "root", "value", "before", "gates": [...],
 * "vars": [...]} for a graph (every gate in forward order with its op,
 * inputs, value, gradient, local gradient and what it passes to each input;
 * every variable with its backprop and central-difference gradients), or
 * {"ok": false, "kind", "field", "column", "message"} naming what is wrong
 * and where (column 1-based, in bytes of the field).  Never NULL. */
#ifndef NABLA_WEB_H
#define NABLA_WEB_H

/* [{"name", "title", "src", "values"}, ...]: the lecture's examples; src and
 * values are null for one built gate by gate. */
const char *nbw_lectures(void);
/* Parse src (the `nabla grad` grammar), bind values ("x=-2 y=5, z=-4"),
 * run forward, backward and the gradient check. */
const char *nbw_eval(const char *src, const char *values);
/* The same for a lecture example, by name. */
const char *nbw_lecture(const char *name);
/* One gradient-descent step on the current graph: v <- v - lr dv for every
 * variable, then forward and backward again; "before" holds the old value. */
const char *nbw_step(double lr);

#endif /* NABLA_WEB_H */
