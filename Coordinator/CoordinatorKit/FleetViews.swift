import SchedCore
import Wire

/// What a `/metrics` scrape reads of the coordinator's state at that moment (the counters and
/// histograms it keeps as it goes are `CoordinatorMetrics`'). Every collection is sorted.
public struct FleetGauges: Sendable {
    public struct JobCount: Sendable {
        public var labels: JobLabels
        public var count: Int
    }
    public struct ChipCount: Sendable {
        public var model: String
        public var vendor: String
        /// `busy` (held by a job), `free`, `stopping` (its attempt is being stopped), `resting` (after a fault).
        public var state: String
        public var health: String
        public var count: Int
    }
    public var jobs: [JobCount]
    public var chips: [ChipCount]
    /// Nodes by state: `ready`, `cordoned`, `draining`, `drained` (draining, nothing left on it),
    /// `disconnected`, `lost` (`NodeEntry.displayState`).
    public var nodes: [(state: String, count: Int)]
    public var agentSessions: Int
    /// The oldest heartbeat of a connected agent, in wall seconds (0 with none connected).
    public var oldestHeartbeatAge: Double
    public var clientConnections: Int
    public var handshakesUnderWay: Int
    public var authFailures: Int
    public var waitingJobs: Int
}

/// A job counted in `heterosched_jobs`: its state, kind, queue and the vendor of its current tier.
public struct JobLabels: Hashable, Sendable, Comparable {
    public var state: String
    public var kind: String
    public var queue: String
    public var tier: String
    public static func < (a: Self, b: Self) -> Bool {
        (a.state, a.kind, a.queue, a.tier) < (b.state, b.kind, b.queue, b.tier)
    }
}

/// A job as the page's table lists it.
public struct JobSummary: Codable, Sendable {
    public var id: String
    public var state: String
    public var kind: String
    public var queue: String
    public var user: String?
    public var priority: Int
    /// 1-based, and the tier's name.
    public var tier: Int
    public var tierName: String
    public var tiers: Int
    public var model: String?
    public var chips: Int
    public var nodes: [String]
    public var attempt: Int
    public var submittedAt: Double
    public var startedAt: Double?
    public var endedAt: Double?
    /// Why it waits, or how it ended.
    public var reason: String?
}

/// The jobs page: the last started of those holding chips, then the first waiting ones, then the
/// last ended ones, at most the limit asked of each; `counts` has them all, by state.
public struct JobsView: Codable, Sendable {
    public var jobs: [JobSummary]
    public var counts: [String: Int]
}

/// One job's page: its record (tier history, attempts) and its events.
public struct JobView: Codable, Sendable {
    public var time: Double
    public var record: JobRecord
    public var events: [PlacementEvent]
}
