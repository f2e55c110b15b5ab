#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time, seeded with the committed corpus.
# Usage: tests/fuzz/run_fuzzers.sh <build-dir> <seconds-per-target>
# The committed corpus is never modified: new inputs go to <build-dir>/fuzz-work/<target>.
# Crashing inputs are written to <build-dir>/fuzz-artifacts/ and the script exits non-zero.
# Targets run SEQEDIT_FUZZ_JOBS at a time (default 2).
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: $0 <build-dir> <seconds-per-target>" >&2
  exit 2
fi
build="$(cd "$1" && pwd)"
seconds="$2"
here="$(cd "$(dirname "$0")" && pwd)"
status=0
# Every fuzz_<name> executable in the build; the loader's three must be there.
mapfile -t exes < <(find "$build" -type f -name 'fuzz_*' -perm -u+x | sort)
for required in safetensors_header npy_header npz; do
  if ! printf '%s\n' "${exes[@]}" | grep -q "/fuzz_${required}\$"; then
    echo "fuzz_${required}: not built in $build" >&2
    exit 1
  fi
done
# One target: its summary (or its failure) printed in one piece when it ends.
fuzz_one() {
  local exe="$1" target corpus work artifacts dict out
  target="$(basename "$exe")"
  target="${target#fuzz_}"
  corpus=()
  if [ -d "$here/corpus/$target" ]; then corpus=("$here/corpus/$target"); fi
  work="$build/fuzz-work/$target"
  artifacts="$build/fuzz-artifacts"
  mkdir -p "$work" "$artifacts"
  dict=()
  if [ -f "$here/dict/$target.dict" ]; then dict=(-dict="$here/dict/$target.dict"); fi
  if ! "$exe" "${dict[@]}" -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/${target}-" "$work" "${corpus[@]}" \
        >"$build/fuzz-work/$target.log" 2>&1; then
    out="$(printf '== fuzz_%s: %s s: FAILED (see %s and %s)\n' "$target" "$seconds" "$build/fuzz-work/$target.log" "$artifacts"; tail -n 60 "$build/fuzz-work/$target.log")"
    printf '%s\n' "$out" >&2
    return 1
  fi
  out="$(printf '== fuzz_%s: %s s\n' "$target" "$seconds"; grep -E "stat::number_of_executed_units|cov:" "$build/fuzz-work/$target.log" | tail -n 2 || true)"
  printf '%s\n' "$out"
}

# SEQEDIT_FUZZ_JOBS targets at a time (default 2, one per core of the CI machine).
jobs="${SEQEDIT_FUZZ_JOBS:-2}"
running=0
for exe in "${exes[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
  fuzz_one "$exe" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit "$status"
