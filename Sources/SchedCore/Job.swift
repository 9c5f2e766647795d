/// Seconds on the driver's clock (wall time in the coordinator, virtual time in the simulator).
public typealias Seconds = Double

public struct JobID: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let name: String
    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }
    public var description: String { name }
    public static func < (lhs: JobID, rhs: JobID) -> Bool { lhs.name < rhs.name }
}

public enum JobKind: String, Hashable, Sendable, CaseIterable {
    case training
    case inference
    case batch
}

extension JobKind {
    /// Its position in `allCases`, for arrays indexed by kind.
    var ordinal: Int {
        switch self {
        case .training: 0
        case .inference: 1
        case .batch: 2
        }
    }
}

/// What a tier accepts: named models, every model of a vendor, or a whole family.
public enum ChipSelector: Hashable, Sendable, CustomStringConvertible {
    case model(ChipModelID)
    case vendor(String)
    case family(ChipFamily)

    public func matches(_ model: ChipModel) -> Bool {
        switch self {
        case .model(let id): model.id == id
        case .vendor(let vendor): model.vendor == vendor
        case .family(let family): model.family == family
        }
    }

    public var description: String {
        switch self {
        case .model(let id): id.name
        case .vendor(let vendor): "vendor \(vendor)"
        case .family(let family): "family \(family.rawValue)"
        }
    }
}

/// One rung of a job's chip preference. Shape overrides let a tier ask for, say, 16 Ascend chips a
/// node but 8 on NVIDIA nodes.
public struct ChipTier: Hashable, Sendable, Codable, CustomStringConvertible {
    public var name: String
    /// Any selector matching is enough; empty means any chip.
    public var selectors: [ChipSelector]
    public var chipsPerNode: Int?
    public var nodes: Int?

    public init(name: String? = nil, selectors: [ChipSelector], chipsPerNode: Int? = nil, nodes: Int? = nil) {
        self.selectors = selectors
        self.name = name ?? (selectors.isEmpty ? "any" : selectors.map(\.description).joined(separator: "|"))
        self.chipsPerNode = chipsPerNode
        self.nodes = nodes
    }

    public static let anyChip = ChipTier(name: "any", selectors: [])

    public func accepts(_ model: ChipModel) -> Bool {
        selectors.isEmpty || selectors.contains { $0.matches(model) }
    }

    public var description: String { name }

    /// Hashes the name and shape only: tiers are hashed once per waiting job per decision, and
    /// equal tiers still compare their selectors in `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(chipsPerNode)
        hasher.combine(nodes)
    }
}

/// When a job moves down its tier list.
public struct FallbackRule: Hashable, Sendable, Codable {
    /// Failures (chip faults, lost nodes, link faults) on one tier before moving down; nil = never for that.
    public var maxFailuresPerTier: Int?
    /// How long a job may wait to be placed on one tier before moving down; nil = forever.
    public var maxWaitPerTier: Seconds?
    /// Minimum scale-out bandwidth per node for a multi-node job; a tier that cannot offer it is skipped.
    public var minInterNodeBandwidthGBps: Double?
    /// After falling back, go back to the first tier at a checkpoint once it has had no fault for
    /// this long (and has room); nil = stay where it fell.
    public var returnToPreferredHealthyFor: Seconds?
    /// `expected-finish`: also leave a tier that faults make slower than another tier by more than
    /// `tolerance` (a fraction: 0.2 for 20%). The count and wait limits still apply beside it.
    public var policy: FallbackPolicy?
    public var tolerance: Double?

    /// What `tolerance` is when a rule does not say.
    public static let defaultTolerance = 0.2

    public init(
        maxFailuresPerTier: Int? = nil, maxWaitPerTier: Seconds? = nil, minInterNodeBandwidthGBps: Double? = nil,
        returnToPreferredHealthyFor: Seconds? = nil, policy: FallbackPolicy? = nil, tolerance: Double? = nil
    ) {
        self.maxFailuresPerTier = maxFailuresPerTier
        self.maxWaitPerTier = maxWaitPerTier
        self.minInterNodeBandwidthGBps = minInterNodeBandwidthGBps
        self.returnToPreferredHealthyFor = returnToPreferredHealthyFor
        self.policy = policy
        self.tolerance = tolerance
    }
}

