#!/usr/bin/env bash
# native/fuzz/run.sh BUILD_DIR [SECONDS]: the fuzzing step of the `hardening` Maven profile.
#   1. builds the fuzz project with the default C compiler and AsanUbsan, and runs its CTest:
#      sanitizer canaries, and every regression and seed-corpus input replayed once;
#   2. with clang and libFuzzer: builds the targets with -fsanitize=fuzzer,address,undefined,
#      replays the same inputs, then fuzzes each target for SECONDS (default 60).
# Fails on any crash, leak, sanitizer report or violated property, and says where the input is.
# Without clang/libFuzzer step 2 is skipped LOUDLY; BNORM_FUZZ_REQUIRE=true makes that a failure.
# Environment: BN_VERSION (the library version to build), CC (step 1), BNORM_FUZZ_CC (default clang).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
fuzz_cc=${BNORM_FUZZ_CC:-clang}
targets=(forward_training forward_inference backward split)
mkdir -p "$build"
build=$(cd "$build" && pwd)

# configure, build and CTest one tree: tree ENGINE [cmake options...]
tree() {
  local engine=$1
  shift
  cmake -S "$here" -B "$build/$engine" -DCMAKE_BUILD_TYPE=AsanUbsan -DBN_FUZZ_ENGINE="$engine" \
    -DBN_VERSION="${BN_VERSION:-0.0.0-dev}" "$@" >/dev/null
  cmake --build "$build/$engine" --parallel 2
  ctest --test-dir "$build/$engine" --output-on-failure
}

have_libfuzzer() {
  command -v "$fuzz_cc" >/dev/null 2>&1 || return 1
  local probe status
  probe=$(mktemp -d)
  printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
    >"$probe/probe.c"
  if "$fuzz_cc" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" \
    >"$probe/log" 2>&1; then status=0; else status=1; fi
  rm -rf "$probe"
  return $status
}

start=$SECONDS
echo "== fuzz: replay with ${CC:-the default C compiler}, AsanUbsan"
tree replay

if ! have_libfuzzer; then
  cat >&2 <<EOF

**************************************************************************
** fuzzing skipped: install clang libclang-rt-14-dev
** ('$fuzz_cc -fsanitize=fuzzer,address,undefined' cannot link a fuzz target;
**  the regression and corpus inputs were replayed under ASan+UBSan only)
**************************************************************************

EOF
  if [[ ${BNORM_FUZZ_REQUIRE:-false} == true ]]; then
    echo "BNORM_FUZZ_REQUIRE=true: failing because the fuzzers cannot be built" >&2
    exit 1
  fi
  exit 0
fi

echo "== fuzz: replay with $fuzz_cc -fsanitize=fuzzer,address,undefined"
tree libfuzzer -DCMAKE_C_COMPILER="$fuzz_cc"

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
for t in "${targets[@]}"; do
  work="$build/corpus/$t" # new inputs land here; the seed corpus in the repo is only read
  mkdir -p "$work" "$build/artifacts" "$build/logs"
  log="$build/logs/$t.log"
  echo "== fuzz: fuzz_$t for ${seconds}s (log: $log)"
  if "$build/libfuzzer/fuzz_$t" -max_total_time="$seconds" -max_len=256 -len_control=0 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
    "$work" "$here/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|DONE' "$log" | sed 's/^/   /'
  else
    tail -n 60 "$log" >&2
    echo "fuzz_$t FAILED: the input is in $build/artifacts/ ($t-crash-*, leak-*, timeout-*)." >&2
    echo "Replay it with $build/libfuzzer/fuzz_$t FILE; after the fix keep it as a regression:" >&2
    echo "  cp FILE $here/regressions/$t/" >&2
    exit 1
  fi
done
echo "== fuzz: done in $((SECONDS - start))s"
