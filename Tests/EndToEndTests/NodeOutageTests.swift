import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: lost nodes are not gone nodes", .serialized)
struct NodeOutageTests {
    @Test("an outage longer than the heartbeat timeout: the jobs wait for their nodes, then complete")
    func jobsWaitForLostNodes() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // No registration grace: a job no node could hold would fail at once, so a job that survives
        // the outage survives because the lost nodes still count.
        try await cluster.startCoordinator(extra: ["--registration-grace", "0"])
        let agents = try cluster.startAgents(fleet: try cluster.fleet(smallFleet), timeScale: 600)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 3 })
        for id in ["a", "b", "c"] {
            let submitted = try await cluster.schedctl([
                "submit", "--id", id, "--kind", "training", "--chips", "8", "--tier", "h100", "--simulate", "1h",
            ])
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        _ = try await cluster.waitFor("a") { $0.state == .running }
        _ = try await cluster.waitFor("b") { $0.state == .running }

        // The agent stops answering (as a host that hangs) for longer than the heartbeat timeout (5 s).
        cluster.signal(agents, SIGSTOP)
        let lost = try await eventually(seconds: 15) {
            let nodes = try WireCodec.value(
                [NodeStatus].self, from: try await cluster.schedctl(["nodes", "--json"]).stdout)
            return nodes.filter { $0.lost == true }.count == 3
        }
        #expect(lost, "every node of the stopped agent is reported lost")
        for id in ["a", "b", "c"] {
            let record = try await cluster.status(id)
            #expect(record.state == .queued, "\(id) waits for its nodes instead of failing: \(record.state)")
            #expect(record.reason?.contains("down") == true, "the wait reason says why: \(record.reason ?? "-")")
        }
        let nodes = try await cluster.schedctl(["nodes"])
        #expect(nodes.stdout.contains("lost"))

        cluster.signal(agents, SIGCONT)
        for id in ["a", "b", "c"] {
            let done = try await cluster.waitFor(id, seconds: 60) { $0.state.isFinal }
            #expect(done.state == .completed, "\(id) completes once its nodes are back: \(done.reason ?? "-")")
        }
        let events = try await cluster.schedctl(["logs", "a", "--events", "--json"])
        let kinds = try events.stdout.split(separator: "\n").map {
            try WireCodec.value(PlacementEvent.self, from: String($0)).kind
        }
        #expect(kinds.contains(.requeued))
        #expect(!kinds.contains(.gaveUp))
    }
}
