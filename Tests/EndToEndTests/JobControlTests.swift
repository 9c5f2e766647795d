import Foundation
import SchedCore
import SchedTestSupport
import Testing
import Wire

/// What users and operators do to jobs after submitting them, through schedctl.
@Suite("End to end: hold, release, requeue, update and cancel by filter", .serialized)
struct JobControlTests {
    @Test(
        "hold keeps a waiting job out until released; requeue --hold stops a running one and holds it; update changes a priority; cancel takes several jobs by pattern and state; the log names who acted"
    )
    func control() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        let fleet = try cluster.fleet(
            "name: one\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 2, numaNodes: 1}\n")
        try cluster.startAgents(fleet: fleet, timeScale: 60)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        func submit(_ id: String, chips: Int = 1, length: String = "10h") async throws {
            let submitted = try await cluster.schedctl([
                "submit", "--id", id, "--chips", String(chips), "--tier", "h100", "--simulate", length,
                "--steps", "600", "--checkpoint-every", "10",
            ])
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        try await submit("runner", chips: 2)
        _ = try await cluster.waitFor("runner") { $0.state == .running }
        for id in ["first", "urgent", "sweep-a", "sweep-b"] { try await submit(id) }

        let held = try await cluster.schedctl(["hold", "first", "--reason", "waiting for data"])
        #expect(held.status == 0 && held.stdout == "first: held\n", "\(held.stdout)\(held.stderr)")
        let again = try await cluster.schedctl(["hold", "first", "runner"])
        #expect(again.stdout.contains("first: unchanged: already held by "), "\(again.stdout)")
        #expect(again.stdout.contains("runner: unchanged: it is running; only a waiting job is held"))
        let status = try await cluster.status("first")
        #expect(status.reason?.hasPrefix("held by ") == true && status.reason?.contains("(waiting for data)") == true)

        // Lowered (a raised one would preempt the runner at once).
        let lowered = try await cluster.schedctl(["update", "sweep-a", "--priority", "-5"])
        #expect(
            lowered.status == 0 && lowered.stdout.contains("sweep-a: priority -5"), "\(lowered.stdout)\(lowered.stderr)"
        )
        let tooLate = try await cluster.schedctl(["update", "runner", "--queue", "other"])
        #expect(tooLate.status != 0 && tooLate.stderr.contains("only while it waits"), "\(tooLate.stderr)")

        // A waiting job moved down its tier list waits there (no a100 in this fleet: it waits, named).
        let tiered = try await cluster.schedctl([
            "submit", "--id", "tiered", "--chips", "1", "--tier", "h100", "--tier", "a100", "--simulate", "1m",
        ])
        #expect(tiered.status == 0, "\(tiered.stderr)")
        let noTier = try await cluster.schedctl(["update", "tiered", "--tier", "mi300"])
        #expect(noTier.status != 0 && noTier.stderr.contains("its tiers: 1 h100, 2 a100"), "\(noTier.stderr)")
        let moved = try await cluster.schedctl(["update", "tiered", "--tier", "2"])
        #expect(moved.status == 0 && moved.stdout.contains("tier 2 (a100)"), "\(moved.stdout)\(moved.stderr)")
        let onTwo = try await cluster.status("tiered")
        #expect(onTwo.ladder.tier == 1 && onTwo.tierHistory.last?.reason == "moved by update")
        _ = try await cluster.schedctl(["cancel", "tiered"])

        // The runner goes back to the queue, held; its two chips go to the two oldest jobs neither held
        // nor lowered.
        let requeued = try await cluster.schedctl(["requeue", "runner", "--hold", "--reason", "rebalance"])
        #expect(requeued.stdout == "runner: requeued and held\n", "\(requeued.stdout)\(requeued.stderr)")
        let back = try await cluster.waitFor("runner") { $0.state == .queued }
        #expect(back.userHold != nil && back.checkpointStep >= 0)
        _ = try await cluster.waitFor("urgent") { $0.state == .running }
        _ = try await cluster.waitFor("sweep-b") { $0.state == .running }
        #expect(try await cluster.status("first").state == .queued)
        #expect(try await cluster.status("sweep-a").state == .queued)

