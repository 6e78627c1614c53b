/*
 * bn_kernels_generic.c - the kernels in portable C11 (any CPU): a "vector" is a small array
 * that the compiler may map onto SSE2, NEON or scalar code. No FMA: a*b + c rounds twice here
 * (-ffp-contract=off keeps it so), which the error analysis in PERFORMANCE.md allows for.
 */
#include "bn_kernels.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

#define VL 4
typedef struct {
    float v[VL];
} vf;
typedef struct {
    double v[VL / 2];
} vd;

static vf vf_load(const float *p) {
    vf r;
    for (int i = 0; i < VL; i++) r.v[i] = p[i];
    return r;
}
static vf vf_load_n(const float *p, ptrdiff_t n) {
    vf r;
    for (int i = 0; i < VL; i++) r.v[i] = i < n ? p[i] : 0.0f;
    return r;
}
static void vf_store(float *p, vf a) {
    for (int i = 0; i < VL; i++) p[i] = a.v[i];
}
static inline void vf_store_n(float *p, vf a, ptrdiff_t n) {
    for (int i = 0; i < n; i++) p[i] = a.v[i];
}
static inline void vf_stream(float *p, vf a) { vf_store(p, a); }
static vf vf_set1(float a) {
    vf r;
    for (int i = 0; i < VL; i++) r.v[i] = a;
    return r;
}
static vf vf_sub(vf a, vf b) {
    for (int i = 0; i < VL; i++) a.v[i] -= b.v[i];
    return a;
}
static vf vf_add(vf a, vf b) { for (int i = 0; i < VL; i++) a.v[i] += b.v[i]; return a; }
static vf vf_gate(vf a, vf c) {
    for (int i = 0; i < VL; i++) a.v[i] = c.v[i] <= 0.0f ? 0.0f : a.v[i];
    return a;
}
static vf vf_fma(vf a, vf b, vf c) {
    for (int i = 0; i < VL; i++) a.v[i] = a.v[i] * b.v[i] + c.v[i];
    return a;
}
static vd vd_lo(vf a) {
    vd r;
    for (int i = 0; i < VL / 2; i++) r.v[i] = (double)a.v[i];
    return r;
}
static vd vd_hi(vf a) {
    vd r;
    for (int i = 0; i < VL / 2; i++) r.v[i] = (double)a.v[VL / 2 + i];
    return r;
}
static vd vd_set1(double a) {
    vd r;
    for (int i = 0; i < VL / 2; i++) r.v[i] = a;
    return r;
}
static vd vd_zero(void) { return vd_set1(0.0); }
static vd vd_add(vd a, vd b) {
    for (int i = 0; i < VL / 2; i++) a.v[i] += b.v[i];
    return a;
}
static vd vd_sub(vd a, vd b) {
    for (int i = 0; i < VL / 2; i++) a.v[i] -= b.v[i];
    return a;
}
static vd vd_fma(vd a, vd b, vd c) {
    for (int i = 0; i < VL / 2; i++) a.v[i] = a.v[i] * b.v[i] + c.v[i];
    return a;
}
static void vd_store(double *p, vd a) {
    for (int i = 0; i < VL / 2; i++) p[i] = a.v[i];
}
static vd vd_keep_n(vd a, ptrdiff_t n) {
    for (int i = 0; i < VL / 2; i++) a.v[i] = i < n ? a.v[i] : 0.0;
    return a;
}
static vd vd_finite_or_zero(vd a) {
    for (int i = 0; i < VL / 2; i++) a.v[i] = isfinite(a.v[i]) ? a.v[i] : 0.0;
    return a;
}
static vd vd_mul(vd a, vd b) {
    for (int i = 0; i < VL / 2; i++) a.v[i] *= b.v[i];
    return a;
}
static vd vd_fnma(vd a, vd b, vd c) {
    for (int i = 0; i < VL / 2; i++) c.v[i] = c.v[i] - a.v[i] * b.v[i];
    return c;
}
static vd vd_load(const double *p) {
    vd r;
    for (int i = 0; i < VL / 2; i++) r.v[i] = p[i];
    return r;
}
static double vd_total2(vd a, vd b) {
    const vd c = vd_add(a, b);
    return c.v[0] + c.v[1];
}
static vf vf_from_vd(vd lo, vd hi) {
    vf r;
    for (int i = 0; i < VL / 2; i++) {
        r.v[i] = (float)lo.v[i];
        r.v[VL / 2 + i] = (float)hi.v[i];
    }
    return r;
}
static inline vd vd_load_f(const float *p) {
    vd r;
    for (int i = 0; i < VL / 2; i++) r.v[i] = (double)p[i];
    return r;
}
static void bn_sfence(void) {}

#if defined(BN_KERNELS_BF16) || defined(BN_KERNELS_F16) // 16-bit activations (bn_kernels_impl.h)
#include "bn_half.h"
#if defined(BN_KERNELS_BF16)
#define WIDEN bn_bf16_to_float
#define NARROW bn_float_to_bf16
#else
#define WIDEN bn_f16_to_float
#define NARROW bn_float_to_f16
#endif
static vf va_load(const uint16_t *p) {
    vf r;
    for (int i = 0; i < VL; i++) r.v[i] = WIDEN(p[i]);
    return r;
}
static void va_store(uint16_t *p, vf a) {
    for (int i = 0; i < VL; i++) p[i] = NARROW(a.v[i]);
}
static void va_stream(uint16_t *p, vf a) { va_store(p, a); }
static vd vd_load_a(const uint16_t *p) {
    vd r;
    for (int i = 0; i < VL / 2; i++) r.v[i] = (double)WIDEN(p[i]);
    return r;
}
#endif

#include "bn_kernels_impl.h"

BN_KERNELS_TABLE(generic);
