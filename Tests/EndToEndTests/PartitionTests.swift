import Foundation
import SchedTestSupport
import Testing
import Wire

/// A host cut off from the coordinator by a partition (a relay that stops carrying anything, as
/// dropped packets do), while another host is there to take its job: the job must never run on
/// both at once. What ran is read from what the jobs themselves wrote: each attempt appends its
/// number and the time to a file every 50 ms, so that the intervals two attempts were alive can be
/// compared.
@Suite("End to end: at most once across a partition", .serialized)
struct PartitionTests {
    /// A coordinator that loses nodes after 3 s and has agents stop attempts unseen for 4 s (SIGKILL
    /// 1 s later); host `part-a` through a relay, `part-b` directly.
    func cluster() async throws -> (Cluster, TCPRelay) {
        let cluster = try Cluster()
        try await cluster.startCoordinator(extra: [
            "--heartbeat-timeout", "3", "--disconnect-stop", "4", "--disconnect-grace", "1",
        ])
        let relay = try TCPRelay(to: cluster.endpoint!)
        let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("host-a").path)
        try cluster.startHostAgent(
            host, data: cluster.directory.appendingPathComponent("data-a").path, name: "part-a", log: "agent-a.log",
            through: relay)
        try await waitForNodes(cluster, 1)
        return (cluster, relay)
    }

    func startSecondHost(_ cluster: Cluster) async throws {
        let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("host-b").path)
        try cluster.startHostAgent(
            host, data: cluster.directory.appendingPathComponent("data-b").path, name: "part-b", log: "agent-b.log")
        try await waitForNodes(cluster, 2)
    }

    func waitForNodes(_ cluster: Cluster, _ count: Int) async throws {
        guard try await eventually(seconds: 30, { try await cluster.connectedNodes() == count }) else {
            throw ClusterError(
                "\(count) node(s) did not connect: \(cluster.log("agent-a.log")) \(cluster.log("agent-b.log"))")
        }
    }

    /// A job of all 8 chips of a host that writes "ATTEMPT TIME" to `beats` every 50 ms.
    func submit(_ cluster: Cluster, beats: String, extra: [String] = []) async throws {
        let submitted = try await cluster.schedctl(
            ["submit", "--id", "train", "--kind", "training", "--chips", "8", "--tier", "ascend-910b"] + extra + [
                "--", "sh", "-c",
                "while :; do echo \"$HETEROSCHED_ATTEMPT $(date +%s.%N)\" >> \(beats); sleep 0.05; done",
            ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
    }

    /// When each attempt was first and last seen alive, by its own writes.
    func lifetimes(_ beats: String) -> [Int: ClosedRange<Double>] {
        let text = (try? String(contentsOfFile: beats, encoding: .utf8)) ?? ""
        var spans: [Int: ClosedRange<Double>] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let attempt = Int(parts[0]), let time = Double(parts[1]) else { continue }
            let span = spans[attempt] ?? time...time
            spans[attempt] = min(span.lowerBound, time)...max(span.upperBound, time)
        }
        return spans
    }

    /// Waits until attempt `attempt` has written a beat.
    func waitForBeats(_ beats: String, attempt: Int, _ cluster: Cluster) async throws {
        guard try await eventually(seconds: 60, { lifetimes(beats)[attempt] != nil }) else {
            throw ClusterError(
                "attempt \(attempt) never ran: \(cluster.log("coordinator-0.log"))\n\(cluster.log("agent-a.log"))")
        }
    }

    func expectNoOverlap(_ beats: String) {
        let spans = lifetimes(beats)
        let first = spans[1]
        let second = spans[2]
        #expect(first != nil && second != nil, "both attempts ran: \(spans)")
        if let first, let second {
            #expect(
                first.upperBound < second.lowerBound,
                "attempt 1 was last alive at \(first.upperBound), after attempt 2 started at \(second.lowerBound)")
        }
    }

    @Test("onDisconnect stop: the cut-off host stops the job before the coordinator runs it on the other host")
    func stopBeforeRunningElsewhere() async throws {
        let (cluster, relay) = try await cluster()
        defer { cluster.stopAll() }
        let beats = cluster.directory.appendingPathComponent("beats").path
        try await submit(cluster, beats: beats)
        _ = try await cluster.waitFor("train") { $0.state == .running }
        try await waitForBeats(beats, attempt: 1, cluster)
        try await startSecondHost(cluster)

        relay.partition()
        let moved = try await cluster.waitFor("train", seconds: 60) { $0.attempt == 2 && $0.state == .running }
        #expect(moved.placement?.assignments.first?.node == "part-b")
        try await waitForBeats(beats, attempt: 2, cluster)
        expectNoOverlap(beats)

        // Healed: the host is back without the attempt it stopped, which stays stopped.
        relay.heal()
        try await waitForNodes(cluster, 2)
        try await Task.sleep(for: .seconds(1))
        expectNoOverlap(beats)
        let events = try await cluster.schedctl(["logs", "train", "--events"])
        #expect(events.stdout.contains("once its host has surely stopped it"), "\(events.stdout)")
        let output = try await cluster.schedctl(["logs", "train", "--attempt", "1"])
        #expect(output.stdout.contains("[heterosched] no word from the coordinator for"), "\(output.stdout)")
        #expect(try await cluster.status("train").attempt == 2, "the stopped attempt was not run a third time")
    }

    @Test(
        "onDisconnect keep: the job runs through a short cut on the same attempt; past maxDisconnect it stops before it runs elsewhere"
    )
    func keepThroughShortCuts() async throws {
        let (cluster, relay) = try await cluster()
        defer { cluster.stopAll() }
        let beats = cluster.directory.appendingPathComponent("beats").path
        try await submit(cluster, beats: beats, extra: ["--on-disconnect", "keep", "--max-disconnect", "20s"])
        _ = try await cluster.waitFor("train") { $0.state == .running }
        try await waitForBeats(beats, attempt: 1, cluster)
        try await startSecondHost(cluster)

        // 5 s: past the heartbeat timeout (the node is lost), well short of the job's 20 s.
        relay.partition()
        let cutAt = Date().timeIntervalSince1970
        let lost = try await eventually(seconds: 20) {
            let nodes = try WireCodec.value(
                [NodeStatus].self, from: try await cluster.schedctl(["nodes", "--json"]).stdout)
            return nodes.first { $0.node.id == "part-a" }?.lost == true
        }
        #expect(lost, "the cut-off node is declared lost")
        try await Task.sleep(for: .seconds(max(0, cutAt + 5 - Date().timeIntervalSince1970)))
        relay.heal()
        try await waitForNodes(cluster, 2)
        let kept = try await cluster.status("train")
        #expect(kept.attempt == 1 && kept.state == .running, "the same attempt goes on: \(kept.attempt) \(kept.state)")
        let during = lifetimes(beats)[1]
        #expect((during?.upperBound ?? 0) > cutAt + 4, "it ran on while cut off")
        #expect(lifetimes(beats)[2] == nil, "it did not run on the other host meanwhile")

        // A cut longer than 20 s: it stops there, then runs on the other host, never both at once.
        relay.partition()
        let moved = try await cluster.waitFor("train", seconds: 60) { $0.attempt == 2 && $0.state == .running }
        #expect(moved.placement?.assignments.first?.node == "part-b")
        try await waitForBeats(beats, attempt: 2, cluster)
        expectNoOverlap(beats)
        relay.heal()
    }
}
