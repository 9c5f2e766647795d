import Foundation
import SchedCore

/// One ended attempt, as accounting keeps it (Slurm's `sacct` line): kept in the store beyond the
/// job's own retention, for `schedctl history` and `usage`. Times are the coordinator's clock.
public struct AttemptAccount: Codable, Equatable, Sendable {
    public var job: String
    public var attempt: Int
    public var user: String?
    public var queue: String
    public var kind: String
    /// The job's tiers as a trace writes them (`ascend-910c;h800|h100`), and the one this attempt ran on.
    public var tiers: String
    public var tierName: String
    /// The chip model it ran on; `cpu-only` for a job of cores only.
    public var model: String
    public var nodes: [String]
    /// Whole chips (a share of a chip counts as its compute fraction).
    public var chips: Double
    public var cpus: Int
    public var submittedAt: Double
    public var startedAt: Double
    public var endedAt: Double
    public var chipHours: Double
    /// Chip-hours weighed by the model's speed against an H100 (training or inference, by kind).
    public var h100Hours: Double
    public var cpuSeconds: Double?
    public var peakMemoryBytes: Int?
    /// `completed`, `failed`, `cancelled`, or `requeued` (preempted, faulted, lost, drained: the
    /// job ran again).
    public var outcome: String
    public var exitStatus: Int?
    public var signal: Int?
    public var reason: String?
    /// Set when a fault ended it (a chip, a lost node, a link): what the fault rates learn from.
    public var faulted: Bool?
    /// The job's name (`name:`, Slurm's `-J`) and the pace its steps were measured at there: the
    /// baseline a later run of the same name is weighed by before it has run elsewhere.
    public var name: String?
    public var pace: MeasuredPace?

    public init(
        job: String, attempt: Int, user: String?, queue: String, kind: String, tiers: String, tierName: String,
        model: String, nodes: [String], chips: Double, cpus: Int, submittedAt: Double, startedAt: Double,
        endedAt: Double, chipHours: Double, h100Hours: Double, cpuSeconds: Double?, peakMemoryBytes: Int?,
        outcome: String, exitStatus: Int?, signal: Int?, reason: String?
    ) {
        self.job = job
        self.attempt = attempt
        self.user = user
        self.queue = queue
        self.kind = kind
        self.tiers = tiers
        self.tierName = tierName
        self.model = model
        self.nodes = nodes
        self.chips = chips
        self.cpus = cpus
        self.submittedAt = submittedAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.chipHours = chipHours
        self.h100Hours = h100Hours
        self.cpuSeconds = cpuSeconds
        self.peakMemoryBytes = peakMemoryBytes
        self.outcome = outcome
        self.exitStatus = exitStatus
        self.signal = signal
        self.reason = reason
    }

    /// The part of its run that falls in [since, until), 0 to 1: usage over a window counts that part.
    public func share(since: Double?, until: Double?) -> Double {
        let duration = endedAt - startedAt
        guard duration > 0 else { return since.map { endedAt >= $0 } ?? true ? 1 : 0 }
        let overlap = min(endedAt, until ?? endedAt) - max(startedAt, since ?? startedAt)
        return overlap > 0 ? min(overlap / duration, 1) : 0
    }
}

/// `HISTORY`: ended attempts that overlap a window, filtered, oldest end first. `sinceAgo` and
/// `untilAgo` count back from the coordinator's now (its clock, which `--time-scale` speeds up).
public struct HistoryQuery: Codable, Equatable, Sendable {
    public var user: String?
    public var queue: String?
    public var model: String?
    public var job: String?
    public var since: Double?
    public var until: Double?
    public var sinceAgo: Double?
    public var untilAgo: Double?
    /// At most this many, the most recent (a `HISTORY` reply is one line: at most `maximumLimit`);
    /// nil: every one, as `USAGE` sums them.
    public var limit: Int?
    public static let maximumLimit = 100_000

