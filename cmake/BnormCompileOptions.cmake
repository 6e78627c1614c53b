# bnorm_set_compile_options(target): one place for the warnings and flags of every C target.
# No -ffast-math (or anything that implies it): the statistics depend on IEEE semantics.
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
      -Wconversion -Wno-sign-conversion -fno-fast-math -ffp-contract=off)
  elseif(MSVC)
    target_compile_options(${target} PRIVATE /W4 /WX /fp:precise)
  endif()
endfunction()
