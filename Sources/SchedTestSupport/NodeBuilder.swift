import SchedCore

/// Short ways to write nodes and jobs in table tests.
public func makeNode(
    _ name: String, model: String, chips: Int = 8, numaNodes: Int = 1, memoryGiB: Double = 80,
    domain: String? = nil, domainKind: String = "switch", state: NodeState = .ready,
    unhealthy: Set<Int> = [], bandwidth: Double? = nil
) -> Node {
    Node(
        id: NodeID(name),
        chips: (0..<chips).map { index in
            Chip(
                index: index, model: ChipModelID(model), memoryGiB: memoryGiB,
                health: unhealthy.contains(index) ? .unhealthy : .healthy, numaNode: index * numaNodes / chips)
        },
        numaNodes: (0..<numaNodes).map { NUMANode(id: $0, cpus: Array($0 * 16..<($0 + 1) * 16), memoryGiB: 128) },
        domain: domain.map { TopologyDomain(kind: domainKind, name: $0) }, state: state,
        interNodeBandwidthGBps: bandwidth)
}

public func makeJob(
    _ id: String, kind: JobKind = .batch, chips: Int = 1, nodes: Int = 1, tiers: [[String]] = [],
    priority: Int = 0, submittedAt: Seconds = 0, timeLimit: Seconds? = nil, minMemory: Double? = nil,
    fallback: FallbackRule = FallbackRule(), topology: GangTopology = GangTopology()
) -> Job {
    Job(
        id: JobID(id), kind: kind, chipsPerNode: chips, nodes: nodes, minChipMemoryGiB: minMemory,
        tiers: tiers.map { ChipTier(selectors: $0.map { .model(ChipModelID($0)) }) }, fallback: fallback,
        topology: topology, priority: priority, timeLimit: timeLimit, submittedAt: submittedAt)
}

/// Running job on one node's chips.
public func makeRunning(
    _ id: String, on node: String, chips: [Int], priority: Int = 0, startedAt: Seconds = 0, endsAt: Seconds? = nil,
    checkpointAt: Seconds? = nil
) -> RunningJob {
    RunningJob(
        id: JobID(id), priority: priority, assignments: [NodeAssignment(node: NodeID(node), chips: chips)],
        startedAt: startedAt, expectedEndAt: endsAt, lastCheckpointAt: checkpointAt)
}
