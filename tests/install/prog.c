/* prog.c - the README's "Using the library" program, built against the
 * installed library by check.sh: (x + y) z and its gradient. */
#include <nabla.h>
#include <stdio.h>

int main(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", -2.0), *y = nb_scalar(g, "y", 5.0);
    nb_node *z = nb_scalar(g, "z", -4.0);
    nb_node *f = nb_mul(g, nb_add(g, x, y), z); /* (x + y) z = -12 */

    if (nb_backward(g, f) != NB_OK) {
        fprintf(stderr, "%s\n", nb_errmsg(g));
        return 1;
    }
    printf("%g %g %g\n", nb_grad_scalar(x), nb_grad_scalar(y), nb_grad_scalar(z)); /* -4 -4 3 */
    nb_graph_free(g);
    return 0;
}
