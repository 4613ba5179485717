#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, Clang, -DMAMBA_FUZZ=ON: ASan + UBSan + coverage) and
# runs each for SECONDS (default 60), JOBS at a time (default 1). Prints per target the executions,
# executions per second and coverage (libFuzzer's cov: and ft:) and exits non-zero if any target
# found a crash, a leak, a sanitizer report or a timeout (the input is in $BUILD/fuzz/artifacts).
#
#   tools/fuzz.sh [-j JOBS] [SECONDS [TARGET...]]     e.g. tools/fuzz.sh -j 2 600
#
# Targets: safetensors config shard_index tokenizer_json tokenizer state_blob. The build directory
# is $MAMBA_FUZZ_BUILD (default build-fuzz; CI points it at its sanitizer build). The seeds are
# tests/fuzz/corpus/<target>/ plus files already in tests/data (fixture configs and index); what a
# run finds is kept in $BUILD/fuzz/corpus/<target>/ (not in the source tree) and reused next time.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=1
if [ "${1:-}" = "-j" ]; then jobs=$2; shift 2; fi
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors config shard_index tokenizer_json tokenizer state_blob)
build=${MAMBA_FUZZ_BUILD:-build-fuzz}

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S . -B "$build" -DMAMBA_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAMBA_BUILD_TESTS=OFF
fi
cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}"

out="$build/fuzz"
mkdir -p "$out/artifacts" "$out/logs"
run_one() {
  local t=$1 work="$out/corpus/$1"
  mkdir -p "$work"
  case $t in  # seeds that already exist in tests/data
    config) for f in tests/data/fixtures/*/config.json models/*/config.json; do
              cp "$f" "$work/seed-$(echo "$f" | tr / _)"; done ;;
    shard_index) cp tests/data/fixtures/mamba1-tiny-sharded/model.safetensors.index.json "$work/seed-fixture-index" ;;
  esac
  # (ASAN_OPTIONS: a leak is a finding too; UBSan already aborts: -fno-sanitize-recover=all.)
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 "$build/tests/fuzz/fuzz_$t" "$work" "tests/fuzz/corpus/$t" \
    -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t-" >"$out/logs/$t.log" 2>&1
}
pids=() names=() failed=0
for t in "${targets[@]}"; do
  run_one "$t" & pids+=($!) names+=("$t")
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
done
declare -A rc
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then rc[${names[$i]}]=0; else rc[${names[$i]}]=$?; failed=1; fi
done

printf '%-15s %12s %10s %8s %8s  %s\n' target execs execs/s cov ft result
for t in "${targets[@]}"; do
  log="$out/logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  res=ok
  [ "${rc[$t]}" = 0 ] || res="FAILED (exit ${rc[$t]}; see $log)"
  printf '%-15s %12s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$res"
done
exit $failed
