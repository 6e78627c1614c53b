/* bn_kernels_generic_bf16.c - the kernels of bn_kernels_generic.c for bf16 activations (bn_kernels_impl.h). */
#define BN_KERNELS_BF16
#include "bn_kernels_generic.c"
