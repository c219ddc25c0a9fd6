/* test_gradcheck.c - the gradient check: a wrong gradient is reported, at
 * the element where it is wrong. */
#include "check.h"
#include "nabla.h"

/* the checker itself: a kink inside the finite-difference step fails */
static void gradcheck_reports_a_mismatch(void)
{
    nb_graph *g = nb_graph_new(NB_F64);
    nb_node *x = nb_scalar(g, "x", 0), *r = nb_relu(g, x);
    nb_gradcheck_result res;

    CHECK(nb_gradcheck(g, r, &x, 1, NULL, &res) == NB_OK);
    CHECK(!res.pass && res.analytic == 0 && fabs(res.numeric - 0.5) < 1e-9);
    nb_set_scalar(x, 1);
    CHECK(nb_gradcheck(g, r, &x, 1, NULL, &res) == NB_OK && res.pass);
    CHECK(nb_value_scalar(x) == 1 && nb_value_scalar(r) == 1); /* restored */
    nb_graph_free(g);
}

int main(void)
{
    gradcheck_reports_a_mismatch();
    return check_summary();
}
