import Foundation
import SchedCore
import SchedTestSupport
import Testing
import Wire

/// Accounting as a site reads it: every ended attempt, kept beyond its job, summed by queue.
@Suite("End to end: history and usage", .serialized)
struct AccountingTests {
    @Test(
        "history and usage match what ran (chip-hours summed by hand from the jobs), outlive the jobs' retention and a restart, and replay in simulate"
    )
    func historyAndUsage() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let queues = cluster.directory.appendingPathComponent("queues.yaml").path
        try "queues:\n  - name: research\n  - name: prod\n".write(toFile: queues, atomically: true, encoding: .utf8)
        let listen = "127.0.0.1:\(try RawListener().port)"
        // Simulated minutes are seconds: the coordinator's clock runs as fast as the agents'. Finished
        // jobs are forgotten 30 simulated minutes after they end (30 s, for a loaded machine's slow
        // looks to see each end first); their accounting stays.
        let options = ["--time-scale", "60", "--queues", queues, "--keep-finished", "1800"]
        var coordinator = try await cluster.startCoordinator(listen: listen, extra: options)
        let fleetText = "name: one\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 8, numaNodes: 1}\n"
        let fleet = try cluster.fleet(fleetText)
        try cluster.startAgents(fleet: fleet, timeScale: 60)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        let jobs: [(id: String, queue: String, chips: Int, length: String)] = [
            ("r1", "research", 2, "12m"), ("r2", "research", 1, "15m"), ("p1", "prod", 4, "9m"),
            ("c1", "prod", 1, "10h"),
        ]
        for job in jobs {
            let submitted = try await cluster.schedctl([
                "submit", "--id", job.id, "--queue", job.queue, "--chips", String(job.chips), "--tier", "h100",
                "--simulate", job.length,
            ])
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        _ = try await cluster.waitFor("c1") { $0.state == .running }
        _ = try await cluster.schedctl(["cancel", "c1"])
        // Each job's record as it ends, before its retention forgets it.
        var ran: [String: JobRecord] = [:]
        let deadline = Date().addingTimeInterval(120)
        while ran.count < jobs.count && Date() < deadline {
            for job in jobs where ran[job.id] == nil {
                if let record = try? await cluster.status(job.id), record.state.isFinal { ran[job.id] = record }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(ran.count == jobs.count, "\(ran.keys.sorted())")
        // By hand: chips times the hours each job ran, by queue.
        var expected: [String: Double] = [:]
        for job in jobs {
            let record = try #require(ran[job.id])
            let hours = ((record.endedAt ?? 0) - (record.startedAt ?? 0)) / 3600
            expected[job.queue, default: 0] += Double(job.chips) * hours
        }

        func history() async throws -> [AttemptAccount] {
            let listed = try await cluster.schedctl(["history", "--json"])
            #expect(listed.status == 0, "\(listed.stderr)")
            return try WireCodec.value([AttemptAccount].self, from: listed.stdout)
        }
        let accounts = try await history()
        #expect(accounts.map(\.job).sorted() == ["c1", "p1", "r1", "r2"], "\(accounts.map(\.job))")
        let cancelled = try #require(accounts.first { $0.job == "c1" })
        #expect(cancelled.outcome == "cancelled" && cancelled.reason?.hasPrefix("cancelled by ") == true)
        let done = try #require(accounts.first { $0.job == "r1" })
        #expect(done.outcome == "completed" && done.model == "h100" && done.chips == 2 && done.queue == "research")
        #expect(abs(done.chipHours - 2 * 0.2) < 0.05, "12 simulated minutes on 2 chips: \(done.chipHours)")
        #expect(abs(done.h100Hours - done.chipHours) < 1e-9, "an H100 is one H100")

        func usage() async throws -> UsageReport {
            let report = try await cluster.schedctl(["usage", "--by", "queue", "--json"])
            #expect(report.status == 0, "\(report.stderr)")
            return try WireCodec.value(UsageReport.self, from: report.stdout)
        }
        let report = try await usage()
        for (queue, hours) in expected {
            let row = report.rows.first { $0.name == queue }
            #expect(
                row.map { abs($0.chipHours - hours) < 0.01 } == true, "\(queue): \(String(describing: row)) \(hours)")
        }
        #expect(report.rows.map(\.name).sorted() == ["prod", "research"])
        let table = try await cluster.schedctl(["usage", "--by", "queue"]).stdout
        #expect(table.contains("QUEUE") && table.contains("research") && table.contains("total"), "\(table)")

        // The jobs are forgotten past their retention; their accounting is not, nor after a restart.
        #expect(
            try await eventually(seconds: 150) {
                try await cluster.schedctl(["status", "r1"]).stderr.contains("no job 'r1'")
            })
        #expect(try await history().map(\.job).sorted() == ["c1", "p1", "r1", "r2"])
        cluster.signal(coordinator, SIGTERM)
        _ = try await cluster.waitForExit(coordinator)
        coordinator = try await cluster.startCoordinator(listen: listen, extra: options)
        #expect(try await history() == accounts)
        let again = try await usage()
        #expect(again.rows == report.rows)
        let research = try await cluster.schedctl(["history", "--queue", "research", "--csv", "--format", "job,chips"])
        #expect(
            research.stdout == "job,chips\nr1,2\nr2,1\n" || research.stdout == "job,chips\nr2,1\nr1,2\n",
            "\(research.stdout)")

        // What another policy would have done with these jobs.
        let trace = try await cluster.schedctl(["history", "--as-trace"])
        let tracePath = cluster.directory.appendingPathComponent("last-month.csv").path
        try trace.stdout.write(toFile: tracePath, atomically: true, encoding: .utf8)
        let replay = try await cluster.run(
            "schedctl",
            [
                "simulate", "--fleet", fleet, "--trace", tracePath, "--catalog",
                Repository.path("deploy/catalog/chips.yaml"), "--json",
            ])
        #expect(replay.status == 0, "\(replay.stderr)\n\(trace.stdout)")
        #expect(replay.stdout.contains("\"jobs\""), "\(replay.stdout.prefix(400))")
    }
}
