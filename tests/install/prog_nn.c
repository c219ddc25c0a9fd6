/* prog_nn.c - a program of the model layer, built against the installed
 * nabla_nn by check.sh: an activation by name, and its gradient. */
#include <nabla.h>
#include <nabla_nn.h>
#include <stdio.h>

int main(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 0.0);
    nb_node *y = nb_activate(g, x, (nb_act)nb_act_parse("sigmoid"));

    if (!y || nb_backward(g, y) != NB_OK) {
        fprintf(stderr, "%s\n", nb_errmsg(g));
        return 1;
    }
    printf("%s %g %g\n", nb_act_name(NB_ACT_SIGMOID), nb_value_scalar(y),
           nb_grad_scalar(x)); /* sigmoid 0.5 0.25 */
    nb_graph_free(g);
    return 0;
}
