/*
 * bn_linear_avx2.c - the Linear kernels with AVX2 and FMA (8 floats per vector); compiled with
 * -mavx2 -mfma (CMakeLists.txt), called only on CPUs that have both (bn_linear.c).
 */
#include "bn_linear.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#define VL 8
#define DOT_MR 3 // 12 accumulators of the 16 registers, 3 + 4 loads per 12 multiply-adds
#define DOT_NR 4
#define AX_MR 6  // 12 accumulators, 6 broadcasts + 2 loads per 12 multiply-adds
#define AX_NV 2
typedef __m256 vf;

// lanes [0, n) of 8 floats (n in [0, 8]) as a maskload/maskstore mask
static __m256i mask8f(ptrdiff_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static vf vf_load_n(const float *p, ptrdiff_t n) { return _mm256_maskload_ps(p, mask8f(n)); }
static void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
static void vf_store_n(float *p, vf v, ptrdiff_t n) { _mm256_maskstore_ps(p, mask8f(n), v); }
static vf vf_set1(float a) { return _mm256_set1_ps(a); }
static vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static float vf_hsum(vf a) {
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
}

#include "bn_linear_impl.h"

BN_LINEAR_TABLE(avx2);

#endif
