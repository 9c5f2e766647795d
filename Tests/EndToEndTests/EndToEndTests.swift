import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: coordinator, simulated agents and schedctl", .serialized)
struct EndToEndTests {
    @Test("a job goes submitted, placed, started, completed, as schedctl shows it")
    func lifecycle() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents(fleet: try cluster.fleet(smallFleet))
        let submitted = try await cluster.schedctl(
            ["submit", "--id", "hello", "--kind", "training", "--chips", "4", "--tier", "h100", "--simulate", "2m"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(submitted.stdout == "submitted hello (queued)\n")
        let done = try await cluster.waitFor("hello") { $0.state == .completed }
        let placement = try #require(done.placement)
        #expect(placement.chipModel == "h100")
        #expect(placement.assignments[0].chips.count == 4)
        #expect(placement.assignments[0].numaNodes.count == 1, "4 chips fit on one NUMA node of a 2-NUMA H100 node")
        let logs = try await cluster.schedctl(["logs", "hello", "--events", "--json"])
        let kinds = try logs.stdout.split(separator: "\n").map {
            try WireCodec.value(PlacementEvent.self, from: String($0)).kind
        }
        #expect(kinds == [.submitted, .placed, .started, .completed])
        let human = try await cluster.schedctl(["status", "hello"])
        #expect(human.stdout.contains("job hello: completed"))
        #expect(human.stdout.contains("placed on   tier 1 (h100), h100"))
    }

    @Test("cancel stops a running job, and it ends cancelled")
    func cancel() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents(fleet: try cluster.fleet(smallFleet))
        _ = try await cluster.schedctl(["submit", "--id", "long", "--chips", "2", "--simulate", "100h"])
        _ = try await cluster.waitFor("long") { $0.state == .running }
        let cancelled = try await cluster.schedctl(["cancel", "long"])
        #expect(cancelled.status == 0)
        let record = try await cluster.waitFor("long") { $0.state == .cancelled }
        #expect(record.reason?.hasPrefix("cancelled by ") == true, "\(record.reason ?? "")")
        let nodes = try await cluster.schedctl(["nodes", "--json"])
        let statuses = try WireCodec.value([NodeStatus].self, from: nodes.stdout)
        #expect(statuses.allSatisfy { $0.usedBy.isEmpty }, "the cancelled job's chips are free again")
    }

    @Test("a coordinator killed right after acknowledging submissions comes back with every one of them")
    func durableSubmissions() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let first = try await cluster.startCoordinator()
        // 8 concurrent sessions of 10 submissions each: acknowledged means committed.
        let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
            for client in 0..<8 {
                group.addTask {
                    try await cluster.session { session in
                        var ids: [String] = []
                        for number in 0..<10 {
                            let reply = try await session.request(
                                .submit(Submit(spec: "{\"id\":\"c\(client)-\(number)\",\"kind\":\"batch\"}")),
                                as: SubmitReply.self)
                            ids.append(reply.job)
                        }
                        return ids
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        cluster.signal(first, SIGKILL)
        _ = try await cluster.waitForExit(first)
        try await cluster.startCoordinator()
        let jobs = try await cluster.schedctl(["jobs", "--json"])
        let reloaded = Set(try WireCodec.value([JobRecord].self, from: jobs.stdout).map(\.id))
        #expect(acknowledged.count == 80)
        #expect(Set(acknowledged).isSubset(of: reloaded))
    }

    @Test("SIGTERM drains and exits 0, keeping the placement log")
    func gracefulShutdown() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let coordinator = try await cluster.startCoordinator()
        _ = try await cluster.schedctl(["submit", "--id", "kept", "--simulate", "1m"])
        cluster.signal(coordinator, SIGTERM)
        #expect(try await cluster.waitForExit(coordinator) == 0)
        let log = try String(contentsOfFile: cluster.dataDirectory + "/placement-log.jsonl", encoding: .utf8)
        #expect(log.contains("\"job\":\"kept\""))
    }
}

@Suite("End to end: bad input and bad peers", .serialized)
struct BadPeerTests {
    @Test("a malformed line, an unknown verb and an unknown chip each get their ERR, and the session lives on")
    func badLines() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        let replies = try await cluster.session { session -> [WireMessage?] in
            try await session.writer.sendRaw("this is not a message")
            let malformed = try await session.receive()
            try await session.writer.sendRaw("FROB {}")
            let unknownVerb = try await session.receive()
            try await session.send(
                .submit(Submit(spec: "kind: inference\ntiers:\n  - models: [ascend-910x]\n", file: "j.yaml")))
            let unknownChip = try await session.receive()
            try await session.send(.jobs(JobsQuery()))
            let stillAlive = try await session.receive()
            return [malformed, unknownVerb, unknownChip, stillAlive]
        }
        guard case .err(let malformed) = replies[0], case .err(let verb) = replies[1], case .err(let chip) = replies[2],
            case .ok = replies[3]
        else { return recordFailure("got \(replies)") }
        #expect(malformed.code == .malformed)
        #expect(verb.code == .unknownVerb)
        #expect(chip.code == .unknownChip)
        #expect(
            chip.message
                == "j.yaml:3: tiers[0].models[0]: unknown chip model 'ascend-910x'; closest known: ascend-910b, ascend-910c, ascend-310p"
        )
    }

    @Test("an over-long line gets ERR and the connection closes; the coordinator serves the next one")
    func overLongLine() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator(extra: ["--max-line-bytes", "4096"])
        let (reply, after) = try await cluster.session { session in
            try await session.writer.sendRaw("SUBMIT " + String(repeating: "x", count: 10_000))
            return (try await session.receive(), try await session.receive())
        }
        guard case .err(let error) = reply else { return recordFailure("got \(String(describing: reply))") }
        #expect(error.code == .lineTooLong)
        #expect(after == nil, "the connection is closed")
        let jobs = try await cluster.schedctl(["jobs"])
        #expect(jobs.status == 0)
    }

    @Test("a wrong token is refused with one line that says what to check")
    func wrongToken() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        let output = try await cluster.schedctl(["jobs"], token: "not-the-token-but-long-enough")
        #expect(output.status == 1)
        #expect(output.stderr.contains("the token does not match"))
        #expect(output.stderr.split(separator: "\n").count == 1)
    }

    @Test("a coordinator that is not there gives one line saying what to check")
    func noCoordinator() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        let coordinator = cluster.processes[0].process
        cluster.signal(coordinator, SIGTERM)
        _ = try await cluster.waitForExit(coordinator)
        let output = try await cluster.schedctl(["jobs"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("cannot reach the coordinator"))
        #expect(output.stderr.contains("connection refused"))
    }

    @Test("an agent that claims another node's chips is refused")
    func agentSpeaksForItsNodeOnly() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        let node = SchedTestSupport.makeNode("node-b", model: "h100")
        let (reply, after) = try await cluster.session(role: .agent, node: "node-a") { session in
            try await session.send(.register(Register(node: node)))
            return (try await session.receive(), try await session.receive())
        }
        guard case .err(let error) = reply else { return recordFailure("got \(String(describing: reply))") }
        #expect(error.code == .wrongNode)
        #expect(after == nil, "the connection is closed")
        let nodes = try await cluster.schedctl(["nodes", "--json"])
        #expect(try WireCodec.value([NodeStatus].self, from: nodes.stdout).isEmpty, "nothing was registered")
    }
}
