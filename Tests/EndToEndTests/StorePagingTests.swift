import Foundation
import GRDB
import SchedCore
import SchedSpec
import SchedStore
import SchedTestSupport
import Testing
import Wire

@Suite("The SQLite store read back in pages, as a start reads it")
struct StorePagingTests {
    @Test(
        """
        a start gets every job's id, state and order but only the records holding chips; the pages give \
        every other record once, in submission order, with an unreadable row set aside
        """)
    func pages() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("heterosched-store-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("coordinator.sqlite").path
        let catalog = try Repository.shippedCatalog()
        let template = try JobFile.parseDefinition("{\"kind\":\"batch\"}", file: "test", catalog: catalog)
        // Submitted out of id order: the store orders by submission time, then id.
        var records: [JobRecord] = []
        for number in 0..<2_345 {
            var job = template.job
            job.id = JobID("job-\(number)")
            job.submittedAt = Double((number * 7919) % 2_345)
            var record = JobRecord(job: job, run: template.run)
            if number.isMultiple(of: 100) {
                record.state = .running
                record.attempt = 1
                record.placement = PlacementRecord(
                    tier: 0, tierName: "any", chipModel: "h100",
                    assignments: [NodeAssignment(node: NodeID("n\(number)"), chips: [0])], reason: "test", placedAt: 1)
            }
            records.append(record)
        }
        let store = try SQLiteStore(path: path)
        try await store.apply([StoreChanges(jobs: records)])
        try await DatabaseQueue(path: path).write { db in
            try db.execute(sql: "UPDATE job SET record = 'not json' WHERE id = 'job-7'")
        }

        let stored = try await store.load(recentEvents: 10)
        let order = records.sorted { ($0.job.submittedAt, $0.id) < ($1.job.submittedAt, $1.id) }.map(\.id)
        #expect(stored.jobStubs.map(\.id) == order)
        #expect(stored.jobStubs.filter { $0.state == "running" }.count == 24)
        #expect(Set(stored.jobs.map(\.id)) == Set(records.filter { $0.state == .running }.map(\.id)))

        var read: [String] = []
        var quarantined: [QuarantinedRecord] = []
        var after: StoredJobStub?
        var pages = 0
        repeat {
            let page = try await store.jobs(after: after, limit: 500)
            read += page.records.map(\.id)
            quarantined += page.quarantined
            after = page.last
            pages += 1
        } while after != nil && pages < 100
        #expect(read == order.filter { $0 != "job-7" })
        #expect(quarantined.map(\.key) == ["job-7"])
        #expect(quarantined.first?.reason.contains("unreadable") == true)
        #expect(try await store.job("job-42") == records[42])
        #expect(try await store.job("job-7") == nil, "set aside: no longer among the jobs")
        let again = try await store.load(recentEvents: 10)
        #expect(again.quarantined.map(\.key) == ["job-7"])
        #expect(again.jobStubs.count == records.count - 1)
    }
}
