/*
 * bn_kernels_avx512.c - the kernels with AVX-512F (16 floats, 8 doubles per vector); compiled
 * with -mavx512f -mfma (CMakeLists.txt), called only on CPUs that have them (bn_dispatch.c).
 */
#include "bn_kernels.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>
#include <float.h>
#include <math.h>
#include <stdint.h>

#define VL 16
typedef __m512 vf;
typedef __m512d vd;

static __mmask16 mask16(ptrdiff_t n) { return (__mmask16)((1u << n) - 1u); } // n in [0, 16]
static __mmask8 mask8(ptrdiff_t n) { return (__mmask8)((1u << n) - 1u); }    // n in [0, 8]

static vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static vf vf_load_n(const float *p, ptrdiff_t n) { return _mm512_maskz_loadu_ps(mask16(n), p); }
static inline void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline void vf_store_n(float *p, vf v, ptrdiff_t n) { _mm512_mask_storeu_ps(p, mask16(n), v); }
static inline void vf_stream(float *p, vf v) { _mm512_stream_ps(p, v); }
static vf vf_set1(float a) { return _mm512_set1_ps(a); }
static vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static vf vf_gate(vf a, vf c) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(c, _mm512_setzero_ps(), _CMP_NLE_UQ), a); }
static vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static vd vd_lo(vf a) { return _mm512_cvtps_pd(_mm512_castps512_ps256(a)); }
static vd vd_hi(vf a) {
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
}
static vd vd_zero(void) { return _mm512_setzero_pd(); }
static vd vd_set1(double a) { return _mm512_set1_pd(a); }
static vd vd_add(vd a, vd b) { return _mm512_add_pd(a, b); }
static vd vd_sub(vd a, vd b) { return _mm512_sub_pd(a, b); }
static vd vd_fma(vd a, vd b, vd c) { return _mm512_fmadd_pd(a, b, c); }
static void vd_store(double *p, vd v) { _mm512_storeu_pd(p, v); }
static vd vd_keep_n(vd a, ptrdiff_t n) { return _mm512_maskz_mov_pd(mask8(n), a); }
static vd vd_finite_or_zero(vd a) {
    const __mmask8 finite = _mm512_cmp_pd_mask(_mm512_abs_pd(a), _mm512_set1_pd(INFINITY), _CMP_LT_OQ);
    return _mm512_maskz_mov_pd(finite, a);
}
static vd vd_mul(vd a, vd b) { return _mm512_mul_pd(a, b); }
static vd vd_fnma(vd a, vd b, vd c) { return _mm512_fnmadd_pd(a, b, c); }
static vd vd_load(const double *p) { return _mm512_loadu_pd(p); }
static double vd_total2(vd a, vd b) {
    const __m512d c = _mm512_add_pd(a, b);
    const __m256d d = _mm256_add_pd(_mm512_castpd512_pd256(c), _mm512_extractf64x4_pd(c, 1));
    const __m128d e = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
    return _mm_cvtsd_f64(_mm_add_sd(e, _mm_unpackhi_pd(e, e)));
}
static vf vf_from_vd(vd lo, vd hi) {
    const __m256 l = _mm512_cvtpd_ps(lo), h = _mm512_cvtpd_ps(hi);
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(l)),
                                               _mm256_castps_pd(h), 1));
}
static inline vd vd_load_f(const float *p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
static void bn_sfence(void) { _mm_sfence(); }

#if defined(BN_KERNELS_BF16) || defined(BN_KERNELS_F16) // 16-bit activations (bn_kernels_impl.h), with F16C
#include "bn_half.h"
#if defined(BN_KERNELS_BF16)
// bf16 -> float moves each 16-bit value to the top half of a zeroed 32-bit lane: one word
// permute (vpermw, AVX512-BW) with odd words from the index, even words zeroed by the mask
static vf widen16(__m256i h) {
    const __m512i idx = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 16);
    return _mm512_castsi512_ps(_mm512_maskz_permutexvar_epi16(0xaaaaaaaau, idx, _mm512_castsi256_si512(h)));
}
static vf va_load(const uint16_t *p) { return widen16(_mm256_loadu_si256((const __m256i *)p)); }
#if defined(BN_KERNELS_BF16_HW)
// vcvtneps2bf16 reads float subnormals as zero: a vector holding one takes the integer path
static __m256i narrow16(vf v) {
    const __m512i u = _mm512_castps_si512(v);
    const __mmask16 subnormal = _mm512_mask_test_epi32_mask(
        _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000)), u, _mm512_set1_epi32(0x007fffff));
    return subnormal ? bn_avx512_bf16_int(v) : (__m256i)_mm512_cvtneps_pbh(v);
}
#else
static __m256i narrow16(vf v) { return bn_avx512_bf16_int(v); }
#endif
static vd vd_load_a(const uint16_t *p) {
    const __m256i idx = _mm256_slli_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), 16);
    const __m256i h = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p));
    return _mm512_cvtps_pd(_mm256_castsi256_ps(_mm256_maskz_permutexvar_epi16(0xaaaau, idx, h)));
}
#else
static vf widen16(__m256i h) { return _mm512_cvtph_ps(h); }
static vf va_load(const uint16_t *p) { return bn_avx512_load_f16(p); }
static __m256i narrow16(vf v) { return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static vd vd_load_a(const uint16_t *p) { return _mm512_cvtps_pd(bn_avx2_load_f16(p)); }
#endif
static void va_store(uint16_t *p, vf v) { _mm256_storeu_si256((__m256i *)p, narrow16(v)); }
static void va_stream(uint16_t *p, vf v) { _mm256_stream_si256((__m256i *)p, narrow16(v)); }
// the first n (<= VL) elements by masked 16-bit moves (AVX512-BW/VL; bn_dispatch.c picks these
// tables only on CPUs with both): lanes past n are +0 on load and neither read nor written
#define BN_VA_N
static vf va_load_n(const uint16_t *p, ptrdiff_t n) { return widen16(_mm256_maskz_loadu_epi16(mask16(n), p)); }
static void va_store_n(uint16_t *p, vf v, ptrdiff_t n) { _mm256_mask_storeu_epi16(p, mask16(n), narrow16(v)); }
#endif

#include "bn_kernels_impl.h"

BN_KERNELS_TABLE(avx512);

#endif
