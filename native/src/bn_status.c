#include "bn.h"

#ifndef BN_VERSION_STRING
#error "BN_VERSION_STRING must be defined by the build (from pom.xml)"
#endif

const char *bn_version(void) { return BN_VERSION_STRING; }

const char *bn_strerror(int status) {
    switch (status) {
    case BN_OK: return "success";
    case BN_ERR_NULL_POINTER: return "a required buffer is NULL";
    case BN_ERR_BAD_DIMENSION: return "a dimension is < 1, or S != 1 for layout NC";
    case BN_ERR_OVERFLOW: return "N*C*S or its size in bytes overflows";
    case BN_ERR_BAD_LAYOUT: return "unknown layout";
    case BN_ERR_BAD_FLAGS: return "unknown or unsupported flags, or a buffer present/absent against its flag";
    case BN_ERR_BAD_EPS: return "eps must be finite and > 0";
    case BN_ERR_BAD_MOMENTUM: return "momentum must be in [0, 1]";
    case BN_ERR_SINGLE_VALUE: return "expected more than 1 value per channel when training";
    case BN_ERR_MISALIGNED: return "a buffer is not aligned to its element size";
    case BN_ERR_ALIAS: return "an output overlaps another buffer in a way that is not allowed";
    case BN_ERR_BAD_MASK: return "backward mask is empty or has unknown bits";
    case BN_ERR_BAD_DTYPE: return "unknown dtype";
    }
    return "unknown bn_status";
}
