import Foundation
import GRDB
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
        return migrator
    }

    public func load(recentEvents: Int) async throws -> StoredState {
        try await pool.read { db in
            let decoder = JSONDecoder()
            let jobs = try String.fetchAll(db, sql: "SELECT record FROM job ORDER BY submittedAt, id").map {
                try decoder.decode(JobRecord.self, from: Data($0.utf8))
            }
            let events = try String.fetchAll(
                db, sql: "SELECT record FROM (SELECT seq, record FROM event ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                arguments: [recentEvents]
            ).map { try decoder.decode(PlacementEvent.self, from: Data($0.utf8)) }
            let last = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM event") ?? 0
            return StoredState(jobs: jobs, recentEvents: events, lastEventSeq: last)
        }
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
                        arguments: [job.id, job.state.rawValue, job.job.submittedAt, WireCodec.json(job)])
                }
                for event in change.events {
                    try db.execute(
                        sql: "INSERT INTO event (seq, time, kind, job, record) VALUES (?, ?, ?, ?, ?)",
                        arguments: [event.seq, event.time, event.kind.rawValue, event.job, WireCodec.json(event)])
                }
            }
        }
    }

    public func events(after seq: Int, limit: Int) async throws -> [PlacementEvent] {
        try await pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT record FROM event WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]
            ).map { try JSONDecoder().decode(PlacementEvent.self, from: Data($0.utf8)) }
        }
    }

    public func events(job: String, limit: Int) async throws -> [PlacementEvent] {
        try await pool.read { db in
            try String.fetchAll(
                db,
                sql:
                    "SELECT record FROM (SELECT seq, record FROM event WHERE job = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                arguments: [job, limit]
            ).map { try JSONDecoder().decode(PlacementEvent.self, from: Data($0.utf8)) }
        }
    }
}
