import SchedCore

/// What happened to one job in a simulation.
public struct JobOutcome: Codable, Equatable, Sendable {
    public enum State: String, Codable, Sendable {
        case completed
        /// Gave up (no tier left) or ran past its time limit.
        case failed
        /// Still waiting or running when nothing more could happen (for example infeasible everywhere).
        case unfinished
    }

    public var job: String
    public var queue: String
    public var kind: JobKind
    public var submitted: Double
    public var firstStart: Double?
    public var end: Double?
    public var state: State
    public var attempts: Int
    public var fallbacks: Int
    public var preemptions: Int
    /// Of those, stops that gave chips back to a queue under its guarantee.
    public var reclaimed = 0
    /// Chip-seconds of work lost to faults and preemptions (work since the last checkpoint).
    public var workLost: Double
    /// Of it, what reclaims lost (none for a job that saves a checkpoint when asked).
    public var workLostToReclaims = 0.0
    public var finalTier: Int
    public var chipModel: String?

    public var completionTime: Double? { end.map { $0 - submitted } }
    public var queueingDelay: Double? { firstStart.map { $0 - submitted } }
}

/// Busy chips per family at a moment, for utilization over time; a share of a chip counts as its
/// part of the chip (to a thousandth).
public struct UtilizationSample: Codable, Equatable, Sendable {
    public var time: Double
    public var busyByFamily: [String: Double]
    /// Under a queue tree: chips busy per queue.
    public var busyByQueue: [String: Double]? = nil
}

/// A tier fallback, for the timeline.
public struct FallbackMark: Codable, Equatable, Sendable {
    public var time: Double
    public var job: String
    public var fromTier: Int
    public var toTier: Int
    public var reason: String
}

/// One decision the simulation applied, in order: what a scenario compares with the live run.
public struct DecisionRecord: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case placed, started, completed, faulted, preempted, requeued, failed, returned
        case fellBack = "fell-back"
        case gaveUp = "gave-up"
    }
    public var time: Double
    public var kind: Kind
    public var job: String
    public var detail: String
    /// Placements: the tier (0-based), chip model and nodes; fallbacks: the tier moved to.
    public var tier: Int?
    public var chipModel: String?
    public var nodes: [String]?
    /// Faults of step-played jobs: the steps since the last checkpoint that were lost.
    public var stepsLost: Int?
}

/// The outcome of one policy over one trace.
public struct SimulationReport: Codable, Equatable, Sendable {
    public var policy: String
    public var jobs: [JobOutcome]
    public var makespan: Double
    /// Busy chip-seconds over available chip-seconds up to the makespan, per chip model and per family.
    public var utilizationByModel: [String: Double]
    public var utilizationByFamily: [String: Double]
    /// Share of busy chip-seconds per queue.
    public var queueShare: [String: Double]
    /// Under a queue tree: each leaf queue's weight, what its share is normalized by for fairness.
    public var queueWeights: [String: Double]? = nil
    public var timeline: [UtilizationSample]
    public var fallbackTimeline: [FallbackMark]
    public var decisions: [DecisionRecord]
    public var chipsByFamily: [String: Int]
    /// Events the simulation processed (submissions, ends, wake-ups) and decisions it planned.
    public var events: Int
    public var decisionCycles: Int

    public var completed: [JobOutcome] { jobs.filter { $0.state == .completed } }
    public var completionTimes: [Double] { completed.compactMap(\.completionTime).sorted() }
    public var queueingDelays: [Double] { jobs.compactMap(\.queueingDelay).sorted() }
    public var fallbacks: Int { jobs.reduce(0) { $0 + $1.fallbacks } }
    public var preemptions: Int { jobs.reduce(0) { $0 + $1.preemptions } }
    public var workLost: Double { jobs.reduce(0) { $0 + $1.workLost } }
    public var reclaims: Int { jobs.reduce(0) { $0 + $1.reclaimed } }
    /// Chip-seconds reclaims lost, summed in job order.
    public var workLostToReclaims: Double { jobs.reduce(0) { $0 + $1.workLostToReclaims } }

    /// Jain's fairness index over the queues' shares of chip time, each over its weight: 1 when
    /// every queue got the same share per unit of weight, 1/n when one took everything. Nil
    /// without a tree, or with fewer than two queues that ran jobs.
    public var queueFairness: Double? {
        guard let weights = queueWeights else { return nil }
        let normalized = queueShare.sorted { $0.key < $1.key }.map { $0.value / (weights[$0.key] ?? 1) }
        guard normalized.count >= 2 else { return nil }
        let sum = normalized.reduce(0, +)
        let squares = normalized.reduce(0) { $0 + $1 * $1 }
        return squares > 0 ? sum * sum / (Double(normalized.count) * squares) : nil
    }
}

/// Mean, median and 95th percentile of sorted values (0 when empty).
public struct Summary: Codable, Equatable, Sendable {
    public var mean: Double
    public var median: Double
    public var p95: Double

    public init(_ sorted: [Double]) {
        guard !sorted.isEmpty else {
            self.init(mean: 0, median: 0, p95: 0)
            return
        }
        let middle = sorted.count / 2
        self.init(
            mean: sorted.reduce(0, +) / Double(sorted.count),
            median: sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2,
            p95: sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)])
    }

    public init(mean: Double, median: Double, p95: Double) {
        self.mean = mean
        self.median = median
        self.p95 = p95
    }
}
