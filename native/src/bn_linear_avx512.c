/*
 * bn_linear_avx512.c - the Linear kernels with AVX-512F (16 floats per vector); compiled with
 * -mavx512f -mfma (CMakeLists.txt), called only on CPUs that have them (bn_linear.c).
 */
#include "bn_linear.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#define VL 16
#define DOT_MR 4 // 16 accumulators, 4 + 4 loads per 16 multiply-adds
#define DOT_NR 4
#define AX_MR 6  // 12 accumulators, 6 broadcasts + 2 loads per 12 multiply-adds
#define AX_NV 2
typedef __m512 vf;

static __mmask16 mask16(ptrdiff_t n) { return (__mmask16)((1u << n) - 1u); } // n in [0, 16]
static vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static vf vf_load_n(const float *p, ptrdiff_t n) { return _mm512_maskz_loadu_ps(mask16(n), p); }
static void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
static void vf_store_n(float *p, vf v, ptrdiff_t n) { _mm512_mask_storeu_ps(p, mask16(n), v); }
static vf vf_set1(float a) { return _mm512_set1_ps(a); }
static vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static float vf_hsum(vf a) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
}

#include "bn_linear_impl.h"

BN_LINEAR_TABLE(avx512);

#endif
