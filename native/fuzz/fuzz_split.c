/*
 * fuzz_split.c - libFuzzer target of the split-phase entry points of bn.h (bn_stats_local,
 * bn_stats_merge, bn_forward_apply, bn_backward_reduce, bn_backward_apply), one of them per
 * input, chosen by its first byte. Self-contained (fuzz.c's harness has no double buffers).
 *
 * N = batch, C = channels, S = spatial size, P = parts; statistics are (P, 3, C) doubles.
 *
 * Input, in order (missing bytes read as 0): entry point, layout, N, C, S, P (small, sometimes
 * odd), flags, mask, eps, momentum, value seed, value mode, count mode (valid counts, a fraction,
 * a negative, NaN, too few values), then per buffer: absent, short by 4 bytes, misaligned by 4
 * bytes, or as large as the dimensions imply. Checked, with this file's own reading of bn.h:
 *   - the status is BN_OK exactly when the call is valid (a call whose only fault is a short
 *     buffer is not made: the library sees pointers, not sizes);
 *   - a non-OK status changed no byte of any buffer;
 *   - BN_OK with moderate finite input left every output element finite (outputs start as NaN;
 *     an f16 output: not NaN, as it overflows to +-Inf from 65520 on). Flags include the data
 *     bits: (N,C,S) buffers then hold 16-bit elements.
 * Out-of-bounds accesses are ASan's to report (every buffer is malloc'ed on its own).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn.h"
#include "bn_half.h"

enum { LOCAL, MERGE, APPLY, REDUCE, BACK, N_OPS };
enum { MAX_BUFS = 11 };
#define ALWAYS 0u // buf_t.required: always, else the flag or mask bit that requires the buffer

typedef struct {
    const uint8_t *p;
    size_t n;
} in_t;

static unsigned u8(in_t *in) {
    if (in->n == 0) return 0;
    in->n--;
    return *in->p++;
}

static uint64_t mix(uint64_t *s) { // splitmix64
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unit(uint64_t *s) { return (double)(mix(s) >> 11) * 0x1.0p-53; }

static int64_t dim(in_t *in) {
    static const int64_t odd[] = {0, -1, INT64_MAX, (int64_t)1 << 40, 3000};
    const unsigned b = u8(in);
    return b < 240 ? 1 + b % 9 : odd[b % 5];
}

typedef struct {
    const char *name;
    int is_double, output, tensor; // tensor: (N,C,S) floats; else per channel (doubles: times `per`)
    int64_t per;                   // doubles per channel (1, 3, or 3*P)
    unsigned required;             // ALWAYS, or the flag/mask bit that requires it
    int by_mask;
} buf_t;

static void fail(const char *what, int op, bn_status st) {
    fprintf(stderr, "fuzz_split: op %d: %s (status %d: %s)\n", op, what, st, bn_strerror(st));
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    in_t in = {data, size};
    const int op = (int)(u8(&in) % N_OPS);
    const unsigned lb = u8(&in);
    const int layout = lb < 250 ? (int)(lb % 3) : (int)lb - 250 - 2; // mostly valid, sometimes -2..3
    const int64_t N = dim(&in), C = dim(&in), S = layout == BN_LAYOUT_NC && u8(&in) < 250 ? 1 : dim(&in);
    const int64_t P = dim(&in) % 5 == 0 ? dim(&in) : 1 + (int64_t)(u8(&in) % 4);
    const unsigned flags = u8(&in), mask = u8(&in) % 17; // flags: the data bits too
    const double eps = u8(&in) < 240 ? 1e-5 : (double[]){0.0, -1.0, NAN, INFINITY}[u8(&in) % 4];
    const double momentum = u8(&in) < 240 ? 0.1 : (double[]){-0.5, 1.5, NAN}[u8(&in) % 3];
    uint64_t seed = (uint64_t)u8(&in) | (uint64_t)u8(&in) << 8;
    const unsigned value_mode = u8(&in) % 4, count_mode = u8(&in) % 8;

    // the buffers of the entry point, in its argument order; Pb: the parts they hold
    const int64_t Pb = P >= 1 && P <= 16 ? P : 1;
    buf_t b[MAX_BUFS];
    int nb = 0;
#define BUF(nm, dbl, out, ten, per_, req, bym) b[nb++] = (buf_t){nm, dbl, out, ten, per_, req, bym}
    switch (op) {
    case LOCAL: BUF("stats", 1, 1, 0, 3, ALWAYS, 0); BUF("inp", 0, 0, 1, 0, ALWAYS, 0); break;
    case MERGE:
        BUF("mean", 1, 1, 0, 1, ALWAYS, 0); BUF("rstd", 1, 1, 0, 1, ALWAYS, 0);
        BUF("running_mean", 0, 1, 0, 1, BN_UPDATE_RUNNING, 0);
        BUF("running_var", 0, 1, 0, 1, BN_UPDATE_RUNNING, 0);
        BUF("stats", 1, 0, 0, 3 * Pb, ALWAYS, 0);
        break;
    case APPLY:
        BUF("out", 0, 1, 1, 0, ALWAYS, 0); BUF("inp", 0, 0, 1, 0, ALWAYS, 0);
        BUF("res", 0, 0, 1, 0, BN_FUSE_ADD, 0); BUF("mean", 1, 0, 0, 1, ALWAYS, 0);
        BUF("rstd", 1, 0, 0, 1, ALWAYS, 0); BUF("gamma", 0, 0, 0, 1, BN_USE_SCALE, 0);
        BUF("beta", 0, 0, 0, 1, BN_USE_SHIFT, 0);
        break;
    case REDUCE:
        BUF("sums", 1, 1, 0, 3, ALWAYS, 0); BUF("dout", 0, 0, 1, 0, ALWAYS, 0);
        BUF("out", 0, 0, 1, 0, BN_FUSE_RELU, 0); BUF("inp", 0, 0, 1, 0, ALWAYS, 0);
        BUF("mean", 1, 0, 0, 1, ALWAYS, 0);
        break;
    default:
        BUF("dinp", 0, 1, 1, 0, BN_DIFF_INP, 1); BUF("dres", 0, 1, 1, 0, BN_DIFF_RES, 1);
        BUF("dgamma", 0, 1, 0, 1, BN_DIFF_SCALE, 1); BUF("dbeta", 0, 1, 0, 1, BN_DIFF_SHIFT, 1);
        BUF("dout", 0, 0, 1, 0, ALWAYS, 0); BUF("out", 0, 0, 1, 0, BN_FUSE_RELU, 0);
        BUF("inp", 0, 0, 1, 0, ALWAYS, 0); BUF("gamma", 0, 0, 0, 1, BN_USE_SCALE, 0);
        BUF("mean", 1, 0, 0, 1, ALWAYS, 0); BUF("rstd", 1, 0, 0, 1, ALWAYS, 0); BUF("sums", 1, 0, 0, 3 * Pb, ALWAYS, 0);
        break;
    }
#undef BUF

    // validity of everything but the buffers' sizes and contents
    const int uses_tensor = op != MERGE;
    const unsigned fuse = BN_FUSE_RELU | BN_FUSE_ADD;
    const unsigned dbits = BN_DATA_BF16 | BN_DATA_F16, half = flags & dbits; // 16-bit (N,C,S) buffers
    const unsigned taken = op == MERGE ? BN_UPDATE_RUNNING : op == APPLY ? BN_USE_SCALE | BN_USE_SHIFT | fuse | dbits
                          : op == BACK ? BN_USE_SCALE | fuse | dbits : op == REDUCE ? BN_FUSE_RELU | dbits : dbits;
    const size_t es = op != MERGE && half != 0 ? 2u : 4u; // element size of the (N,C,S) buffers
    int valid = (flags & ~taken) == 0 && half != dbits;
    if (op == BACK && (mask == 0 || (mask & ~15u) != 0)) valid = 0;
    if (op == BACK && (mask & BN_DIFF_RES) && !(flags & BN_FUSE_ADD)) valid = 0;
    if (C < 1 || (uses_tensor && (N < 1 || S < 1))) valid = 0;
    // bytes beyond what int64_t and ptrdiff_t hold (the dimensions here are far from the edge)
    if (uses_tensor && (double)N * (double)C * (double)S * (double)es > 9.2e18) valid = 0;
    if ((op == MERGE || op == BACK) && (P < 1 || (double)P * 3.0 * (double)C * 8.0 > 9.2e18)) valid = 0;
    if (uses_tensor && layout == BN_LAYOUT_NC && S != 1) valid = 0;
    if (uses_tensor && (layout < 0 || layout > 2)) valid = 0;
    if (op == MERGE && !(eps > 0.0 && isfinite(eps))) valid = 0;
    if (op == MERGE && (flags & BN_UPDATE_RUNNING) && !(momentum >= 0.0 && momentum <= 1.0)) valid = 0;
    // too large to allocate here: a valid call is not made, an invalid one gets tiny buffers
    const int huge = C < 1 || C > 4096 || (uses_tensor && (N < 1 || S < 1 || N > 4096 || S > 4096 ||
                                                          N * C * S > (1 << 16))) ||
                     ((op == MERGE || op == BACK) && (P < 1 || P > 16));
    if (huge && valid) return 0;
    if (huge) {
        for (int i = 0; i < nb; i++) b[i].per = b[i].tensor ? 0 : 1;
    }
    const int64_t T = huge || !uses_tensor || N < 1 || C < 1 || S < 1 ? 1 : N * C * S;
    const int64_t Cs = huge || C < 1 ? 1 : C;

    // buffers: absent, short, misaligned or right; values
    void *mem[MAX_BUFS], *before[MAX_BUFS];
    void *ptr[MAX_BUFS];
    size_t bytes[MAX_BUFS];
    int short_buf = 0;
    for (int i = 0; i < nb; i++) {
        const unsigned mode = u8(&in) % 16;
        const int need = b[i].required == ALWAYS || (b[i].by_mask ? (mask & b[i].required) : (flags & b[i].required));
        const size_t want = b[i].tensor ? (size_t)T * es : (size_t)(Cs * b[i].per) * (b[i].is_double ? 8u : 4u);
        int present = need, shortened = 0, misaligned = 0;
        if (mode == 0) present = !need; // given against its flag, or missing
        if (mode == 1 && want >= 8) shortened = 1;
        if (mode == 2) misaligned = b[i].is_double ? 4 : b[i].tensor && es == 2 ? 1 : 2;
        if (!present) {
            valid &= !need;
            mem[i] = before[i] = ptr[i] = NULL;
            bytes[i] = 0;
            continue;
        }
        valid &= need;
        if (misaligned) valid = 0;
        bytes[i] = want - (shortened ? 4 : 0);
        short_buf |= shortened;
        mem[i] = malloc(bytes[i] + 8);
        memset(mem[i], 0xA5, bytes[i] + 8);
        ptr[i] = (char *)mem[i] + misaligned;
        if (b[i].is_double) { // filled in aligned memory, then copied (ptr may be misaligned)
            const size_t n = bytes[i] / 8;
            double *d = malloc(n * 8 + 8);
            for (size_t j = 0; j < n; j++) {
                const int64_t pos = (int64_t)j % (3 * Cs), row = pos / Cs; // (P, 3, C): count, mean, M2
                double v = 1.0 + 3.0 * unit(&seed);
                if (b[i].per >= 3 && row == 0) v = (double)(1 + mix(&seed) % 5);
                if (b[i].per >= 3 && row == 2) v = unit(&seed) * 4.0;
                if (value_mode == 3 && j == 0) v = NAN;
                d[j] = b[i].output ? NAN : v;
            }
            if (!b[i].output && b[i].per >= 3) { // counts of statistics or sums
                if (count_mode == 1 && n > 0) d[0] = 0.5;
                if (count_mode == 2 && n > 0) d[0] = -1.0;
                if (count_mode == 3 && n > 0) d[0] = NAN;
                if (count_mode == 4 && n > 0) // channel 0 has one value in all parts
                    for (int64_t q = 0; q * 3 * Cs < (int64_t)n; q++) d[q * 3 * Cs] = q == 0 ? 1.0 : 0.0;
                if (count_mode == 5 && n > 0) // channel 0 has none
                    for (int64_t q = 0; q * 3 * Cs < (int64_t)n; q++) d[q * 3 * Cs] = 0.0;
                for (int64_t c = 0; c < Cs && (int64_t)n == 3 * Cs * b[i].per / 3; c++) {
                    double total = 0.0; // per channel: whole counts >= 0 adding up to 2 (merge), 1 (backward)
                    int whole = 1;
                    for (int64_t q = 0; q < b[i].per / 3; q++) {
                        const double v = d[q * 3 * Cs + c];
                        whole &= v >= 0.0 && v == floor(v);
                        total += v;
                    }
                    if (!whole || !(total >= (op == MERGE ? 2.0 : 1.0))) valid = 0;
                }
            }
            memcpy(ptr[i], d, n * 8);
            free(d);
        } else if (b[i].tensor && es == 2) { // values narrowed to the 16-bit format; outputs NaN
            const size_t n = bytes[i] / 2;
            uint16_t *h = malloc(n * 2 + 2);
            for (size_t j = 0; j < n; j++) {
                float v = (float)(value_mode == 1 ? 1000.0 + unit(&seed) : 4.0 * unit(&seed) - 2.0);
                if (value_mode == 2) v = 0.5f;
                if (value_mode == 3 && j == n / 2) v = INFINITY;
                h[j] = b[i].output ? 0xffffu : half == BN_DATA_BF16 ? bn_float_to_bf16(v) : bn_float_to_f16(v);
            }
            memcpy(ptr[i], h, n * 2);
            free(h);
        } else {
            const size_t n = bytes[i] / 4;
            float *f = malloc(n * 4 + 4);
            for (size_t j = 0; j < n; j++) {
                float v = (float)(value_mode == 1 ? 1000.0 + unit(&seed) : 4.0 * unit(&seed) - 2.0);
                if (value_mode == 2) v = 0.5f;
                if (value_mode == 3 && j == n / 2) v = INFINITY;
                f[j] = b[i].output && !(op == MERGE && b[i].per == 1 && strncmp(b[i].name, "running", 7) == 0)
                           ? NAN : v;
            }
            if (strcmp(b[i].name, "running_var") == 0) for (size_t j = 0; j < n; j++) f[j] = fabsf(f[j]);
            memcpy(ptr[i], f, n * 4);
            free(f);
        }
        before[i] = malloc(bytes[i] + 8);
        memcpy(before[i], mem[i], bytes[i] + 8);
    }
    if (valid && short_buf) goto done; // the library cannot see sizes: not called

    bn_status st;
    switch (op) {
    case LOCAL: st = bn_stats_local(ptr[0], ptr[1], flags, layout, N, C, S); break;
    case MERGE:
        st = bn_stats_merge(ptr[0], ptr[1], ptr[2], ptr[3], ptr[4], eps, momentum, flags, C, P);
        break;
    case APPLY:
        st = bn_forward_apply(ptr[0], ptr[1], ptr[2], ptr[3], ptr[4], ptr[5], ptr[6], flags, layout, N, C, S);
        break;
    case REDUCE: st = bn_backward_reduce(ptr[0], ptr[1], ptr[2], ptr[3], ptr[4], flags, layout, N, C, S); break;
    default:
        st = bn_backward_apply(ptr[0], ptr[1], ptr[2], ptr[3], ptr[4], ptr[5], ptr[6], ptr[7], ptr[8], ptr[9],
                               ptr[10], flags, mask, layout, N, C, S, P);
        break;
    }
    if (bn_strerror(st) == NULL || bn_strerror(st)[0] == '\0') fail("empty bn_strerror", op, st);
    if ((st == BN_OK) != (valid != 0)) fail(valid ? "a valid call was rejected" : "an invalid call was accepted", op, st);
    if (st != BN_OK) {
        for (int i = 0; i < nb; i++) {
            if (mem[i] != NULL && memcmp(mem[i], before[i], bytes[i] + 8) != 0) fail("a rejected call wrote", op, st);
        }
    } else if (value_mode != 3) { // moderate finite input: finite outputs, every element written
        for (int i = 0; i < nb; i++) {
            if (mem[i] == NULL || !b[i].output) continue;
            const size_t eb = b[i].is_double ? 8u : b[i].tensor ? es : 4u, n = bytes[i] / eb;
            for (size_t j = 0; j < n; j++) {
                const uint16_t hv = eb == 2 ? ((uint16_t *)ptr[i])[j] : 0;
                const double v = b[i].is_double ? ((double *)ptr[i])[j]
                                 : eb == 4 ? ((float *)ptr[i])[j]
                                 : half == BN_DATA_BF16 ? bn_bf16_to_float(hv) : bn_f16_to_float(hv);
                // an f16 output of a finite float overflows to +-Inf from 65520 on: not NaN
                if (eb == 2 && half == BN_DATA_F16 ? isnan(v) : !isfinite(v)) fail(b[i].name, op, st);
            }
        }
    }
    // nothing written past a buffer's extent (a valid call has no misaligned buffer: ptr == mem)
    for (int i = 0; i < nb && st == BN_OK; i++) {
        if (mem[i] != NULL && memcmp((char *)mem[i] + bytes[i], (char *)before[i] + bytes[i], 8) != 0) {
            fail("written past an extent", op, st);
        }
    }
done:
    for (int i = 0; i < nb; i++) {
        free(mem[i]);
        free(before[i]);
    }
    return 0;
}
