# Cross-build for 64-bit Windows with Debian's MinGW-w64 compiler, producing bnorm.dll; CTest runs
# the tests under Wine. Debian packages: gcc-mingw-w64-x86-64 wine64.
#   cmake -S native -B build-windows -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/windows-x86_64.cmake
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc)
set(BN_TOOLCHAIN_PACKAGES "gcc-mingw-w64-x86-64 wine64")

# MinGW-w64's math.h classification macros (isfinite, isnan, ...) pick __fpclassify or
# __fpclassifyf with __builtin_choose_expr, and GCC's -Wconversion (an error here) still warns
# about the float branch it discards. The same code is compiled with the warning on Linux.
set(CMAKE_C_FLAGS_INIT "-Wno-float-conversion")

# libgcc linked in, so bnorm.dll needs only DLLs every Windows has (KERNEL32, msvcrt); and no
# DWARF sections from MinGW's runtime objects in it.
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc -Wl,--strip-debug")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static-libgcc")

set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

# Debian's wine64 package installs the loader as /usr/lib/wine/wine64 (the wine package adds
# /usr/bin/wine). The Wine prefix lives in the build directory, so nothing global is touched;
# its first start creates it (a few seconds).
find_program(BN_EMULATOR NAMES wine64 wine PATHS /usr/lib/wine)
if(BN_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_COMMAND} -E env WINEPREFIX=${CMAKE_BINARY_DIR}/wine
      WINEDEBUG=-all WINEDLLOVERRIDES=mscoree,mshtml= ${BN_EMULATOR})
endif()