    public init(
        user: String? = nil, queue: String? = nil, model: String? = nil, job: String? = nil, since: Double? = nil,
        until: Double? = nil, sinceAgo: Double? = nil, untilAgo: Double? = nil, limit: Int? = nil
    ) {
        self.user = user
        self.queue = queue
        self.model = model
        self.job = job
        self.since = since
        self.until = until
        self.sinceAgo = sinceAgo
        self.untilAgo = untilAgo
        self.limit = limit
    }

    /// Whether `account` matches the filters and overlaps [since, until).
    public func matches(_ account: AttemptAccount, since: Double?, until: Double?) -> Bool {
        (user == nil || account.user == user) && (queue == nil || account.queue == queue)
            && (model == nil || account.model == model) && (job == nil || account.job == job)
            && (since.map { account.endedAt >= $0 } ?? true) && (until.map { account.startedAt < $0 } ?? true)
    }

    /// The window on the coordinator's clock at `now`.
    public func window(now: Double) -> (since: Double?, until: Double?) {
        (since ?? sinceAgo.map { now - $0 }, until ?? untilAgo.map { now - $0 })
    }
}

extension HistoryQuery: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        for (value, field) in [(user, "user"), (queue, "queue"), (model, "model"), (job, "job")] {
            if let value { check.name(value, field) }
        }
        for (value, field) in [(since, "since"), (until, "until")] {
            if let value { check.number(value, field, 0...1e11) }
        }
        for (value, field) in [(sinceAgo, "sinceAgo"), (untilAgo, "untilAgo")] {
            if let value { check.number(value, field, 0...1e11) }
        }
        if let limit { check.int(limit, "limit", 1...Self.maximumLimit) }
        return check.problem
    }
}

/// `USAGE`: chip-hours and H100-hours by user, queue or model over a window (`sreport`).
public struct UsageQuery: Codable, Equatable, Sendable {
    public enum Grouping: String, Codable, Sendable, CaseIterable {
        case user, queue, model
    }
    public var by: Grouping
    public var history: HistoryQuery
    public init(by: Grouping, history: HistoryQuery = HistoryQuery()) {
        self.by = by
        self.history = history
    }
}

extension UsageQuery: WireChecked {
    func problem() -> String? { history.problem() }
}

/// What `USAGE` answers: a row per group, largest H100-hours first (then by name), and the totals.
public struct UsageReport: Codable, Equatable, Sendable {
    public struct Row: Codable, Equatable, Sendable {
        public var name: String
        public var attempts: Int
        public var chipHours: Double
        public var h100Hours: Double
        public var cpuHours: Double
    }
    public var by: UsageQuery.Grouping
    public var since: Double?
    public var until: Double?
    public var rows: [Row]
    public var total: Row

    /// The report of `accounts` (each clipped to the window), summed in a fixed order.
    public init(by: UsageQuery.Grouping, accounts: [AttemptAccount], since: Double?, until: Double?) {
        self.by = by
        self.since = since
        self.until = until
        var groups: [String: [AttemptAccount]] = [:]
        for account in accounts {
            let name =
                switch by {
                case .user: account.user ?? "(unknown)"
                case .queue: account.queue
                case .model: account.model
                }
            groups[name, default: []].append(account)
        }
        func row(_ name: String, _ members: [AttemptAccount]) -> Row {
            var chip = 0.0
            var h100 = 0.0
            var cpu = 0.0
            for account in members.sorted(by: { ($0.job, $0.attempt) < ($1.job, $1.attempt) }) {
                let part = account.share(since: since, until: until)
                chip += account.chipHours * part
                h100 += account.h100Hours * part
                cpu += (account.cpuSeconds ?? 0) / 3600 * part
            }
            return Row(name: name, attempts: members.count, chipHours: chip, h100Hours: h100, cpuHours: cpu)
        }
        rows = groups.map { row($0.key, $0.value) }.sorted { ($1.h100Hours, $0.name) < ($0.h100Hours, $1.name) }
        total = row("total", accounts)
    }
}
