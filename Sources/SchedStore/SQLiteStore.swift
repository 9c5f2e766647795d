import Foundation
import GRDB
import SchedCore
import Wire

/// The default store: one SQLite file in WAL mode with full fsync, append-only named migrations.
public final class SQLiteStore: JobStore {
    private let pool: DatabasePool

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // A commit is acknowledged only once it is on disk; group commit keeps that affordable.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-jobs-and-events") { db in
            try db.create(table: "job") { table in
                table.primaryKey("id", .text)
                table.column("state", .text).notNull()
                table.column("submittedAt", .double).notNull()
                table.column("record", .text).notNull()
            }
            try db.create(table: "event") { table in
                table.primaryKey("seq", .integer)
                table.column("time", .double).notNull()
                table.column("kind", .text).notNull()
                table.column("job", .text)
                table.column("record", .text).notNull()
            }
            try db.create(index: "event_job", on: "event", columns: ["job"])
        }
        migrator.registerMigration("v2-quarantine") { db in
            // Rows that could not be read back, kept for a person to look at (schedctl health).
            try db.create(table: "quarantine") { table in
                table.column("kind", .text).notNull()
                table.column("key", .text).notNull()
                table.column("record")
                table.column("reason", .text).notNull()
                table.column("quarantinedAt", .double).notNull()
            }
        }
        migrator.registerMigration("v3-nodes") { db in
            // The fleet as it last registered, node by node.
            try db.create(table: "node") { table in
                table.primaryKey("id", .text)
                table.column("record", .text).notNull()
            }
        }
        migrator.registerMigration("v4-job-order") { db in
            // A start reads ids, states and order from this index alone, and pages through records in
            // submission order.
            try db.create(index: "job_order", on: "job", columns: ["submittedAt", "id", "state"])
            try db.create(index: "job_state", on: "job", columns: ["state"])
        }
        migrator.registerMigration("v5-accounts") { db in
            // Ended attempts, for history and usage: kept beyond their jobs (--keep-accounting).
            try db.create(table: "account") { table in
                table.column("job", .text).notNull()
                table.column("attempt", .integer).notNull()
                table.column("startedAt", .double).notNull()
                table.column("endedAt", .double).notNull()
                table.column("user", .text)
                table.column("queue", .text).notNull()
                table.column("model", .text).notNull()
                table.column("record", .text).notNull()
                table.primaryKey(["job", "attempt"])
            }
            try db.create(index: "account_end", on: "account", columns: ["endedAt"])
        }
        migrator.registerMigration("v6-reservations") { db in
            // Nodes or chips set aside for a window (schedctl reserve), by name.
            try db.create(table: "reservation") { table in
                table.primaryKey("name", .text)
                table.column("record", .text).notNull()
            }
        }
        return migrator
    }

    /// Reads back what a start needs before it serves: every job's id, state and submission time
    /// (no record decoded), the records of the jobs that hold chips, the recent events, the fleet and
    /// the quarantine. The other records are read by `jobs(after:limit:)`, page by page, while the
    /// coordinator already answers. A row that does not decode, or decodes to values no submission may
    /// hold, is moved to the `quarantine` table with its reason and reported; nothing stored can stop
    /// a start.
    public func load(recentEvents: Int) async throws -> StoredState {
        let (stubs, activeRows, eventRows, nodeRows, last, reservationRows) = try await pool.read { db in
            let stubs = try Row.fetchAll(db, sql: "SELECT id, state, submittedAt FROM job ORDER BY submittedAt, id")
                .map(Self.stub)
            let active = try Row.fetchAll(
                db,
                sql: "SELECT id, record FROM job WHERE state IN ('placed', 'running') ORDER BY submittedAt, id"
            ).map { (Self.text($0["id"]) ?? "?", $0["record"] as DatabaseValue) }
            let events = try Row.fetchAll(
                db,
                sql: "SELECT seq, record FROM (SELECT seq, record FROM event ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                arguments: [recentEvents]
            ).map { (Int64($0["seq"] as Int64), $0["record"] as DatabaseValue) }
            let nodes = try Row.fetchAll(db, sql: "SELECT id, record FROM node ORDER BY id").map {
                (Self.text($0["id"]) ?? "?", $0["record"] as DatabaseValue)
            }
            let last = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM event") ?? 0
            let reservations = try Row.fetchAll(db, sql: "SELECT name, record FROM reservation ORDER BY name").map {
                (Self.text($0["name"]) ?? "?", $0["record"] as DatabaseValue)
            }
            return (stubs, active, events, nodes, last, reservations)
        }
        let now = Date().timeIntervalSince1970
        let (jobs, badJobs) = Self.decodeJobs(activeRows)
        let (events, badEvents) = StoredRows.decodeEvents(eventRows, text: Self.text)
        let (nodes, badNodes) = StoredRows.decodeNodes(nodeRows, text: Self.text)
        let (reservations, badReservations) = StoredRows.decodeReservations(reservationRows, text: Self.text)
        try await quarantine(badJobs + badEvents + badNodes + badReservations, at: now)
        let quarantined = try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, key, reason, quarantinedAt FROM quarantine ORDER BY rowid").map {
                row in
                QuarantinedRecord(
                    kind: QuarantinedRecord.Kind(rawValue: Self.text(row["kind"]) ?? "") ?? .job,
                    key: Self.text(row["key"]) ?? "?", reason: Self.text(row["reason"]) ?? "",
                    quarantinedAt: row["quarantinedAt"] ?? 0)
            }
        }
        let badJobIDs = Set(badJobs.map(\.key))
        return StoredState(
            jobStubs: stubs.filter { !badJobIDs.contains($0.id) }, jobs: jobs, recentEvents: events, lastEventSeq: last,
            nodes: nodes, quarantined: quarantined, reservations: reservations)
    }

    public func jobs(after: StoredJobStub?, limit: Int) async throws -> StoredJobPage {
        let rows = try await pool.read { db in
            let sql =
                after == nil
                ? "SELECT id, record, state, submittedAt FROM job ORDER BY submittedAt, id LIMIT ?"
                : """
                SELECT id, record, state, submittedAt FROM job WHERE (submittedAt, id) > (?, ?)
                ORDER BY submittedAt, id LIMIT ?
                """
            let arguments: StatementArguments =
                after.map { [$0.submittedAt, $0.id, limit] } ?? [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                (Self.stub(row), row["record"] as DatabaseValue)
            }
        }
        return try await StoredRows.page(rows.map { (stub: $0.0, record: $0.1) }, text: Self.text) {
            try await quarantine($0, at: $1)
        }
    }

    public func job(_ id: String) async throws -> JobRecord? {
        let value = try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT record FROM job WHERE id = ?", arguments: [id]).map {
                $0["record"] as DatabaseValue
            }
        }
        guard let value else { return nil }
        return Self.decodeJobs([(id, value)]).records.first
    }

    /// A job row's id, state and submission time.
    private static func stub(_ row: Row) -> StoredJobStub {
        StoredJobStub(
            id: text(row["id"]) ?? "?", state: text(row["state"]) ?? "", submittedAt: row["submittedAt"] ?? 0)
    }

    typealias BadRow = StoredRows.Bad<DatabaseValue>

    static func decodeJobs(_ rows: [(id: String, record: DatabaseValue)]) -> (records: [JobRecord], bad: [BadRow]) {
        StoredRows.decodeJobs(rows, text: Self.text)
    }

    /// Moves unusable rows to the quarantine table, in one transaction.
    private func quarantine(_ rows: [BadRow], at time: Double) async throws {
        guard !rows.isEmpty else { return }
        try await pool.write { db in
            for row in rows {
                try Self.quarantine(db, row.kind, row.key, row.record, reason: row.reason, at: time)
                switch row.kind {
                case .job: try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [row.key])
                case .event: try db.execute(sql: "DELETE FROM event WHERE seq = ?", arguments: [Int64(row.key) ?? -1])
                case .node: try db.execute(sql: "DELETE FROM node WHERE id = ?", arguments: [row.key])
                case .reservation: try db.execute(sql: "DELETE FROM reservation WHERE name = ?", arguments: [row.key])
                }
            }
        }
    }

    /// A column as text whatever was stored there (text, blob, number), never trapping on bytes
    /// that are not UTF-8.
    private static func text(_ value: DatabaseValue) -> String? {
        switch value.storage {
        case .string(let text): text
        case .blob(let data): String(validating: data, as: UTF8.self)
        case .int64(let number): String(number)
        case .double(let number): String(number)
        case .null: nil
        }
    }

    private static func quarantine(
        _ db: Database, _ kind: QuarantinedRecord.Kind, _ key: String, _ record: DatabaseValue, reason: String,
        at time: Double
    ) throws {
        try db.execute(
            sql: "INSERT INTO quarantine (kind, key, record, reason, quarantinedAt) VALUES (?, ?, ?, ?, ?)",
            arguments: [kind.rawValue, key, record, reason, time])
    }

    public func apply(_ changes: [StoreChanges]) async throws {
        try await pool.write { db in
            for change in changes {
                for job in change.jobs {
                    try db.execute(
                        sql: """
                            INSERT INTO job (id, state, submittedAt, record) VALUES (?, ?, ?, ?)
                            ON CONFLICT(id) DO UPDATE SET state = excluded.state, record = excluded.record
                            """,
                        arguments: [job.id, job.state.rawValue, job.job.submittedAt, try WireCodec.storedJSON(job)])
                }
                for node in change.nodes {
                    try db.execute(
                        sql:
                            "INSERT INTO node (id, record) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                        arguments: [node.node.id.name, try WireCodec.storedJSON(node)])
                }
                for id in change.forgottenNodes {
                    try db.execute(sql: "DELETE FROM node WHERE id = ?", arguments: [id.name])
                }
                for reservation in change.reservations {
                    try db.execute(
                        sql: """
                            INSERT INTO reservation (name, record) VALUES (?, ?)
                            ON CONFLICT(name) DO UPDATE SET record = excluded.record
                            """,
                        arguments: [reservation.name, try WireCodec.storedJSON(reservation)])
                }
                for name in change.deletedReservations {
                    try db.execute(sql: "DELETE FROM reservation WHERE name = ?", arguments: [name])
                }
                for id in change.expiredJobs {
                    try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [id])
                    try db.execute(sql: "DELETE FROM event WHERE job = ?", arguments: [id])
                }
                if let before = change.eventsBefore {
                    try db.execute(sql: "DELETE FROM event WHERE job IS NULL AND time < ?", arguments: [before])
                }
                for account in change.accounts {
                    try db.execute(
                        sql: """
                            INSERT INTO account (job, attempt, startedAt, endedAt, user, queue, model, record)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            ON CONFLICT(job, attempt) DO UPDATE SET startedAt = excluded.startedAt,
                            endedAt = excluded.endedAt, user = excluded.user, queue = excluded.queue,
                            model = excluded.model, record = excluded.record
                            """,
                        arguments: [
                            account.job, account.attempt, account.startedAt, account.endedAt, account.user,
                            account.queue, account.model, try WireCodec.storedJSON(account),
                        ])
                }
                if let before = change.accountsBefore {
                    try db.execute(sql: "DELETE FROM account WHERE endedAt < ?", arguments: [before])
                }
                for event in change.events {
                    try db.execute(
                        sql: "INSERT INTO event (seq, time, kind, job, record) VALUES (?, ?, ?, ?, ?)",
                        arguments: [
                            event.seq, event.time, event.kind.rawValue, event.job, try WireCodec.storedJSON(event),
                        ])
                }
            }
        }
    }

    public func accounts(_ query: HistoryQuery, since: Double?, until: Double?) async throws -> [AttemptAccount] {
        try await pool.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT record FROM account WHERE (?1 IS NULL OR endedAt >= ?1) AND (?2 IS NULL OR startedAt < ?2)
                    AND (?3 IS NULL OR user = ?3) AND (?4 IS NULL OR queue = ?4) AND (?5 IS NULL OR model = ?5)
                    AND (?6 IS NULL OR job = ?6) ORDER BY endedAt DESC, job DESC, attempt DESC LIMIT ?7
                    """,
                arguments: [
                    since, until, query.user, query.queue, query.model, query.job,
                    query.limit ?? -1,
                ]
            ).reversed().map { try SafeJSON.decode(AttemptAccount.self, from: $0) }
        }
    }

    public func events(after seq: Int, limit: Int) async throws -> [PlacementEvent] {
        try await pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT record FROM event WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]
            ).map { try SafeJSON.decode(PlacementEvent.self, from: $0) }
        }
    }

    public func events(job: String, limit: Int) async throws -> [PlacementEvent] {
        try await pool.read { db in
            try String.fetchAll(
                db,
                sql:
                    "SELECT record FROM (SELECT seq, record FROM event WHERE job = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                arguments: [job, limit]
            ).map { try SafeJSON.decode(PlacementEvent.self, from: $0) }
        }
    }
}
