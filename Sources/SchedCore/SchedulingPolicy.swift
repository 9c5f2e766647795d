/// The placement policies an operator picks from.
public enum PolicyName: String, Hashable, Sendable, CaseIterable {
    case firstFit = "first-fit"
    case binPack = "bin-pack"
    case spread
    case heterogeneityAware = "heterogeneity-aware"
    case domesticFirst = "domestic-first"
    case bestFit = "best-fit"
    case dotProduct = "dot-product"
    case fragmentationAware = "fragmentation-aware"
}

/// The score stage over chip models: which model a job should land on when several are acceptable.
public enum ModelScorer: String, Hashable, Sendable {
    /// Every acceptable model is as good as another; the node order decides.
    case neutral
    /// Training and batch go where they are fastest (relative training throughput); inference goes
    /// where it is cheapest, i.e. where it gives up the least training capacity (relative inference
    /// over relative training throughput).
    case throughputByKind
    /// Domestic chips before NVIDIA.
    case domesticFirst

    func score(_ model: ChipModel?, kind: JobKind) -> Double {
        switch self {
        case .neutral:
            return 0
        case .throughputByKind:
            guard let model else { return 0 }
            switch kind {
            case .training, .batch: return model.relativeTraining
            case .inference:
                return model.relativeTraining > 0 ? model.relativeInference / model.relativeTraining : 0
            }
        case .domesticFirst:
            return model?.family == .domestic ? 1 : 0
        }
    }
}

/// A placement policy as its stages: filters (fixed: chip model, free chips, memory, bandwidth,
/// reservation), a chip-model scorer, a node order, then pick the first node that passes, preferring
/// one whose chips share a NUMA node. Backfill and preemption switch on or off per policy.
public struct SchedulingPolicy: Hashable, Sendable {
    public var name: PolicyName
    public var modelScorer: ModelScorer
    public var nodeOrder: NodeOrder
    /// Scores every candidate node of a one-node job instead of the order's walk (`.order`: no scoring).
    public var nodeScorer: NodeScorer
    public var backfill: Bool
    public var preemption: Bool

    public init(
        name: PolicyName, modelScorer: ModelScorer, nodeOrder: NodeOrder, nodeScorer: NodeScorer = .order,
        backfill: Bool = true, preemption: Bool = true
    ) {
        self.name = name
        self.nodeScorer = nodeScorer
        self.modelScorer = modelScorer
        self.nodeOrder = nodeOrder
        self.backfill = backfill
        self.preemption = preemption
    }

    public static func named(_ name: PolicyName) -> SchedulingPolicy {
        switch name {
        case .firstFit: SchedulingPolicy(name: name, modelScorer: .neutral, nodeOrder: .lowestPositionFirst)
        case .binPack: SchedulingPolicy(name: name, modelScorer: .neutral, nodeOrder: .fewestFreeFirst)
        case .spread: SchedulingPolicy(name: name, modelScorer: .neutral, nodeOrder: .mostFreeFirst)
        case .heterogeneityAware:
            SchedulingPolicy(name: name, modelScorer: .throughputByKind, nodeOrder: .fewestFreeFirst)
        case .domesticFirst: SchedulingPolicy(name: name, modelScorer: .domesticFirst, nodeOrder: .fewestFreeFirst)
        case .bestFit:
            SchedulingPolicy(name: name, modelScorer: .neutral, nodeOrder: .fewestFreeFirst, nodeScorer: .bestFit)
        case .dotProduct:
            SchedulingPolicy(name: name, modelScorer: .neutral, nodeOrder: .fewestFreeFirst, nodeScorer: .dotProduct)
        case .fragmentationAware:
            SchedulingPolicy(
                name: name, modelScorer: .neutral, nodeOrder: .fewestFreeFirst, nodeScorer: .fragmentation)
        }
    }

    public static let firstFit = named(.firstFit)
    public static let binPack = named(.binPack)
    public static let spread = named(.spread)
    public static let heterogeneityAware = named(.heterogeneityAware)
    public static let domesticFirst = named(.domesticFirst)
    public static let bestFit = named(.bestFit)
    public static let dotProduct = named(.dotProduct)
    public static let fragmentationAware = named(.fragmentationAware)
}

/// SplitMix64: a small, fast, seedable generator, so that the same seed gives the same plan.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// FNV-1a over UTF-8: a hash that is the same in every process and run, for deriving seeds from names.
public func stableHash(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}
