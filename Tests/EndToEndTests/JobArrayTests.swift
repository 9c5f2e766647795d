import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: job arrays", .serialized)
struct JobArrayTests {
    func cluster() async throws -> Cluster {
        let cluster = try Cluster()
        try await cluster.startCoordinator()
        let fleet = try cluster.fleet(
            """
            name: arrays
            nodeGroups:
              - {name: h100, count: 16, model: h100, chipsPerNode: 8}
            """)
        try cluster.startAgents(fleet: fleet, timeScale: 600)
        let connected = try await eventually(seconds: 15) { try await cluster.connectedNodes() == 16 }
        try #require(connected, "\(cluster.log("agents.log"))")
        return cluster
    }

    @Test(
        "an array of 1,000 with throttle 50: one submission, never more than 50 tasks placed at once, each told its index; afterok on the array waits for all"
    )
    func throttle() async throws {
        let cluster = try await cluster()
        defer { cluster.stopAll() }
        let submitted = try await cluster.schedctl([
            "submit", "--id", "sweep", "--chips", "1", "--tier", "h100", "--array", "0-999%50", "--simulate", "30s",
        ])
        #expect(submitted.stdout == "submitted sweep (queued)\n", "\(submitted.stdout) \(submitted.stderr)")
        _ = try await cluster.schedctl([
            "submit", "--id", "collect", "--chips", "1", "--tier", "h100", "--depends", "afterok:sweep", "--simulate",
            "10s",
        ])
        let status = try await cluster.schedctl(["status", "sweep"])
        #expect(status.stdout.contains("array 0-999%50: 1000 tasks"), "\(status.stdout)")

        let done = try await cluster.waitFor("sweep", seconds: 240) { $0.state.isFinal }
        #expect(done.state == .completed)
        #expect(done.reason?.contains("all 1000 tasks completed") == true, "\(done.reason ?? "")")
        let task = try await cluster.status("sweep_737")
        #expect(task.state == .completed)
        #expect(task.run.env["HETEROSCHED_ARRAY_TASK_ID"] == "737")
        #expect(task.run.env["HETEROSCHED_ARRAY_JOB_ID"] == "sweep")
        let collect = try await cluster.waitFor("collect", seconds: 30) { $0.state.isFinal }
        #expect(collect.state == .completed)
        #expect(try #require(collect.startedAt) >= #require(done.endedAt))

        // Replay the placement log: tasks holding chips at once, at most the throttle.
        var holding = Set<String>()
        var most = 0
        var tasks = Set<String>()
        let log = try String(contentsOfFile: cluster.dataDirectory + "/placement-log.jsonl", encoding: .utf8)
        for line in log.split(separator: "\n") {
            let event = try WireCodec.value(PlacementEvent.self, from: String(line))
            guard let job = event.job, job.hasPrefix("sweep_") else { continue }
            switch event.kind {
            case .placed:
                holding.insert(job)
                tasks.insert(job)
            case .completed, .failed, .cancelled, .requeued, .preempted: holding.remove(job)
            default: break
            }
            most = max(most, holding.count)
        }
        #expect(tasks.count == 1000)
        #expect(most <= 50)
        #expect(most >= 40, "the throttle, not the fleet (128 chips), bounds it: \(most)")
    }

    @Test("cancelling an array cancels its tasks and lets no more in; one task can be cancelled alone")
    func cancel() async throws {
        let cluster = try await cluster()
        defer { cluster.stopAll() }
        _ = try await cluster.schedctl([
            "submit", "--id", "long", "--chips", "1", "--tier", "h100", "--array", "1-20%4", "--simulate", "10h",
        ])
        let first = try await eventually(seconds: 20) { (try? await cluster.status("long_1"))?.state == .running }
        #expect(first)
        let one = try await cluster.schedctl(["cancel", "long_2"])
        #expect(one.status == 0, "\(one.stderr)")
        // long_2's place goes to the next index, once a pass has let it in.
        let fifth = try await eventually(seconds: 20) { (try? await cluster.status("long_5"))?.state == .running }
        #expect(fifth)
        let all = try await cluster.schedctl(["cancel", "long"])
        #expect(all.status == 0, "\(all.stderr)")
        let array = try await cluster.waitFor("long", seconds: 20) { $0.state.isFinal }
        #expect(array.state == .cancelled)
        for index in [1, 3, 4, 5] {
            let task = try await cluster.waitFor("long_\(index)", seconds: 20) { $0.state.isFinal }
            #expect(task.state == .cancelled)
        }
        let missing = try await cluster.schedctl(["status", "long_6"])
        #expect(missing.status != 0, "never released: \(missing.stdout)")
        let bad = try await cluster.schedctl([
            "submit", "--chips", "1", "--array", "5-1", "--simulate", "1m",
        ])
        #expect(bad.stderr.contains("'5-1' is not an index or a range"), "\(bad.stderr)")
    }
}
