/* check.h - a tiny test harness.  CHECK and CHECK_NEAR record the file and
 * line of a failure and carry on; main ends with return check_summary(),
 * which prints "N passed, N failed" on a line of its own. */
#ifndef CHECK_H
#define CHECK_H

#include <math.h>
#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            check_passed++;                                                                    \
        } else {                                                                               \
            check_failed++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)

/* |a - b| <= tol, or both the same infinity; NaN never passes */
#define CHECK_NEAR(a, b, tol)                                                                  \
    do {                                                                                       \
        double check_a_ = (a), check_b_ = (b);                                                 \
        if (fabs(check_a_ - check_b_) <= (tol) || (isinf(check_a_) && check_a_ == check_b_)) { \
            check_passed++;                                                                    \
        } else {                                                                               \
            check_failed++;                                                                    \
            fprintf(stderr, "%s:%d: %s = %.17g, want %s = %.17g (tol %g)\n", __FILE__,         \
                    __LINE__, #a, check_a_, #b, check_b_, (double)(tol));                      \
        }                                                                                      \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed != 0;
}

#endif
