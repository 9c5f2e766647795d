/// A host's name as the agent registers it.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let name: String
    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }
    public var description: String { name }
    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.name < rhs.name }
}

/// Health of one chip as the vendor tool reports it.
public enum ChipHealth: String, Hashable, Sendable, CaseIterable {
    case healthy
    /// Faulted or failing checks: never given new work.
    case unhealthy
}

/// One accelerator chip on a node.
public struct Chip: Hashable, Sendable, Codable {
    /// The index the visible-devices variable uses.
    public var index: Int
    public var model: ChipModelID
    public var memoryGiB: Double
    public var health: ChipHealth
    /// NUMA node nearest to the chip; nil where the host does not say (sysfs `numa_node == -1`).
    public var numaNode: Int?
    public var pciBusID: String?

    public init(
        index: Int, model: ChipModelID, memoryGiB: Double, health: ChipHealth = .healthy, numaNode: Int? = nil,
        pciBusID: String? = nil
    ) {
        self.index = index
        self.model = model
        self.memoryGiB = memoryGiB
        self.health = health
        self.numaNode = numaNode
        self.pciBusID = pciBusID
    }
}

/// CPUs and memory of one NUMA node of a host.
public struct NUMANode: Hashable, Sendable, Codable {
    public var id: Int
    public var cpus: [Int]
    public var memoryGiB: Double
    public init(id: Int, cpus: [Int], memoryGiB: Double) {
        self.id = id
        self.cpus = cpus
        self.memoryGiB = memoryGiB
    }
}

/// Whether a node takes new work.
public enum NodeState: String, Hashable, Sendable, CaseIterable {
    case ready
    /// Finishing what it runs, taking nothing new (operator drain, or chips being drained).
    case draining
    /// Lost or switched off: holds no work.
    case down
}

/// The scale-out domain a node sits in (a leaf switch, an Ascend super-node): gangs prefer one.
public struct TopologyDomain: Hashable, Sendable, Codable, CustomStringConvertible {
    /// What kind of domain this is: `switch`, `supernode`, `zone`.
    public var kind: String
    public var name: String
    public init(kind: String, name: String) {
        self.kind = kind
        self.name = name
    }
    public var description: String { "\(kind) \(name)" }
}

/// A host and its chips, as the scheduler sees it.
public struct Node: Hashable, Sendable, Codable {
    public var id: NodeID
    public var chips: [Chip]
    public var numaNodes: [NUMANode]
    public var labels: [String: String]
    public var domain: TopologyDomain?
    public var state: NodeState
    /// Current scale-out bandwidth per node in GB/s (degraded links report less); nil = not measured.
    public var interNodeBandwidthGBps: Double?

    public init(
        id: NodeID, chips: [Chip], numaNodes: [NUMANode] = [], labels: [String: String] = [:],
        domain: TopologyDomain? = nil, state: NodeState = .ready, interNodeBandwidthGBps: Double? = nil
    ) {
        self.id = id
        self.chips = chips
        self.numaNodes = numaNodes
        self.labels = labels
        self.domain = domain
        self.state = state
        self.interNodeBandwidthGBps = interNodeBandwidthGBps
    }
}
