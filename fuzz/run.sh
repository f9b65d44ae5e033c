#!/usr/bin/env bash
# Run each fuzz target (or those named) for SECONDS with cargo-fuzz and libFuzzer.
#
#   fuzz/run.sh 300              # every target, 5 minutes each
#   fuzz/run.sh 60 finx scenario # two targets, a minute each
#
# Needs a nightly toolchain (`rustup toolchain list`) and cargo-fuzz (`cargo install
# cargo-fuzz`). Corpora grow in fuzz/corpus/<target>/ (seeded here with each documented
# request and each shipped scenario file); a crash is kept in fuzz/artifacts/<target>/
# and replayed with `cargo +nightly fuzz run <target> <file>`, or without libFuzzer with
# `cargo run --manifest-path fuzz/Cargo.toml --bin <target> -- <file>`.
#
# Environment: FUZZ_SANITIZER (default none: the project forbids unsafe code, so
# AddressSanitizer would mostly slow the search; `address` turns it on), FUZZ_SEED
# (libFuzzer's -seed, default 1, so a run is repeatable), FUZZ_JOBS (parallel jobs per
# target, default 1).
# Exits 1 if any target found a failure (after running them all).
set -uo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
shift || true
sanitizer="${FUZZ_SANITIZER:-none}"
seed="${FUZZ_SEED:-1}"
jobs="${FUZZ_JOBS:-1}"

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz/run.sh: no nightly toolchain; cargo-fuzz needs one (the property tests in cargo test still run the same checks)" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
  exit 2
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Seeds: one input per documented request (its first byte picks the request, and no
# mutation follows); for the scenario target, each shipped file replacing itself.
seed_corpus() {
  local target="$1" dir="corpus/$1"
  mkdir -p "$dir"
  if [ "$target" = scenario ]; then
    local i=0
    for f in ../scenarios/*.toml; do
      # Mode byte: bit 0 = compile with the shipped files, bits 1.. = which file it replaces.
      { printf "\\x$(printf %02x $((i << 1)))"; cat "$f"; } >"$dir/seed-$(basename "$f" .toml)"
      i=$((i + 1))
    done
  else
    local i
    for i in $(seq 0 31); do
      printf "\\x$(printf %02x "$i")" >"$dir/seed-$i"
    done
  fi
}

cargo +nightly fuzz build --sanitizer "$sanitizer" || exit 1

failed=()
for t in "${targets[@]}"; do
  seed_corpus "$t"
  echo "== fuzz target $t: ${seconds}s"
  if ! cargo +nightly fuzz run --sanitizer "$sanitizer" --jobs "$jobs" "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -seed="$seed" -timeout=20 -rss_limit_mb=4096 \
    -max_len=4096 -print_final_stats=1; then
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz/run.sh: failures in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
  exit 1
fi
echo "fuzz/run.sh: ${#targets[@]} targets, ${seconds}s each, no failure"
echo "fuzz: ${#targets[@]} passed, 0 failed"
