import SchedCore
import Wire

/// What one group commit writes: job records and node inventories to upsert, node names to
/// forget, and events to append.
public struct StoreChanges: Sendable {
    public var jobs: [JobRecord]
    public var events: [PlacementEvent]
    public var nodes: [StoredNode]
    public var forgottenNodes: [NodeID]
    /// Finished jobs past their retention: their records and events are deleted.
    public var expiredJobs: [String]
    /// Events of no job (nodes, chips) older than this (the coordinator's clock) are deleted.
    public var eventsBefore: Double?
    /// Ended attempts for accounting (one per job and attempt: a later one replaces it), and the
    /// time before which accounting's own retention deletes them.
    public var accounts: [AttemptAccount] = []
    public var accountsBefore: Double?
    /// Reservations made or changed (by name), and names deleted or ended.
    public var reservations: [AdvanceReservation] = []
    public var deletedReservations: [String] = []
    public init(
        jobs: [JobRecord] = [], events: [PlacementEvent] = [], nodes: [StoredNode] = [], forgottenNodes: [NodeID] = [],
        expiredJobs: [String] = [], eventsBefore: Double? = nil, accountsBefore: Double? = nil
    ) {
        self.accountsBefore = accountsBefore
        self.jobs = jobs
        self.events = events
        self.nodes = nodes
        self.forgottenNodes = forgottenNodes
        self.expiredJobs = expiredJobs
        self.eventsBefore = eventsBefore
    }
    public var isEmpty: Bool {
        jobs.isEmpty && events.isEmpty && nodes.isEmpty && forgottenNodes.isEmpty && expiredJobs.isEmpty
            && eventsBefore == nil && accounts.isEmpty && accountsBefore == nil && reservations.isEmpty
            && deletedReservations.isEmpty
    }

    /// What a batch leaves of reservations: each name's last record, or its deletion (in batch order).
    static func lastReservations(_ changes: [StoreChanges]) -> (kept: [AdvanceReservation], deleted: [String]) {
        var last: [String: AdvanceReservation?] = [:]
        for change in changes {
            for reservation in change.reservations { last[reservation.name] = .some(reservation) }
            for name in change.deletedReservations { last[name] = .some(nil) }
        }
        let kept = last.values.compactMap { $0 }.sorted { $0.name < $1.name }
        return (kept, last.filter { $0.value == nil }.map(\.key).sorted())
    }
}

/// A node as the store keeps it: its inventory as it last registered, and the fingerprint of the
/// node key its name is bound to (`NodeKey`; nil for a node stored before node keys).
public struct StoredNode: Sendable, Equatable {
    public var node: Node
    public var nodeKey: String?
    /// What an operator set on it (cordon, drain): kept across restarts and re-registrations.
    public var administration: NodeAdministration?
    public init(_ node: Node, nodeKey: String? = nil, administration: NodeAdministration? = nil) {
        self.node = node
        self.nodeKey = nodeKey
        self.administration = administration
    }
}

extension StoredNode: Codable {
    // The node's own fields with "nodeKey" beside them: rows written before node keys read back as
    // nodes bound to none.
    enum CodingKeys: String, CodingKey { case nodeKey, administration }

