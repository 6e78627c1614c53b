/*
 * bn_kernels_avx2.c - the kernels with AVX2 and FMA (8 floats, 4 doubles per vector); compiled
 * with -mavx2 -mfma (CMakeLists.txt), called only on CPUs that have both (bn_dispatch.c).
 */
#include "bn_kernels.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define VL 8
// The rows view's reductions keep 6*nv double vectors per tile (shifts or means, two sums): 24
// with NV = 4, more than AVX2's 16 registers. Over contiguous rows (NC, NHWC) tiles of 2 vectors
// (12) took 0.69-0.85x the time of forward training (NC 256x256, NC 32x64, NHWC 32x64x3136 and
// 32x256x3136) and 0.76x of NC 256x256 backward on a Zen 4 without AVX-512, 1 thread, medians
// of 7 alternated rounds; on pieces of longer rows (NC 4096x1024) they made backward 1.16-1.23x
// slower, so there tiles stay at NV.
#define NV_CONTIG 2
typedef __m256 vf;
typedef __m256d vd;

// lanes [0, n) of 8 floats (n in [0, 8]) as a maskload mask
static __m256i mask8f(ptrdiff_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static vf vf_load_n(const float *p, ptrdiff_t n) { return _mm256_maskload_ps(p, mask8f(n)); }
static inline void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
// The first n lanes as 4, 2 and 1 floats: a masked store (vmaskmovps) is slow on AMD cores (on a
// Zen 4 without AVX-512, 1 thread, medians of 7 alternated rounds, float32 inference with a tail
// in every run or row took 0.66-0.81x the time with these stores: NCHW 32x2048x7x7 and
// 64x256x14x14, NHWC 8x100x3136). Like the masked store it writes nothing past p + n.
static inline void vf_store_n(float *p, vf v, ptrdiff_t n) {
    if (n >= 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    __m128 h = _mm256_castps256_ps128(v);
    if (n & 4) {
        _mm_storeu_ps(p, h);
        h = _mm256_extractf128_ps(v, 1);
        p += 4;
    }
    if (n & 2) {
        _mm_storel_pi((__m64 *)p, h);
        h = _mm_movehl_ps(h, h);
        p += 2;
    }
    if (n & 1) _mm_store_ss(p, h);
}
static inline void vf_stream(float *p, vf v) { _mm256_stream_ps(p, v); }
static vf vf_set1(float a) { return _mm256_set1_ps(a); }
static vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static vf vf_gate(vf a, vf c) { return _mm256_and_ps(_mm256_cmp_ps(c, _mm256_setzero_ps(), _CMP_NLE_UQ), a); }
static vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static vd vd_lo(vf a) { return _mm256_cvtps_pd(_mm256_castps256_ps128(a)); }
static vd vd_hi(vf a) { return _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)); }
static vd vd_zero(void) { return _mm256_setzero_pd(); }
static vd vd_set1(double a) { return _mm256_set1_pd(a); }
static vd vd_add(vd a, vd b) { return _mm256_add_pd(a, b); }
static vd vd_sub(vd a, vd b) { return _mm256_sub_pd(a, b); }
static vd vd_fma(vd a, vd b, vd c) { return _mm256_fmadd_pd(a, b, c); }
static void vd_store(double *p, vd v) { _mm256_storeu_pd(p, v); }
static vd vd_keep_n(vd a, ptrdiff_t n) {
    const __m256i keep = _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)n), _mm256_setr_epi64x(0, 1, 2, 3));
    return _mm256_and_pd(a, _mm256_castsi256_pd(keep));
}
static vd vd_finite_or_zero(vd a) {
    const __m256d abs = _mm256_andnot_pd(_mm256_set1_pd(-0.0), a);
    return _mm256_and_pd(a, _mm256_cmp_pd(abs, _mm256_set1_pd(INFINITY), _CMP_LT_OQ));
}
static vd vd_mul(vd a, vd b) { return _mm256_mul_pd(a, b); }
static vd vd_fnma(vd a, vd b, vd c) { return _mm256_fnmadd_pd(a, b, c); }
static vd vd_load(const double *p) { return _mm256_loadu_pd(p); }
static double vd_total2(vd a, vd b) {
    const __m256d c = _mm256_add_pd(a, b);
    const __m128d e = _mm_add_pd(_mm256_castpd256_pd128(c), _mm256_extractf128_pd(c, 1));
    return _mm_cvtsd_f64(_mm_add_sd(e, _mm_unpackhi_pd(e, e)));
}
static vf vf_from_vd(vd lo, vd hi) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
}
static inline vd vd_load_f(const float *p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
static void bn_sfence(void) { _mm_sfence(); }

#if defined(BN_KERNELS_BF16) || defined(BN_KERNELS_F16) // 16-bit activations (bn_kernels_impl.h), with F16C
#include "bn_half.h"
#if defined(BN_KERNELS_BF16)
static vf va_load(const uint16_t *p) { return bn_avx2_load_bf16(p); }
// 8 floats narrowed, packed into 8 halves
static __m128i narrow8(vf v) {
    const __m256i lanes = bn_avx2_bf16_lanes(v);
    return _mm_packus_epi32(_mm256_castsi256_si128(lanes), _mm256_extracti128_si256(lanes, 1));
}
// 4 bf16 in the low half of h as floats: each interleaved above a zero 16-bit word, one shuffle
// where a zero extension and a shift take two (on a Zen 4 without AVX-512, 1 thread, medians
// of 11 alternated rounds: bf16 NCHW 4x256x56x56 and 1x64x56x56 backward reduction 0.85x and
// 0.88x the time, 32x256x56x56 backward 0.92x)
static __m128 widen4(__m128i h) { return _mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), h)); }
static vf widen8(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
// Elementwise passes take 16 bf16 as two vectors, of the even and of the odd elements: a shift and
// an and widen them in place, and one blend puts them back; widening and narrowing each half in
// memory order takes a zero extension and a shift, an extract and a pack. On a Zen 4 without
// AVX-512, 1 thread, medians of 7 alternated rounds (same bits): bf16 NCHW 32x256x56x56
// backward 0.89x the time (2 threads 0.92x), inference 0.81x (0.89x), forward training 0.93x;
// 32x2048x7x7 backward 0.94x, inference 0.89x. The rows view reorders its per-column constants
// to match (va_pair_elem): NC 4096x1024 backward 0.62x, inference 0.73x, forward training
// 0.79x; NHWC 32x256x56x56 0.91x, 0.91x, 0.95x; NC 32x64 0.93x, 0.93x, 0.98x.
#define BN_VA_PAIR
static void va_load2(const uint16_t *p, vf *even, vf *odd) {
    const __m256i h = _mm256_loadu_si256((const __m256i *)p);
    *even = _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
    *odd = _mm256_castsi256_ps(_mm256_and_si256(h, _mm256_set1_epi32((int)0xffff0000u)));
}
static __m256i narrow16(vf even, vf odd) {
    const __m256i e = bn_avx2_bf16_lanes(even), o = _mm256_slli_epi32(bn_avx2_bf16_lanes(odd), 16);
    return _mm256_blend_epi16(e, o, 0xaa);
}
static int va_pair_elem(int k) { return k < VL ? 2 * k : 2 * (k - VL) + 1; }
static void va_store2(uint16_t *p, vf even, vf odd) { _mm256_storeu_si256((__m256i *)p, narrow16(even, odd)); }
// p is aligned to 16 bytes (va_stream's alignment), not 32: two 16-byte halves
static void va_stream2(uint16_t *p, vf even, vf odd) {
    const __m256i h = narrow16(even, odd);
    _mm_stream_si128((__m128i *)p, _mm256_castsi256_si128(h));
    _mm_stream_si128((__m128i *)p + 1, _mm256_extracti128_si256(h, 1));
}
#else
static vf va_load(const uint16_t *p) { return bn_avx2_load_f16(p); }
static __m128i narrow8(vf v) { return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static __m128 widen4(__m128i h) { return _mm_cvtph_ps(h); }
static vf widen8(__m128i h) { return _mm256_cvtph_ps(h); }
#endif
static void va_store(uint16_t *p, vf v) { _mm_storeu_si128((__m128i *)p, narrow8(v)); }
static void va_stream(uint16_t *p, vf v) { _mm_stream_si128((__m128i *)p, narrow8(v)); }
static vd vd_load_a(const uint16_t *p) { return _mm256_cvtps_pd(widen4(_mm_loadl_epi64((const __m128i *)p))); }

// The first n (<= VL) elements moved in registers, 4, 2 and 1 at a time: lanes past n are +0 on
// load and neither read nor written. Through a zeroed array and memcpy (bn_kernels_impl.h's
// default), a library call and a store-to-load forwarding stall per partial vector made bf16
// NCHW 32x2048x7x7, whose runs of 49 values each end in one, 2.3x float32's time (a Zen 4 without
// AVX-512, 1 thread).
#define BN_VA_N
// the first n (< 4) elements at p in the low bits
static uint64_t h4_load_n(const uint16_t *p, ptrdiff_t n) {
    uint64_t v = 0;
    if (n & 2) {
        uint32_t w;
        memcpy(&w, p, sizeof w);
        v = w;
    }
    if (n & 1) v |= (uint64_t)p[n & 2] << (16 * (n & 2));
    return v;
}
static vf va_load_n(const uint16_t *p, ptrdiff_t n) {
    if (n >= 8) return va_load(p);
    if (n < 4) return widen8(_mm_cvtsi64_si128((long long)h4_load_n(p, n)));
    const __m128i lo = _mm_loadl_epi64((const __m128i *)p);
    return widen8(_mm_insert_epi64(lo, (long long)h4_load_n(p + 4, n - 4), 1));
}
static void va_store_n(uint16_t *p, vf v, ptrdiff_t n) {
    const __m128i h = narrow8(v);
    if (n >= 8) {
        _mm_storeu_si128((__m128i *)p, h);
        return;
    }
    uint64_t w = (uint64_t)_mm_cvtsi128_si64(h);
    if (n & 4) {
        memcpy(p, &w, sizeof w);
        w = (uint64_t)_mm_extract_epi64(h, 1);
        p += 4;
    }
    if (n & 2) {
        const uint32_t w2 = (uint32_t)w;
        memcpy(p, &w2, sizeof w2);
        w >>= 32;
        p += 2;
    }
    if (n & 1) *p = (uint16_t)w;
}
#endif

#include "bn_kernels_impl.h"

BN_KERNELS_TABLE(avx2);

#endif
