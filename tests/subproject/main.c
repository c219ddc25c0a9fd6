/* main.c - the parent project's program: the engine and the model layer,
 * linked from nabla built as a subproject. */
#include <nabla.h>
#include <nabla_nn.h>
#include <stdio.h>

int main(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 0.0);
    nb_node *y = nb_mul(g, nb_activate(g, x, NB_ACT_SIGMOID), nb_scalar(g, "w", 3.0));

    if (!y || nb_backward(g, y) != NB_OK) {
        fprintf(stderr, "%s\n", nb_errmsg(g));
        return 1;
    }
    printf("%g %g\n", nb_value_scalar(y), nb_grad_scalar(x)); /* 1.5 0.75 */
    nb_graph_free(g);
    return 0;
}
