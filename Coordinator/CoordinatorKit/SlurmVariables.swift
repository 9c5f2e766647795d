import SchedCore
import Wire

/// The variables a launcher written for Slurm reads, set from the same facts as the `HETEROSCHED_*`
/// ones, for jobs submitted as batch scripts (or asking `slurmEnvironment`). The script runs once
/// on each node, as Slurm's first task there: `SLURM_PROCID` is the node's first task, and `srun`
/// in the script (the agent's stand-in) starts the node's tasks.
enum SlurmVariables {
    static func values(_ record: JobRecord, placement: JobPlacement, assignment: NodeAssignment, rank: Int)
        -> [(String, String)]
    {
        let nodes = placement.assignments.count
        let perNode = Int(record.run.env["SLURM_NTASKS_PER_NODE"] ?? "") ?? 1
        let names = placement.assignments.map(\.node.name)
        var values: [(String, String)] = [
            ("SLURM_JOB_ID", record.id), ("SLURM_JOBID", record.id),
            ("SLURM_JOB_NAME", record.run.name ?? record.id),
            ("SLURM_NNODES", String(nodes)), ("SLURM_JOB_NUM_NODES", String(nodes)),
            ("SLURM_NODEID", String(rank)), ("SLURM_PROCID", String(rank * perNode)), ("SLURM_LOCALID", "0"),
            ("SLURM_NTASKS", String(nodes * perNode)), ("SLURM_NPROCS", String(nodes * perNode)),
            ("SLURM_JOB_NODELIST", Hostlist.folded(names)), ("SLURM_NODELIST", Hostlist.folded(names)),
            ("SLURMD_NODENAME", assignment.node.name), ("SLURM_TOPOLOGY_ADDR", assignment.node.name),
            ("SLURM_JOB_PARTITION", record.job.queue), ("SLURM_CLUSTER_NAME", "heterosched"),
            ("SLURM_GPUS_ON_NODE", String(assignment.chips.count)),
            ("SLURM_JOB_GPUS", assignment.chips.map(String.init).joined(separator: ",")),
            ("SLURM_RESTART_COUNT", String(max(record.attempt - 1, 0))),
        ]
        if let user = record.user { values.append(("SLURM_JOB_USER", user)) }
        if let cpus = assignment.host?.cpus, !cpus.isEmpty {
            values += [("SLURM_CPUS_ON_NODE", String(cpus.count)), ("SLURM_JOB_CPUS_PER_NODE", String(cpus.count))]
        }
        if let memory = assignment.host?.memoryMiB, memory > 0 { values.append(("SLURM_MEM_PER_NODE", String(memory))) }
        if let parent = record.arrayParent, let task = record.arrayTask {
            values += [("SLURM_ARRAY_JOB_ID", parent), ("SLURM_ARRAY_TASK_ID", String(task))]
            if let count = record.run.env["HETEROSCHED_ARRAY_TASK_COUNT"] {
                values.append(("SLURM_ARRAY_TASK_COUNT", count))
            }
        }
        return values
    }
}
