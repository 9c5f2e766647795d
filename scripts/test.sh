#!/usr/bin/env bash
# The project's test command: checks formatting, builds everything once (debug), runs the
# test suite, a short smoke run of the benchmark binary, then the Debian package's test (a release
# build, packaged twice, installed, run, upgraded and removed in a Debian 12 chroot: as root).
# Installs what a fresh machine lacks.
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

echo "== the Debian package: built from release programs, installed, run, upgraded and removed in a Debian 12 chroot"
if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: scripts/test-deb.sh needs root (a chroot, mounts, a network namespace)"
else
    scripts/build-release.sh dist/bin >/dev/null
    first=$(scripts/build-deb.sh --bin dist/bin --version 0.0.1 --out dist/test-deb)
    second=$(scripts/build-deb.sh --bin dist/bin --version 0.0.2 --out dist/test-deb)
    scripts/test-deb.sh "$first" "$second"
fi
