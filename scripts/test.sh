#!/usr/bin/env bash
# The project's test command: checks formatting, builds everything once (debug), runs the
# test suite, then a short smoke run of the benchmark binary. Installs what a fresh machine lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift toolchain (6.1 or later) is not on PATH; install it, then run scripts/test.sh again" >&2
    exit 1
fi

scripts/setup.sh --tests

echo "== format check (swift format lint --strict)"
swift format lint --strict -r Sources Tests Benchmarks Coordinator Agents Plugins Package.swift

echo "== build (debug, all targets)"
swift build --build-tests

echo "== tests"
swift test --skip-build

echo "== benchmark smoke run (tiny, debug build; real figures come from a release build)"
out=$(.build/debug/sched-bench placement --runs 1 --sizes 1k --jobs 2000 --naive-jobs 200)
echo "$out"
grep -q "per-decision cost" <<<"$out" || grep -q "SchedCore vs naive" <<<"$out" || {
    echo "error: sched-bench did not print its figures" >&2
    exit 1
}
