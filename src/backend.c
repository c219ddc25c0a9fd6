/* backend.c - what computes the matrix products (OpenBLAS or the portable
 * kernel in gemm.inc) and with how many threads. */
#include "internal.h"

#include <stdio.h>
#if NB_HAVE_OPENBLAS
#include <cblas.h>
#endif

int nb__blas_enabled = NB_HAVE_OPENBLAS;

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
