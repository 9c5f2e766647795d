#!/usr/bin/env bash
# The demo: the R2 story as it happened (deploy/scenarios/r2-slow-fabric.yaml). Builds HeteroSched,
# then `schedctl scenario run` starts a coordinator (embedded SQLite) and simulated agents for the
# scenario's fleet (16 Ascend 910C nodes on two super-nodes, 8 H800 and 8 H100 nodes), submits a
# pre-training gang that prefers Ascend, four inference services and a stream of batch jobs, and
# prints the placement log as it happens. The fleet is new: nobody knows its fault rates. The
# training starts on Ascend and reports its steps; the super-node's fabric makes each step take 1.8
# times what the catalog says, and once that pace is measured the expected-finish rule moves the
# training to NVIDIA, resuming from its checkpoint, while inference stays on Ascend. It ends with a
# summary and stops exactly the processes it started.
#
# scripts/demo.sh --known-rates plays deploy/scenarios/r2-fallback.yaml instead: Ascend's fault rate
# known from the fleet's history, the rule sends the training to NVIDIA before it starts.
#
# The coordinator also serves its web page (the fleet's chips coloured by job and health, the jobs,
# the live placement log) and /metrics; the demo prints the page's address as it starts: open it
# to watch the story (over SSH: ssh -L 9090:127.0.0.1:9090 HOST with DEMO_HTTP=127.0.0.1:9090).
#
# DEMO_TIME_SCALE (simulated seconds per wall second, default the scenario's 900: about 45 s),
# DEMO_DIR (where the coordinator's data and placement log are kept) and DEMO_HTTP (where the page
# listens, default 127.0.0.1:0: a free port) change the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

scenario=deploy/scenarios/r2-slow-fabric.yaml
case "${1:-}" in
    "") ;;
    --known-rates) scenario=deploy/scenarios/r2-fallback.yaml ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "error: unknown option '$1'; scripts/demo.sh [--known-rates]" >&2; exit 2 ;;
esac

if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift toolchain (6.1 or later) is not on PATH; install it, then run scripts/demo.sh again" >&2
    exit 1
fi

scripts/setup.sh   # the system libraries the programs link (libnuma-dev, libmunge-dev), where missing
echo "== building (release; the first build takes a few minutes)"
swift build -c release --product sched-coordinator >/dev/null
swift build -c release --product sched-agent >/dev/null
swift build -c release --product schedctl >/dev/null
bin="$(swift build -c release --show-bin-path)"

run_dir="${DEMO_DIR:-$(mktemp -d /tmp/heterosched-demo.XXXXXX)}"
mkdir -p "$run_dir"
scale=()
if [ -n "${DEMO_TIME_SCALE:-}" ]; then scale=(--time-scale "$DEMO_TIME_SCALE"); fi

echo "== playing $scenario (t= is simulated time)"
"$bin/schedctl" scenario run "$scenario" --data-dir "$run_dir/data" "${scale[@]}" \
    --http "${DEMO_HTTP:-127.0.0.1:0}"
echo "placement log: $run_dir/data/placement-log.jsonl"
echo "the same story in virtual time: $bin/schedctl simulate --scenario $scenario"
