# Build types Asan and Ubsan (and AsanUbsan for both): -DCMAKE_BUILD_TYPE=AsanUbsan.
# Any sanitizer report aborts the test that triggered it (-fno-sanitize-recover=all; ASan and
# LeakSanitizer, which ASan enables on Linux, always stop with a failure status). The canaries
# of native/fuzz (sanitizer_canary_*) check this for the compiler at hand.
# Not float-divide-by-zero: the library relies on IEEE 754 arithmetic (C11 Annex F), where x/0
# is a defined +-Inf or NaN that bn.h promises to propagate (bn_forward_inference with
# var = -eps, for example), so that check would abort valid calls.
set(_bn_san_common "-O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all")
set(CMAKE_C_FLAGS_ASAN "${_bn_san_common} -fsanitize=address" CACHE STRING "" FORCE)
set(CMAKE_C_FLAGS_UBSAN "${_bn_san_common} -fsanitize=undefined" CACHE STRING "" FORCE)
set(CMAKE_C_FLAGS_ASANUBSAN "${_bn_san_common} -fsanitize=address,undefined" CACHE STRING "" FORCE)
foreach(_bt ASAN UBSAN ASANUBSAN)
  set(CMAKE_SHARED_LINKER_FLAGS_${_bt} "${CMAKE_C_FLAGS_${_bt}}" CACHE STRING "" FORCE)
  set(CMAKE_EXE_LINKER_FLAGS_${_bt} "${CMAKE_C_FLAGS_${_bt}}" CACHE STRING "" FORCE)
endforeach()
