/* elementwise.h - the math of every elementwise op, one element at a time,
 * written out for double (_f64) and float (_f32).
 *
 * A unary op has y = op(x) and its backward dx += op_dx(x, y, dy); a binary
 * op has y = op(a, b), da += op_da(a, b, y, dy), db += op_db(a, b, y, dy).
 * These are the only definitions: the tensor loops and the scalar kernels
 * of the constructors (both made in kernels.c) and the replay's inline
 * steps (replay.c) all call them, so every way of running an op gives the
 * same bits. */
#ifndef NB_ELEMENTWISE_H
#define NB_ELEMENTWISE_H

#include <math.h>
#include <stdint.h>

/* e^z for z <= 0 in float, within 1 ulp (Cephes' expf: z = n ln2 + r,
 * |r| <= ln2/2, a degree-6 polynomial for e^r, 2^n built from exponent bits
 * in two halves, so results down to the subnormals come out right).  libm's
 * expf is a call per element; this has neither calls nor branches (the range
 * checks are bit masks), so loops over it vectorise with SSE2 alone.  Below
 * -104 e^z rounds to 0, and so does the result; NaN stays NaN; z > 0 is
 * outside the contract.  Softmax and the losses use it too: every exp there
 * has an argument <= 0. */
static inline float exp_nonpos_f32(float z)
{
    union {
        float f;
        uint32_t u;
    } t, s1, s2;
    t.f = z * 1.44269504088896341f + 12582912.0f; /* + 1.5 * 2^23: n = round(z / ln2) */
    float n = t.f - 12582912.0f;                  /* in the low bits of t */
    float r = (z - n * 0.693359375f) + n * 2.12194440e-4f; /* z - n ln2 */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1;                  /* e^r */
    uint32_t k = t.u - 0x4b400000u;         /* n, two's complement */
    uint32_t k1 = ((k + 256u) >> 1) - 128u; /* about n / 2 */
    s1.u = (k1 + 127u) << 23;               /* 2^k1 */
    s2.u = (k - k1 + 127u) << 23;           /* 2^(n - k1) */
    t.f = p * s1.f * s2.f;
    t.u &= 0u - (uint32_t)(z >= -104.0f); /* below -104 (or NaN): 0 */
    s1.f = z;
    t.u |= s1.u & (0u - (uint32_t)(z != z)); /* NaN: z itself */
    return t.f;
}

static inline double exp_nonpos_f64(double z) { return exp(z); }

/* The table of one-line definitions stays a table. */
/* clang-format off */
/* ---- add: y = a + b; the add gate distributes dy ---------------------------- */
static inline double add_f64(double a, double b) { return a + b; }
static inline float  add_f32(float a, float b) { return a + b; }
static inline double add_da_f64(double a, double b, double y, double dy) { (void)a, (void)b, (void)y; return dy; }
static inline float  add_da_f32(float a, float b, float y, float dy) { (void)a, (void)b, (void)y; return dy; }
static inline double add_db_f64(double a, double b, double y, double dy) { (void)a, (void)b, (void)y; return dy; }
static inline float  add_db_f32(float a, float b, float y, float dy) { (void)a, (void)b, (void)y; return dy; }

/* ---- mul: y = a b; the mul gate swaps its inputs ------------------------------ */
static inline double mul_f64(double a, double b) { return a * b; }
static inline float  mul_f32(float a, float b) { return a * b; }
static inline double mul_da_f64(double a, double b, double y, double dy) { (void)a, (void)y; return dy * b; }
static inline float  mul_da_f32(float a, float b, float y, float dy) { (void)a, (void)y; return dy * b; }
static inline double mul_db_f64(double a, double b, double y, double dy) { (void)b, (void)y; return dy * a; }
static inline float  mul_db_f32(float a, float b, float y, float dy) { (void)b, (void)y; return dy * a; }

