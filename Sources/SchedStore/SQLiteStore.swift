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
        return migrator
    }

    /// Reads every job and the recent events back. A row that does not decode, or decodes to values
    /// no submission may hold, is moved to the `quarantine` table with its reason (in the same
    /// transaction) and reported; the rest load as usual. Nothing stored can stop a start.
    public func load(recentEvents: Int) async throws -> StoredState {
        try await pool.write { db in
            let now = Date().timeIntervalSince1970
            var jobs: [JobRecord] = []
            for row in try Row.fetchAll(db, sql: "SELECT id, record FROM job ORDER BY submittedAt, id") {
                let id = Self.text(row["id"]) ?? "?"
                let decoded = Result { try SafeJSON.decode(JobRecord.self, from: Self.text(row["record"]) ?? "") }
                switch decoded {
                case .success(let record) where record.id == id && record.problem() == nil:
                    jobs.append(record)
                case .success(let record):
                    let reason =
                        record.id == id ? record.problem()! : "the record is of job '\(record.id)', not '\(id)'"
                    try Self.quarantine(db, .job, id, row["record"], reason: reason, at: now)
                    try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [id])
                case .failure(let error):
                    try Self.quarantine(db, .job, id, row["record"], reason: "unreadable: \(error)", at: now)
                    try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [id])
                }
            }
            var events: [PlacementEvent] = []
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT seq, record FROM (SELECT seq, record FROM event ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                arguments: [recentEvents])
            for row in rows {
                let seq: Int64 = row["seq"]
                do {
                    events.append(try SafeJSON.decode(PlacementEvent.self, from: Self.text(row["record"]) ?? ""))
                } catch {
                    try Self.quarantine(db, .event, String(seq), row["record"], reason: "unreadable: \(error)", at: now)
                    try db.execute(sql: "DELETE FROM event WHERE seq = ?", arguments: [seq])
                }
            }
            var nodes: [Node] = []
            for row in try Row.fetchAll(db, sql: "SELECT id, record FROM node ORDER BY id") {
                let id = Self.text(row["id"]) ?? "?"
                do {
                    let node = try SafeJSON.decode(Node.self, from: Self.text(row["record"]) ?? "")
                    guard node.id.name == id, Register(node: node).problem() == nil else {
                        throw StoredNodeError(reason: Register(node: node).problem() ?? "the record is of another node")
                    }
                    nodes.append(node)
                } catch {
                    try Self.quarantine(db, .node, id, row["record"], reason: "unreadable: \(error)", at: now)
                    try db.execute(sql: "DELETE FROM node WHERE id = ?", arguments: [id])
                }
            }
            let last = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM event") ?? 0
            let quarantined = try Row.fetchAll(
                db, sql: "SELECT kind, key, reason, quarantinedAt FROM quarantine ORDER BY rowid"
            ).map { row in
                QuarantinedRecord(
                    kind: QuarantinedRecord.Kind(rawValue: Self.text(row["kind"]) ?? "") ?? .job,
                    key: Self.text(row["key"]) ?? "?", reason: Self.text(row["reason"]) ?? "",
                    quarantinedAt: row["quarantinedAt"] ?? 0)
            }
            return StoredState(
                jobs: jobs, recentEvents: events, lastEventSeq: last, nodes: nodes, quarantined: quarantined)
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
                        arguments: [node.id.name, try WireCodec.storedJSON(node)])
                }
                for id in change.forgottenNodes {
                    try db.execute(sql: "DELETE FROM node WHERE id = ?", arguments: [id.name])
                }
                for id in change.expiredJobs {
                    try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [id])
                    try db.execute(sql: "DELETE FROM event WHERE job = ?", arguments: [id])
                }
                if let before = change.eventsBefore {
                    try db.execute(sql: "DELETE FROM event WHERE job IS NULL AND time < ?", arguments: [before])
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

struct StoredNodeError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
