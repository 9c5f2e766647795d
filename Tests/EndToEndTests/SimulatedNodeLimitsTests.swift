import Foundation
import SchedTestSupport
import Testing
import Wire

/// What a simulated node cannot do, said at once: run a command, or show an attempt's output.
@Suite("End to end: a simulated node runs no command and keeps no output", .serialized)
struct SimulatedNodeLimitsTests {
    @Test("a job with a command placed on a simulated node fails saying why; its logs answer at once")
    func commandOnSimulatedNode() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents(fleet: try cluster.fleet(smallFleet))
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 3 })

        let submitted = try await cluster.schedctl(["submit", "--id", "real", "--tier", "h100", "--", "echo", "hi"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let ended = try await cluster.waitFor("real") { $0.state.isFinal }
        #expect(ended.state == .failed, "it did not pretend to run: \(ended.state)")
        #expect(ended.reason?.contains("is a simulated node") == true, "\(ended.reason ?? "-")")

        // A simulated job's output: none, said at once rather than waited for.
        _ = try await cluster.schedctl(["submit", "--id", "played", "--tier", "h100", "--simulate", "10m"])
        _ = try await cluster.waitFor("played") { $0.state == .running || $0.state.isFinal }
        let started = Date()
        let logs = try await cluster.schedctl(["logs", "played"])
        #expect(logs.status != 0)
        #expect(logs.stderr.contains("is a simulated node"), "\(logs.stderr)")
        #expect(Date().timeIntervalSince(started) < 25, "answered, not left to the coordinator's 30 s limit")
    }
}

/// `schedctl watch` across a coordinator's restart, and when none comes back.
@Suite("End to end: watch follows the leader", .serialized)
struct WatchFollowTests {
    @Test(
        "watch goes on after a restart without losing or repeating an event, and exits 1 saying why when none answers")
    func followsThroughRestart() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let listen = "127.0.0.1:\(try RawListener().port)"
        var coordinator = try await cluster.startCoordinator(listen: listen)
        #expect(try await cluster.schedctl(["submit", "--id", "before", "--simulate", "1m"]).status == 0)
        let watch = try cluster.start(
            "schedctl",
            [
                "watch", "--from-start", "--json", "--address", cluster.coordinatorAddress, "--token-file",
                cluster.tokenFile, "--leader-wait", "45",
            ], log: "watch.log")
        func printed() -> [PlacementEvent] {
            cluster.log("watch.log").split(separator: "\n").compactMap {
                try? WireCodec.value(PlacementEvent.self, from: String($0))
            }
        }
        #expect(try await eventually(seconds: 20) { printed().contains { $0.job == "before" } })

        cluster.signal(coordinator, SIGKILL)
        _ = try await cluster.waitForExit(coordinator)
        coordinator = try await cluster.startCoordinator(listen: listen)
        #expect(try await cluster.schedctl(["submit", "--id", "after", "--simulate", "1m"]).status == 0)
        // A loaded machine's debug coordinator can take many seconds to start again: the watch
        // waits 45 s for a leader (`--leader-wait`), this test longer.
        let followed = try await eventually(seconds: 90) { printed().contains { $0.job == "after" } }
        #expect(followed, "the event after the restart was printed: \(cluster.log("watch.log").suffix(1000))")
        #expect(watch.isRunning)
        #expect(cluster.log("watch.log").contains("following the leader"))
        let sequence = printed().map(\.seq)
        #expect(sequence == sequence.sorted() && Set(sequence).count == sequence.count, "none twice: \(sequence)")

        // Gone for good: it says so and exits 1 (not 0, as if the log had ended).
        cluster.signal(coordinator, SIGKILL)
        _ = try await cluster.waitForExit(coordinator)
        let status = try await cluster.waitForExit(watch, seconds: 120)
        #expect(status == 1)
        #expect(cluster.log("watch.log").contains("cannot reach the coordinator"), "\(cluster.log("watch.log"))")
    }
}