/* ---- max: the max gate routes dy to the larger input, to a on a tie ----------- */
static inline double max_f64(double a, double b) { return a >= b ? a : b; }
static inline float  max_f32(float a, float b) { return a >= b ? a : b; }
static inline double max_da_f64(double a, double b, double y, double dy) { (void)y; return a >= b ? dy : 0; }
static inline float  max_da_f32(float a, float b, float y, float dy) { (void)y; return a >= b ? dy : 0; }
static inline double max_db_f64(double a, double b, double y, double dy) { (void)y; return a >= b ? 0 : dy; }
static inline float  max_db_f32(float a, float b, float y, float dy) { (void)y; return a >= b ? 0 : dy; }

/* ---- min: dy to the smaller input, to a on a tie -------------------------------- */
static inline double min_f64(double a, double b) { return a <= b ? a : b; }
static inline float  min_f32(float a, float b) { return a <= b ? a : b; }
static inline double min_da_f64(double a, double b, double y, double dy) { (void)y; return a <= b ? dy : 0; }
static inline float  min_da_f32(float a, float b, float y, float dy) { (void)y; return a <= b ? dy : 0; }
static inline double min_db_f64(double a, double b, double y, double dy) { (void)y; return a <= b ? 0 : dy; }
static inline float  min_db_f32(float a, float b, float y, float dy) { (void)y; return a <= b ? 0 : dy; }

/* ---- pow: y = a^b, b a constant exponent: dy/da = b a^(b-1), nothing to b ------ */
static inline double pow_f64(double a, double b) { return pow(a, b); }
static inline float  pow_f32(float a, float b) { return powf(a, b); }
static inline double pow_da_f64(double a, double b, double y, double dy) { (void)y; return dy * b * pow(a, b - 1); }
static inline float  pow_da_f32(float a, float b, float y, float dy) { (void)y; return dy * b * powf(a, b - 1); }
static inline double pow_db_f64(double a, double b, double y, double dy) { (void)a, (void)b, (void)y, (void)dy; return 0; }
static inline float  pow_db_f32(float a, float b, float y, float dy) { (void)a, (void)b, (void)y, (void)dy; return 0; }

/* ---- leaky_relu: y = a if a > 0, else b a; b a constant slope: dy/da = 1 if a > 0,
 * else b (as relu, the tie at a = 0 takes the slope of the side below); nothing to b - */
static inline double leaky_relu_f64(double a, double b) { return a > 0 ? a : b * a; }
static inline float  leaky_relu_f32(float a, float b) { return a > 0 ? a : b * a; }
static inline double leaky_relu_da_f64(double a, double b, double y, double dy) { (void)y; return a > 0 ? dy : dy * b; }
static inline float  leaky_relu_da_f32(float a, float b, float y, float dy) { (void)y; return a > 0 ? dy : dy * b; }
static inline double leaky_relu_db_f64(double a, double b, double y, double dy) { (void)a, (void)b, (void)y, (void)dy; return 0; }
static inline float  leaky_relu_db_f32(float a, float b, float y, float dy) { (void)a, (void)b, (void)y, (void)dy; return 0; }

/* ---- gt: y = 1 if a > b else 0, a step: no gradient to either input.  The
 * gradients of max, min, relu and abs written as ops (derivatives.c) are
 * masks made by it. ------------------------------------------------------------- */
static inline double gt_f64(double a, double b) { return a > b; }
static inline float  gt_f32(float a, float b) { return a > b; }
static inline double gt_da_f64(double a, double b, double y, double dy) { (void)a, (void)b, (void)y, (void)dy; return 0; }
static inline float  gt_da_f32(float a, float b, float y, float dy) { (void)a, (void)b, (void)y, (void)dy; return 0; }
static inline double gt_db_f64(double a, double b, double y, double dy) { (void)a, (void)b, (void)y, (void)dy; return 0; }
static inline float  gt_db_f32(float a, float b, float y, float dy) { (void)a, (void)b, (void)y, (void)dy; return 0; }

