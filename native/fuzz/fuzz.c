/*
 * fuzz.c - fz_run: decodes a fuzz input into one call of a bn.h function and checks the
 * properties listed in fuzz.h.
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel.
 *
 * Input, in order (missing bytes read as 0, so every input is a call):
 *   layout, dimensions, flags, mask, eps, momentum, value seed (8 bytes),
 *   per buffer: presence (optional ones only), value mode, size mode,
 *   mutations: count, then (kind, buffer, parameters) each.
 */
#include "fuzz.h"
#include "bn_half.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_BUDGET ((size_t)1 << 20) // bytes of all buffers of one call
#define FZ_MAX_COUNT 65536          // N*C*S of the decoded small dimensions
#define FZ_MODERATE 1e4             // |v| <= this for the finite-output property
#define FZ_MASK_BITS (BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT | BN_DIFF_RES) // bn_backward
#define FZ_MIN_EPS 1e-30            // eps >= this for the finite-output property

// ----------------------------------------------------------------------------
// input bytes and the value generator

typedef struct {
    const uint8_t *p;
    size_t n;
} fz_in;

static unsigned int u8(fz_in *in) {
    if (in->n == 0) return 0;
    in->n--;
    return *in->p++;
}

static uint64_t ubytes(fz_in *in, int bytes) { // little-endian
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)u8(in) << (8 * i);
    return v;
}

