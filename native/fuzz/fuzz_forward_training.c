/*
 * fuzz_forward_training.c - libFuzzer target of bn_forward_training (properties: fuzz.h).
 */
#include "fuzz.h"

static const fz_arg args[] = {
    // name          output read tensor nonneg rule      bit             eq
    {"out",          1, 0, 1, 0, FZ_ALWAYS, 0, 1},
    {"save_mean",    1, 0, 0, 0, FZ_ALWAYS, 0, 0},
    {"save_rstd",    1, 0, 0, 0, FZ_ALWAYS, 0, 0},
    {"running_mean", 1, 1, 0, 0, FZ_FLAG, BN_UPDATE_RUNNING, 0},
    {"running_var",  1, 1, 0, 1, FZ_FLAG, BN_UPDATE_RUNNING, 0},
    {"inp",          0, 1, 1, 0, FZ_ALWAYS, 0, 1},
    {"res",          0, 1, 1, 0, FZ_FLAG, BN_FUSE_ADD, 1},
    {"gamma",        0, 1, 0, 0, FZ_FLAG, BN_USE_SCALE, 0},
    {"beta",         0, 1, 0, 0, FZ_FLAG, BN_USE_SHIFT, 0},
};

static const fz_api api = {
    "bn_forward_training", args, (int)(sizeof args / sizeof args[0]),
    BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING | BN_FUSE_RELU | BN_FUSE_ADD | BN_DATA_BF16 |
        BN_DATA_F16, 0, 1, 1, 1,
};

static bn_status call(const fz_call *k) {
    return bn_forward_training(k->p[0], k->p[1], k->p[2], k->p[3], k->p[4], k->p[5], k->p[6],
                               k->p[7], k->p[8], k->eps, k->momentum, k->flags, k->layout, k->N,
                               k->C, k->S);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fz_run(&api, call, data, size);
}
