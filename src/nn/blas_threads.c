/* blas_threads.c - the model layer's hold on OpenBLAS's thread count.  The
 * count is process-wide (nb_set_threads), so a trainer that changes it for
 * its steps must be the only one doing so: one thread of the process at a
 * time holds it, changes it, and puts it back before letting go.  Another
 * thread that asks is refused, rather than left to undo the holder's
 * count. */
#include "nabla_nn.h"
#include "nn_internal.h"

#include <stdatomic.h>

static atomic_int held;         /* 1 while some thread holds the count */
static _Thread_local int depth; /* this thread's nested holds */

nb_status nb__blas_threads_enter(int n, int *saved, const char *who, nb_err *err)
{
    int free_ = 0;

    if (depth == 0 && !atomic_compare_exchange_strong(&held, &free_, 1))
        return nb_err_set(err, NB_ERR_ARG,
                          "%s: another thread of this process is training (OpenBLAS's "
                          "thread count is process-wide: one trainer at a time)",
                          who);
    depth++;
    *saved = nb_set_threads(0);
    if (n > 0 && n != *saved)
        nb_set_threads(n);
    return NB_OK;
}

void nb__blas_threads_leave(int saved)
{
    if (nb_set_threads(0) != saved)
        nb_set_threads(saved);
    if (--depth == 0)
        atomic_store(&held, 0);
}
