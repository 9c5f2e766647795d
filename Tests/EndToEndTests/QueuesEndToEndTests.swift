import Foundation
import SchedTestSupport
import Testing
import Wire

/// A queue tree on a live coordinator, through schedctl: limits hold jobs back with a reason that
/// names them, `schedctl queues` shows the tree, and the tree is replaced (apply, SIGHUP) or kept
/// when the new file is bad.
@Suite("End to end: queues through schedctl", .serialized)
struct QueuesEndToEndTests {
    static func tree(researchLimit: Int) -> String {
        """
        queues:
          - name: research
            limit: {h100: \(researchLimit)}
          - name: production
            guarantee: {compute: 8}
          - name: default
        """
    }

    @Test(
        "a limit holds jobs back saying so; queues shows the tree; apply and SIGHUP replace it; a bad file is refused")
    func queueTree() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let file = cluster.directory.appendingPathComponent("queues.yaml").path
        try Self.tree(researchLimit: 4).write(toFile: file, atomically: true, encoding: .utf8)
        let coordinator = try await cluster.startCoordinator(extra: ["--queues", file])
        let fleet = try cluster.fleet(
            "name: two\nnodeGroups:\n  - {name: nv, count: 2, model: h100, chipsPerNode: 8, numaNodes: 2}\n")
        try cluster.startAgents(fleet: fleet, timeScale: 60)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 2 })

        for index in 0..<6 {
            let submitted = try await cluster.schedctl([
                "submit", "--id", "r\(index)", "--queue", "research", "--tier", "h100", "--simulate", "10h",
            ])
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        let unknown = try await cluster.schedctl(["submit", "--id", "lost", "--queue", "nowhere", "--simulate", "1h"])
        #expect(unknown.status == 1)
        #expect(
            unknown.stderr.contains(
                "names queue 'nowhere', which is not a queue: name one of research, production, default"),
            "\(unknown.stderr)")

        let held = try await cluster.waitFor("r5") { $0.reason?.contains("limit") == true || $0.state != .queued }
        #expect(held.state == .queued)
        #expect(held.reason == "waiting: queue research is at its limit of 4 h100 chips (4 in use, 1 asked)")
        let running = try await eventually(seconds: 15) {
            let records = try WireCodec.value(
                [JobRecord].self, from: try await cluster.schedctl(["jobs", "--json"]).stdout)
            return records.filter { $0.state == .running || $0.state == .placed }.count == 4
        }
        #expect(running)
        let place = try await cluster.schedctl(["status", "r5"])
        #expect(place.stdout.contains("  position    2 of 2 waiting in queue research"), "\(place.stdout)")

        let shown = try await cluster.schedctl(["queues"])
        #expect(shown.status == 0, "\(shown.stderr)")
        let research = try #require(shown.stdout.split(separator: "\n").first { $0.hasPrefix("research") })
        #expect(research.contains("h100 4") && research.contains("borrowing"), "\(shown.stdout)")
        let json = try WireCodec.value(QueuesReply.self, from: try await cluster.schedctl(["queues", "--json"]).stdout)
        let status = try #require(json.queues.first { $0.name == "research" })
        #expect(status.limit == ["h100": 4])
        #expect(status.inUse["h100"] == 4)
        #expect(status.running == 4 && status.waiting == 2)
        #expect(json.queues.first { $0.name == "production" }?.standing == "under its guarantee (0% of it)")

        // A bad file: refused with its line and field, and the tree in use stays.
        let bad = cluster.directory.appendingPathComponent("bad.yaml").path
        try "queues:\n  - name: research\n    limit: {h1000: 6}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try await cluster.schedctl(["queues", "apply", bad])
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("bad.yaml:3: queues[0].limit: 'h1000' is not a quota resource"), "\(refused.stderr)"
        )
        #expect(refused.stderr.contains("the queue tree in use stays"))

        // A tree without research, whose jobs still run and wait: refused, saying which and how many.
        let without = cluster.directory.appendingPathComponent("without.yaml").path
        try "queues:\n  - name: production\n  - name: default\n".write(
            toFile: without, atomically: true, encoding: .utf8)
        let orphaning = try await cluster.schedctl(["queues", "apply", without])
        #expect(orphaning.status == 1)
        #expect(orphaning.stderr.contains("no leaf queue research (2 waiting, 4 running)"), "\(orphaning.stderr)")

        // Applied: a limit of 6 lets the two waiting jobs start.
        let wider = cluster.directory.appendingPathComponent("wider.yaml").path
        try Self.tree(researchLimit: 6).write(toFile: wider, atomically: true, encoding: .utf8)
        let applied = try await cluster.schedctl(["queues", "apply", wider])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("applied \(wider): 3 queues"))
        let started = try await cluster.waitFor("r5") { $0.state != .queued }
        #expect(started.state == .running || started.state == .placed, "\(started.reason ?? "")")

        // SIGHUP re-reads --queues.
        try Self.tree(researchLimit: 8).write(toFile: file, atomically: true, encoding: .utf8)
        cluster.signal(coordinator, SIGHUP)
        let reloaded = try await eventually(seconds: 10) {
            let reply = try WireCodec.value(
                QueuesReply.self, from: try await cluster.schedctl(["queues", "--json"]).stdout)
            return reply.queues.first { $0.name == "research" }?.limit == ["h100": 8] && reply.source == file
        }
        #expect(reloaded, "\(cluster.log("coordinator-0.log"))")
    }

    @Test(
        "a queue under its guarantee takes back the chips another borrowed: one event per reclaim, naming both queues")
    func reclaim() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let file = cluster.directory.appendingPathComponent("queues.yaml").path
        try "queues:\n  - name: prod\n    guarantee: {h100: 8}\n  - name: batch\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        try await cluster.startCoordinator(extra: ["--queues", file, "--reclaim-min-run", "0"])
        let fleet = try cluster.fleet(
            "name: two\nnodeGroups:\n  - {name: nv, count: 2, model: h100, chipsPerNode: 8, numaNodes: 2}\n")
        try cluster.startAgents(fleet: fleet, timeScale: 60)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 2 })
        for index in 0..<16 {
            _ = try await cluster.schedctl([
                "submit", "--id", "b\(index)", "--queue", "batch", "--tier", "h100", "--simulate", "10h",
            ])
        }
        // Idle chips are lent: batch, with no guarantee, takes the whole fleet.
        #expect(try await eventually(seconds: 20) { try await Self.running(cluster, prefix: "b") == 16 })
        for index in 0..<8 {
            _ = try await cluster.schedctl([
                "submit", "--id", "p\(index)", "--queue", "prod", "--tier", "h100", "--simulate", "10h",
            ])
        }
        let reclaimed = try await eventually(seconds: 30) {
            let prod = try await Self.running(cluster, prefix: "p")
            let batch = try await Self.running(cluster, prefix: "b")
            return prod == 8 && batch == 8
        }
        let listing = try await cluster.schedctl(["jobs"]).stdout
        #expect(reclaimed, "\(listing)")
        let log = cluster.log("data/placement-log.jsonl")
        let reclaims = log.split(separator: "\n").filter {
            $0.contains("reclaimed for queue prod (under its guarantee) from queue batch")
        }
        #expect(reclaims.count == 8, "\(log)")
        #expect(reclaims.allSatisfy { $0.contains("chip-hours since its checkpoint") })
        let json = try WireCodec.value(QueuesReply.self, from: try await cluster.schedctl(["queues", "--json"]).stdout)
        #expect(json.queues.first { $0.name == "prod" }?.inUse["h100"] == 8)
    }

    @Test(
        "a pass searches every queue's first jobs: a deep queue does not keep a later team's jobs out of the fair order"
    )
    func deepQueueStaysFair() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let file = cluster.directory.appendingPathComponent("queues.yaml").path
        try "queues:\n  - name: a\n  - name: b\n".write(toFile: file, atomically: true, encoding: .utf8)
        // A pass searches at most 4 jobs, 2 from the head: team a's 20 waiting jobs fill it.
        try await cluster.startCoordinator(extra: ["--queues", file, "--pass-limit", "4", "--pass-head", "2"])
        let fleet = try cluster.fleet(
            "name: one\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 4, numaNodes: 1}\n")
        try cluster.startAgents(fleet: fleet, timeScale: 60)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        func submit(_ id: String, _ queue: String, _ length: String) async throws {
            let submitted = try await cluster.schedctl([
                "submit", "--id", id, "--queue", queue, "--tier", "h100", "--simulate", length,
            ])
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        // a holds the node; its first job ends when cancelled, once everything waits (a fixed length
        // could end before 21 submissions on a loaded machine, and a's next job would rightly take it).
        for index in 0..<4 { try await submit("a-run\(index)", "a", "10h") }
        #expect(try await eventually(seconds: 15) { try await Self.running(cluster, prefix: "a-") == 4 })
        for index in 0..<20 { try await submit("a-wait\(index)", "a", "10h") }
        try await submit("b-0", "b", "10h")
        let cancelled = try await cluster.schedctl(["cancel", "a-run0"])
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        // The chip a-run0 gives back goes to b, which holds nothing, not to a's next job.
        let served = try await cluster.waitFor("b-0", seconds: 40) { $0.state != .queued }
        #expect(served.state == .running || served.state == .placed, "\(served.reason ?? "")")
        let next = try await cluster.status("a-wait0")
        #expect(next.state == .queued)
    }

    @Test("a job that reclaimed waits for its victims to end, and says so: whom it stopped, from which queue")
    func reclaimWaitReason() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let file = cluster.directory.appendingPathComponent("queues.yaml").path
        try "queues:\n  - name: prod\n    guarantee: {ascend-910b: 2}\n  - name: batch\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        try await cluster.startCoordinator(extra: ["--queues", file, "--reclaim-min-run", "0"])
        let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("host").path)
        try cluster.startHostAgent(host, data: cluster.directory.appendingPathComponent("agent-data").path)
        #expect(try await eventually(seconds: 15) { try await cluster.connectedNodes() == 1 })
        // Batch takes the 8 chips with jobs that ignore SIGTERM: each ends only at the agent's
        // SIGKILL, 2 s after it is asked to stop.
        for index in 0..<8 {
            _ = try await cluster.schedctl([
                "submit", "--id", "b\(index)", "--queue", "batch", "--chips", "1", "--tier", "ascend-910b", "--",
                "sh", "-c", "trap '' TERM; sleep 600",
            ])
        }
        #expect(try await eventually(seconds: 20) { try await Self.running(cluster, prefix: "b") == 8 })
        _ = try await cluster.schedctl([
            "submit", "--id", "p0", "--queue", "prod", "--chips", "1", "--tier", "ascend-910b", "--", "true",
        ])
        var seen: String?
        _ = try await eventually(seconds: 10) {
            let record = try await cluster.status("p0")
            if record.reason?.hasPrefix("waiting for 1 job it stopped to end (b") == true { seen = record.reason }
            return seen != nil || record.state != .queued
        }
        let reason = try #require(seen, "p0 was never seen waiting for its victim")
        #expect(reason.hasSuffix("); its chips are held for it; reclaimed from queue batch"), "\(reason)")
        let done = try await cluster.waitFor("p0", seconds: 20) { $0.state.isFinal }
        #expect(done.state == .completed, "\(done.reason ?? "")")
    }

    /// Jobs whose id starts with `prefix` holding chips.
    static func running(_ cluster: Cluster, prefix: String) async throws -> Int {
        let records = try WireCodec.value(
            [JobRecord].self, from: try await cluster.schedctl(["jobs", "--json"]).stdout)
        return records.filter { $0.id.hasPrefix(prefix) && ($0.state == .running || $0.state == .placed) }.count
    }
}
