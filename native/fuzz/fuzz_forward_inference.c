/*
 * fuzz_forward_inference.c - libFuzzer target of bn_forward_inference (properties: fuzz.h).
 */
#include "fuzz.h"

static const fz_arg args[] = {
    // name   output read tensor nonneg rule      bit          eq
    {"out",   1, 0, 1, 0, FZ_ALWAYS, 0, 1},
    {"inp",   0, 1, 1, 0, FZ_ALWAYS, 0, 1},
    {"res",   0, 1, 1, 0, FZ_FLAG, BN_FUSE_ADD, 1},
    {"mean",  0, 1, 0, 0, FZ_ALWAYS, 0, 0},
    {"var",   0, 1, 0, 1, FZ_ALWAYS, 0, 0},
    {"gamma", 0, 1, 0, 0, FZ_FLAG, BN_USE_SCALE, 0},
    {"beta",  0, 1, 0, 0, FZ_FLAG, BN_USE_SHIFT, 0},
};

static const fz_api api = {
    "bn_forward_inference", args, (int)(sizeof args / sizeof args[0]),
    BN_USE_SCALE | BN_USE_SHIFT | BN_FUSE_RELU | BN_FUSE_ADD | BN_DATA_BF16 | BN_DATA_F16, 0, 1, 0, 0,
};

static bn_status call(const fz_call *k) {
    return bn_forward_inference(k->p[0], k->p[1], k->p[2], k->p[3], k->p[4], k->p[5], k->p[6],
                                k->eps, k->flags, k->layout, k->N, k->C, k->S);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fz_run(&api, call, data, size);
}
