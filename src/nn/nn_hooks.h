/* nn_hooks.h - test-only hooks of the model layer (not installed). */
#ifndef NABLA_NN_HOOKS_H
#define NABLA_NN_HOOKS_H

/* Make every later checkpoint save fail with ENOSPC once bytes bytes of the
 * file have been written (a full disk); a negative count turns it off. */
void nb__checkpoint_fail_after(long long bytes);

#endif /* NABLA_NN_HOOKS_H */
