# Build types Asan and Ubsan (and AsanUbsan for both): -DCMAKE_BUILD_TYPE=AsanUbsan.
# Any sanitizer report aborts the test that triggered it (-fno-sanitize-recover=all).
set(_bn_san_common "-O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all")
set(CMAKE_C_FLAGS_ASAN "${_bn_san_common} -fsanitize=address" CACHE STRING "" FORCE)
set(CMAKE_C_FLAGS_UBSAN "${_bn_san_common} -fsanitize=undefined,float-divide-by-zero" CACHE STRING "" FORCE)
set(CMAKE_C_FLAGS_ASANUBSAN "${_bn_san_common} -fsanitize=address,undefined" CACHE STRING "" FORCE)
foreach(_bt ASAN UBSAN ASANUBSAN)
  set(CMAKE_SHARED_LINKER_FLAGS_${_bt} "${CMAKE_C_FLAGS_${_bt}}" CACHE STRING "" FORCE)
  set(CMAKE_EXE_LINKER_FLAGS_${_bt} "${CMAKE_C_FLAGS_${_bt}}" CACHE STRING "" FORCE)
endforeach()
