import Foundation
import SchedSpec

/// A hold a user or an operator put on a waiting job (`schedctl hold`): it is not searched until
/// released. Apart from `JobRecord.held`, which waits on dependencies.
public struct JobHold: Codable, Equatable, Sendable {
    public var by: String
    public var reason: String?
    /// Unix seconds.
    public var since: Double
    public init(by: String, reason: String? = nil, since: Double) {
        self.by = by
        self.reason = reason
        self.since = since
    }
}

/// `JOB_ACTION`: cancel, hold, release or requeue jobs, named or chosen by who owns them, their
/// state, queue or an id pattern (all the filters given must match). The reply is a
/// `JobActionReply`: what became of each job chosen, in id order.
public struct JobActionRequest: Codable, Equatable, Sendable {
    public enum Action: String, Codable, Sendable, CaseIterable {
        case cancel, hold, release, requeue
    }
    public var action: Action
    public var jobs: [String]?
    public var owner: String?
    public var states: [JobRecord.State]?
    public var queue: String?
    /// A shell pattern on job ids (`sweep-*`, `train-?`).
    public var idPattern: String?
    public var reason: String?
    /// `requeue`: hold it once it is back in the queue (Slurm's `requeuehold`).
    public var hold: Bool?
    /// Who asks, as the client names them (a MUNGE identity wins).
    public var user: String?

    public init(
        action: Action, jobs: [String]? = nil, owner: String? = nil, states: [JobRecord.State]? = nil,
        queue: String? = nil, idPattern: String? = nil, reason: String? = nil, hold: Bool? = nil, user: String? = nil
    ) {
        self.action = action
        self.jobs = jobs
        self.owner = owner
        self.states = states
        self.queue = queue
        self.idPattern = idPattern
        self.reason = reason
        self.hold = hold
        self.user = user
    }

    /// Whether it names jobs or a filter: an action on every job of the cluster is never implied.
    public var choosesJobs: Bool {
        !(jobs ?? []).isEmpty || owner != nil || !(states ?? []).isEmpty || queue != nil || idPattern != nil
    }
}

extension JobActionRequest: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.require(choosesJobs, "name jobs, or choose them by 'owner', 'states', 'queue' or 'idPattern'")
        check.count(jobs?.count ?? 0, "jobs", atMost: WireLimits.listEntries)
        for job in jobs ?? [] { check.name(job, "jobs") }
        check.count(states?.count ?? 0, "states", atMost: 16)
        for (value, field) in [(owner, "owner"), (queue, "queue"), (idPattern, "idPattern"), (user, "user")] {
            if let value { check.name(value, field) }
        }
        if let reason { check.text(reason, "reason") }
        check.require(hold == nil || action == .requeue, "'hold' goes with requeue")
        return check.problem
    }
}

/// What became of one job of a `JOB_ACTION`.
public struct JobActionResult: Codable, Equatable, Sendable {
    public enum Outcome: String, Codable, Sendable {
        /// Done as asked (a cancel of a running job: its agent was told).
        case done
        /// Nothing to do: already so, or not in a state the action applies to (`message` says).
        case unchanged
        /// Not allowed, or unknown (`message` says).
        case refused
    }
    public var job: String
    public var outcome: Outcome
    public var state: JobRecord.State?
    public var message: String
    public init(job: String, outcome: Outcome, state: JobRecord.State?, message: String) {
        self.job = job
        self.outcome = outcome
        self.state = state
        self.message = message
    }
}

public struct JobActionReply: Codable, Equatable, Sendable {
    public var results: [JobActionResult]
    public init(results: [JobActionResult]) { self.results = results }
}

/// `UPDATE`: change a job's priority, time limit or queue (`schedctl update`). Owners may lower a
/// priority and shorten a time limit; operators may do anything. Time limit and queue change only
/// while it waits. The reply is the job's record.
public struct JobUpdate: Codable, Equatable, Sendable {
    public var job: String
    public var priority: Int?
    public var timeLimitSeconds: Double?
    public var queue: String?
    /// The tier of its list a waiting job waits on: its number (1 first) or its name.
    public var tier: String?
    /// The reservation it runs in; empty: none.
    public var reservation: String?
    public var user: String?
    public init(
        job: String, priority: Int? = nil, timeLimitSeconds: Double? = nil, queue: String? = nil, tier: String? = nil,
        reservation: String? = nil, user: String? = nil
    ) {
        self.job = job
        self.priority = priority
        self.timeLimitSeconds = timeLimitSeconds
        self.queue = queue
        self.tier = tier
        self.reservation = reservation
        self.user = user
    }
}

extension JobUpdate: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.name(job, "job")
        check.require(
            priority != nil || timeLimitSeconds != nil || queue != nil || tier != nil || reservation != nil,
            "an UPDATE changes 'priority', 'timeLimitSeconds', 'queue', 'tier' or 'reservation'")
        if let tier { check.name(tier, "tier") }
        if let reservation { check.text(reservation, "reservation", atMost: 128) }
        if let priority { check.int(priority, "priority", SpecLimits.wholeNumber) }
        if let timeLimitSeconds {
            check.number(timeLimitSeconds, "timeLimitSeconds", 1...WireLimits.duration.upperBound)
        }
        if let queue { check.name(queue, "queue") }
        if let user { check.name(user, "user") }
        return check.problem
    }
}
