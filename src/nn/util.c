/* util.c - the model layer's error record, its allocator (with the test
 * hook that makes an allocation fail) and its seeded random numbers
 * (xoshiro256** seeded through splitmix64, the same on every machine). */
#include "nabla_nn.h"
#include "nn_hooks.h"
#include "nn_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

nb_status nb_err_set(nb_err *err, nb_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- Allocation, with a test hook ------------------------------------------ */

static long fail_countdown = -1; /* < 0: the hook is off */
static int failed;               /* the hook has made one fail */

/* 1 if this allocation is the one to fail; counts down while the hook is on */
static int should_fail(void)
{
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0) {
        fail_countdown = -1;
        failed = 1;
        return 1;
    }
    fail_countdown--;
    return 0;
}

void *nb__nn_malloc(size_t n) { return should_fail() ? NULL : malloc(n); }

void *nb__nn_calloc(size_t n, size_t size) { return should_fail() ? NULL : calloc(n, size); }

void *nb__nn_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n); }

void *nb__nn_aligned_alloc(size_t align, size_t n)
{
    return should_fail() ? NULL : aligned_alloc(align, n);
}

void nb__nn_alloc_fail_after(long n)
{
    fail_countdown = n < 0 ? -1 : n;
    failed = 0;
    /* cJSON's allocator is process-wide: borrowed only while a test asks */
    cJSON_InitHooks(n < 0 ? NULL : &(cJSON_Hooks){ nb__nn_malloc, free });
}

int nb__nn_alloc_failed(void) { return failed; }

/* ---- xoshiro256** (Blackman and Vigna, 2018) ----------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void nb_rng_seed(nb_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t nb_rng_next(nb_rng *r)
{
    uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double nb_rng_uniform(nb_rng *r) { return (double)(nb_rng_next(r) >> 11) * 0x1.0p-53; }

/* Box-Muller with one of the pair: u1 in (0, 1] keeps log finite. */
double nb_rng_normal(nb_rng *r)
{
    double u1 = 1.0 - nb_rng_uniform(r), u2 = nb_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Rejection: draws below the largest multiple of n are kept, so every
 * result is equally likely. */
size_t nb_rng_below(nb_rng *r, size_t n)
{
    if (n == 0)
        return 0;
    uint64_t bound = (uint64_t)n, limit = UINT64_MAX - UINT64_MAX % bound, v;
    do
        v = nb_rng_next(r);
    while (v >= limit);
    return (size_t)(v % bound);
}

void nb_rng_shuffle(nb_rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = nb_rng_below(r, i), t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
