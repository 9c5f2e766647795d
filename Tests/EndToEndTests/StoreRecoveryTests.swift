import Foundation
import GRDB
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: what the store cannot read back does not stop the coordinator", .serialized)
struct StoreRecoveryTests {
    @Test("poisoned rows are quarantined at start, reported by schedctl health and the log; the rest is served")
    func poisonedRows() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // No node holds its jobs: they stay queued however slow the machine (no registration grace ends).
        let grace = ["--registration-grace", "3600"]
        let first = try await cluster.startCoordinator(extra: grace)
        for id in ["good", "empty", "infinite", "bytes"] {
            let submitted = try await cluster.schedctl(["submit", "--id", id, "--time-limit", "1h", "--simulate", "1m"])
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        cluster.signal(first, SIGTERM)
        #expect(try await cluster.waitForExit(first) == 0)

        // What older builds or a damaged disk could leave: an empty record, a number no submission
        // may hold, bytes that are not UTF-8, and an event that is not JSON.
        let queue = try DatabaseQueue(path: cluster.dataDirectory + "/coordinator.sqlite")
        try await queue.write { db in
            try db.execute(sql: "UPDATE job SET record = '{}' WHERE id = 'empty'")
            let infinite = try String.fetchOne(db, sql: "SELECT record FROM job WHERE id = 'infinite'")!
            #expect(infinite.contains("\"timeLimit\":3600"))
            try db.execute(
                sql: "UPDATE job SET record = ? WHERE id = 'infinite'",
                arguments: [infinite.replacingOccurrences(of: "\"timeLimit\":3600", with: "\"timeLimit\":1e20")])
            try db.execute(
                sql: "UPDATE job SET record = ? WHERE id = 'bytes'", arguments: [Data([0x7B, 0xFF, 0xFE, 0x7D])])
            try db.execute(sql: "UPDATE event SET record = 'not json' WHERE seq = 1")
        }
        try queue.close()

        let second = try await cluster.startCoordinator(extra: grace)
        let health = try await cluster.schedctl(["health", "--json"])
        #expect(health.status == 1, "health exits 1 while records are quarantined")
        let report = try WireCodec.value(HealthReport.self, from: health.stdout)
        #expect(report.quarantined.map(\.key).sorted() == ["1", "bytes", "empty", "infinite"])
        let infinite = try #require(report.quarantined.first { $0.key == "infinite" })
        #expect(infinite.reason.contains("timeLimit"))
        #expect(report.jobs["queued"] == 1)
        let human = try await cluster.schedctl(["health"])
        #expect(human.stdout.contains("quarantined job empty: unreadable"))
        #expect(cluster.log("coordinator-1.log").contains("stored job infinite is set aside (quarantined)"))

        let jobs = try await cluster.schedctl(["jobs", "--json"])
        #expect(try WireCodec.value([JobRecord].self, from: jobs.stdout).map(\.id) == ["good"])
        let more = try await cluster.schedctl(["submit", "--id", "after", "--simulate", "1m"])
        #expect(more.status == 0, "it takes submissions: \(more.stderr)")

        // Set aside once: a further restart loads cleanly and still lists them.
        cluster.signal(second, SIGTERM)
        #expect(try await cluster.waitForExit(second) == 0)
        try await cluster.startCoordinator(extra: grace)
        let again = try WireCodec.value(
            HealthReport.self, from: try await cluster.schedctl(["health", "--json"]).stdout)
        #expect(again.quarantined.count == 4)
        #expect(again.jobs["queued"] == 2)
        let rows = try DatabaseQueue(path: cluster.dataDirectory + "/coordinator.sqlite")
        let kept = try await rows.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM quarantine") }
        #expect(kept == 4, "the rows are kept for a person to look at")
    }

    @Test("finished jobs are forgotten after --keep-finished, in memory and on disk; waiting ones stay")
    func retention() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let first = try await cluster.startCoordinator(extra: ["--keep-finished", "2"])
        _ = try await cluster.schedctl(["submit", "--id", "done", "--simulate", "1m"])
        _ = try await cluster.schedctl(["cancel", "done"])
        _ = try await cluster.schedctl(["submit", "--id", "waiting", "--simulate", "1m"])
        let forgotten = try await eventually(seconds: 20) {
            let jobs = try WireCodec.value(
                [JobRecord].self, from: try await cluster.schedctl(["jobs", "--json"]).stdout)
            return jobs.map(\.id) == ["waiting"]
        }
        #expect(forgotten, "the cancelled job is forgotten, the waiting one kept")
        cluster.signal(first, SIGKILL)
        _ = try await cluster.waitForExit(first)
        try await cluster.startCoordinator(extra: ["--keep-finished", "2"])
        let status = try await cluster.schedctl(["status", "done"])
        #expect(status.status == 1 && status.stderr.contains("no job 'done'"), "\(status.stderr)")
        let events = try await cluster.schedctl(["logs", "waiting", "--events", "--json"])
        #expect(events.stdout.contains("submitted waiting"), "a waiting job keeps its events")
    }
}
