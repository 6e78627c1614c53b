/*
 * fuzz.h - the shared libFuzzer harness of the bn.h entry points (one fuzz target per function).
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel (as in bn.h).
 *
 * A target describes its function's buffers in a table (fz_arg) and calls it (fz_call_fn);
 * fz_run turns the fuzz input into one call:
 *   scalars   layout, N, C, S, flags (the data bits BN_DATA_BF16, BN_DATA_F16 included: then
 *             the (N,C,S) buffers hold 16-bit elements), mask, eps, momentum: mostly valid,
 *             sometimes anything
 *   buffers   each malloc'ed on its own, EXACTLY as large as the input says (the size the
 *             dimensions imply plus 0..16 bytes of slack, or an arbitrary small size); the
 *             values are moderate, constant, offset, near FLT_MAX, sprinkled with
 *             NaN/Inf/subnormal/-0, or raw bits
 *   mutations a buffer set to NULL, given without its flag, moved by 1-3 bytes (off its element
 *             size's alignment, or for a 16-bit buffer by 2 bytes onto another valid address), or
 *             pointed into another buffer (in place or overlapping)
 * and checks, independently of the library's own checks (the rules are bn.h's):
 *   - the status is BN_OK exactly when the arguments are valid, and otherwise one of the
 *     statuses that name a rule the arguments break;
 *   - a non-OK status left every byte of every buffer untouched;
 *   - BN_OK wrote nothing outside the outputs' extents ((N,C,S) elements or (C,) floats), changed no input
 *     that no output aliases, and, when every input value is finite and moderate
 *     (|v| <= 1e4, variances >= 0, eps >= 1e-30), left every output element finite (outputs
 *     start as NaN, so this also shows that every element was written), and when they are
 *     finite but not moderate (up to FLT_MAX), no output element NaN: every result is finite
 *     in double, and rounding it to float gives at worst +-Inf (an f16 output: never NaN, as it
 *     overflows to +-Inf from 65520 on);
 *   - bn_strerror of the status (and of an arbitrary int) is a non-empty string.
 * A valid call is only made with every buffer at least as large as the dimensions imply (the
 * library sees pointers, not sizes, so it cannot detect a smaller buffer); an invalid one may
 * have smaller buffers, since the library must reject it without touching them. Any violation
 * aborts (a crash for libFuzzer); out-of-bounds accesses are ASan's, undefined behaviour UBSan's.
 */
#ifndef BN_FUZZ_H
#define BN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "bn.h"

#define FZ_MAX_ARGS 10

// when a buffer must be given
enum {
    FZ_ALWAYS,      // required
    FZ_FLAG,        // required with bit in flags, NULL without it
    FZ_MASK,        // required with bit in mask, NULL without it
    FZ_BACKWARD_INP // bn_backward's inp: required with BN_DIFF_SCALE or without
                    // BN_USE_GLOBAL_STATS, else optional
};

typedef struct {
    const char *name;
    unsigned char output; // written by the function
    unsigned char read;   // its values are read (inputs; running statistics)
    unsigned char tensor; // (N,C,S); else (C,)
    unsigned char nonneg; // a variance: moderate values are >= 0
    unsigned char rule;   // FZ_ALWAYS, ...
    unsigned int bit;     // flag or mask bit of FZ_FLAG / FZ_MASK
    unsigned char eq;     // (N,C,S): an input's bit; an output may be the very same buffer as
                          // an input with one of these bits (bn.h's in-place pairs)
} fz_arg;

typedef struct {
    const char *name;         // the function
    const fz_arg *args;       // in the function's argument order
    int nargs;
    unsigned int known_flags; // the flags the function takes
    int has_mask;             // bn_backward
    int has_eps;              // the forwards
    int has_momentum;         // bn_forward_training (read with BN_UPDATE_RUNNING)
    int training;             // M = N*S must be > 1
} fz_api;

// one decoded call: p[i] is args[i]'s pointer (NULL when absent)
typedef struct {
    float *p[FZ_MAX_ARGS];
    int layout;
    int64_t N, C, S;
    unsigned int flags, mask;
    double eps, momentum;
} fz_call;

typedef bn_status (*fz_call_fn)(const fz_call *k);

// Runs one fuzz input; returns 0 (libFuzzer's convention) or aborts on a violated property.
int fz_run(const fz_api *api, fz_call_fn call, const uint8_t *data, size_t size);

#endif /* BN_FUZZ_H */
