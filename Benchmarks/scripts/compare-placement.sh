#!/usr/bin/env bash
# `sched-bench placement` on two builds, alternated round by round on this machine, so that drift
# and noise fall on both alike: run it before landing a change to the engine (SchedCore).
#
#   Benchmarks/scripts/compare-placement.sh BASE [ROUNDS] [-- sched-bench placement options]
#
#   BASE    a revision (main, HEAD~1, a commit): built from a git worktree in .build-compare/BASE
#   ROUNDS  rounds of both builds (default 3); each run prints medians of --runs (default 5) runs
#
# It prints, per fleet and line, the median over rounds of each build's cost a decision (µs) or
# whole plan (ms), and the working tree's over the base's: above 1.10 is flagged as slower.
# Builds are release builds (about ten minutes each on a 2-core machine the first time).
#
#   Benchmarks/scripts/compare-placement.sh main 3 -- --sizes 1k,10k --parts one-chip,gang,queues
set -euo pipefail
base="${1:?a base revision, e.g. main or HEAD~1}"
shift
rounds=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    rounds="$1"
    shift
fi
[ "${1:-}" = "--" ] && shift
case "$rounds" in '' | *[!0-9]*) echo "ROUNDS must be a whole number, not '$rounds'" >&2; exit 2 ;; esac

root="$(git rev-parse --show-toplevel)"
cd "$root"
commit="$(git rev-parse --verify "$base^{commit}")"
tree=".build-compare/${commit:0:12}"
if [ ! -d "$tree" ]; then
    git worktree add --detach "$tree" "$commit" >/dev/null
fi
echo "building the base ($base, ${commit:0:12}) in $tree and the working tree, release..." >&2
(cd "$tree" && swift build -c release --product sched-bench >/dev/null)
swift build -c release --product sched-bench >/dev/null
base_bin="$root/$tree/.build/release/sched-bench"
work_bin="$root/.build/release/sched-bench"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# A run's lines as "fleet | line<TAB>figure": µs a decision (or gang), or ms for a whole plan.
figures() {
    sed -nE \
        -e 's/^fleet (bench-[0-9a-z]+):.*/@\1/p' \
        -e 's/^  (.*[^ ]) +[0-9]+\/s  \([0-9]+ placed, ([0-9.]+) µs a (decision|gang)\).*/\1 (µs)\t\2/p' \
        -e 's/^  (mixed queue of [0-9]+|[0-9]+ jobs over 100 queues) +([0-9.]+) ms for the whole plan.*/\1 (ms)\t\2/p' \
        "$1" | awk -F'\t' '/^@/ { fleet = substr($0, 2); next } { print fleet " | " $1 "\t" $2 }'
}
for round in $(seq 1 "$rounds"); do
    for build in base work; do
        bin="$base_bin"
        dir="$root/$tree"
        if [ "$build" = work ]; then
            bin="$work_bin"
            dir="$root"
        fi
        echo "round $round of $rounds: $build" >&2
        (cd "$dir" && "$bin" placement --fleets "$root/deploy/fleets" --catalog "$root/deploy/catalog/chips.yaml" "$@") \
            >"$out/$build-$round.txt"
        figures "$out/$build-$round.txt" >>"$out/$build.tsv"
    done
done

echo "sched-bench placement, base $base (${commit:0:12}) against the working tree, median of $rounds rounds"
printf '%-60s %10s %10s %7s\n' "fleet | line" base work ratio
# Keys in the order the working tree printed them.
cut -f1 "$out/work.tsv" | awk '!seen[$0]++' | while IFS= read -r key; do
    median() { awk -F'\t' -v key="$key" '$1 == key { print $2 }' "$1" | sort -g | awk '
        { v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    b="$(median "$out/base.tsv")"
    w="$(median "$out/work.tsv")"
    ratio="$(awk -v b="$b" -v w="$w" 'BEGIN { if (b == "-" || b == 0) print "-"; else printf "%.2f%s", w / b, (w / b > 1.10 ? " slower" : "") }')"
    printf '%-60s %10s %10s %7s\n' "$key" "$b" "$w" "$ratio"
done
