#!/usr/bin/env bash
# Builds the programs for installing on hosts: release, with the Swift runtime and Foundation
# linked in (-static-stdlib), stripped, into dist/bin (or the directory given). Such binaries need
# no Swift toolchain on the host, and start in about half the time of dynamically linked ones;
# schedctl is also a static executable (Package.swift), since its start is most of what one
# `schedctl submit` costs. They are built in .build-static, apart from the usual .build, because the
# flag applies to every module.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist/bin}"

if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift toolchain is not on PATH; install it, then run scripts/build-release.sh again" >&2
    exit 1
fi
scripts/setup.sh
mkdir -p "$out"
# schedctl links as a fixed-address executable then (Package.swift says why).
export HETEROSCHED_STATIC_STDLIB=1
for product in sched-coordinator sched-agent sched-attempt schedctl; do
    echo "== building $product (release, static Swift runtime)"
    swift build -c release --build-path .build-static -Xswiftc -static-stdlib --product "$product" >/dev/null
done
bin="$(swift build -c release --build-path .build-static -Xswiftc -static-stdlib --show-bin-path)"
for product in sched-coordinator sched-agent sched-attempt schedctl; do
    # Beside, then renamed over: a running copy keeps its file (cp onto it fails: text file busy).
    cp "$bin/$product" "$out/.$product.new"
    strip "$out/.$product.new"
    mv -f "$out/.$product.new" "$out/$product"
done
ls -l "$out"
