import Foundation
import Logging
import SchedCore
import SchedSpec
import SchedStore
import SchedTestSupport
import Testing
import Wire

/// The group commit as one call of `heterosched_apply`, against the SQLite store as the reference.
extension PostgresStoreTests {
    /// A store on `url`, as a coordinator opens it (its errors logged only). A start gives the server
    /// 10 s to answer; beside the whole suite on two cores it may need another go.
    static func openStore(_ url: String) async throws -> PostgresStore {
        var logger = Logger(label: "store-test")
        logger.logLevel = .error
        for _ in 0..<2 {
            if let store = try? await PostgresStore(url: url, logger: logger) { return store }
        }
        return try await PostgresStore(url: url, logger: logger)
    }

    @Test(
        "a group commit in one statement keeps what SQLite keeps of every kind of change (jobs, events, nodes and their removal, reservations and their deletion, accounts, retention), and a term no longer current keeps nothing"
    )
    func applyAsSQLiteDoes() async throws {
        let server = try PostgresServer()
        let url = try server.database()
        let postgres = try await Self.openStore(url)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("heterosched-apply-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let sqlite = try SQLiteStore(path: directory.appendingPathComponent("coordinator.sqlite").path)

        let template = try JobFile.parseDefinition(
            "{\"kind\":\"batch\"}", file: "test", catalog: try Repository.shippedCatalog())
        func job(_ number: Int, _ state: JobRecord.State) -> JobRecord {
            var spec = template.job
            spec.id = JobID("j\(number)")
            spec.submittedAt = Double(number)
            var record = JobRecord(job: spec, run: template.run)
            record.state = state
            return record
        }
        func event(_ seq: Int, job: String?, at time: Double) -> PlacementEvent {
            PlacementEvent(
                seq: seq, time: time, kind: job == nil ? .nodeRegistered : .submitted, job: job, message: "e\(seq)")
        }
        func node(_ name: String) -> StoredNode {
            StoredNode(Node(id: NodeID(name), chips: [Chip(index: 0, model: "h100", memoryGiB: 80, numaNode: 0)]))
        }
        func account(_ job: String, ended: Double) -> AttemptAccount {
            AttemptAccount(
                job: job, attempt: 1, user: "ana", queue: "default", kind: "batch", tiers: "h100", tierName: "h100",
                model: "h100", nodes: ["n1"], chips: 1, cpus: 1, submittedAt: 0, startedAt: ended - 1, endedAt: ended,
                chipHours: 1, h100Hours: 1, cpuSeconds: nil, peakMemoryBytes: nil, outcome: "completed",
                exitStatus: 0, signal: nil, reason: nil)
        }
        func reservation(_ name: String, _ reason: String) -> AdvanceReservation {
            AdvanceReservation(name: name, start: 100, end: 200, nodes: ["n1"], reason: reason, by: "op", createdAt: 1)
        }

        var first = StoreChanges(
            jobs: [job(0, .completed), job(1, .queued), job(2, .queued)],
            events: [
                event(1, job: "j0", at: 1), event(2, job: nil, at: 10), event(3, job: "j1", at: 11),
                event(4, job: nil, at: 20),
            ],
            nodes: [node("n1"), node("n2")])
        first.reservations = [reservation("r1", "maintenance"), reservation("r2", "training")]
        first.accounts = [account("j0", ended: 100), account("old", ended: 5)]
        // Two changes in one batch: the later one's record of j1 and of r1 is what stays.
        var second = StoreChanges(jobs: [job(1, .cancelled)], forgottenNodes: [NodeID("n2")])
        second.reservations = [reservation("r1", "firmware")]
        second.deletedReservations = ["r2"]
        var third = StoreChanges(
            jobs: [job(1, .completed)], events: [event(5, job: "j2", at: 30)], expiredJobs: ["j0"], eventsBefore: 15,
            accountsBefore: 50)
        third.accounts = [account("j1", ended: 120)]
        for store in [postgres, sqlite] as [any JobStore] {
            try await store.apply([first])
            try await store.apply([second, third])
        }

        let kept = try await postgres.load(recentEvents: 100)
        let reference = try await sqlite.load(recentEvents: 100)
        #expect(kept.jobStubs.map(\.id) == reference.jobStubs.map(\.id))
        #expect(kept.jobStubs.map(\.state) == reference.jobStubs.map(\.state))
        #expect(kept.recentEvents.map(\.seq) == reference.recentEvents.map(\.seq))
        #expect(kept.nodes.map(\.node.id) == reference.nodes.map(\.node.id))
        #expect(kept.reservations == reference.reservations)
        let accounts = try await postgres.accounts(HistoryQuery(), since: nil, until: nil).map(\.job).sorted()
        #expect(accounts == (try await sqlite.accounts(HistoryQuery(), since: nil, until: nil).map(\.job).sorted()))
        // What that is, said plainly: the expired job and its events gone, the old node event gone,
        // the forgotten node and the deleted reservation gone, the old account gone.
        #expect(kept.jobStubs.map(\.id) == ["j1", "j2"])
        #expect(kept.jobStubs.map(\.state) == ["completed", "queued"])
        #expect(kept.recentEvents.map(\.seq) == [3, 4, 5])
        #expect(kept.nodes.map(\.node.id) == [NodeID("n1")])
        #expect(kept.reservations.map(\.name) == ["r1"] && kept.reservations.first?.reason == "firmware")
        #expect(accounts == ["j0", "j1"])

        // A term that no longer holds the lease writes nothing, and says so.
        let term = try #require(
            try await postgres.acquireLease(holder: "a", address: "10.0.0.1:7070", duration: .milliseconds(500)))
        postgres.fence(with: term)
        try await postgres.apply([StoreChanges(jobs: [job(3, .queued)])])
        try await Task.sleep(for: .milliseconds(800))
        await #expect(throws: StoreFenced.self) {
            try await postgres.apply([StoreChanges(jobs: [job(4, .queued)], events: [event(6, job: "j4", at: 40)])])
        }
        let after = try await postgres.load(recentEvents: 100)
        #expect(after.jobStubs.map(\.id) == ["j1", "j2", "j3"])
        #expect(after.recentEvents.map(\.seq) == [3, 4, 5])
        #expect(
            try server.psql(url, "SELECT name FROM schema_migration ORDER BY name").hasSuffix("v5-apply-function\n"))
    }
}
