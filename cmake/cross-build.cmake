# cmake -P cmake/cross-build.cmake: builds libbnorm for every platform in PLATFORMS that this
# machine has a toolchain for (cmake/toolchains/<platform>.cmake, its compiler and its emulator),
# runs the C tests of each under the emulator, and installs each into <INSTALL_ROOT>/<platform>
# and into ALL_DIR. The host platform is built and tested by the ordinary build (HOST_BUILD);
# here it is only installed into ALL_DIR. A platform that cannot be built is skipped with a
# [WARNING] naming the Debian packages to install, or fails the build if REQUIRE_ALL is true.
# The Maven profile all-platforms (java/core/pom.xml) passes every variable:
#   PLATFORMS HOST HOST_BUILD SOURCE_DIR BUILD_ROOT INSTALL_ROOT ALL_DIR VERSION BUILD_TYPE
#   SKIP_TESTS REQUIRE_ALL
cmake_minimum_required(VERSION 3.20)
foreach(v PLATFORMS HOST HOST_BUILD SOURCE_DIR BUILD_ROOT INSTALL_ROOT ALL_DIR VERSION BUILD_TYPE)
  if("${${v}}" STREQUAL "")
    message(FATAL_ERROR "cross-build.cmake needs -D${v}=...")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} COMMAND_ERROR_IS_FATAL ANY)
endfunction()

# Reads the toolchain file in a function scope; sets _why (empty if usable) and _packages.
function(check_toolchain file)
  unset(BN_EMULATOR CACHE) # find_program caches, also in script mode: forget the last platform's
  unset(_cc CACHE)
  include(${file})
  find_program(_cc ${CMAKE_C_COMPILER})
  set(_packages "${BN_TOOLCHAIN_PACKAGES}" PARENT_SCOPE)
  if(NOT _cc)
    set(_why "compiler ${CMAKE_C_COMPILER} not found" PARENT_SCOPE)
  elseif(NOT BN_EMULATOR)
    set(_why "no emulator to run its tests" PARENT_SCOPE)
  else()
    set(_why "" PARENT_SCOPE)
  endif()
endfunction()

file(REMOVE_RECURSE ${INSTALL_ROOT} ${ALL_DIR}) # no library left from an earlier run is packaged
list(PREPEND PLATFORMS ${HOST}) # the host first, and always (also when it is not in the list)
list(REMOVE_DUPLICATES PLATFORMS)
set(_built "")
set(_skipped "")
foreach(p IN LISTS PLATFORMS)
  if(p STREQUAL HOST)
    run(${CMAKE_COMMAND} --install ${HOST_BUILD} --prefix ${ALL_DIR})
    list(APPEND _built "${p} (host)")
    continue()
  endif()
  set(toolchain ${CMAKE_CURRENT_LIST_DIR}/toolchains/${p}.cmake)
  if(NOT EXISTS ${toolchain})
    set(_why "no toolchain file cmake/toolchains/${p}.cmake for a cross build from ${HOST}; build it on ${p}")
    set(_packages "")
  else()
    check_toolchain(${toolchain})
  endif()
  if(_why)
    set(msg "bnorm platform ${p} SKIPPED: ${_why}")
    if(_packages)
      string(APPEND msg "; install the Debian packages: apt-get install ${_packages}")
    endif()
    if(REQUIRE_ALL)
      message(FATAL_ERROR "${msg}")
    endif()
    message(NOTICE "[WARNING] ${msg}")
    list(APPEND _skipped ${p})
    continue()
  endif()

  message(NOTICE "---- bnorm platform ${p}: cross-build with ${toolchain}")
  set(build ${BUILD_ROOT}/${p})
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${build} -DCMAKE_TOOLCHAIN_FILE=${toolchain}
      -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DBN_VERSION=${VERSION} -DBN_PLATFORM=${p}
      -DCMAKE_INSTALL_PREFIX=${INSTALL_ROOT}/${p})
  run(${CMAKE_COMMAND} --build ${build} --parallel 2)
  if(NOT SKIP_TESTS)
    # Wine: one persistent wineserver (-p) for the whole run, stopped (-k) after it. Left to
    # itself, each test's wineserver exits a few seconds after its last client, and a test that
    # connects at that moment fails ("wine client error: recvmsg: Connection reset by peer").
    # wineserver, and the Wine services that the first start of the prefix launches (services.exe,
    # winedevice.exe, ...), run in the background as long as the wineserver does and keep the
    # descriptors they were given: both are started here with their output going to a file.
    # Otherwise execute_process, or CTest for the first test, waits for the pipe to close, i.e.
    # until the wineserver is stopped (the build hangs).
    set(_wineserver "")
    if(p MATCHES "^windows")
      unset(BN_WINESERVER CACHE)
      find_program(BN_WINESERVER NAMES wineserver64 wineserver PATHS /usr/lib/wine /usr/lib/wine64)
      set(_wineserver ${BN_WINESERVER})
    endif()
    if(_wineserver)
      file(MAKE_DIRECTORY ${build}/wine) # the prefix of the toolchain's emulator command
      execute_process(COMMAND ${CMAKE_COMMAND} -E env WINEPREFIX=${build}/wine ${_wineserver} -p
                      INPUT_FILE /dev/null OUTPUT_FILE ${build}/wineserver.log ERROR_FILE ${build}/wineserver.log)
      execute_process(COMMAND ${CMAKE_COMMAND} -E env WINEPREFIX=${build}/wine WINEDEBUG=-all
                              WINEDLLOVERRIDES=mscoree,mshtml= ${BN_EMULATOR} wineboot --init
                      INPUT_FILE /dev/null OUTPUT_FILE ${build}/wineboot.log ERROR_FILE ${build}/wineboot.log)
    endif()
    # Test 1 alone first: it starts the emulator once (Wine creates its prefix on the first start,
    # and two first starts at once race: "chdir to /tmp/wine-…: No such file").
    execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${build} --output-on-failure -I 1,1
                    RESULT_VARIABLE _result)
    # Under Wine a test has been seen to fail once in 0.02 s with no output at all (the process
    # never reached the test; the same test passed in every rerun, and under valgrind on the
    # host): Wine's launch, not the code. So a Windows test that fails runs once more; the same
    # tests run once, without retry, on the host, under ASan+UBSan and under qemu.
    set(_repeat "")
    if(_wineserver)
      set(_repeat --repeat until-pass:2)
    endif()
    if(_result EQUAL 0)
      execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${build} --output-on-failure --parallel 2
                              ${_repeat}
                      RESULT_VARIABLE _result)
    endif()
    if(_wineserver)
      execute_process(COMMAND ${CMAKE_COMMAND} -E env WINEPREFIX=${build}/wine ${_wineserver} -k
                      INPUT_FILE /dev/null OUTPUT_QUIET ERROR_QUIET)
    endif()
    if(NOT _result EQUAL 0)
      message(FATAL_ERROR "bnorm platform ${p}: C tests failed (${_result})")
    endif()
  endif()
  run(${CMAKE_COMMAND} --install ${build})
  run(${CMAKE_COMMAND} --install ${build} --prefix ${ALL_DIR})
  list(APPEND _built ${p})
endforeach()

list(JOIN _built ", " _built)
list(JOIN _skipped ", " _skipped)
if(_skipped)
  message(NOTICE "[WARNING] bnorm platforms built: ${_built}; SKIPPED, so no jar for them: ${_skipped}")
else()
  message(NOTICE "bnorm platforms built: ${_built}")
endif()
