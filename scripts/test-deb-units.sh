#!/bin/bash
# Run by scripts/test-deb.sh inside the chroot, in a network namespace: starts the coordinator and
# the agent with the ExecStart, User and EnvironmentFile of their installed units, then, as a user
# would with the installed schedctl: "first" submits a job and waits for it to complete; "upgraded"
# finds that job still there (the database kept) and runs another.
set -euo pipefail
phase="$1"
set -a
. /etc/default/heterosched
set +a
# A unit's ExecStart with its continuation lines joined.
exec_start() { sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "/lib/systemd/system/$1.service" | sed -n 's/^ExecStart=//p'; }
unit_user() { sed -n 's/^User=//p' "/lib/systemd/system/$1.service"; }
user="$(unit_user sched-coordinator)"
[ "$user" = heterosched ] || { echo "sched-coordinator.service runs as '$user', not heterosched" >&2; exit 1; }
setpriv --reuid="$user" --regid="$user" --init-groups bash -c "exec $(exec_start sched-coordinator)" \
    >"/tmp/coordinator-$phase.log" 2>&1 &
coordinator=$!
bash -c "exec $(exec_start sched-agent)" >"/tmp/agent-$phase.log" 2>&1 &
agent=$!
stop() {
    kill -TERM "$agent" "$coordinator" 2>/dev/null || true
    wait "$agent" "$coordinator" 2>/dev/null || true
}
trap stop EXIT
show() {
    echo "--- coordinator log" >&2
    tail -n 30 "/tmp/coordinator-$phase.log" >&2
    echo "--- agent log" >&2
    tail -n 30 "/tmp/agent-$phase.log" >&2
}
# Waits up to $1 seconds for the command after it to succeed.
within() {
    local limit="$1"
    shift
    for _ in $(seq 1 $((limit * 4))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    return 1
}
registered() { schedctl nodes | grep -q 'cpu-only\|ready'; }
within 60 registered || { echo "no node registered with the coordinator" >&2; show; exit 1; }
completed() { schedctl status "$1" --json | grep -q '"state":"completed"'; }
if [ "$phase" = upgraded ]; then
    completed hello || { echo "the job of before the upgrade is gone" >&2; schedctl status hello >&2 || true; exit 1; }
fi
job="hello-$phase"
schedctl submit --id "$job" --chips 0 --cpus 1 -- /bin/sh -c 'echo hello from the package' >/dev/null
within 60 completed "$job" || { echo "job $job did not complete" >&2; schedctl status "$job" >&2 || true; show; exit 1; }
schedctl logs "$job" | grep -q 'hello from the package' || { echo "job $job's output is not there" >&2; exit 1; }
[ "$phase" = first ] && schedctl submit --id hello --chips 0 --cpus 1 -- /bin/true >/dev/null &&
    within 60 completed hello
echo "$phase: $job ran through the installed units"
