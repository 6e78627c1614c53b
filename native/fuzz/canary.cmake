# cmake -DEXE=sanitizer_canary -DMODE=ub|oob|leak -DREPORT=regex -P canary.cmake: passes when the
# canary failed (non-zero status) AND its output holds the sanitizer's report.
execute_process(COMMAND ${EXE} ${MODE} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
if(_rc EQUAL 0 OR NOT _out MATCHES "${REPORT}")
  message(FATAL_ERROR "sanitizer canary '${MODE}': expected a failure with '${REPORT}', "
                      "got status ${_rc} and output:\n${_out}")
endif()
message(STATUS "sanitizer canary '${MODE}': reported and failed (status ${_rc})")
