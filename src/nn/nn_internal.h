/* nn_internal.h - shared between the model layer's files (not installed). */
#ifndef NB_NN_INTERNAL_H
#define NB_NN_INTERNAL_H

#include "nabla_nn.h"

/* The optimiser's update in parts, for data-parallel steps (mlp.c): each
 * worker updates its slice [lo, hi) of parameter i (nb_param_at of the
 * optimiser's graph), Adam's with each parameter's step count plus one;
 * then nb__optimizer_count counts the step.  nb_optimizer_step is every whole
 * parameter, then the count. */
void      nb__optimizer_update(nb_optimizer *o, size_t i, size_t lo, size_t hi);
void      nb__optimizer_count(nb_optimizer *o);
nb_graph *nb__optimizer_graph(const nb_optimizer *o);

#endif /* NB_NN_INTERNAL_H */
