import SchedCore
import Wire

/// What one group commit writes: job records and node inventories to upsert, node names to
/// forget, and events to append.
public struct StoreChanges: Sendable {
    public var jobs: [JobRecord]
    public var events: [PlacementEvent]
    public var nodes: [Node]
    public var forgottenNodes: [NodeID]
    /// Finished jobs past their retention: their records and events are deleted.
    public var expiredJobs: [String]
    /// Events of no job (nodes, chips) older than this (the coordinator's clock) are deleted.
    public var eventsBefore: Double?
    public init(
        jobs: [JobRecord] = [], events: [PlacementEvent] = [], nodes: [Node] = [], forgottenNodes: [NodeID] = [],
        expiredJobs: [String] = [], eventsBefore: Double? = nil
    ) {
        self.jobs = jobs
        self.events = events
        self.nodes = nodes
        self.forgottenNodes = forgottenNodes
        self.expiredJobs = expiredJobs
        self.eventsBefore = eventsBefore
    }
    public var isEmpty: Bool {
        jobs.isEmpty && events.isEmpty && nodes.isEmpty && forgottenNodes.isEmpty && expiredJobs.isEmpty
            && eventsBefore == nil
    }
}

/// Everything a coordinator reloads at start.
public struct StoredState: Sendable {
    public var jobs: [JobRecord]
    /// The most recent events (for `WATCH` replay), oldest first.
    public var recentEvents: [PlacementEvent]
    public var lastEventSeq: Int
    /// Every node registered and not forgotten, as it last registered: the configured fleet, which
    /// counts while its agents are away.
    public var nodes: [Node] = []
    /// Stored rows that could not be read back, or held values no submission may have: set aside
    /// (kept, not deleted) rather than fatal. Oldest first; the ones set aside by this load included.
    public var quarantined: [QuarantinedRecord] = []
}

/// Durable state behind a narrow protocol: SQLite by default, an in-memory twin for tests, PostgreSQL
/// later. `apply` is one transaction; it returns once the changes are durable.
public protocol JobStore: Sendable {
    func load(recentEvents: Int) async throws -> StoredState
    func apply(_ changes: [StoreChanges]) async throws
    func events(after seq: Int, limit: Int) async throws -> [PlacementEvent]
    func events(job: String, limit: Int) async throws -> [PlacementEvent]
}

/// The in-memory twin.
public actor MemoryStore: JobStore {
    private var jobs: [String: JobRecord] = [:]
    private var order: [String] = []
    private var events: [PlacementEvent] = []
    private var nodes: [NodeID: Node] = [:]

    public init() {}

    public func load(recentEvents: Int) async throws -> StoredState {
        StoredState(
            jobs: order.compactMap { jobs[$0] }, recentEvents: Array(events.suffix(recentEvents)),
            lastEventSeq: events.last?.seq ?? 0, nodes: nodes.values.sorted { $0.id < $1.id })
    }

    public func apply(_ changes: [StoreChanges]) async throws {
        for change in changes {
            for job in change.jobs {
                if jobs.updateValue(job, forKey: job.id) == nil { order.append(job.id) }
            }
            events += change.events
            for node in change.nodes { nodes[node.id] = node }
            for id in change.forgottenNodes { nodes[id] = nil }
            let expired = Set(change.expiredJobs)
            for id in expired { jobs[id] = nil }
            order.removeAll { expired.contains($0) }
            events.removeAll { event in
                event.job.map(expired.contains) == true
                    || (event.job == nil && (change.eventsBefore.map { event.time < $0 } ?? false))
            }
        }
    }

    public func events(after seq: Int, limit: Int) async throws -> [PlacementEvent] {
        Array(events.filter { $0.seq > seq }.prefix(limit))
    }

    public func events(job: String, limit: Int) async throws -> [PlacementEvent] {
        Array(events.filter { $0.job == job }.suffix(limit))
    }
}