static double raw_double(fz_in *in) {
    const uint64_t bits = ubytes(in, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

// splitmix64
static uint64_t mix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unit(uint64_t *s) { return (double)(mix(s) >> 11) * 0x1.0p-53; } // [0, 1)

#define COUNT_OF(a) ((unsigned int)(sizeof(a) / sizeof((a)[0])))

static const float special_values[] = {
    0.0f, -0.0f, 1.0f, -1.0f, NAN, -NAN, INFINITY, -INFINITY, FLT_MIN, -FLT_MIN,
    0x1p-149f /* smallest subnormal */, -0x1p-149f, 0x1p-130f, FLT_MAX, -FLT_MAX, 1e30f, -1e30f,
    16777216.0f, 1e7f,
};

// One float of a buffer in value mode `mode`; nonneg: a variance (moderate modes give v >= 0).
static float value(uint64_t *s, unsigned int mode, int nonneg) {
    static const double scales[] = {1.0, 100.0, FZ_MODERATE};
    float v;
    switch (mode % 6) {
    case 0: v = (float)((2.0 * unit(s) - 1.0) * scales[(mode / 6) % 3]); break; // moderate
    case 1: v = (float)((int)(mix(s) % 5) - 2); break;                   // constant channels, zeros
    case 2: v = (float)(1000.0 + (unit(s) - 0.5) * 1e-3); break;         // offset >> spread
    case 3:
        if ((mode / 6) % 3 == 2) { // near FLT_MAX: +-[0.25, 1]*FLT_MAX, a quarter scaled by 2^-(0..63)
            const double m = FLT_MAX * (1.0 - 0.75 * unit(s));
            const int e = mix(s) % 4 == 0 ? (int)(mix(s) % 64) : 0;
            v = (float)ldexp(mix(s) % 2 ? -m : m, -e);
        } else {
            v = (float)(1e7 + (unit(s) - 0.5)); // huge offset
        }
        break;
    case 4:                                                              // specials sprinkled
        if (mix(s) % 8 == 0) v = special_values[mix(s) % COUNT_OF(special_values)];
        else v = (float)(10.0 * (2.0 * unit(s) - 1.0));
        break;
    default: { // raw bits
        const uint32_t bits = (uint32_t)mix(s);
        memcpy(&v, &bits, sizeof v);
    }
    }
    if (nonneg && mode % 6 <= 2) v = fabsf(v);
    return v;
}

// ----------------------------------------------------------------------------
// scalars

static const int64_t odd_dims[] = {
    0, -1, 1, 2, 3, 257, 65537, INT64_MIN, INT64_MAX, INT64_MAX / 4, INT64_MAX / 4 + 1,
    (int64_t)1 << 31, (int64_t)1 << 32, (int64_t)1 << 61, (int64_t)1 << 62,
};
static const double usual_eps[] = {1e-5, 1e-3, 0.1, 1e-12};
static const double odd_eps[] = {
    0.0, -0.0, -1e-5, NAN, INFINITY, -INFINITY, DBL_MIN, 4.9e-324, 1e-300, 1e-45, DBL_MAX, 1e3,
};
static const double usual_momentum[] = {0.1, 0.0, 1.0, 0.5, 1.0 / 3.0};
static const double odd_momentum[] = {
    -0.0, -1e-300, 1.0 + DBL_EPSILON, NAN, INFINITY, -INFINITY, 2.0, -1.0, 4.9e-324,
};

static int64_t odd_dim(fz_in *in) {
    const unsigned int b = u8(in);
    return b < 128 ? odd_dims[b % COUNT_OF(odd_dims)] : (int64_t)ubytes(in, 8);
}

// Flags or mask: usually a subset of the known bits, sometimes any 4 bits or a raw 32-bit value.
static unsigned int bits(fz_in *in, unsigned int known) {
    const unsigned int b = u8(in);
    if (b < 224) return b & known;
    return (b & 0xFu) | (b >= 248 ? (unsigned int)ubytes(in, 4) : 0u);
}

static double pick(fz_in *in, const double *usual, unsigned int n_usual,
                   const double *odd, unsigned int n_odd) {
    const unsigned int b = u8(in);
    if (b < 192) return usual[b % n_usual];
    if (b < 240) return odd[b % n_odd];
    return raw_double(in);
}

// ----------------------------------------------------------------------------
// the call's buffers

typedef struct {
    const fz_api *api;
    fz_call k;
    int present[FZ_MAX_ARGS];
    unsigned int vmode[FZ_MAX_ARGS];
    int alias_to[FZ_MAX_ARGS];    // -1, or the buffer whose allocation this one points into
    size_t alias_off[FZ_MAX_ARGS];
    size_t misalign[FZ_MAX_ARGS]; // 0..3 bytes added to the pointer
    uint8_t *base[FZ_MAX_ARGS];   // own allocation, or NULL
    size_t size[FZ_MAX_ARGS];     // its size in bytes (also the size to allocate)
    int owner[FZ_MAX_ARGS];       // whose allocation p[i] points into, -1 when NULL
    size_t offset[FZ_MAX_ARGS];   // p[i] - base[owner[i]]
    uint8_t *before[FZ_MAX_ARGS]; // copies of the allocations before the call
    int dims_ok;                  // dimensions valid and N*C*S*4 fits in int64_t
    uint64_t extent[FZ_MAX_ARGS]; // bytes the function may touch from p[i] (when dims_ok)
} fz_state;

static void fz_fail(const fz_state *st, const char *fmt, ...) {
    const fz_call *k = &st->k;
    va_list ap;
    fprintf(stderr, "%s: property violated: ", st->api->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  layout=%d N=%lld C=%lld S=%lld flags=0x%x mask=0x%x eps=%.17g momentum=%.17g\n",
            k->layout, (long long)k->N, (long long)k->C, (long long)k->S, k->flags, k->mask, k->eps,
            k->momentum);
    for (int i = 0; i < st->api->nargs; i++) {
        fprintf(stderr, "  %-13s %s", st->api->args[i].name, k->p[i] ? "" : "NULL");
        if (k->p[i]) {
            fprintf(stderr, "in %s's allocation of %zu bytes at +%zu, extent %llu",
                    st->api->args[st->owner[i]].name, st->size[st->owner[i]], st->offset[i],
                    (unsigned long long)st->extent[i]);
        }
        fputc('\n', stderr);
    }
    abort();
}

// 1 if the buffer must be given, 0 if it must be NULL, -1 if either is fine
static int required(const fz_arg *a, const fz_call *k) {
    switch (a->rule) {
    case FZ_FLAG: return (k->flags & a->bit) != 0;
    case FZ_MASK: return (k->mask & a->bit) != 0;
    case FZ_BACKWARD_INP:
        return (k->mask & BN_DIFF_SCALE) != 0 || (k->flags & BN_USE_GLOBAL_STATS) == 0 ? 1 : -1;
    default: return 1;
    }
}

// Dimensions: layout, N, C, S. Returns 0 when the input is to be skipped (too large).
static int decode_dims(fz_in *in, fz_call *k) {
    const unsigned int lb = u8(in);
    k->layout = lb < 240 ? (int)(lb % 3) : (int)(int32_t)(uint32_t)ubytes(in, 4);
    const unsigned int dm = u8(in);
    if (dm >= 224) {
        k->N = odd_dim(in);
        k->C = odd_dim(in);
        k->S = odd_dim(in);
        return 1;
    }
    // C crosses the library's 256-channel chunks; NC usually gets its S = 1
    k->C = 1 + (int64_t)((dm & 1) ? ubytes(in, 2) % 600 : u8(in) % 16);
    k->N = 1 + (int64_t)(u8(in) % 40);
    k->S = k->layout == BN_LAYOUT_NC && (dm & 2) == 0 ? 1 : 1 + (int64_t)(u8(in) % 40);
    return k->N * k->C * k->S <= FZ_MAX_COUNT;
}

// the element size of the (N,C,S) buffers: 2 with either 16-bit data flag (both: an invalid
// call, sized as 16-bit), else 4
static int64_t tensor_elem(const fz_call *k) {
    return (k->flags & (BN_DATA_BF16 | BN_DATA_F16)) != 0 ? 2 : (int64_t)sizeof(float);
}

// the 16-bit format of the call's (N,C,S) buffers: BN_DATA_BF16 or BN_DATA_F16 (0: float32)
static unsigned int half_format(const fz_call *k) {
    const unsigned int d = k->flags & (BN_DATA_BF16 | BN_DATA_F16);
    return d == BN_DATA_BF16 || d == BN_DATA_F16 ? d : 0u;
}

// element b (a byte offset) of buffer i widened to float
static float read_value(const fz_state *st, int i, uint64_t b) {
    const uint8_t *p = (const uint8_t *)st->k.p[i] + b;
    if (st->api->args[i].tensor && half_format(&st->k) != 0) {
        uint16_t h;
        memcpy(&h, p, sizeof h);
        return half_format(&st->k) == BN_DATA_BF16 ? bn_bf16_to_float(h) : bn_f16_to_float(h);
    }
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

// the element size of buffer i in bytes
static uint64_t elem_bytes(const fz_state *st, int i) {
    return st->api->args[i].tensor ? (uint64_t)tensor_elem(&st->k) : sizeof(float);
}

// N*C*S*(element size) in *bytes when the dimensions are valid and it fits in int64_t
static int valid_dims(const fz_call *k, uint64_t *bytes) {
    if (k->N < 1 || k->C < 1 || k->S < 1) return 0;
    if (k->layout == BN_LAYOUT_NC && k->S != 1) return 0;
    int64_t count;
    if (__builtin_mul_overflow(k->N, k->C, &count) || __builtin_mul_overflow(count, k->S, &count) ||
        __builtin_mul_overflow(count, tensor_elem(k), &count)) {
        return 0;
    }
    *bytes = (uint64_t)count;
    return 1;
}

static int overlap(uintptr_t a, uint64_t na, uintptr_t b, uint64_t nb) {
    // [a, a+na) and [b, b+nb), with ends saturated at the top of the address space
    const uintptr_t ea = na > UINTPTR_MAX - a ? UINTPTR_MAX : a + (uintptr_t)na;
    const uintptr_t eb = nb > UINTPTR_MAX - b ? UINTPTR_MAX : b + (uintptr_t)nb;
    return a < eb && b < ea;
}

#define BIT(status) (1u << (status))

// The statuses that name a rule of bn.h that the call breaks (0: the call is valid).
static unsigned int broken_rules(const fz_state *st) {
    const fz_api *api = st->api;
    const fz_call *k = &st->k;
    unsigned int broken = 0;
    for (int i = 0; i < api->nargs; i++) {
        const int need = required(&api->args[i], k);
        if (need == 1 && k->p[i] == NULL) broken |= BIT(BN_ERR_NULL_POINTER);
        if (need == 0 && k->p[i] != NULL) broken |= BIT(BN_ERR_BAD_FLAGS);
        if (k->p[i] != NULL && ((uintptr_t)k->p[i] & (elem_bytes(st, i) - 1u)) != 0) {
            broken |= BIT(BN_ERR_MISALIGNED);
        }
    }
    if ((k->flags & ~api->known_flags) != 0) broken |= BIT(BN_ERR_BAD_FLAGS);
    if ((k->flags & (BN_DATA_BF16 | BN_DATA_F16)) == (BN_DATA_BF16 | BN_DATA_F16)) {
        broken |= BIT(BN_ERR_BAD_DTYPE);
    }
    if (api->has_mask && (k->mask == 0 || (k->mask & ~FZ_MASK_BITS) != 0 ||
                          ((k->mask & BN_DIFF_RES) != 0 && (k->flags & BN_FUSE_ADD) == 0))) {
        broken |= BIT(BN_ERR_BAD_MASK);
    }
    if (k->N < 1 || k->C < 1 || k->S < 1 || (k->layout == BN_LAYOUT_NC && k->S != 1)) {
        broken |= BIT(BN_ERR_BAD_DIMENSION);
    } else if (!st->dims_ok) {
        broken |= BIT(BN_ERR_OVERFLOW);
    }
    if (k->layout != BN_LAYOUT_NC && k->layout != BN_LAYOUT_NCHW && k->layout != BN_LAYOUT_NHWC) {
        broken |= BIT(BN_ERR_BAD_LAYOUT);
    }
    if (api->has_eps && !(k->eps > 0.0 && isfinite(k->eps))) broken |= BIT(BN_ERR_BAD_EPS);
    if (api->has_momentum && (k->flags & BN_UPDATE_RUNNING) != 0 &&
        !(k->momentum >= 0.0 && k->momentum <= 1.0)) {
        broken |= BIT(BN_ERR_BAD_MOMENTUM);
    }
    if (api->training && k->N == 1 && k->S == 1) broken |= BIT(BN_ERR_SINGLE_VALUE);
    if (!st->dims_ok) return broken; // no extents to compare
    // an output overlaps nothing, except an (N,C,S) output that IS an (N,C,S) input of its pairs
    for (int i = 0; i < api->nargs; i++) {
        if (k->p[i] == NULL || !api->args[i].output) continue;
        for (int j = 0; j < api->nargs; j++) {
            if (j == i || k->p[j] == NULL) continue;
            if (!overlap((uintptr_t)k->p[i], st->extent[i], (uintptr_t)k->p[j], st->extent[j])) {
                continue;
            }
            const int in_place = (api->args[i].eq & api->args[j].eq) != 0 &&
                                 !api->args[j].output && k->p[i] == k->p[j];
            if (!in_place) broken |= BIT(BN_ERR_ALIAS);
        }
    }
    return broken;
}

// What the read values promise about the outputs: FZ_FINITE when every read value is finite,
// |v| <= FZ_MODERATE, variances >= 0 and eps >= FZ_MIN_EPS; FZ_NOT_NAN when the same holds
// with any finite magnitude (then out = (x - mean)*scale + beta and the rest are finite in
// double, and rounding to float can only give +-Inf, never NaN); else FZ_ANY.
enum { FZ_ANY, FZ_NOT_NAN, FZ_FINITE };
static int promise(const fz_state *st) {
    const fz_api *api = st->api;
    if (api->has_eps && !(st->k.eps >= FZ_MIN_EPS)) return FZ_ANY;
    int level = FZ_FINITE;
    for (int i = 0; i < api->nargs; i++) {
        if (st->k.p[i] == NULL || !api->args[i].read) continue;
        for (uint64_t b = 0; b < st->extent[i]; b += elem_bytes(st, i)) {
            const float v = read_value(st, i, b);
            if (!isfinite(v) || (api->args[i].nonneg && v < 0.0f)) return FZ_ANY;
            if (!(fabsf(v) <= FZ_MODERATE)) level = FZ_NOT_NAN;
        }
    }
    return level;
}

static void check_strings(const fz_state *st, int status) {
    const char *m = bn_strerror(status);
    if (m == NULL || m[0] == '\0') fz_fail(st, "bn_strerror(%d) is NULL or empty", status);
    const int known = status >= BN_OK && status <= BN_ERR_BAD_DTYPE;
    if (known != (strcmp(m, "unknown bn_status") != 0)) {
        fz_fail(st, "bn_strerror(%d) = \"%s\"", status, m);
    }
    const char *v = bn_version();
    if (v == NULL || v[0] == '\0') fz_fail(st, "bn_version() is NULL or empty");
}

// After the call: which bytes changed, against what the status allows.
static void check_after(const fz_state *st, bn_status status, int expected) {
    const fz_api *api = st->api;
    for (int a = 0; a < api->nargs; a++) { // each allocation
        if (st->base[a] == NULL) continue;
        for (size_t b = 0; b < st->size[a]; b++) {
            if (st->base[a][b] == st->before[a][b]) continue;
            int writable = -1; // the output whose extent holds byte b, if any
            for (int i = 0; i < api->nargs && status == BN_OK; i++) {
                if (st->k.p[i] != NULL && api->args[i].output && st->owner[i] == a &&
                    b >= st->offset[i] && b - st->offset[i] < st->extent[i]) {
                    writable = i;
                }
            }
            if (writable < 0) {
                fz_fail(st, "status %d, but byte %zu of %s's allocation changed", (int)status, b,
                        api->args[a].name);
            }
        }
    }
    if (expected == FZ_ANY) return;
    for (int i = 0; i < api->nargs; i++) {
        if (st->k.p[i] == NULL || !api->args[i].output) continue;
        // an f16 output of a finite float overflows to +-Inf from 65520 on: not NaN
        const int finite = expected == FZ_FINITE &&
                           !(api->args[i].tensor && half_format(&st->k) == BN_DATA_F16);
        for (uint64_t b = 0; b < st->extent[i]; b += elem_bytes(st, i)) {
            const float v = read_value(st, i, b);
            if (finite ? !isfinite(v) : isnan(v)) {
                fz_fail(st, "%s finite input, but %s[%llu] = %g",
                        expected == FZ_FINITE ? "moderate" : "huge", api->args[i].name,
                        (unsigned long long)(b / elem_bytes(st, i)), (double)v);
            }
        }
    }
}

// ----------------------------------------------------------------------------
// one call

int fz_run(const fz_api *api, fz_call_fn call, const uint8_t *data, size_t size) {
    fz_in in = {data, size};
    fz_state st;
    memset(&st, 0, sizeof st);
    st.api = api;
    fz_call *k = &st.k;
    if (!decode_dims(&in, k)) return 0;
    k->flags = bits(&in, api->known_flags);
    k->mask = api->has_mask ? bits(&in, FZ_MASK_BITS) : 0u;
    k->eps = pick(&in, usual_eps, COUNT_OF(usual_eps), odd_eps, COUNT_OF(odd_eps));
    k->momentum = pick(&in, usual_momentum, COUNT_OF(usual_momentum), odd_momentum,
                       COUNT_OF(odd_momentum));
    uint64_t seed = ubytes(&in, 8);
    const int raw_status = (int)(int32_t)(uint32_t)ubytes(&in, 4);

    uint64_t tensor_bytes = 0;
    st.dims_ok = valid_dims(k, &tensor_bytes);
    const int fits = st.dims_ok && tensor_bytes <= FZ_BUDGET;
    for (int i = 0; i < api->nargs; i++) {
        const fz_arg *a = &api->args[i];
        const int need = required(a, k);
        st.present[i] = need == -1 ? (int)(u8(&in) & 1u) : need;
        st.vmode[i] = u8(&in);
        const unsigned int smode = u8(&in);
        st.extent[i] = st.dims_ok ? (a->tensor ? tensor_bytes : (uint64_t)k->C * sizeof(float)) : 0;
        // the implied size plus slack, or (rarely, and whenever that cannot be) a small size
        st.size[i] = fits && smode < 240 ? (size_t)st.extent[i] + smode % 17
                                         : (size_t)(ubytes(&in, 2) % 1024);
        st.alias_to[i] = -1;
    }
    const unsigned int n_mutations = u8(&in) % 4;
    for (unsigned int m = 0; m < n_mutations; m++) {
        const unsigned int kind = u8(&in) % 4;
        const int i = (int)(u8(&in) % (unsigned int)api->nargs);
        switch (kind) {
        case 0: st.present[i] = 0; break; // NULL
        case 1: st.present[i] = 1; break; // given, whatever its flag says
        case 2: st.misalign[i] = 1 + u8(&in) % 3; break;
        default: { // into another buffer: in place (offset 0) or overlapping
            st.alias_to[i] = (int)(u8(&in) % (unsigned int)api->nargs);
            const unsigned int off = (unsigned int)ubytes(&in, 2);
            st.alias_off[i] = off < 16384 ? 0 : off;
        }
        }
    }

    // allocate (each buffer on its own, exactly its size), then point the aliases
    size_t total = 0;
    for (int i = 0; i < api->nargs; i++) {
        if (!st.present[i]) continue;
        const int j = st.alias_to[i];
        if (j >= 0 && j != i && st.present[j] && st.alias_to[j] < 0) continue; // aliased
        st.alias_to[i] = -1;
        total += st.size[i];
        if (total > FZ_BUDGET) goto done;
        st.base[i] = malloc(st.size[i] == 0 ? 1 : st.size[i]);
        if (st.base[i] == NULL) goto done;
    }
    for (int i = 0; i < api->nargs; i++) {
        st.owner[i] = -1;
        if (!st.present[i]) continue;
        const int a = st.alias_to[i] >= 0 ? st.alias_to[i] : i;
        st.owner[i] = a;
        st.offset[i] = (st.alias_to[i] >= 0 ? st.alias_off[i] % (st.size[a] + 1) : 0) +
                       st.misalign[i];
        k->p[i] = (float *)(void *)(st.base[a] + st.offset[i]);
    }

    const unsigned int broken = broken_rules(&st);
    if (broken == 0) { // valid: the library will touch every extent, which must be allocated
        for (int i = 0; i < api->nargs; i++) {
            if (k->p[i] != NULL && st.offset[i] + st.extent[i] > st.size[st.owner[i]]) goto done;
        }
    }
    for (int i = 0; i < api->nargs; i++) { // values: inputs by their mode, outputs NaN
        if (st.base[i] == NULL) continue;
        if (api->args[i].read) {
            size_t b = 0;
            const unsigned int half = api->args[i].tensor ? half_format(k) : 0u;
            for (; half == 0 && b + sizeof(float) <= st.size[i]; b += sizeof(float)) {
                const float v = value(&seed, st.vmode[i], api->args[i].nonneg);
                memcpy(st.base[i] + b, &v, sizeof v);
            }
            for (; half != 0 && b + 2 <= st.size[i]; b += 2) { // narrowed (bn_half.h)
                const float v = value(&seed, st.vmode[i], api->args[i].nonneg);
                const uint16_t h = half == BN_DATA_BF16 ? bn_float_to_bf16(v) : bn_float_to_f16(v);
                memcpy(st.base[i] + b, &h, sizeof h);
            }
            for (; b < st.size[i]; b++) st.base[i][b] = (uint8_t)mix(&seed);
        } else {
            memset(st.base[i], 0xFF, st.size[i]);
        }
        st.before[i] = malloc(st.size[i] == 0 ? 1 : st.size[i]);
        if (st.before[i] == NULL) goto done;
        memcpy(st.before[i], st.base[i], st.size[i]);
    }
    const int expected = broken == 0 ? promise(&st) : FZ_ANY;

    const bn_status status = call(k);

    check_strings(&st, (int)status);
    check_strings(&st, raw_status);
    if (broken == 0 && status != BN_OK) {
        fz_fail(&st, "valid call, but status %d (%s)", (int)status, bn_strerror((int)status));
    }
    if (broken != 0 && (status == BN_OK || (unsigned int)status >= 32u ||
                        (broken & BIT(status)) == 0)) {
        fz_fail(&st, "status %d (%s), but the call breaks the rules of statuses 0x%x", (int)status,
                bn_strerror((int)status), broken);
    }
    check_after(&st, status, expected);
done:
    for (int i = 0; i < api->nargs; i++) {
        free(st.base[i]);
        free(st.before[i]);
    }
    return 0;
}
