# bnorm_set_compile_options(target): one place for the warnings and flags of every C target.
# No -ffast-math (or anything that implies it): the statistics depend on IEEE semantics.
# -fno-math-errno changes no result (sqrt of a negative number is NaN either way; only errno is
# not set), and lets the compiler vectorize loops that call sqrt.
function(bnorm_set_compile_options target)
  set_target_properties(${target} PROPERTIES
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    C_EXTENSIONS OFF
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
      -Wconversion -Wno-sign-conversion -fno-fast-math -ffp-contract=off -fno-math-errno)
  elseif(MSVC)
    target_compile_options(${target} PRIVATE /W4 /WX /fp:precise)
  endif()
endfunction()

# bnorm_add_x86_kernels(target avx2_file avx512_file): on x86-64 with GCC or Clang, adds the two
# kernel files with -mavx2 -mfma and -mavx512f -mfma (those flags for these files only: the rest
# of the library stays baseline x86-64) and defines BN_X86_KERNELS. Elsewhere it adds nothing and
# the library uses its portable kernels.
function(bnorm_add_x86_kernels target avx2_file avx512_file)
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang" AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    target_sources(${target} PRIVATE ${avx2_file} ${avx512_file})
    set(_win "")
    if(WIN32)
      # MinGW-w64's GCC may spill 32- and 64-byte vectors with aligned moves to a stack that
      # Windows aligns to 16 bytes only (GCC bug 54412); the assembler makes those moves unaligned.
      set(_win ";-Wa,-muse-unaligned-vector-move")
    endif()
    set_source_files_properties(${avx2_file} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma${_win}")
    set_source_files_properties(${avx512_file} PROPERTIES COMPILE_OPTIONS "-mavx512f;-mfma${_win}")
    target_compile_definitions(${target} PRIVATE BN_X86_KERNELS)
  endif()
endfunction()
