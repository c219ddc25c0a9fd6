/* layers.c - the building blocks of a model as graph expressions: activations,
 * linear layers and their initialisation, and the choice of loss.  The MLP
 * that strings them together is in mlp.c. */
#include "nabla_nn.h"
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const act_names[] = { "none", "sigmoid", "tanh", "relu" };
static const char *const loss_names[] = { "mse", "l1", "bce", "xent", "hinge" };
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* the index of name in names[0..n), -1 if absent */
static int name_index(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (!strcmp(name, names[i]))
            return (int)i;
    return -1;
}

nb_node *nb_activate(nb_graph *g, nb_node *x, nb_act act)
{
    switch (act) {
    case NB_ACT_NONE:
        return x;
    case NB_ACT_SIGMOID:
        return nb_sigmoid(g, x);
    case NB_ACT_TANH:
        return nb_tanh(g, x);
    case NB_ACT_RELU:
        return nb_relu(g, x);
    }
    return NULL;
}

const char *nb_act_name(nb_act act)
{
    return (unsigned)act < COUNT(act_names) ? act_names[act] : "?";
}

int nb_act_parse(const char *name) { return name_index(act_names, COUNT(act_names), name); }

/* One weight for a layer of fan_in inputs and fan_out outputs; see nb_init. */
static double draw(nb_rng *rng, nb_init init, double std, int fan_in, int fan_out)
{
    switch (init) {
    case NB_INIT_NORMAL:
        return std * nb_rng_normal(rng);
    case NB_INIT_HE:
        return sqrt(2.0 / fan_in) * nb_rng_normal(rng);
    case NB_INIT_GLOROT: {
        double a = sqrt(6.0 / (fan_in + fan_out));
        return a * (2 * nb_rng_uniform(rng) - 1);
    }
    case NB_INIT_ZERO:
    case NB_INIT_AUTO:
        break;
    }
    return 0;
}

nb_status nb_linear_params(nb_graph *g, const char *wname, const char *bname, int in, int out,
                           nb_init init, double std, nb_act act, nb_rng *rng, nb_node **W,
                           nb_node **b)
{
    *W = *b = NULL;
    if (in < 1 || out < 1 || (size_t)in > SIZE_MAX / sizeof(double) / (size_t)out)
        return NB_ERR_ARG;
    if (init == NB_INIT_AUTO)
        init = act == NB_ACT_RELU ? NB_INIT_HE : NB_INIT_GLOROT;
    size_t n = (size_t)in * (size_t)out;
    double *w = nb__nn_malloc(n * sizeof *w);
    if (!w)
        return NB_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        w[i] = draw(rng, init, std, in, out);
    *W = nb_param(g, wname, 2, (int[]){ in, out }, w);
    *b = nb_param(g, bname, 1, (int[]){ out }, NULL);
    free(w);
    return *W && *b ? NB_OK : nb_error(g);
}

nb_node *nb_linear(nb_graph *g, nb_node *x, nb_node *W, nb_node *b)
{
    return nb_add(g, nb_matmul(g, x, W), b); /* b (out) broadcasts over the rows */
}

nb_node *nb_loss_node(nb_graph *g, nb_loss loss, nb_node *out, nb_node *target)
{
    switch (loss) {
    case NB_LOSS_MSE:
        return nb_mse(g, out, target);
    case NB_LOSS_L1:
        return nb_l1(g, out, target);
    case NB_LOSS_BCE:
        return nb_bce_logits(g, out, target);
    case NB_LOSS_XENT:
        return nb_softmax_xent(g, out, target);
    case NB_LOSS_HINGE:
        return nb_hinge(g, out, target);
    }
    return NULL;
}

const char *nb_loss_name(nb_loss loss)
{
    return (unsigned)loss < COUNT(loss_names) ? loss_names[loss] : "?";
}

int nb_loss_parse(const char *name) { return name_index(loss_names, COUNT(loss_names), name); }

int nb_loss_is_classifier(nb_loss loss)
{
    return loss == NB_LOSS_BCE || loss == NB_LOSS_XENT || loss == NB_LOSS_HINGE;
}
