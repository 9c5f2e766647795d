import SchedCore
import SchedSpec
import Wire

/// What an agent is told to run: the spec of the tier the attempt landed on, the chips it was given,
/// and for a multi-node attempt where its peers are.
extension CoordinatorState {
    /// The order for one node (`rank`) of an attempt that runs `run` (the tier's resolved spec, said
    /// as `spec`), its nodes meeting at `gang` when there are several.
    func runOrder(
        _ record: JobRecord, placement: JobPlacement, assignment: NodeAssignment, rank: Int, run: ResolvedRun,
        spec: String, gang: GangRendezvous?
    ) -> RunOrder {
        let model = configuration.catalog[placement.chipModel]
        // Not the coordinator's data directory: one the agents see, theirs by default (`--checkpoint-base`).
        let checkpoint = record.run.checkpointDirectory
        var env = run.env
        let devices = assignment.chips.map(String.init).joined(separator: ",")
        for variable in model?.visibleDevicesVariables ?? [] { env[variable] = devices }
        env["HETEROSCHED_JOB_ID"] = record.id
        env["HETEROSCHED_ATTEMPT"] = String(record.attempt)
        env["HETEROSCHED_TIER"] = placement.tierName
        env["HETEROSCHED_TIER_INDEX"] = String(placement.tier)
        env["HETEROSCHED_CHIP_MODEL"] = placement.chipModel.name
        if let checkpoint { env["HETEROSCHED_CHECKPOINT_DIR"] = checkpoint }
        env["HETEROSCHED_RESUME_STEP"] = String(record.checkpointStep)
        env["HETEROSCHED_NODE_RANK"] = String(rank)
        env["HETEROSCHED_NUM_NODES"] = String(placement.assignments.count)
        if let numa = assignment.bindNUMANode { env["HETEROSCHED_NUMA_NODE"] = String(numa) }
        if let host = assignment.host {
            if !host.cpus.isEmpty { env["HETEROSCHED_CPUS"] = indexList(host.cpus) }
            if host.memoryMiB > 0 { env["HETEROSCHED_MEMORY_MIB"] = String(host.memoryMiB) }
        }
        if let share = assignment.share {
            // What the job may use of its chip: enforced by the agent where the vendor allows (MPS).
            if share.computePercent > 0 { env["HETEROSCHED_CHIP_COMPUTE_PERCENT"] = String(share.computePercent) }
            if share.memoryMiB > 0 { env["HETEROSCHED_CHIP_MEMORY_MIB"] = String(share.memoryMiB) }
        }
        // What launchers read; a job that sets one itself keeps its own.
        for (name, value) in LauncherVariables.values(
            rank: rank, chipsHere: assignment.chips.count, placement: placement, gang: gang, vendor: model?.vendor)
        where env[name] == nil {
            env[name] = value
        }
        if record.run.slurmEnvironment == true {
            for (name, value) in SlurmVariables.values(record, placement: placement, assignment: assignment, rank: rank)
            where env[name] == nil {
                env[name] = value
            }
        }
        return RunOrder(
            job: record.id, attempt: record.attempt, kind: record.job.kind, tier: placement.tier,
            tierName: placement.tierName, chipModel: placement.chipModel.name, chips: assignment.chips,
            numaNodes: assignment.numaNodes, command: run.command, env: env, checkpointDirectory: checkpoint,
            timeLimitSeconds: record.job.timeLimit, simulation: record.run.simulation,
            resumeStep: record.checkpointStep,
            rank: rank, nodes: placement.assignments.count, workingDirectory: run.workingDirectory,
            host: assignment.host, share: assignment.share, image: run.image,
            containerOptions: run.containerOptions.isEmpty ? nil : run.containerOptions,
            spec: spec, gang: gang,
            // Owners are proved only when clients are (MUNGE): then the job runs as its owner.
            user: configuration.clientVerifier == nil ? nil : record.user,
            maxDisconnect: record.run.maxDisconnect, script: record.run.script, output: record.run.output,
            error: record.run.error, name: record.run.name)
    }

    /// A multi-node attempt's rendezvous: every node's address by rank (what its agent registered,
    /// else the address its session came from, else its name), and rank 0's port.
    func rendezvous(_ placement: JobPlacement, port: Int, vendor: String?) -> GangRendezvous? {
        guard placement.assignments.count > 1 else { return nil }
        let members = placement.assignments.map { assignment in
            let entry = nodes[assignment.node]
            let known = Set(assignment.chips)
            let addresses = entry?.chipAddresses?.filter { known.contains($0.chip) }.sorted { $0.chip < $1.chip }
            return GangMember(
                node: assignment.node.name, address: entry?.address ?? assignment.node.name, chips: assignment.chips,
                chipAddresses: addresses?.isEmpty == false ? addresses : nil)
        }
        return GangRendezvous(
            masterAddress: members[0].address, masterPort: port, members: members,
            hcclRankTable: vendor == "huawei")
    }

    /// The lowest port of the configured range that no other live attempt with rank 0 on `node`
    /// holds (nor one of `pending`, placed in this same pass); nil when every one is taken.
    func rendezvousPort(rankZero node: NodeID, besides pending: [JobRecord]) -> Int? {
        var taken = Set<Int>()
        // Any order will do: no sort of what holds chips, as `activeRecords` gives it.
        for record in jobs.active.compactMap({ jobs[$0] }) + pending {
            guard let placement = record.placement, placement.assignments.first?.node == node,
                let port = placement.rendezvousPort
            else { continue }
            taken.insert(port)
        }
        return configuration.rendezvousPorts.first { !taken.contains($0) }
    }
}

/// The variables each vendor's launchers read to find their peers: torchrun's (every vendor whose
/// PyTorch runs under torchrun: CUDA, torch_npu, torch_mlu, torch_musa, …) and, on Ascend, the
/// size of the HCCL world (the agent writes the rank table and sets `RANK_TABLE_FILE`).
enum LauncherVariables {
    static func values(rank: Int, chipsHere: Int, placement: JobPlacement, gang: GangRendezvous?, vendor: String?)
        -> [(String, String)]
    {
        let nodes = placement.assignments.count
        let chips = placement.assignments.reduce(0) { $0 + $1.chips.count }
        var values = [
            ("NNODES", String(nodes)), ("NODE_RANK", String(rank)), ("NPROC_PER_NODE", String(max(chipsHere, 1))),
            ("WORLD_SIZE", String(max(chips, 1))),
        ]
        if let gang {
            values += [
                ("MASTER_ADDR", gang.masterAddress), ("MASTER_PORT", String(gang.masterPort)),
                ("HETEROSCHED_NODE_LIST", gang.members.map(\.address).joined(separator: ",")),
            ]
        }
        if vendor == "huawei" { values.append(("RANK_SIZE", String(max(chips, 1)))) }
        return values
    }
}
