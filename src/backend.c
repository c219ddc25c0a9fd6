/* backend.c - what computes the matrix products (OpenBLAS or the portable
 * kernel in ops_tensor.inc) and with how many threads, and whether the
 * elementwise kernels may run their AVX2 build. */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#if NB_HAVE_OPENBLAS
#include <cblas.h>
#endif

int nb_set_threads(int n)
{
#if NB_HAVE_OPENBLAS
    if (n > 0)
        openblas_set_num_threads(n);
    return openblas_get_num_threads();
#else
    (void)n;
    return 1;
#endif
}

const char *nb_backend(void)
{
    static char buf[160];
#if NB_HAVE_OPENBLAS
    snprintf(buf, sizeof buf, "OpenBLAS (%s; core %s; %d thread%s)", openblas_get_config(),
             openblas_get_corename(), openblas_get_num_threads(),
             openblas_get_num_threads() == 1 ? "" : "s");
#else
    snprintf(buf, sizeof buf, "portable C kernel (built without OpenBLAS)");
#endif
    return buf;
}

#if defined(__x86_64__) && defined(__GNUC__)
int nb__have_avx2(void)
{
    static atomic_int have = -1;    /* threads racing here all store the same */
    int h = atomic_load_explicit(&have, memory_order_relaxed);

    if (h < 0) {
        __builtin_cpu_init();
        h = __builtin_cpu_supports("avx2") != 0;
        atomic_store_explicit(&have, h, memory_order_relaxed);
    }
    return h;
}
#endif
