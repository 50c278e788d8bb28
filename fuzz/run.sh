#!/usr/bin/env bash
# Coverage-guided fuzzing of ibgu-webhook with cargo fuzz (libFuzzer), bounded in time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Installs cargo-fuzz when it is missing, builds every target (address sanitizer, debug
# assertions and overflow checks), seeds each corpus from the project's fixtures
# (fuzz/seed.py), and runs each target for SECONDS_PER_TARGET. Exits non-zero on any
# crash, panic, timeout (an input taking over FUZZ_TIMEOUT s) or out-of-memory (over
# FUZZ_RSS_MB MiB), leaving the input under fuzz/artifacts/<target>/ and saying where.
# Prints one summary line per target. The corpus grows across runs in fuzz/corpus/
# (git-ignored); a crash found here is fixed and kept as a test (tests/fuzz_regressions.rs).
#
# Environment: FUZZ_SANITIZER (address, or none for speed), FUZZ_TIMEOUT (30),
# FUZZ_RSS_MB (2048), FUZZ_TARGET_DIR (~/.cache/ibgu-webhook-fuzz/target: kept across
# checkouts, so only the project's own crates are rebuilt after the first build).
#
# The per-input timeout catches hangs and super-linear blow-ups, not merely slow inputs:
# the slowest legitimate input (YAML aliases expanding a document to up to 100 times its
# own nodes, go-yaml's limit that check applies) takes seconds under the sanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

seconds=${1:-60}
shift || true
all_targets=(admission admission_objects check_yaml)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
case $seconds in
'' | *[!0-9]*)
    echo "fuzz: seconds per target must be a number, got '$seconds'" >&2
    exit 2
    ;;
esac
sanitizer=${FUZZ_SANITIZER:-address}
timeout=${FUZZ_TIMEOUT:-30}
rss_mb=${FUZZ_RSS_MB:-2048}
cargo_fuzz_version=0.13.2

# cargo fuzz passes -Z flags (sanitizer, coverage instrumentation) to rustc and cargo.
# This machine has only the stable toolchain, so unlock them there: the flags and the
# sanitizer runtimes ship with stable, only the gate is nightly's.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz $cargo_fuzz_version"
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi
command -v python3 >/dev/null || {
    echo "fuzz: python3 is needed to seed the corpora" >&2
    exit 1
}

target_dir=${FUZZ_TARGET_DIR:-$HOME/.cache/ibgu-webhook-fuzz/target}
# Release with debug assertions and overflow checks. cargo fuzz's one codegen unit: 16
# took more CPU to build (933 s against 777 s) and ran check_yaml about 1.5 times slower.
build_flags=(--fuzz-dir fuzz -O -a -s "$sanitizer" --target-dir "$target_dir")
t0=$(date +%s)
# The lock file is committed: refuse to build with anything else. It also locks the main
# crate's dependencies, so it must follow every change to the main Cargo.toml.
if ! (cd fuzz && cargo metadata --locked --format-version 1 >/dev/null); then
    echo "fuzz: fuzz/Cargo.lock is out of date (did the main Cargo.toml change?):" >&2
    echo "fuzz: run '(cd fuzz && cargo metadata --format-version 1 >/dev/null)' and commit fuzz/Cargo.lock" >&2
    exit 1
fi
cargo fuzz build "${build_flags[@]}"
echo "fuzz: built ${#all_targets[@]} targets (sanitizer: $sanitizer) in $(($(date +%s) - t0))s"
python3 fuzz/seed.py . fuzz/corpus

logs=fuzz/artifacts/logs
mkdir -p "$logs"
failed=()
summary=()
for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    artifacts=fuzz/artifacts/$target
    mkdir -p "$corpus" "$artifacts"
    seeds=$(find "$corpus" -type f | wc -l)
    log=$logs/$target.log
    echo "fuzz: running $target for ${seconds}s ($seeds inputs in $corpus; log in $log)"
    status=0
    cargo fuzz run "${build_flags[@]}" "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_mb" \
        -malloc_limit_mb="$rss_mb" -dict=fuzz/dict/ibgu.dict -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    # libFuzzer's closing line: "Done 123456 runs in 61 second(s)".
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)
    size=$(find "$corpus" -type f | wc -l)
    if [ "$status" -ne 0 ] || [ -z "$done_line" ]; then
        echo "fuzz: $target FAILED (exit $status); the end of $log:" >&2
        tail -n 60 "$log" >&2
        artifact=$(grep -oE '(Test unit|artifact) written to [^ ]+' "$log" | tail -n 1 || true)
        echo "fuzz: $target: ${artifact:-no artifact written}" >&2
        failed+=("$target")
        summary+=("fuzz: $target: FAILED (exit $status), ${artifact:-no artifact written}")
        continue
    fi
    runs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/' <<<"$done_line")
    secs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/' <<<"$done_line")
    cov=$(grep -oE 'DONE +cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 | sed -E 's/DONE +//' || true)
    summary+=("fuzz: $target: $runs runs in ${secs}s ($((runs / (secs > 0 ? secs : 1)))/s), corpus $size inputs ($seeds before), ${cov:-cov ?}, no crash")
done

printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} target(s) passed, ${seconds}s each"
