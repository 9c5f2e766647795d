#!/usr/bin/env bash
# A throwaway one-node Slurm on this machine, so that `sched-bench coordinator --parts bulk` can time
# `sbatch` beside `schedctl submit` (side by side, same load). Debian's slurm-wlm and munge; root.
#
#   Benchmarks/scripts/slurm-local.sh start DIR   # installs if missing, starts munged (if none runs),
#                                                 # slurmctld and slurmd with their files in DIR
#   export SLURM_CONF=DIR/slurm.conf              # what sbatch reads
#   Benchmarks/scripts/slurm-local.sh stop DIR    # stops what start started, by PID
set -euo pipefail
action="${1:?start or stop}"
dir="${2:?a directory for the configuration, state and logs}"

if [ "$action" = stop ]; then
    for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
mkdir -p "$dir"/state "$dir"/spool
host="$(hostname -s)"
cat >"$dir/slurm.conf" <<CONF
ClusterName=bench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Each `sched-bench coordinator --parts bulk` leaves 5,000 held jobs; past MaxJobCount (10,000 by
# default) sbatch would sleep and retry, and the benchmark wait.
MaxJobCount=200000
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
if ! munge -n >/dev/null 2>&1; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    [ -f /etc/munge/munge.key ] || mungekey --create
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    cp /run/munge/munged.pid "$dir/munged.pid"
fi
export SLURM_CONF="$dir/slurm.conf"
slurmctld -c
slurmd
for _ in $(seq 50); do
    if sinfo -h -o %T 2>/dev/null | grep -q idle; then
        echo "slurm is up: export SLURM_CONF=$dir/slurm.conf"
        exit 0
    fi
    sleep 0.2
done
echo "error: slurm did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
exit 1
