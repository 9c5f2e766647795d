/// Why a job moved down its tier list.
public enum FallbackReason: Hashable, Sendable, CustomStringConvertible {
    case tooManyFailures(failures: Int, limit: Int, lastCause: FailureCause)
    case waitedTooLong(waited: Seconds, limit: Seconds)
    case tierCannotHold(String)
    case operatorRequest(String)
    /// The expected-finish rule: the estimates for the tier left and the tier chosen.
    case finishesSooner(current: TierEstimate, chosen: TierEstimate)

    public var description: String {
        switch self {
        case .tooManyFailures(let failures, let limit, let cause):
            "\(failures) failures on this tier (limit \(limit)), last: \(cause)"
        case .waitedTooLong(let waited, let limit):
            "waited \(formatSeconds(waited)) to be placed on this tier (limit \(formatSeconds(limit)))"
        case .tierCannotHold(let why): "this tier cannot hold the job: \(why)"
        case .operatorRequest(let why): "operator: \(why)"
        case .finishesSooner(let current, let chosen):
            "expected to finish sooner on tier \(chosen.tier + 1): \(current); \(chosen)"
        }
    }

    /// A short fixed name for the kind of reason (a metric label, a filter): `failures`, `wait-limit`,
    /// `cannot-hold`, `operator`, `finishes-sooner`.
    public var code: String {
        switch self {
        case .tooManyFailures: "failures"
        case .waitedTooLong: "wait-limit"
        case .tierCannotHold: "cannot-hold"
        case .operatorRequest: "operator"
        case .finishesSooner: "finishes-sooner"
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
    /// When the job last left its first tier; nil while it is on it.
    public private(set) var leftPreferredAt: Seconds?
    /// How often the job went back to its first tier: each return doubles the next healthy window.
    public private(set) var returns: Int

    public init(tierCount: Int, tier: Int = 0, failuresOnTier: Int = 0, waitingSince: Seconds?) {
        self.tierCount = max(tierCount, 1)
        self.tier = min(max(tier, 0), self.tierCount - 1)
        self.failuresOnTier = failuresOnTier
        self.waitingSince = waitingSince
        self.returns = 0
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
        /// The expected-finish rule chose a tier below (`ExpectedFinish.choose`).
        case finishesSooner(current: TierEstimate, chosen: TierEstimate, at: Seconds)
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
        case .finishesSooner(let current, let chosen, let now):
            guard chosen.tier > tier, chosen.tier < tierCount else { return .stay }
            return moveDown(.finishesSooner(current: current, chosen: chosen), at: now, to: chosen.tier)
        }
    }

    private mutating func moveDown(_ reason: FallbackReason, at now: Seconds, to target: Int? = nil) -> Action {
        guard !isOnLastTier else {
            return .giveUp(reason: "no tier left after tier \(tier + 1) of \(tierCount): \(reason)")
        }
        if tier == 0 { leftPreferredAt = now }
        tier = max(target ?? tier + 1, tier + 1)
        failuresOnTier = 0
        waitingSince = now
        return .moveTo(tier: tier, reason: reason)
    }
}

extension FallbackLadder {
    /// Why the job may go back to its first tier now, or nil: its rule names a healthy window, it
    /// is below its first tier, and that tier has had no fault since the job left it (or since its
    /// last fault, whichever is later) for the window, doubled for each earlier return so that a
    /// tier that keeps failing is not tried again and again.
    /// - Parameter lastFaultOnPreferred: the last fault on any chip model the first tier accepts.
    public func returnDue(now: Seconds, lastFaultOnPreferred: Seconds?, rule: FallbackRule) -> ReturnReason? {
        guard let base = rule.returnToPreferredHealthyFor, tier > 0, let left = leftPreferredAt else { return nil }
        let window = base * Double(1 << min(returns, 20))
        let healthySince = max(left, lastFaultOnPreferred ?? left)
        guard now - healthySince >= window else { return nil }
        return ReturnReason(from: tier, healthyFor: now - healthySince, window: window, lastFault: lastFaultOnPreferred)
    }

    /// The job goes back to its first tier (the driver stops its attempt at a checkpoint).
    public mutating func returnToPreferred(at now: Seconds) {
        tier = 0
        failuresOnTier = 0
        waitingSince = now
        leftPreferredAt = nil
        returns += 1
    }

    enum CodingKeys: String, CodingKey {
        case tierCount, tier, failuresOnTier, waitingSince, leftPreferredAt, returns
    }

    /// Ladders stored before returns existed decode with none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tierCount = try container.decode(Int.self, forKey: .tierCount)
        tier = try container.decode(Int.self, forKey: .tier)
        failuresOnTier = try container.decode(Int.self, forKey: .failuresOnTier)
        waitingSince = try container.decodeIfPresent(Seconds.self, forKey: .waitingSince)
        leftPreferredAt = try container.decodeIfPresent(Seconds.self, forKey: .leftPreferredAt)
        returns = try container.decodeIfPresent(Int.self, forKey: .returns) ?? 0
    }
}

/// Why a job goes back to its first tier.
public struct ReturnReason: Hashable, Sendable, CustomStringConvertible {
    /// The tier it leaves (0-based).
    public var from: Int
    public var healthyFor: Seconds
    public var window: Seconds
    public var lastFault: Seconds?

    public var description: String {
        "its first tier has had no fault for \(formatSeconds(healthyFor)) since it left "
            + "(window \(formatSeconds(window)))"
    }
}

/// "45s", "12.5m", "3h": a duration as a sentence reads it.
public func formatSeconds(_ seconds: Seconds) -> String {
    if seconds >= 3600 { return formatNumber(seconds / 3600) + "h" }
    if seconds >= 60 { return formatNumber(seconds / 60) + "m" }
    return formatNumber(seconds) + "s"
}