    public init(from decoder: any Decoder) throws {
        node = try Node(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        nodeKey = try container.decodeIfPresent(String.self, forKey: .nodeKey)
        administration = try container.decodeIfPresent(NodeAdministration.self, forKey: .administration)
    }

    public func encode(to encoder: any Encoder) throws {
        try node.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(nodeKey, forKey: .nodeKey)
        try container.encodeIfPresent(administration, forKey: .administration)
    }
}

/// A stored job before its record is read: enough to number, order, count and find it.
public struct StoredJobStub: Sendable, Equatable {
    public var id: String
    public var state: String
    public var submittedAt: Double
    public init(id: String, state: String, submittedAt: Double) {
        self.id = id
        self.state = state
        self.submittedAt = submittedAt
    }
}

/// What a coordinator reads back before it serves; the other job records come page by page after.
public struct StoredState: Sendable {
    /// Every stored job, in submission order (submission time, then id).
    public var jobStubs: [StoredJobStub]
    /// The records of the jobs that hold chips (placed or running): agents are reconciled against them.
    public var jobs: [JobRecord]
    /// The most recent events (for `WATCH` replay), oldest first.
    public var recentEvents: [PlacementEvent]
    public var lastEventSeq: Int
    /// Every node registered and not forgotten, as it last registered: the configured fleet, which
    /// counts while its agents are away.
    public var nodes: [StoredNode] = []
    /// Stored rows that could not be read back, or held values no submission may have: set aside
    /// (kept, not deleted) rather than fatal. Oldest first; the ones set aside by this load included.
    public var quarantined: [QuarantinedRecord] = []
    /// Reservations not deleted, by name.
    public var reservations: [AdvanceReservation] = []
}

/// A page of job records in submission order, and the stub of the last row read (the next page's
/// `after`; nil when there was none).
public struct StoredJobPage: Sendable {
    public var records: [JobRecord]
    /// Rows of this page set aside because they could not be read back.
    public var quarantined: [QuarantinedRecord]
    public var last: StoredJobStub?
}

/// Durable state behind a narrow protocol: SQLite by default, an in-memory twin for tests, PostgreSQL
/// later. `apply` is one transaction; it returns once the changes are durable.
public protocol JobStore: Sendable {
    func load(recentEvents: Int) async throws -> StoredState
    /// Up to `limit` job records after `after` (from the first when nil), in submission order.
    func jobs(after: StoredJobStub?, limit: Int) async throws -> StoredJobPage
    /// One job's record, read now.
    func job(_ id: String) async throws -> JobRecord?
    func apply(_ changes: [StoreChanges]) async throws
    func events(after seq: Int, limit: Int) async throws -> [PlacementEvent]
    func events(job: String, limit: Int) async throws -> [PlacementEvent]
    /// Ended attempts that overlap [since, until) and match the query's filters, the `limit` most
    /// recently ended, oldest end first.
    func accounts(_ query: HistoryQuery, since: Double?, until: Double?) async throws -> [AttemptAccount]
}

/// The in-memory twin.
public actor MemoryStore: JobStore {
    private var jobs: [String: JobRecord] = [:]
    private var order: [String] = []
    private var events: [PlacementEvent] = []
    private var nodes: [NodeID: StoredNode] = [:]
    private var accounts: [String: AttemptAccount] = [:]
    private var reservations: [String: AdvanceReservation] = [:]

    public init() {}

    public func accounts(_ query: HistoryQuery, since: Double?, until: Double?) async throws -> [AttemptAccount] {
        let all = accounts.values.filter { query.matches($0, since: since, until: until) }.sorted {
            ($0.endedAt, $0.job, $0.attempt) < ($1.endedAt, $1.job, $1.attempt)
        }
        return Array(all.suffix(query.limit ?? all.count))
    }

    public func load(recentEvents: Int) async throws -> StoredState {
        StoredState(
            jobStubs: ordered.map(Self.stub), jobs: ordered.filter(\.holdsChips),
            recentEvents: Array(events.suffix(recentEvents)), lastEventSeq: events.last?.seq ?? 0,
            nodes: nodes.values.sorted { $0.node.id < $1.node.id },
            reservations: reservations.values.sorted { $0.name < $1.name })
    }

    public func jobs(after: StoredJobStub?, limit: Int) async throws -> StoredJobPage {
        let page = ordered.filter { record in
            guard let after else { return true }
            return (record.job.submittedAt, record.id) > (after.submittedAt, after.id)
        }.prefix(limit)
        return StoredJobPage(records: Array(page), quarantined: [], last: page.last.map(Self.stub))
    }

    public func job(_ id: String) async throws -> JobRecord? { jobs[id] }

    /// Submission order, as the SQLite store reads it.
    private var ordered: [JobRecord] {
        order.compactMap { jobs[$0] }.sorted { ($0.job.submittedAt, $0.id) < ($1.job.submittedAt, $1.id) }
    }

    private static func stub(_ record: JobRecord) -> StoredJobStub {
        StoredJobStub(id: record.id, state: record.state.rawValue, submittedAt: record.job.submittedAt)
    }

    public func apply(_ changes: [StoreChanges]) async throws {
        for change in changes {
            for job in change.jobs {
                if jobs.updateValue(job, forKey: job.id) == nil { order.append(job.id) }
            }
            events += change.events
            for node in change.nodes { nodes[node.node.id] = node }
            for id in change.forgottenNodes { nodes[id] = nil }
            for reservation in change.reservations { reservations[reservation.name] = reservation }
            for name in change.deletedReservations { reservations[name] = nil }
            for account in change.accounts { accounts["\(account.job)\u{0}\(account.attempt)"] = account }
            if let before = change.accountsBefore { accounts = accounts.filter { $0.value.endedAt >= before } }
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
