#!/usr/bin/env bash
# The demo: builds HeteroSched, starts a coordinator (embedded SQLite) and simulated agents for a
# mixed fleet (deploy/fleets/demo.yaml: H800, H100, Ascend 910C and 910B nodes), submits a workload
# of training, inference and batch jobs (deploy/demo/*.yaml), and shows the placement log live.
# It stops by itself when every job has ended (or after DEMO_SECONDS, default 120), or on Ctrl-C,
# and then stops exactly the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift toolchain (6.1 or later) is not on PATH; install it, then run scripts/demo.sh again" >&2
    exit 1
fi

echo "== building (release; the first build takes a few minutes)"
swift build -c release --product sched-coordinator >/dev/null
swift build -c release --product sched-agent >/dev/null
swift build -c release --product schedctl >/dev/null
bin="$(swift build -c release --show-bin-path)"

run_dir="${DEMO_DIR:-$(mktemp -d /tmp/heterosched-demo.XXXXXX)}"
mkdir -p "$run_dir"
data="$run_dir/data"
token="$run_dir/token"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token"
time_scale="${DEMO_TIME_SCALE:-1200}"
limit="${DEMO_SECONDS:-120}"
pids=()

stop() {
    trap - INT TERM EXIT
    echo
    echo "== stopping what the demo started"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    echo "data:          $data/coordinator.sqlite"
    echo "placement log: $data/placement-log.jsonl"
    echo "process logs:  $run_dir/coordinator.log, $run_dir/agents.log"
}
trap stop INT TERM EXIT

echo "== coordinator (policy heterogeneity-aware, data in $data)"
"$bin/sched-coordinator" --listen 127.0.0.1:0 --data-dir "$data" --token-file "$token" \
    --policy heterogeneity-aware --heartbeat-timeout 10 >"$run_dir/coordinator.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$data/coordinator.addr" ] && break; sleep 0.1; done
[ -s "$data/coordinator.addr" ] || { echo "error: the coordinator did not start; see $run_dir/coordinator.log" >&2; exit 1; }
export HETEROSCHED_ADDRESS="$(cat "$data/coordinator.addr")" HETEROSCHED_TOKEN_FILE="$token"

echo "== simulated agents for deploy/fleets/demo.yaml (1 real second = $time_scale simulated seconds)"
"$bin/sched-agent" --simulate deploy/fleets/demo.yaml --token-file "$token" --time-scale "$time_scale" \
    --heartbeat-interval 1 >"$run_dir/agents.log" 2>&1 &
pids+=($!)
sleep 1

echo "== placement log (schedctl watch)"
"$bin/schedctl" watch --from-start &
pids+=($!)
sleep 0.5
for job in deploy/demo/*.yaml; do "$bin/schedctl" submit -f "$job" >/dev/null; done

started=$SECONDS
while [ $((SECONDS - started)) -lt "$limit" ]; do
    sleep 2
    open=$({ "$bin/schedctl" jobs --state queued --state placed --state running --json | grep -o '"ladder"' || true; } | wc -l)
    [ "$open" -eq 0 ] && break
done
sleep 1
echo
echo "== jobs"
"$bin/schedctl" jobs
