#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers strangers feed, with AFL++ through cargo-afl (stable
# Rust). The targets live in fuzz/ (a cargo project of its own), their seed corpora in
# fuzz/seeds/<target>/.
#
#   scripts/fuzz.sh [--ci] [TARGET...]
#
#   --ci           bounded run: FUZZ_SECONDS (default 25) per target, fresh output, exits 1 on
#                  any crash or hang (make fuzz-ci); by default only the targets of poco-types
#                  (order_json deal_params), whose instrumented build takes minutes, not the
#                  market's and the runtime's (wasmtime, sqlx in release: most of an hour on two
#                  cores); name targets, or set FUZZ_ALL=1, to fuzz those too
#   (default)      long run: FUZZ_SECONDS (default 600) per target (make fuzz)
#   TARGET...      some of: order_json deal_params market_query runner_frames result_archive
#
# Per target it prints the executions, the corpus size, the crashes and the hangs, and where
# the crashing inputs are (fuzz/out/<target>/default/crashes/). Replay one with
#   fuzz/target/release/<target> < fuzz/out/<target>/default/crashes/<file>
set -euo pipefail

CARGO_AFL_VERSION=0.18.2
ALL_TARGETS=(order_json deal_params market_query runner_frames result_archive)

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
ci=0
targets=()
for arg in "$@"; do
    case "$arg" in
        --ci) ci=1 ;;
        -h | --help)
            sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            if [[ ! " ${ALL_TARGETS[*]} " == *" $arg "* ]]; then
                echo "fuzz.sh: unknown target $arg: use one of ${ALL_TARGETS[*]}" >&2
                exit 2
            fi
            targets+=("$arg")
            ;;
    esac
done
LIGHT_TARGETS=(order_json deal_params)
if [[ ${#targets[@]} -eq 0 ]]; then
    if [[ $ci == 1 && ${FUZZ_ALL:-0} != 1 ]]; then
        targets=("${LIGHT_TARGETS[@]}")
    else
        targets=("${ALL_TARGETS[@]}")
    fi
fi
features=()
heavy=0
for target in "${targets[@]}"; do
    [[ " ${LIGHT_TARGETS[*]} " == *" $target "* ]] || heavy=1
done
[[ $heavy == 1 ]] || features=(--no-default-features)
if [[ $ci == 1 ]]; then
    seconds=${FUZZ_SECONDS:-25}
else
    seconds=${FUZZ_SECONDS:-600}
fi

# --- tools: cargo-afl at the pinned version, and the AFL++ it builds for this rustc ---
if ! cargo afl --version 2>/dev/null | grep -q "$CARGO_AFL_VERSION"; then
    if ! command -v make >/dev/null || ! command -v cc >/dev/null; then
        echo "fuzz.sh: installing make and a C compiler (cargo-afl builds AFL++ with them)"
        apt-get update -qq && apt-get install -y -qq build-essential >/dev/null
    fi
    echo "fuzz.sh: installing cargo-afl $CARGO_AFL_VERSION"
    cargo install cargo-afl --locked --version "$CARGO_AFL_VERSION"
fi
if ! config=$(cargo afl config --build 2>&1) && ! grep -q "already built" <<<"$config"; then
    echo "$config" >&2
    echo "fuzz.sh: cargo afl config --build failed: AFL++ could not be built for this rustc" >&2
    exit 1
fi

# --- build: instrumented, release with overflow checks and debug assertions (fuzz/Cargo.toml) ---
echo "fuzz.sh: building the targets (cargo afl build --release in fuzz/)"
build_start=$SECONDS
(cd "$fuzz" && cargo afl build --locked --release --quiet "${features[@]}")
echo "fuzz.sh: built in $((SECONDS - build_start)) s"

# --- run ---
# No UI (logs instead), no CPU pinning or frequency check (a shared machine), and no need for
# a core_pattern that AFL++ wants on a dedicated box.
export AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_SKIP_CRASHES=1 AFL_QUIET=1

stat() { # stat FILE KEY: a value of fuzzer_stats
    sed -n "s/^$2 *: *//p" "$1" | head -n1
}

failed=0
run_start=$SECONDS
mkdir -p "$fuzz/out"
summary="$fuzz/out/summary.txt"
printf '%-16s %12s %8s %8s %6s\n' target executions corpus crashes hangs >"$summary"
for target in "${targets[@]}"; do
    out="$fuzz/out/$target"
    if [[ $ci == 1 || ! -f "$out/default/fuzzer_stats" ]]; then
        rm -rf "$out"
        input=(-i "$fuzz/seeds/$target")
    else
        input=(-i -) # resume the last long run
    fi
    echo "fuzz.sh: $target for $seconds s"
    log="$fuzz/out/$target.log"
    if ! (cd "$fuzz" && cargo afl fuzz -V "$seconds" -t 2000 -m none "${input[@]}" -o "$out" \
        "target/release/$target") >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "fuzz.sh: afl-fuzz failed on $target (log: $log)" >&2
        failed=1
        continue
    fi
    stats="$out/default/fuzzer_stats"
    execs=$(stat "$stats" execs_done)
    corpus=$(stat "$stats" corpus_count)
    crashes=$(stat "$stats" saved_crashes)
    hangs=$(stat "$stats" saved_hangs)
    printf '%-16s %12s %8s %8s %6s\n' "$target" "$execs" "$corpus" "$crashes" "$hangs" >>"$summary"
    if [[ ${crashes:-0} != 0 || ($ci == 1 && ${hangs:-0} != 0) ]]; then
        echo "fuzz.sh: $target: $crashes crash(es), $hangs hang(s) in $out/default/{crashes,hangs}/;" \
            "replay: fuzz/target/release/$target < FILE" >&2
        failed=1
    fi
done
echo
cat "$summary"
echo "fuzz.sh: fuzzed ${#targets[@]} target(s) in $((SECONDS - run_start)) s"
exit $failed