        let released = try await cluster.schedctl(["release", "first", "sweep-b"])
        #expect(released.stdout.contains("first: released"), "\(released.stdout)")
        #expect(released.stdout.contains("sweep-b: unchanged: it is not held"), "\(released.stdout)")

        let swept = try await cluster.schedctl(["cancel", "--name", "sweep-*"])
        #expect(swept.status == 0, "\(swept.stderr)")
        #expect(
            swept.stdout.contains("sweep-a: cancelled") && swept.stdout.contains("sweep-b: cancelling"),
            "\(swept.stdout)")
        let waiting = try await cluster.schedctl(["cancel", "--state", "queued", "--json"])
        let reply = try WireCodec.value(JobActionReply.self, from: waiting.stdout)
        // The held runner at least (first may have taken sweep-b's chip meanwhile); never a running job.
        #expect(reply.results.contains { $0.job == "runner" && $0.state == .cancelled }, "\(waiting.stdout)")
        #expect(!reply.results.contains { $0.job == "urgent" }, "\(waiting.stdout)")
        #expect(try await cluster.status("urgent").state == .running)
        let unknown = try await cluster.schedctl(["cancel", "urgent", "nope"])
        #expect(unknown.status == 1 && unknown.stderr.contains("nope: refused: no job 'nope'"), "\(unknown.stderr)")

        let log = cluster.log("data/placement-log.jsonl")
        for said in [
            "first held by ", "(waiting for data)", "first released by ", "sweep-a updated by ",
            "priority 0 → -5", "tier 1 (h100) → 2 (a100)", "runner attempt 1 requeued by ", "cancelled sweep-a by ",
            "cancelled runner by ",
        ] {
            #expect(log.contains(said), "\(said)")
        }
    }

    @Test(
        "a running job's time limit shortened by update: its host's agent stops it at the new limit, and the log says who changed it"
    )
    func runningTimeLimit() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.startOneHost()
        let submitted = try await cluster.schedctl([
            "submit", "--id", "sleeper", "--chips", "1", "--tier", "ascend-910b", "--time-limit", "1h", "--",
            "sleep", "600",
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        _ = try await cluster.waitFor("sleeper") { $0.state == .running }
        let shortened = try await cluster.schedctl(["update", "sleeper", "--time-limit", "3"])
        #expect(shortened.status == 0 && shortened.stdout.contains("time limit 3s"), "\(shortened.stderr)")
        let ended = try await cluster.waitFor("sleeper", seconds: 60) { $0.state.isFinal }
        #expect(ended.state == .failed && (ended.reason ?? "").contains("time limit"), "\(ended.reason ?? "")")
        let events = try await cluster.schedctl(["logs", "sleeper", "--events"]).stdout
        #expect(events.contains("time limit 1h → 3s"), "\(events)")
    }

    @Test("a simulated attempt given a longer time limit while it runs completes instead of timing out")
    func lengthenedTimeLimit() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        let fleet = try cluster.fleet(
            "name: one\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 2, numaNodes: 1}\n")
        try cluster.startAgents(fleet: fleet, timeScale: 60)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        // 2 simulated hours of work under a 90-minute limit: 120 s, stopped at 90 s unless lengthened
        // (90 s for the update to come: a CI run at a load average of 20 and more took over 30 s).
        let submitted = try await cluster.schedctl([
            "submit", "--id", "grower", "--chips", "1", "--time-limit", "90m", "--simulate", "2h",
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        _ = try await cluster.waitFor("grower") { $0.state == .running }
        let lengthened = try await cluster.schedctl(["update", "grower", "--time-limit", "4h"])
        #expect(lengthened.status == 0, "\(lengthened.stderr)")
        let ended = try await cluster.waitFor("grower", seconds: 300) { $0.state.isFinal }
        #expect(ended.state == .completed, "\(ended.reason ?? "")")
        #expect(ended.attempt == 1)
    }
}
