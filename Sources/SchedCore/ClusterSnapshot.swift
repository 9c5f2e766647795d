/// Where one job runs on one node.
public struct NodeAssignment: Hashable, Sendable, Codable {
    public var node: NodeID
    /// Chip indices as the visible-devices variable counts them.
    public var chips: [Int]
    /// NUMA nodes the chips sit on, the one to bind first; empty where the host does not say.
    public var numaNodes: [Int]
    /// Host CPUs and memory held there; nil = none.
    public var host: HostBooking?
    /// Set when the job holds a share of its one chip rather than the whole chip.
    public var share: ChipShare?

    public init(
        node: NodeID, chips: [Int], numaNodes: [Int] = [], host: HostBooking? = nil, share: ChipShare? = nil
    ) {
        self.node = node
        self.chips = chips
        self.numaNodes = numaNodes
        self.host = host
        self.share = share
    }

    /// The NUMA node the agent binds the process to.
    public var bindNUMANode: Int? { numaNodes.first }
    /// True when no single NUMA node could hold the chips and the placement spans several.
    public var spansNUMANodes: Bool { numaNodes.count > 1 }
}

/// A job that holds chips now.
public struct RunningJob: Hashable, Sendable {
    public var id: JobID
    public var priority: Int
    public var assignments: [NodeAssignment]
    public var startedAt: Seconds
    /// When it is expected to end (start + time limit); nil = unknown, which backfill treats as never.
    public var expectedEndAt: Seconds?
    /// Its last checkpoint; preemption prefers victims that lose the least work.
    public var lastCheckpointAt: Seconds?
    /// It checkpoints this often from its start, so its last checkpoint moves on with time.
    public var checkpointInterval: Seconds?
    /// It saves a checkpoint when asked before it is stopped (its job's `checkpointSignal`): a
    /// preemption or a reclaim loses none of its work.
    public var savesCheckpointWhenAsked = false

    public init(
        id: JobID, priority: Int = 0, assignments: [NodeAssignment], startedAt: Seconds = 0,
        expectedEndAt: Seconds? = nil, lastCheckpointAt: Seconds? = nil, checkpointInterval: Seconds? = nil,
        savesCheckpointWhenAsked: Bool = false
    ) {
        self.savesCheckpointWhenAsked = savesCheckpointWhenAsked
        self.checkpointInterval = checkpointInterval
        self.id = id
        self.priority = priority
        self.assignments = assignments
        self.startedAt = startedAt
        self.expectedEndAt = expectedEndAt
        self.lastCheckpointAt = lastCheckpointAt
    }

    public var chipCount: Int { assignments.reduce(0) { $0 + $1.chips.count } }

    /// Chip-seconds of work since the last checkpoint (or since start), lost if it is stopped now.
    public func workAtRisk(at now: Seconds) -> Double {
        savesCheckpointWhenAsked ? 0 : max(0, now - (lastCheckpointAt ?? startedAt)) * Double(chipCount)
    }
}

/// The cluster as one decision sees it: nodes, what runs on them, and the chip catalog.
public struct ClusterSnapshot: Sendable {
    public var nodes: [Node]
    public var running: [RunningJob]
    public var catalog: ChipCatalog

    public init(nodes: [Node], running: [RunningJob] = [], catalog: ChipCatalog) {
        self.nodes = nodes
        self.running = running
        self.catalog = catalog
    }
}

/// A snapshot that cannot be scheduled on; the driver fixes its input, the engine never guesses.
public enum SnapshotError: Error, Hashable, Sendable, CustomStringConvertible {
    case duplicateNode(NodeID)
    case duplicateChip(NodeID, Int)
    case badChipIndex(NodeID, Int)
    case tooManyChips(NodeID, Int)
    case runningOnUnknownNode(JobID, NodeID)
    case runningOnUnknownChip(JobID, NodeID, Int)
    case chipBookedTwice(NodeID, Int, JobID, JobID)
    case duplicateRunningJob(JobID)

    public var description: String {
        switch self {
        case .duplicateNode(let node): "node \(node) appears twice"
        case .duplicateChip(let node, let chip): "node \(node) lists chip \(chip) twice"
        case .badChipIndex(let node, let chip): "node \(node) has chip index \(chip); indices run 0...65535"
        case .tooManyChips(let node, let count): "node \(node) has \(count) chips; at most 64 per node are supported"
        case .runningOnUnknownNode(let job, let node): "job \(job) runs on node \(node), which is not in the snapshot"
        case .runningOnUnknownChip(let job, let node, let chip):
            "job \(job) runs on chip \(chip) of node \(node), which the node does not have"
        case .chipBookedTwice(let node, let chip, let first, let second):
            "chip \(chip) of node \(node) is held by both \(first) and \(second)"
        case .duplicateRunningJob(let job): "job \(job) is listed as running twice"
        }
    }
}
