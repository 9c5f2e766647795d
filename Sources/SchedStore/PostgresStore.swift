import Foundation
import Logging
import NIOSSL
import PostgresNIO
import SchedCore
import Synchronization
import Wire

/// The shared store (`sched-coordinator --store postgres://…`): the same tables as the SQLite store,
/// named migrations applied once under an advisory lock, and one transaction per group commit; a
/// commit returns once PostgreSQL has it on disk (`synchronous_commit` as the server sets it: on by
/// default). Records are JSON text, read back and checked as the SQLite store does.
public final class PostgresStore: JobStore {
    let client: PostgresClient
    private let running: Task<Void, Never>
    let logger: Logger
    /// The leader term every write checks (see `PostgresLease.swift`), and whether a check failed.
    let fenceTerm = Mutex<LeaseTerm?>(nil)
    let fenced = Atomic<Bool>(false)
    /// Where it points, without the password (for logs and errors).
    public let location: String

    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require]`)
    /// and brings its schema up to date.
    public init(url: String, logger: Logger) async throws {
        let target = try PostgresURL(url)
        location = target.description
        self.logger = logger
        // Its background logger says only errors: a query made before `run()` has begun waits for it,
        // and would be logged as a warning on every start.
        var background = logger
        background.logLevel = .error
        client = PostgresClient(configuration: target.configuration, backgroundLogger: background)
        let client = client
        running = Task { await client.run() }
        do {
            // The client retries a server that does not answer for ever: a start gives up in time.
            try await withTimeLimit(Self.connectTimeout) { try await self.migrate() }
        } catch {
            running.cancel()
            throw PostgresStoreError("cannot prepare the store at \(location): \(String(reflecting: error))")
        }
    }

    /// How long a start waits for the server to answer.
    static let connectTimeout: Duration = .seconds(10)

    deinit { running.cancel() }

    /// The schema, step by step; a step is never changed once shipped, only followed by another.
    static let migrations: [(name: String, sql: [String])] = [
        (
            "v1-jobs-events-nodes-quarantine",
            [
                """
                CREATE TABLE job (id text PRIMARY KEY, state text NOT NULL, submitted_at double precision NOT NULL,
                record text NOT NULL)
                """,
                "CREATE INDEX job_order ON job (submitted_at, id, state)",
                "CREATE INDEX job_state ON job (state)",
                """
                CREATE TABLE event (seq bigint PRIMARY KEY, time double precision NOT NULL, kind text NOT NULL,
                job text, record text NOT NULL)
                """,
                "CREATE INDEX event_job ON event (job)",
                "CREATE TABLE node (id text PRIMARY KEY, record text NOT NULL)",
                """
                CREATE TABLE quarantine (number bigserial PRIMARY KEY, kind text NOT NULL, key text NOT NULL,
                record text, reason text NOT NULL, quarantined_at double precision NOT NULL)
                """,
            ]
        ),
        leaseMigration,
        (
            "v3-accounts",
            [
                """
                CREATE TABLE account (job text NOT NULL, attempt bigint NOT NULL, started_at double precision NOT NULL,
                ended_at double precision NOT NULL, "user" text, queue text NOT NULL, model text NOT NULL,
                record text NOT NULL, PRIMARY KEY (job, attempt))
                """,
                "CREATE INDEX account_end ON account (ended_at)",
            ]
        ),
        ("v4-reservations", ["CREATE TABLE reservation (name text PRIMARY KEY, record text NOT NULL)"]),
        applyMigration,
    ]

    private func migrate() async throws {
        try await client.withTransaction(logger: logger) { connection in
            // One coordinator at a time brings the schema up to date; the others find it done.
            try await connection.query("SELECT pg_advisory_xact_lock(7070001)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migration (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
            var applied = Set<String>()
            for try await name in try await connection.query("SELECT name FROM schema_migration", logger: logger)
                .decode(String.self)
            {
                applied.insert(name)
            }
            for migration in Self.migrations where !applied.contains(migration.name) {
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migration (name) VALUES (\(migration.name))", logger: logger)
            }
        }
    }

    public func load(recentEvents: Int) async throws -> StoredState {
        var stubs: [StoredJobStub] = []
        for try await (id, state, submitted) in try await client.query(
            "SELECT id, state, submitted_at FROM job ORDER BY submitted_at, id", logger: logger
        ).decode((String, String, Double).self) {
            stubs.append(StoredJobStub(id: id, state: state, submittedAt: submitted))
        }
        var active: [(id: String, record: String?)] = []
        for try await (id, record) in try await client.query(
            "SELECT id, record FROM job WHERE state IN ('placed', 'running') ORDER BY submitted_at, id",
            logger: logger
        ).decode((String, String?).self) {
            active.append((id, record))
        }
        var eventRows: [(seq: Int64, record: String?)] = []
        for try await (seq, record) in try await client.query(
            "SELECT seq, record FROM (SELECT seq, record FROM event ORDER BY seq DESC LIMIT \(recentEvents)) AS recent ORDER BY seq",
            logger: logger
        ).decode((Int64, String?).self) {
            eventRows.append((seq, record))
        }
        var nodeRows: [(id: String, record: String?)] = []
        for try await (id, record) in try await client.query("SELECT id, record FROM node ORDER BY id", logger: logger)
            .decode((String, String?).self)
        {
            nodeRows.append((id, record))
        }
        var reservationRows: [(id: String, record: String?)] = []
        for try await (name, record) in try await client.query(
            "SELECT name, record FROM reservation ORDER BY name", logger: logger
        ).decode((String, String?).self) {
            reservationRows.append((name, record))
        }
        var last: Int64 = 0
        for try await value in try await client.query("SELECT COALESCE(MAX(seq), 0) FROM event", logger: logger)
            .decode(Int64.self)
        {
            last = value
        }
        let (jobs, badJobs) = StoredRows.decodeJobs(active, text: { $0 })
        let (events, badEvents) = StoredRows.decodeEvents(eventRows, text: { $0 })
        let (nodes, badNodes) = StoredRows.decodeNodes(nodeRows, text: { $0 })
        let (reservations, badReservations) = StoredRows.decodeReservations(reservationRows, text: { $0 })
        try await quarantine(
            badJobs + badEvents + badNodes + badReservations, at: Date().timeIntervalSince1970)
        var quarantined: [QuarantinedRecord] = []
        for try await (kind, key, reason, time) in try await client.query(
            "SELECT kind, key, reason, quarantined_at FROM quarantine ORDER BY number", logger: logger
        ).decode((String, String, String, Double).self) {
            quarantined.append(
                QuarantinedRecord(kind: .init(rawValue: kind) ?? .job, key: key, reason: reason, quarantinedAt: time))
        }
        let badJobIDs = Set(badJobs.map(\.key))
        return StoredState(
            jobStubs: stubs.filter { !badJobIDs.contains($0.id) }, jobs: jobs, recentEvents: events,
            lastEventSeq: Int(last), nodes: nodes, quarantined: quarantined, reservations: reservations)
    }

    public func jobs(after: StoredJobStub?, limit: Int) async throws -> StoredJobPage {
        let query: PostgresQuery
        if let after {
            query = """
                SELECT id, state, submitted_at, record FROM job WHERE (submitted_at, id) > (\(after.submittedAt), \(after.id))
                ORDER BY submitted_at, id LIMIT \(limit)
                """
        } else {
            query = "SELECT id, state, submitted_at, record FROM job ORDER BY submitted_at, id LIMIT \(limit)"
        }
        var rows: [(stub: StoredJobStub, record: String?)] = []
        for try await (id, state, submitted, record) in try await client.query(query, logger: logger).decode(
            (String, String, Double, String?).self)
        {
            rows.append((StoredJobStub(id: id, state: state, submittedAt: submitted), record))
        }
        return try await StoredRows.page(rows, text: { $0 }) { try await quarantine($0, at: $1) }
    }

    public func job(_ id: String) async throws -> JobRecord? {
        for try await record in try await client.query("SELECT record FROM job WHERE id = \(id)", logger: logger)
            .decode(String?.self)
        {
            return StoredRows.decodeJobs([(id, record)], text: { $0 }).records.first
        }
        return nil
    }

    /// Moves unusable rows to the quarantine table, in one transaction.
    private func quarantine(_ rows: [StoredRows.Bad<String?>], at time: Double) async throws {
        guard !rows.isEmpty else { return }
        try await writing { connection in
            for row in rows {
                try await connection.query(
                    """
                    INSERT INTO quarantine (kind, key, record, reason, quarantined_at)
                    VALUES (\(row.kind.rawValue), \(row.key), \(row.record), \(row.reason), \(time))
                    """, logger: logger)
                switch row.kind {
                case .job: try await connection.query("DELETE FROM job WHERE id = \(row.key)", logger: logger)
                case .event:
                    try await connection.query("DELETE FROM event WHERE seq = \(Int64(row.key) ?? -1)", logger: logger)
                case .node: try await connection.query("DELETE FROM node WHERE id = \(row.key)", logger: logger)
                case .reservation:
                    try await connection.query("DELETE FROM reservation WHERE name = \(row.key)", logger: logger)
                }
            }
        }
    }

    /// One transaction for the whole batch, in one round trip: `heterosched_apply` checks the term
    /// and makes every kind of change with one statement each (arrays, not a statement per row).
    /// What the batch leaves is what applying its changes in order would leave: a job's last record,
    /// a node's last registration or its removal.
    public func apply(_ changes: [StoreChanges]) async throws {
        let jobs = StoredRows.lastRecords(changes)
        var nodes: [String: StoredNode?] = [:]
        var events: [PlacementEvent] = []
        var expired: [String] = []
        var eventsBefore: Double?
        for change in changes {
            for node in change.nodes { nodes[node.node.id.name] = .some(node) }
            for id in change.forgottenNodes { nodes[id.name] = .some(nil) }
            events += change.events
            expired += change.expiredJobs
            if let before = change.eventsBefore { eventsBefore = max(eventsBefore ?? before, before) }
        }
        let jobRecords = try jobs.map { try WireCodec.storedJSON($0) }
        let registered = nodes.compactMap { $0.value }.sorted { $0.node.id < $1.node.id }
        let nodeRecords = try registered.map { try WireCodec.storedJSON($0) }
        let forgotten = nodes.filter { $0.value == nil }.map(\.key).sorted()
        let eventRecords = try events.map { try WireCodec.storedJSON($0) }
        var latest: [String: AttemptAccount] = [:]
        var accountsBefore: Double?
        for change in changes {
            for account in change.accounts { latest["\(account.job)\u{0}\(account.attempt)"] = account }
            if let before = change.accountsBefore { accountsBefore = max(accountsBefore ?? before, before) }
        }
        // One row a job and attempt, in a fixed order: the last end a batch says of it.
        let accounts = latest.values.sorted { ($0.job, $0.attempt) < ($1.job, $1.attempt) }
        let accountRecords = try accounts.map { try WireCodec.storedJSON($0) }
        let (reservations, deletedReservations) = StoreChanges.lastReservations(changes)
        let reservationRecords = try reservations.map { try WireCodec.storedJSON($0) }
        let term = fenceTerm.withLock { $0 }
        // A statement's own transaction: every write in it, or none (a fenced term writes nothing).
        let rows = try await client.query(
            """
            SELECT heterosched_apply(\(term?.epoch)::int8, \(term?.holder)::text,
            \(reservations.map(\.name))::text[], \(reservationRecords)::text[], \(deletedReservations)::text[],
            \(jobs.map(\.id))::text[], \(jobs.map(\.state.rawValue))::text[], \(jobs.map(\.job.submittedAt))::float8[],
            \(jobRecords)::text[], \(registered.map(\.node.id.name))::text[], \(nodeRecords)::text[],
            \(forgotten)::text[], \(events.map { Int64($0.seq) })::int8[], \(events.map(\.time))::float8[],
            \(events.map(\.kind.rawValue))::text[], \(events.map { $0.job ?? "" })::text[], \(eventRecords)::text[],
            \(expired)::text[], \(eventsBefore)::float8, \(accounts.map(\.job))::text[],
            \(accounts.map { Int64($0.attempt) })::int8[], \(accounts.map(\.startedAt))::float8[],
            \(accounts.map(\.endedAt))::float8[], \(accounts.map { $0.user ?? "" })::text[],
            \(accounts.map(\.queue))::text[], \(accounts.map(\.model))::text[], \(accountRecords)::text[],
            \(accountsBefore)::float8)
            """, logger: logger)
        for try await applied in rows.decode(Bool.self) where !applied {
            guard let term else { break }
            throw fencedOut(term)
        }
    }

    public func accounts(_ query: HistoryQuery, since: Double?, until: Double?) async throws -> [AttemptAccount] {
        var records: [String] = []
        let limit = Int64(query.limit ?? Int(Int64.max))
        for try await record in try await client.query(
            """
            SELECT record FROM account WHERE (\(since)::float8 IS NULL OR ended_at >= \(since))
            AND (\(until)::float8 IS NULL OR started_at < \(until)) AND (\(query.user)::text IS NULL OR "user" = \(query.user))
            AND (\(query.queue)::text IS NULL OR queue = \(query.queue)) AND (\(query.model)::text IS NULL OR model = \(query.model))
            AND (\(query.job)::text IS NULL OR job = \(query.job))
            ORDER BY ended_at DESC, job DESC, attempt DESC LIMIT \(limit)
            """, logger: logger
        ).decode(String.self) {
            records.append(record)
        }
        return try records.reversed().map { try SafeJSON.decode(AttemptAccount.self, from: $0) }
    }

    public func events(after seq: Int, limit: Int) async throws -> [PlacementEvent] {
        var events: [PlacementEvent] = []
        for try await record in try await client.query(
            "SELECT record FROM event WHERE seq > \(Int64(seq)) ORDER BY seq LIMIT \(limit)", logger: logger
        ).decode(String.self) {
            events.append(try SafeJSON.decode(PlacementEvent.self, from: record))
        }
        return events
    }

    public func events(job: String, limit: Int) async throws -> [PlacementEvent] {
        var events: [PlacementEvent] = []
        for try await record in try await client.query(
            """
            SELECT record FROM (SELECT seq, record FROM event WHERE job = \(job) ORDER BY seq DESC LIMIT \(limit)) AS last
            ORDER BY seq
            """, logger: logger
        ).decode(String.self) {
            events.append(try SafeJSON.decode(PlacementEvent.self, from: record))
        }
        return events
    }
}

/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require]` (also `postgresql://`).
struct PostgresURL: CustomStringConvertible {
    var configuration: PostgresClient.Configuration
    var description: String

    init(_ text: String) throws {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? ""),
            let host = url.host, !host.isEmpty
        else {
            throw PostgresStoreError(
                "--store is sqlite (the default) or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, got '\(Self.redacted(text))'"
            )
        }
        let port = url.port ?? 5432
        guard (1...65535).contains(port) else { throw PostgresStoreError("--store: port \(port) is not 1 to 65535") }
        let database = String(url.path.drop { $0 == "/" })
        let mode = url.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS
        switch mode {
        case "disable": tls = .disable
        case "require": tls = .require(.makeClientConfiguration())
        default: throw PostgresStoreError("--store: sslmode is disable or require, got '\(mode)'")
        }
        let user = url.user ?? "postgres"
        let password = url.password ?? ProcessInfo.processInfo.environment["HETEROSCHED_STORE_PASSWORD"]
        configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database.isEmpty ? nil : database,
            tls: tls)
        description = "postgres://\(user)@\(host):\(port)/\(database)"
    }

    /// The URL without its password, for errors.
    static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text), url.password != nil else { return text }
        url.password = "***"
        return url.string ?? text
    }
}

public struct PostgresStoreError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
