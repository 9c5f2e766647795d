/// A decision to start a job now.
public struct JobPlacement: Hashable, Sendable {
    public var job: JobID
    /// Index into the job's effective tiers, and that tier's name.
    public var tier: Int
    public var tierName: String
    public var chipModel: ChipModelID
    public var assignments: [NodeAssignment]
    /// Why the policy chose this; its description is the sentence for the placement log.
    public var reason: PlacementReason
    /// Jobs that must be stopped before this one starts (their chips are part of this placement).
    public var preempting: [JobID]
    /// True when the job was started ahead of the reserved head job because it cannot delay it.
    public var backfilled: Bool
}

/// Why a placement went where it did, as values; `description` renders the placement-log sentence.
public struct PlacementReason: Hashable, Sendable, CustomStringConvertible {
    public var policy: PolicyName
    public var scorer: ModelScorer
    public var nodeOrder: NodeOrder
    public var kind: JobKind
    public var chipModel: ChipModelID
    /// The chip model's score under the policy's scorer.
    public var score: Double
    public var isDomestic: Bool
    public var nodes: Int
    public var domains: Int
    /// NUMA nodes of a single-node placement.
    public var numaNodes: [Int]
    public var chipsPerNode: Int
    /// Set when a scoring policy chose the node.
    public var nodeScorer: NodeScorer = .order

    public var description: String {
        let name = chipModel.name
        var reason = policy.rawValue + ": "
        let place = chipModel == .hostOnly ? "node" : "\(name) node"
        switch nodeScorer {
        case .order: break
        case .bestFit: return reason + "the \(place) left with the least free chips and cores"
        case .dotProduct: return reason + "the \(place) whose free chips and cores align least with the ask"
        case .fragmentation: return reason + "the \(place) whose expected fragmentation grows least"
        }
        if chipModel == .hostOnly {
            switch nodeOrder {
            case .lowestPositionFirst: reason += "first node with the cores and memory"
            case .fewestFreeFirst: reason += "fullest node with the cores and memory"
            case .mostFreeFirst: reason += "emptiest node"
            }
            return reason
        }
        switch scorer {
        case .neutral:
            switch nodeOrder {
            case .lowestPositionFirst: reason += "first \(name) node with room"
            case .fewestFreeFirst: reason += "fullest \(name) node that fits"
            case .mostFreeFirst: reason += "emptiest \(name) node"
            }
        case .throughputByKind:
            let figure = formatScore(score)
            switch kind {
            case .training, .batch: reason += "\(kind.rawValue) fastest on \(name) with room (\(figure) x H100)"
            case .inference:
                reason += "inference cheapest on \(name) with room (inference/training throughput \(figure))"
            }
        case .domesticFirst:
            reason += isDomestic ? "\(name) is domestic" : "no domestic chip with room; \(name)"
        }
        if nodes > 1 {
            reason += "; gang of \(nodes) nodes in \(domains) domain\(domains == 1 ? "" : "s")"
        } else if numaNodes.count == 1 {
            reason += "; chips on NUMA node \(numaNodes[0])"
        } else if numaNodes.count > 1 {
            reason +=
                "; spans NUMA nodes \(numaNodes.map(String.init).joined(separator: ",")) "
                + "(no single NUMA node had \(chipsPerNode) free)"
        }
        return reason
    }
}

/// A running job stopped so that a higher-priority job fits.
public struct Preemption: Hashable, Sendable {
    public var victim: JobID
    public var preemptor: JobID
    public var reason: String
    /// Chip-seconds since the victim's last checkpoint.
    public var workLost: Double
}

/// A job moved down its tier list in this decision.
public struct TierFallback: Hashable, Sendable {
    public var job: JobID
    public var fromTier: Int
    public var toTier: Int
    public var reason: FallbackReason
    /// The job's ladder after the move; the driver stores it.
    public var ladder: FallbackLadder
}

/// A job that has no tier left to try; the driver fails it with this reason.
public struct GiveUp: Hashable, Sendable {
    public var job: JobID
    public var reason: String
}

/// The head job's reservation: when and where it will start, found by replaying running jobs' ends.
public struct Reservation: Hashable, Sendable {
    public var job: JobID
    /// Infinite when the job waits on running jobs without a time limit: nobody knows when they end.
    public var start: Seconds
    public var assignments: [NodeAssignment]
}

/// A job that stays in the queue, and why.
public struct WaitingJob: Hashable, Sendable {
    public var job: JobID
    public var reason: WaitReason
}

/// Everything one decision says: start these, stop those, move these down, and why the rest waits.
public struct SchedulingPlan: Hashable, Sendable {
    public var placements: [JobPlacement] = []
    public var preemptions: [Preemption] = []
    public var fallbacks: [TierFallback] = []
    public var givenUp: [GiveUp] = []
    /// Every job left waiting, in queue order.
    public var waiting: [WaitingJob] = []
    public var reservation: Reservation?

    public init() {}

    public func reason(for job: JobID) -> WaitReason? {
        waiting.first { $0.job == job }?.reason
    }

    public func placement(for job: JobID) -> JobPlacement? {
        placements.first { $0.job == job }
    }
}
