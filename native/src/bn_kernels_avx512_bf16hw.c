/* bn_kernels_avx512_bf16hw.c - the bf16 kernels of bn_kernels_avx512.c narrowing with AVX512-BF16's
 * vcvtneps2bf16 (compiled with -mavx512bf16; bn_dispatch.c picks it only on CPUs that have it). */
#define BN_KERNELS_BF16
#define BN_KERNELS_BF16_HW
#include "bn_kernels_avx512.c"
