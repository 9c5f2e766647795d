import AgentKit
import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: SIGKILL storms", .serialized)
struct KillStormTests {
    /// Submissions on one session, retried across coordinator deaths; returns the acknowledged ids.
    final class Submitter: @unchecked Sendable {
        let cluster: Cluster
        let endpoint: WireEndpoint
        private let lock = NSLock()
        private var acknowledged: Set<String> = []
        private var stop = false

        init(cluster: Cluster, endpoint: WireEndpoint) {
            self.cluster = cluster
            self.endpoint = endpoint
        }

        var ids: Set<String> { lock.withLock { acknowledged } }
        func finish() { lock.withLock { stop = true } }
        var stopped: Bool { lock.withLock { stop } }
        private var reachedLimit = false
        /// Every submission made (the limit reached): no more to wait for.
        var done: Bool { lock.withLock { reachedLimit } }
        private func markDone() { lock.withLock { reachedLimit = true } }

        func run(limit: Int) async {
            var next = 0
            while !stopped && next < limit {
                do {
                    try await WireClient.withSession(
                        to: endpoint, token: cluster.token, hello: Hello(role: .client)
                    ) { session in
                        while !stopped && next < limit {
                            let id = "k-\(next)"
                            // Every 7th job takes a whole node at a higher priority: it preempts.
                            let (chips, priority) = next % 7 == 6 ? (8, 10) : (2, 0)
                            let spec =
                                "{\"id\":\"\(id)\",\"kind\":\"batch\",\"chipsPerNode\":\(chips),\"priority\":\(priority),"
                                + "\"simulate\":{\"duration\":\"20m\"}}"
                            do {
                                _ = try await session.request(.submit(Submit(spec: spec)), as: SubmitReply.self)
                            } catch let error as ErrorReply where error.code == .conflict {
                                // Stored before the coordinator died, unacknowledged then: it counts now.
                            }
                            lock.withLock { _ = acknowledged.insert(id) }
                            next += 1
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                } catch {
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            markDone()
        }
    }

    @Test(
        "30 SIGKILLs of the coordinator during a submission stream with preemptions: nothing acknowledged is lost, no chip is held twice, no attempt is restarted"
    )
    func sigkillStorm() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let port = try RawListener().port
        let listen = "127.0.0.1:\(port)"
        // 30 restarts in a row can keep an agent from a whole session for longer than the default 20 s
        // on a loaded machine, and it would then stop its attempts, as it must when cut off: this
        // test is about what the coordinator keeps across restarts, so its agents wait longer.
        let options = ["--registration-grace", "0", "--disconnect-stop", "600"]
        var coordinator = try await cluster.startCoordinator(listen: listen, extra: options)
        let attemptLog = cluster.directory.appendingPathComponent("attempts.jsonl").path
        let fleet = try cluster.fleet(
            "name: storm\nnodeGroups:\n  - {name: nv, count: 4, model: h100, chipsPerNode: 8, numaNodes: 2}\n")
        try cluster.startAgents(fleet: fleet, timeScale: 600, extra: ["--attempt-log", attemptLog])
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 4 })
        // The fleet full from the start and for the whole storm (16 two-chip jobs of 100 s, cancelled
        // once it is over), so that the stream's whole-node jobs preempt however slowly a busy
        // machine submits them.
        for index in 0..<16 {
            let filler = try await cluster.schedctl([
                "submit", "--id", "fill-\(index)", "--chips", "2", "--simulate", "1000m",
            ])
            #expect(filler.status == 0, "\(filler.stderr)")
        }
        let submitter = Submitter(cluster: cluster, endpoint: cluster.endpoint!)
        let stream = Task { await submitter.run(limit: 400) }

        var generator = SystemRandomNumberGenerator()
        for _ in 0..<30 {
            // Each life of the coordinator acknowledges at least one submission before it is killed,
            // however long a loaded machine takes to start it: the storm always has a stream.
            let before = submitter.ids.count
            try await Task.sleep(for: .milliseconds(Int.random(in: 150...700, using: &generator)))
            _ = try await eventually(seconds: 60) { submitter.ids.count > before || submitter.done }
            cluster.signal(coordinator, SIGKILL)
            _ = try await cluster.waitForExit(coordinator)
            coordinator = try await cluster.startCoordinator(listen: listen, extra: options)
        }
        submitter.finish()
        await stream.value
        let acknowledged = submitter.ids
        // The whole-node jobs of the stream preempt fillers (the fleet is full of them); on a loaded
        // machine that may come only after the storm, so wait for it before the fillers go.
        let placementLog = cluster.dataDirectory + "/placement-log.jsonl"
        func preemptedJobs() -> Set<String> {
            let log = (try? String(contentsOfFile: placementLog, encoding: .utf8)) ?? ""
            return Set(
                log.split(separator: "\n").compactMap { try? WireCodec.value(PlacementEvent.self, from: String($0)) }
                    .filter { $0.kind == .preempted }.compactMap(\.job))
        }
        #expect(try await eventually(seconds: 120) { !preemptedJobs().isEmpty }, "the storm includes preemptions")
        // The fillers make room for the stream's jobs now.
        for index in 0..<16 { _ = try await cluster.schedctl(["cancel", "fill-\(index)"]) }
        #expect(acknowledged.count >= 30, "submissions went on between the kills")

        // Every acknowledged job is there, and each completes.
        var records: [JobRecord] = []
        let settled = try await eventually(seconds: 120) {
            let output = try await cluster.schedctl(["jobs", "--json"])
            guard output.status == 0 else { return false }
            records = try WireCodec.value([JobRecord].self, from: output.stdout)
            return records.filter { acknowledged.contains($0.id) }.allSatisfy { $0.state == .completed }
        }
        let stored = Set(records.map(\.id))
        #expect(acknowledged.isSubset(of: stored), "lost: \(acknowledged.subtracting(stored).sorted())")
        if !settled {
            // What a job left waiting went through, and why it waits: the coordinator's own words.
            var story: [String] = []
            for record in records where acknowledged.contains(record.id) && record.state != .completed {
                let status = try? await cluster.status(record.id)
                let events = try await cluster.schedctl(["logs", record.id, "--events"]).stdout
                story.append("\(record.id) \(record.state): \(status?.reason ?? "-")\n\(events)")
            }
            let last = ((try? FileManager.default.contentsOfDirectory(atPath: cluster.directory.path)) ?? [])
                .filter { $0.hasPrefix("coordinator-") && $0.hasSuffix(".log") }
                .max { Int($0.dropFirst(12).dropLast(4)) ?? 0 < Int($1.dropFirst(12).dropLast(4)) ?? 0 }
            let tail = String((last.map { cluster.log($0) } ?? "").suffix(6000))
            Issue.record("not completed: \(story.joined(separator: "\n"))\nthe last coordinator's log:\n\(tail)")
        }

        // From the agents' own record of what ran: no chip held by two attempts, one attempt per job.
        let record = try AttemptRecord(path: attemptLog)
        #expect(record.doubleHeld.isEmpty, "\(record.doubleHeld)")
        let starts = record.starts
        // A preempted job starts again by design; any other second start is a restart the
        // coordinator's own restart caused.
        let preempted = preemptedJobs()
        let restarted = starts.filter { $0.value > 1 && !preempted.contains($0.key) }.keys.sorted()
        #expect(restarted.isEmpty, "restarted only because the coordinator restarted: \(restarted)")
        #expect(record.entries > 0)
    }
}
