import Foundation
import SchedCore
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
        // the outage survives because the lost nodes still count. Agents stop what they run after 3 s
        // unseen, so that the lost nodes' jobs are requeued when the nodes are lost (5 s).
        try await cluster.startCoordinator(extra: [
            "--registration-grace", "0", "--disconnect-stop", "3", "--disconnect-grace", "0",
        ])
        let agents = try cluster.startAgents(fleet: try cluster.fleet(smallFleet), timeScale: 600)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 3 })
        for id in ["a", "b", "c"] {
            let submitted = try await cluster.schedctl([
                // 8 h: 48 s of wall time, so that a busy machine's slow looks still find them running
                // (a CI run under load saw 3 h, 18 s, end before the outage took hold).
                "submit", "--id", id, "--kind", "training", "--chips", "8", "--tier", "h100", "--simulate", "8h",
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
            let done = try await cluster.waitFor(id, seconds: 180) { $0.state.isFinal }
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

@Suite("End to end: chip health that flaps", .serialized)
struct ChipFlapTests {
    @Test(
        "a chip reported unhealthy and healthy on alternate heartbeats is held unhealthy after 4 changes, with a bounded log"
    )
    func flappingChipIsHeld() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // A raw socket speaks the protocol by hand: plain TCP.
        cluster.plainTCP = true
        try await cluster.startCoordinator()
        let agent = try RawSocket(cluster.endpoint!)
        #expect(agent.handshake(token: cluster.token, role: .agent, node: "flappy"))
        let node = Node(
            id: "flappy", chips: (0..<2).map { Chip(index: $0, model: "h100", memoryGiB: 80, numaNode: 0) },
            numaNodes: [NUMANode(id: 0, cpus: [0, 1], memoryGiB: 64)])
        agent.send(line: WireCodec.encode(.register(Register(node: node))))
        #expect(agent.readLine()?.hasPrefix("OK") == true)
        for beat in 0..<200 {
            agent.send(line: WireCodec.encode(.heartbeat(Heartbeat(unhealthyChips: beat % 2 == 0 ? [0] : []))))
        }
        agent.send(line: WireCodec.encode(.heartbeat(Heartbeat(unhealthyChips: []))))
        let held = try await eventually(seconds: 10) {
            let nodes = try WireCodec.value(
                [NodeStatus].self, from: try await cluster.schedctl(["nodes", "--json"]).stdout)
            return nodes.first?.node.chips.first?.health == .unhealthy
        }
        #expect(held, "the flapping chip is held unhealthy, though its last report said healthy")
        // The log file is written after the events are stored: read it until they are all there.
        var healthEvents: [PlacementEvent] = []
        _ = try await eventually(seconds: 5) {
            let log = try String(contentsOfFile: cluster.dataDirectory + "/placement-log.jsonl", encoding: .utf8)
            healthEvents = try log.split(separator: "\n").map {
                try WireCodec.value(PlacementEvent.self, from: String($0))
            }
            .filter { $0.kind == .chipHealth }
            return healthEvents.count >= 4
        }
        #expect(healthEvents.count == 4, "200 flips make 4 events, not 200: \(healthEvents.map(\.message))")
        #expect(healthEvents.last?.message.contains("is flapping") == true)
    }
}

@Suite("End to end: an agent back with an end it has not seen acknowledged", .serialized)
struct UnacknowledgedEndTests {
    @Test(
        "an attempt whose completion is stored, listed as running by its agent's next registration, is not stopped and does not hold the node"
    )
    func completedAttemptIsNotAStranger() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // A raw socket speaks the protocol by hand: plain TCP.
        cluster.plainTCP = true
        // This agent sends no heartbeats: its node must not be lost on a slow machine meanwhile.
        try await cluster.startCoordinator(extra: ["--heartbeat-timeout", "600"])
        let node = Node(
            id: "back", chips: [Chip(index: 0, model: "h100", memoryGiB: 80, numaNode: 0)],
            numaNodes: [NUMANode(id: 0, cpus: [0, 1], memoryGiB: 64)])
        /// A session registered for the node, once the coordinator has seen the last one go.
        let key = NodeKey()
        func register(running: [AttemptRef]) async throws -> RawSocket {
            for _ in 0..<50 {
                let agent = try RawSocket(cluster.endpoint!)
                #expect(agent.handshake(token: cluster.token, role: .agent, node: "back", nodeKey: key))
                agent.send(line: WireCodec.encode(.register(Register(node: node, running: running))))
                if agent.readLine()?.hasPrefix("OK") == true { return agent }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw ClusterError("the node could not register again")
        }
        /// The next order the agent is sent, skipping nothing.
        func order(_ agent: RawSocket, seconds: Double = 10) -> WireMessage? {
            agent.readLine(seconds: seconds).flatMap { try? WireCodec.decode($0).get() }
        }
        do {
            let first = try await register(running: [])
            #expect(try await cluster.schedctl(["submit", "--id", "done", "--chips", "1", "--", "true"]).status == 0)
            guard case .run(let run) = order(first) else {
                Issue.record("no RUN for the first job")
                return
            }
            first.send(line: WireCodec.encode(.started(AttemptRef(job: run.job, attempt: run.attempt))))
            first.send(line: WireCodec.encode(.exited(Exit(job: run.job, attempt: run.attempt, outcome: .completed))))
            _ = try await cluster.waitFor("done") { $0.state == .completed }
        }
        // The session ended (its socket closed) before the agent read the acknowledgement: it
        // lists the attempt again.
        let again = try await register(running: [AttemptRef(job: "done", attempt: 1)])
        #expect(order(again, seconds: 1) == nil, "the completed attempt is not stopped as a stranger")
        // Its chip takes the next job at once, before the end is sent again.
        #expect(try await cluster.schedctl(["submit", "--id", "next", "--chips", "1", "--", "true"]).status == 0)
        guard case .run(let next) = order(again) else {
            Issue.record("the node's chip did not take the next job")
            return
        }
        #expect(next.job == "next")
        again.send(line: WireCodec.encode(.exited(Exit(job: "done", attempt: 1, outcome: .completed))))
        #expect(again.readLine()?.hasPrefix("OK") == true, "the end sent again is acknowledged")
        #expect(try await cluster.status("done").state == .completed)
        let log = cluster.log("coordinator-0.log")
        #expect(!log.contains("needed a repair") && !log.isEmpty, "\(log)")
    }
}
