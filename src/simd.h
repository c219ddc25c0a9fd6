/* simd.h - the one way nabla runs a loop's AVX2 build where the CPU has it,
 * shared by the engine and the model layer (private, never installed).
 *
 * Write the loop once, as an NB_SIMD_BODY function; NB_SIMD_KERNEL compiles
 * it a second time for AVX2 and defines a plain function that picks the
 * build at run time:
 *
 *     NB_SIMD_BODY void scale_body(float *x, size_t n, float c)
 *     {
 *         for (size_t i = 0; i < n; i++)
 *             x[i] *= c;
 *     }
 *     NB_SIMD_KERNEL(scale, scale_body, (float *x, size_t n, float c), (x, n, c))
 *
 * Both builds run the same operations in the same order and ISO C mode
 * forbids FMA contraction, so they give the same bits.  Code with
 * intrinsics marks its functions NB_SIMD_AVX2 (or NB_SIMD_AVX2_FMA) and tests
 * nb_simd_avx2() (nb_simd_fma()) itself, under #if NB_SIMD_X86.
 *
 * A branch per call rather than an ifunc: ifunc resolvers run while the
 * loader relocates, before a sanitizer's or fuzzer's runtime is set up.
 * __builtin_cpu_supports reads what libgcc's constructor found, so the
 * test is one load. */
#ifndef NB_SIMD_H
#define NB_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__)
#define NB_SIMD_X86      1
#define NB_SIMD_BODY     __attribute__((always_inline)) static inline
#define NB_SIMD_AVX2     __attribute__((target("avx2")))
#define NB_SIMD_AVX2_FMA __attribute__((target("avx2,fma")))
static inline int nb_simd_avx2(void) { return __builtin_cpu_supports("avx2"); }
static inline int nb_simd_fma(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
/* one level more, so that a name made by a macro is expanded before ## */
#define NB_SIMD_KERNEL(name, body, params, args) NB_SIMD_KERNEL_(name, body, params, args)
#define NB_SIMD_KERNEL_(name, body, params, args)                                              \
    NB_SIMD_AVX2 static void name##_avx2 params { body args; }                                 \
    static void name params                                                                    \
    {                                                                                          \
        if (nb_simd_avx2())                                                                    \
            name##_avx2 args;                                                                  \
        else                                                                                   \
            body args;                                                                         \
    }
#else
#define NB_SIMD_X86  0
#define NB_SIMD_BODY static inline
static inline int nb_simd_avx2(void) { return 0; }
static inline int nb_simd_fma(void) { return 0; }
#define NB_SIMD_KERNEL(name, body, params, args)                                               \
    static void name params { body args; }
#endif

#endif /* NB_SIMD_H */
