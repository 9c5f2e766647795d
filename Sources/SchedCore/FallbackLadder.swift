/// Why a job moved down its tier list.
public enum FallbackReason: Hashable, Sendable, CustomStringConvertible {
    case tooManyFailures(failures: Int, limit: Int, lastCause: FailureCause)
    case waitedTooLong(waited: Seconds, limit: Seconds)
    case tierCannotHold(String)
    case operatorRequest(String)

    public var description: String {
        switch self {
        case .tooManyFailures(let failures, let limit, let cause):
            "\(failures) failures on this tier (limit \(limit)), last: \(cause)"
        case .waitedTooLong(let waited, let limit):
            "waited \(formatSeconds(waited)) to be placed on this tier (limit \(formatSeconds(limit)))"
        case .tierCannotHold(let why): "this tier cannot hold the job: \(why)"
        case .operatorRequest(let why): "operator: \(why)"
        }
    }
}

/// What ended an attempt in a way that counts against the tier it ran on.
public enum FailureCause: Hashable, Sendable, CustomStringConvertible {
    case chipFault(node: NodeID, chip: Int)
    case nodeLost(NodeID)
    case linkFault(node: NodeID, bandwidthGBps: Double?)
    case other(String)

    public var description: String {
        switch self {
        case .chipFault(let node, let chip): "chip \(chip) of \(node) faulted"
        case .nodeLost(let node): "node \(node) lost"
        case .linkFault(let node, let bandwidth):
            "link fault on \(node)" + (bandwidth.map { " (\(formatNumber($0)) GB/s)" } ?? "")
        case .other(let text): text
        }
    }
}

/// Per-job fallback state: which tier it is on, how often that tier failed it, and since when it waits.
/// Events in, actions out; the drivers store the value and feed it back.
public struct FallbackLadder: Hashable, Sendable, Codable {
    public let tierCount: Int
    public private(set) var tier: Int
    public private(set) var failuresOnTier: Int
    /// When the job started waiting on its current tier; nil while it runs.
    public private(set) var waitingSince: Seconds?

    public init(tierCount: Int, tier: Int = 0, failuresOnTier: Int = 0, waitingSince: Seconds?) {
        self.tierCount = max(tierCount, 1)
        self.tier = min(max(tier, 0), self.tierCount - 1)
        self.failuresOnTier = failuresOnTier
        self.waitingSince = waitingSince
    }

    /// A new job enters its first tier at submission.
    public init(for job: Job) {
        self.init(tierCount: job.tierCount, waitingSince: job.submittedAt)
    }

    public enum Event: Hashable, Sendable {
        /// The job was placed and started on its current tier.
        case placed(at: Seconds)
        /// An attempt ended by a fault that counts against the tier.
        case failed(FailureCause, at: Seconds)
        /// Periodic check while waiting.
        case waitCheck(now: Seconds)
        /// The tier can never hold the job as asked.
        case tierCannotHold(String, at: Seconds)
        /// An operator asked to move the job down now.
        case operatorRequest(String, at: Seconds)
    }

    public enum Action: Hashable, Sendable {
        case stay
        /// Requeue on the same tier.
        case retry(tier: Int)
        case moveTo(tier: Int, reason: FallbackReason)
        /// Nothing below: the job fails with this reason.
        case giveUp(reason: String)
        /// The request cannot be honoured (an operator asked to move below the last tier).
        case refused(reason: String)
    }

    public var isOnLastTier: Bool { tier == tierCount - 1 }

    public mutating func handle(_ event: Event, rule: FallbackRule) -> Action {
        switch event {
        case .placed:
            waitingSince = nil
            return .stay
        case .failed(let cause, let now):
            failuresOnTier += 1
            if let limit = rule.maxFailuresPerTier, failuresOnTier >= limit {
                return moveDown(
                    .tooManyFailures(failures: failuresOnTier, limit: limit, lastCause: cause), at: now)
            }
            waitingSince = now
            return .retry(tier: tier)
        case .waitCheck(let now):
            // On the last tier a job keeps waiting: capacity may still free up. Only failures exhaust it.
            guard let since = waitingSince, let limit = rule.maxWaitPerTier, now - since >= limit, !isOnLastTier else {
                return .stay
            }
            return moveDown(.waitedTooLong(waited: now - since, limit: limit), at: now)
        case .tierCannotHold(let why, let now):
            return moveDown(.tierCannotHold(why), at: now)
        case .operatorRequest(let why, let now):
            guard !isOnLastTier else {
                return .refused(reason: "already on its last tier (\(tier + 1) of \(tierCount))")
            }
            return moveDown(.operatorRequest(why), at: now)
        }
    }

    private mutating func moveDown(_ reason: FallbackReason, at now: Seconds) -> Action {
        guard !isOnLastTier else {
            return .giveUp(reason: "no tier left after tier \(tier + 1) of \(tierCount): \(reason)")
        }
        tier += 1
        failuresOnTier = 0
        waitingSince = now
        return .moveTo(tier: tier, reason: reason)
    }
}

func formatSeconds(_ seconds: Seconds) -> String {
    if seconds >= 3600 { return formatNumber(seconds / 3600) + "h" }
    if seconds >= 60 { return formatNumber(seconds / 60) + "m" }
    return formatNumber(seconds) + "s"
}

func formatNumber(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e15 { return String(Int(value)) }
    let tenths = (value * 10).rounded() / 10
    return tenths == tenths.rounded() ? String(Int(tenths)) : String(tenths)
}
