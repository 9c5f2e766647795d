/// Why a node (or the fleet) could not take a job; tallied into the sentence a user reads.
public enum RejectionCause: String, Hashable, Sendable, CaseIterable, Comparable {
    /// Fewer free chips than asked (the chips are in use).
    case full
    case draining
    case down
    /// Enough chips, but some are unhealthy.
    case unhealthyChips = "unhealthy chips"
    /// The node has fewer chips of the model than asked, ever.
    case tooFewChips = "too few chips"
    case chipMemoryTooSmall = "chip memory too small"
    case bandwidthTooLow = "inter-node bandwidth too low"
    /// Chips held back for the reserved higher-priority job.
    case reserved
    /// The gang would need more topology domains than it allows.
    case domainLimit = "held by the domain limit"
    /// Fewer host cores than asked, even empty.
    case tooFewCores = "too few cores"
    /// Less host memory than asked, even empty.
    case tooLittleMemory = "too little memory"
    /// Enough cores, but held by other jobs.
    case coresInUse = "cores in use"
    /// Enough memory, but held by other jobs.
    case memoryInUse = "memory in use"
    /// Without a label the job's node selector asks for.
    case labels = "without the labels asked"

    public static func < (lhs: RejectionCause, rhs: RejectionCause) -> Bool { lhs.ordinal < rhs.ordinal }

    /// Position in `allCases`.
    var ordinal: Int {
        switch self {
        case .full: 0
        case .draining: 1
        case .down: 2
        case .unhealthyChips: 3
        case .tooFewChips: 4
        case .chipMemoryTooSmall: 5
        case .bandwidthTooLow: 6
        case .reserved: 7
        case .domainLimit: 8
        case .tooFewCores: 9
        case .tooLittleMemory: 10
        case .coresInUse: 11
        case .memoryInUse: 12
        case .labels: 13
        }
    }
}

/// Why a job is not placed: *waiting* (capacity may free up) or *infeasible* (nothing in the fleet
/// can ever hold it as asked), with counts per cause and one readable sentence.
public struct WaitReason: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        case waiting
        case infeasible
    }

    public var kind: Kind
    public var tier: String
    public var shape: JobShape
    /// Nodes turned away, per cause, among the nodes whose chips the tier accepts.
    public var counts: [RejectionCause: Int]
    /// What the counts do not say (an unknown chip, a domain limit, a reservation).
    public var detail: String?
    /// When the job is reserved to start (backfill holds chips for it until then); infinite when
    /// that waits on jobs without a time limit.
    public var reservedStart: Seconds?
    /// Host CPUs and memory each node must offer beside the chips.
    public var host: HostDemand?
    /// The share of one chip asked instead of whole chips.
    public var share: ChipShare?
    /// Set when the job's queue holds it back, not the fleet: which limit, with the figures.
    public var quota: String?

    public init(
        kind: Kind, tier: String, shape: JobShape, counts: [RejectionCause: Int] = [:], detail: String? = nil,
        reservedStart: Seconds? = nil, host: HostDemand? = nil, share: ChipShare? = nil
    ) {
        self.host = host
        self.share = share
        self.kind = kind
        self.tier = tier
        self.shape = shape
        self.counts = counts
        self.detail = detail
        self.reservedStart = reservedStart
    }

    public var isInfeasible: Bool { kind == .infeasible }

    public var description: String { describe(now: nil) }

    /// The sentence, with a reserved start said as a time from `now` ("in 12.5m") where it is given,
    /// else on the plan's clock ("at t=3600s", as simulations print it).
    public func describe(now: Seconds?) -> String {
        var sentence = "\(kind.rawValue): "
        if let quota { return sentence + quota }
        let chips = "\(shape.chipsPerNode) free chip\(shape.chipsPerNode == 1 ? "" : "s")"
        // A job without tiers has the tier `any`, which needs no naming.
        let model = tier == ChipTier.anyChip.name ? "" : tier + " "
        let beside = host?.phrase.map { " and " + $0 } ?? ""
        if shape.chipsPerNode == 0, let phrase = host?.phrase {
            sentence += "no node with \(phrase)"
        } else if let share {
            sentence += "no \(model)chip with \(share) free"
            if let phrase = host?.phrase { sentence += " on a node with " + phrase }
        } else if shape.nodes > 1 {
            sentence += "no \(shape.nodes) \(model)nodes with \(chips)\(beside) each"
        } else {
            sentence += "no \(model)node with \(chips)\(beside)"
        }
        let tally = counts.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            .map { "\($0.value) \($0.key.rawValue)" }
        if !tally.isEmpty { sentence += " (" + tally.joined(separator: ", ") + ")" }
        if let detail { sentence += "; " + detail }
        if let reservedStart {
            sentence +=
                !reservedStart.isFinite
                ? "; chips held for it until jobs without a time limit end"
                : now.map { "; reserved to start in \(formatSeconds(max(reservedStart - $0, 0)))" }
                    ?? "; reserved to start at t=\(formatNumber(reservedStart))s"
        }
        return sentence
    }
}