/* ---- neg: y = -x, dy/dx = -1 ---------------------------------------------------- */
static inline double neg_f64(double x) { return -x; }
static inline float  neg_f32(float x) { return -x; }
static inline double neg_dx_f64(double x, double y, double dy) { (void)x, (void)y; return -dy; }
static inline float  neg_dx_f32(float x, float y, float dy) { (void)x, (void)y; return -dy; }

/* ---- exp: y = e^x, dy/dx = y ------------------------------------------------------ */
static inline double exp_f64(double x) { return exp(x); }
static inline float  exp_f32(float x) { return expf(x); }
static inline double exp_dx_f64(double x, double y, double dy) { (void)x; return dy * y; }
static inline float  exp_dx_f32(float x, float y, float dy) { (void)x; return dy * y; }

/* ---- log: y = ln x, dy/dx = 1/x (x <= 0: -inf or NaN, which nb_forward reports) - */
static inline double log_f64(double x) { return log(x); }
static inline float  log_f32(float x) { return logf(x); }
static inline double log_dx_f64(double x, double y, double dy) { (void)y; return dy / x; }
static inline float  log_dx_f32(float x, float y, float dy) { (void)y; return dy / x; }

/* ---- reciprocal: y = 1/x, dy/dx = -1/x^2 = -y^2 ----------------------------------- */
static inline double reciprocal_f64(double x) { return 1 / x; }
static inline float  reciprocal_f32(float x) { return 1 / x; }
static inline double reciprocal_dx_f64(double x, double y, double dy) { (void)x; return -dy * y * y; }
static inline float  reciprocal_dx_f32(float x, float y, float dy) { (void)x; return -dy * y * y; }

/* ---- sqrt: y = x^(1/2), dy/dx = 1 / (2 y) (inf at x = 0; x < 0: NaN) ------------- */
static inline double sqrt_f64(double x) { return sqrt(x); }
static inline float  sqrt_f32(float x) { return sqrtf(x); }
static inline double sqrt_dx_f64(double x, double y, double dy) { (void)x; return dy * (0.5 / y); }
static inline float  sqrt_dx_f32(float x, float y, float dy) { (void)x; return dy * (0.5f / y); }

/* ---- log1p: y = ln(1 + x), exact for tiny x where ln of a rounded 1 + x is not;
 * dy/dx = 1 / (1 + x) (x <= -1: -inf or NaN) ---------------------------------------- */
static inline double log1p_f64(double x) { return log1p(x); }
static inline float  log1p_f32(float x) { return log1pf(x); }
static inline double log1p_dx_f64(double x, double y, double dy) { (void)y; return dy / (1 + x); }
static inline float  log1p_dx_f32(float x, float y, float dy) { (void)y; return dy / (1 + x); }

/* ---- expm1: y = e^x - 1, exact for tiny x; dy/dx = e^x, recomputed rather than
 * taken as y + 1, which cancels to 0 for x below about -37 ---------------------------- */
static inline double expm1_f64(double x) { return expm1(x); }
static inline float  expm1_f32(float x) { return expm1f(x); }
static inline double expm1_dx_f64(double x, double y, double dy) { (void)y; return dy * exp(x); }
static inline float  expm1_dx_f32(float x, float y, float dy) { (void)y; return dy * expf(x); }

/* ---- sin, cos: dy/dx = cos x and -sin x -------------------------------------------- */
static inline double sin_f64(double x) { return sin(x); }
static inline float  sin_f32(float x) { return sinf(x); }
static inline double sin_dx_f64(double x, double y, double dy) { (void)y; return dy * cos(x); }
static inline float  sin_dx_f32(float x, float y, float dy) { (void)y; return dy * cosf(x); }
static inline double cos_f64(double x) { return cos(x); }
static inline float  cos_f32(float x) { return cosf(x); }
static inline double cos_dx_f64(double x, double y, double dy) { (void)y; return -dy * sin(x); }
static inline float  cos_dx_f32(float x, float y, float dy) { (void)y; return -dy * sinf(x); }

