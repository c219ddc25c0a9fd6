/* custom.c - ops a user defines in C (nb_custom): the constructor, and the
 * kernels that hand the op's buffers to the user's callbacks.  They sit in
 * the op table as the op "custom", so both executors, the gradient check
 * and nb_local_grad run them like any other op; their rule for gradients
 * as ops (derivatives.c) is the type's grad. */
#include "internal.h"

#include <string.h>

/* Call forward or backward; a failure is recorded once per run, with the
 * op's name and node, for the executor to return. */
static void call(nb_node *y, int backward)
{
    const struct nb__custom *cu = nb__ext_of(y)->custom;
    const nb_op_type *t = cu->type;
    char msg[200] = "";
    nb_op_call c = { .dtype = cu->g->dtype,
                     .n_in = y->n_in,
                     .output = y,
                     .out = y->val,
                     .grad_out = backward ? nb__grad(y) : NULL,
                     .user = t->user,
                     .msg = msg,
                     .msg_size = sizeof msg };

    for (int k = 0; k < y->n_in; k++) {
        c.input[k] = y->in[k];
        c.in[k] = y->in[k]->val;
        c.grad_in[k] = backward ? nb__grad(y->in[k]) : NULL;
    }
    nb_status s = backward ? t->backward(&c) : t->forward(&c);
    if (s == NB_OK || cu->g->op_status != NB_OK)
        return;
    msg[sizeof msg - 1] = '\0';
    cu->g->op_status = s;
    nb__report(cu->g, s, "%s (node %u)%s: %s", t->name, y->id, backward ? ", backward" : "",
               msg[0] ? msg : nb_status_str(s));
}

void nb__custom_forward(nb_node *y) { call(y, 0); }
void nb__custom_backward(nb_node *y) { call(y, 1); }

nb_status nb__op_failed(nb_graph *g)
{
    nb_status s = g->op_status;
    g->op_status = NB_OK;
    return s;
}

nb_node *nb__custom_grad(nb_graph *g, nb_node *y, nb_node *gy, int k)
{
    const nb_op_type *t = nb__ext_of(y)->custom->type;

    if (!t->grad) {
        nb__fail(g, NB_ERR_ARG,
                 "%s (node %u): a user-defined op without grad: its gradient cannot be made "
                 "of nodes (give its nb_op_type a grad)",
                 t->name, y->id);
        return NULL;
    }
    return t->grad(g, y, gy, k, t->user);
}

nb_node *nb_custom(nb_graph *g, const nb_op_type *type, nb_node *const *in, int rank,
                   const int *dim)
{
    if (!g)
        return NULL;
    if (!type || !type->name || !type->forward || !type->backward ||
        (type->arity != 1 && type->arity != 2) || !in) {
        nb__fail(g, NB_ERR_ARG, "custom: %s",
                 !type         ? "the type is NULL"
                 : !in         ? "the inputs are NULL"
                 : !type->name ? "the type has no name"
                 : type->arity != 1 && type->arity != 2
                     ? "the arity must be 1 or 2"
                     : "the type needs forward and backward");
        return NULL;
    }
    for (int k = 0; k < type->arity; k++)
        if (!in[k]) { /* keep the first error, from deeper inside */
            if (g->status == NB_OK)
                nb__fail(g, NB_ERR_ARG, "%s: input %d is NULL", type->name, k + 1);
            return NULL;
        }
    if (rank > NB_MAX_RANK || (rank > 0 && !dim)) {
        nb__fail(g, NB_ERR_ARG, "%s: rank %d is out of range (0 to %d)", type->name, rank,
                 NB_MAX_RANK);
        return NULL;
    }
    struct nb__custom *cu = nb__arena_alloc(&g->arena, sizeof *cu, 8);
    if (!cu) {
        nb__fail(g, NB_ERR_NOMEM, "%s: out of memory", type->name);
        return NULL;
    }
    *cu = (struct nb__custom){ type, g };
    nb__ext params = { .size = 1, .custom = cu };
    if (rank < 0)
        for (int d = 0; d < in[0]->rank; d++)
            params.dim[d] = nb__ext_of(in[0])->dim[d];
    for (int d = 0; d < rank; d++) {
        if (dim[d] <= 0) {
            nb__fail(g, NB_ERR_ARG, "%s: dimension %d is %d, not positive", type->name, d,
                     dim[d]);
            return NULL;
        }
        params.dim[d] = dim[d];
    }
    return nb__node_new(g, NB_OP_CUSTOM, in, &params);
}
