# Cross-build for Linux on 64-bit ARM with Debian's cross compiler; CTest runs the tests under
# qemu user-mode emulation. Debian packages: gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user.
#   cmake -S native -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/linux-aarch64.cmake
# NEON (Advanced SIMD) is part of ARMv8-A, so GCC's -O3 auto-vectorization uses it with no -march.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(BN_TOOLCHAIN_PACKAGES "gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user")

# The target's libraries and headers; programs (the emulator, CMake's own tools) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

# -L: where qemu finds the target's dynamic loader and libc.
find_program(BN_EMULATOR qemu-aarch64)
if(BN_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${BN_EMULATOR} -L /usr/aarch64-linux-gnu)
endif()
