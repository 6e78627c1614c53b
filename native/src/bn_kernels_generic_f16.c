/* bn_kernels_generic_f16.c - the kernels of bn_kernels_generic.c for f16 activations (bn_kernels_impl.h). */
#define BN_KERNELS_F16
#include "bn_kernels_generic.c"