/// How tightly a gang must sit (Slurm's `--switches=count@max-time`).
public struct GangTopology: Hashable, Sendable, Codable {
    /// At most this many topology domains; nil = as few as the fleet allows, however many.
    public var maxDomains: Int?
    /// After waiting this long the domain limit is dropped; nil = hold the limit forever.
    public var maxDomainsWait: Seconds?

    public init(maxDomains: Int? = nil, maxDomainsWait: Seconds? = nil) {
        self.maxDomains = maxDomains
        self.maxDomainsWait = maxDomainsWait
    }
}

/// A unit of work as the scheduler sees it. Commands, environments and images live with the driver.
public struct Job: Hashable, Sendable, Codable {
    public var id: JobID
    public var kind: JobKind
    public var chipsPerNode: Int
    /// More than one makes a gang: all nodes or none.
    public var nodes: Int
    public var minChipMemoryGiB: Double?
    /// Host CPUs and memory per node beside the chips; nil = none reserved.
    public var host: HostAsk?
    /// A share of one chip instead of whole chips (then one chip on one node); nil = whole chips.
    public var share: ChipShare?
    /// Ordered preference; empty means any chip.
    public var tiers: [ChipTier]
    public var fallback: FallbackRule
    public var topology: GangTopology
    /// Higher runs first and may preempt lower.
    public var priority: Int
    public var queue: String
    /// Wall-clock limit of one attempt; also what backfill uses as the expected run time.
    public var timeLimit: Seconds?
    public var submittedAt: Seconds
    /// Only nodes carrying every one of these labels (`zone: a`), as Kubernetes' `nodeSelector`;
    /// nil or empty: any node.
    public var nodeSelector: [String: String]?

    public init(
        id: JobID, kind: JobKind, chipsPerNode: Int, nodes: Int = 1, minChipMemoryGiB: Double? = nil,
        tiers: [ChipTier] = [], fallback: FallbackRule = FallbackRule(), topology: GangTopology = GangTopology(),
        priority: Int = 0, queue: String = "default", timeLimit: Seconds? = nil, submittedAt: Seconds = 0,
        host: HostAsk? = nil, share: ChipShare? = nil, nodeSelector: [String: String]? = nil
    ) {
        self.nodeSelector = nodeSelector?.isEmpty == true ? nil : nodeSelector
        self.host = host
        self.share = share
        self.id = id
        self.kind = kind
        self.chipsPerNode = chipsPerNode
        self.nodes = nodes
        self.minChipMemoryGiB = minChipMemoryGiB
        self.tiers = tiers
        self.fallback = fallback
        self.topology = topology
        self.priority = priority
        self.queue = queue
        self.timeLimit = timeLimit
        self.submittedAt = submittedAt
    }

    /// The tiers the ladder walks: the job's own, or one tier that takes any chip.
    public var effectiveTiers: [ChipTier] { tiers.isEmpty ? [.anyChip] : tiers }

    /// How many tiers the ladder walks (at least one).
    public var tierCount: Int { max(tiers.count, 1) }

    /// Tier `index` of the ladder (clamped), without building the list.
    public func tier(at index: Int) -> ChipTier {
        tiers.isEmpty ? .anyChip : tiers[min(max(index, 0), tiers.count - 1)]
    }

    /// The shape asked for on tier `index`: chips per node and node count.
    public func shape(onTier index: Int) -> JobShape {
        let tier = tier(at: index)
        return JobShape(chipsPerNode: tier.chipsPerNode ?? chipsPerNode, nodes: tier.nodes ?? nodes)
    }

    /// The host CPUs and memory each node must offer for `shape`.
    public func hostDemand(_ shape: JobShape) -> HostDemand? {
        guard let host, !host.isEmpty else { return nil }
        return host.onNode(chips: shape.chipsPerNode)
    }
}

/// Chips per node times nodes.
public struct JobShape: Hashable, Sendable, Codable {
    public var chipsPerNode: Int
    public var nodes: Int
    public init(chipsPerNode: Int, nodes: Int) {
        self.chipsPerNode = chipsPerNode
        self.nodes = nodes
    }
    public var totalChips: Int { chipsPerNode * nodes }
}
