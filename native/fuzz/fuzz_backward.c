/*
 * fuzz_backward.c - libFuzzer target of bn_backward (properties: fuzz.h).
 */
#include "fuzz.h"

static const fz_arg args[] = {
    // name    output read tensor nonneg rule            bit            eq: dout 1, inp 2, out 4
    {"dinp",   1, 0, 1, 0, FZ_MASK, BN_DIFF_INP, 1 | 2},
    {"dres",   1, 0, 1, 0, FZ_MASK, BN_DIFF_RES, 1},
    {"dgamma", 1, 0, 0, 0, FZ_MASK, BN_DIFF_SCALE, 0},
    {"dbeta",  1, 0, 0, 0, FZ_MASK, BN_DIFF_SHIFT, 0},
    {"dout",   0, 1, 1, 0, FZ_ALWAYS, 0, 1},
    {"out",    0, 1, 1, 0, FZ_FLAG, BN_FUSE_RELU, 4},
    {"inp",    0, 1, 1, 0, FZ_BACKWARD_INP, 0, 2},
    {"gamma",  0, 1, 0, 0, FZ_FLAG, BN_USE_SCALE, 0},
    {"mean",   0, 1, 0, 0, FZ_ALWAYS, 0, 0},
    {"rstd",   0, 1, 0, 0, FZ_ALWAYS, 0, 0},
};

static const fz_api api = {
    "bn_backward", args, (int)(sizeof args / sizeof args[0]),
    BN_USE_SCALE | BN_USE_GLOBAL_STATS | BN_FUSE_RELU | BN_FUSE_ADD | BN_DATA_BF16 | BN_DATA_F16,
    1, 0, 0, 0,
};

static bn_status call(const fz_call *k) {
    return bn_backward(k->p[0], k->p[1], k->p[2], k->p[3], k->p[4], k->p[5], k->p[6], k->p[7],
                       k->p[8], k->p[9], k->flags, k->mask, k->layout, k->N, k->C, k->S);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fz_run(&api, call, data, size);
}
