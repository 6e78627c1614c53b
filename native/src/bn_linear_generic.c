/*
 * bn_linear_generic.c - the Linear kernels in portable C11 (any CPU): a "vector" is a small
 * array that the compiler may map onto SSE2, NEON or scalar code. No FMA: a*b + c rounds twice
 * here (-ffp-contract=off keeps it so).
 */
#include "bn_linear.h"

#define VL 4
#define DOT_MR 2
#define DOT_NR 4
#define AX_MR 4
#define AX_NV 2
typedef struct {
    float v[VL];
} vf;

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
static void vf_store_n(float *p, vf a, ptrdiff_t n) {
    for (int i = 0; i < n; i++) p[i] = a.v[i];
}
static vf vf_set1(float a) {
    vf r;
    for (int i = 0; i < VL; i++) r.v[i] = a;
    return r;
}
static vf vf_add(vf a, vf b) {
    for (int i = 0; i < VL; i++) a.v[i] += b.v[i];
    return a;
}
static vf vf_fma(vf a, vf b, vf c) {
    for (int i = 0; i < VL; i++) a.v[i] = a.v[i] * b.v[i] + c.v[i];
    return a;
}
static float vf_hsum(vf a) { return (a.v[0] + a.v[2]) + (a.v[1] + a.v[3]); }

#include "bn_linear_impl.h"

BN_LINEAR_TABLE(generic);
