/* nn_hooks.h - test-only hooks of the model layer (not installed). */
#ifndef NABLA_NN_HOOKS_H
#define NABLA_NN_HOOKS_H

/* Make every later checkpoint save fail with ENOSPC once bytes bytes of the
 * file have been written (a full disk); a negative count turns it off. */
void nb__checkpoint_fail_after(long long bytes);

/* Make the n-th allocation of the model layer from now on fail (n = 0:
 * the next one), counting cJSON's and zlib's inside it; then the hook
 * turns itself off.  A negative n turns it off.  While it is on, cJSON
 * allocates through the model layer's allocator (cJSON_InitHooks), and
 * back through its default when it is turned off. */
void nb__nn_alloc_fail_after(long n);
/* 1 if the hook has made an allocation fail since it was last set: a call
 * that succeeds all the same had that allocation as an optional one. */
int nb__nn_alloc_failed(void);

/* Make every model's data-parallel steps run on its workers
 * (NB__WORKERS_ALWAYS), as on one worker (NB__WORKERS_NEVER), or as their
 * timings choose (NB__WORKERS_TIMED, the default). */
enum { NB__WORKERS_TIMED, NB__WORKERS_ALWAYS, NB__WORKERS_NEVER };
void nb__workers_force(int way);

#endif /* NABLA_NN_HOOKS_H */