/* clang-format on */

/* ---- sigmoid: y = 1 / (1 + e^-x), dy/dx = y (1 - y) = e^-|x| / (1 + e^-|x|)^2
 * Both from e = e^-|x| <= 1, so nothing overflows: y = 1/(1+e) for x >= 0,
 * e/(1+e) below.  The derivative comes from e rather than from 1 - y, which
 * rounds to 0 for large x: it stays exact in the tails, where it must agree
 * with the gate-by-gate composition 1 / (1 + exp(-x)).  Branch-free, so the
 * tensor loops vectorise. */
static inline double sigmoid_f64(double x)
{
    double e = exp_nonpos_f64(-fabs(x));
    return (isgreaterequal(x, 0) ? 1 : e) / (1 + e);
}
static inline float sigmoid_f32(float x)
{
    float e = exp_nonpos_f32(-fabsf(x));
    return (isgreaterequal(x, 0) ? 1 : e) / (1 + e);
}
static inline double sigmoid_dx_f64(double x, double y, double dy)
{
    double e = exp_nonpos_f64(-fabs(x)), r = 1 / (1 + e);
    (void)y;
    return dy * (e * r * r);
}
static inline float sigmoid_dx_f32(float x, float y, float dy)
{
    float e = exp_nonpos_f32(-fabsf(x)), r = 1 / (1 + e);
    (void)y;
    return dy * (e * r * r);
}

/* ---- softplus: y = ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|), dy/dx = sigmoid(x)
 * The naive form overflows for x above about 710 (89 in float) and rounds
 * to 0 for x below about -37, where y = e^x; this one has e^-|x| <= 1 and
 * keeps full relative precision on both sides. */
static inline double softplus_f64(double x)
{
    return (x > 0 ? x : 0) + log1p(exp_nonpos_f64(-fabs(x)));
}
static inline float softplus_f32(float x)
{
    return (x > 0 ? x : 0) + log1pf(exp_nonpos_f32(-fabsf(x)));
}
static inline double softplus_dx_f64(double x, double y, double dy)
{
    (void)y;
    return dy * sigmoid_f64(x);
}
static inline float softplus_dx_f32(float x, float y, float dy)
{
    (void)y;
    return dy * sigmoid_f32(x);
}

/* clang-format off */
/* ---- tanh: dy/dx = 1 - y^2 ---------------------------------------------------------- */
static inline double tanh_f64(double x) { return tanh(x); }
static inline float  tanh_f32(float x) { return tanhf(x); }
static inline double tanh_dx_f64(double x, double y, double dy) { (void)x; return dy * (1 - y * y); }
static inline float  tanh_dx_f32(float x, float y, float dy) { (void)x; return dy * (1 - y * y); }

/* ---- relu: y = max(0, x), dy/dx = 1 if x > 0, else 0: exactly nb_max(0, x), whose
 * tie at x = 0 goes to the constant 0 ------------------------------------------------ */
static inline double relu_f64(double x) { return x > 0 ? x : 0; }
static inline float  relu_f32(float x) { return x > 0 ? x : 0; }
static inline double relu_dx_f64(double x, double y, double dy) { (void)y; return x > 0 ? dy : 0; }
static inline float  relu_dx_f32(float x, float y, float dy) { (void)y; return x > 0 ? dy : 0; }

/* ---- abs: dy/dx = sign(x), 0 at x = 0 ------------------------------------------------ */
static inline double abs_f64(double x) { return fabs(x); }
static inline float  abs_f32(float x) { return fabsf(x); }
static inline double abs_dx_f64(double x, double y, double dy) { (void)y; return x > 0 ? dy : x < 0 ? -dy : 0; }
static inline float  abs_dx_f32(float x, float y, float dy) { (void)y; return x > 0 ? dy : x < 0 ? -dy : 0; }
/* clang-format on */

#endif /* NB_ELEMENTWISE_H */
