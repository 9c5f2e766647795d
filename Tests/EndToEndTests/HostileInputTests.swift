import Foundation
import SchedCore
import SchedSpec
import SchedTestSupport
import Testing
import Wire

/// The fuzz test the daemons keep: generated hostile lines and job files against the real
/// binaries, for a bounded count and time; both must live and answer a normal peer afterwards.
@Suite("End to end: hostile input against the real binaries", .serialized)
struct HostileInputTests {
    /// Valid messages a client or an agent sends; the fuzzer replaces one value of each.
    static let clientTemplates: [WireMessage] = [
        .submit(Submit(spec: "kind: batch\ncommand: [pwd]\n", file: "f.yaml", directory: "/tmp")),
        .cancel(JobRef(job: "j")), .status(JobRef(job: "j")),
        .jobs(JobsQuery(states: ["queued"], offset: 0, limit: 10)), .logs(JobRef(job: "j")),
        .fallback(FallbackRequest(job: "j", reason: "r")), .output(OutputRequest(job: "j", attempt: 1, follow: false)),
        .watch(WatchRequest(after: 0, job: "j")),
        .nodeState(NodeStateRequest(nodes: ["n"], action: .drain, reason: "r", deadlineSeconds: 60, user: "u")),
        .jobAction(JobActionRequest(action: .requeue, jobs: ["j"], states: [.running], idPattern: "j*", hold: true)),
        .update(JobUpdate(job: "j", priority: 3, timeLimitSeconds: 60, queue: "q", tier: "2", reservation: "r")),
        .reserve(
            ReservationRequest(
                action: .create, name: "r", nodes: ["n"], startIn: 60, duration: 3600, users: ["u"], groups: ["g"],
                queue: "q", reason: "x")),
        .reserve(ReservationRequest(action: .change, name: "r", chips: 4, model: "h100", duration: 60)),
        .history(HistoryQuery(user: "u", queue: "q", model: "h100", since: 1, untilAgo: 60, limit: 10)),
        .usage(UsageQuery(by: .model, history: HistoryQuery(sinceAgo: 86400))),
    ]

    static func agentTemplates(node: String) -> [WireMessage] {
        let chips = (0..<2).map { Chip(index: $0, model: "h100", memoryGiB: 80, numaNode: 0) }
        let registered = Node(
            id: NodeID(node), chips: chips, numaNodes: [NUMANode(id: 0, cpus: [0, 1], memoryGiB: 64)],
            interNodeBandwidthGBps: 100)
        return [
            .register(Register(node: registered, running: [AttemptRef(job: "j", attempt: 1)])),
            .heartbeat(Heartbeat(unhealthyChips: [1], interNodeBandwidthGBps: 50)),
            .started(AttemptRef(job: "j", attempt: 1)), .checkpoint(CheckpointReport(job: "j", attempt: 1, step: 10)),
            .progress(ProgressReport(job: "j", attempt: 1, step: 11, writtenAt: 1_796_560_000)),
            .exited(Exit(job: "j", attempt: 1, outcome: .fault, step: 12, checkpointStep: 10, faultChip: 1)),
            .chunk(OutputChunk(request: 1, data: "x", end: false)),
        ]
    }

    static func body(_ message: WireMessage) -> (verb: String, json: String) {
        let line = WireCodec.encode(message)
        let space = line.firstIndex(of: " ") ?? line.endIndex
        return (String(line[..<space]), space == line.endIndex ? "{}" : String(line[line.index(after: space)...]))
    }

    @Test("hostile lines before and after the handshake, as client and as agent: the coordinator lives and serves")
    func coordinatorSurvives() async throws {
        let seed = UInt64.random(in: 0...UInt64(UInt32.max))
        var input = HostileInput(seed: seed)
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // A raw socket speaks the protocol by hand: plain TCP.
        cluster.plainTCP = true
        let coordinator = try await cluster.startCoordinator()
        try cluster.startAgents(fleet: try cluster.fleet(smallFleet))
        let endpoint = cluster.endpoint!
        let deadline = Date().addingTimeInterval(60)
        var sent = 0

        // Before the handshake: the nesting that killed Foundation's decoder, bytes, verbs with bad bodies.
        for depth in [511, 512, 513, 514, 4096] {
            let socket = try RawSocket(endpoint)
            socket.send(line: "HELLO " + String(repeating: "[", count: depth))
            #expect(socket.readLine()?.hasPrefix("ERR") == true, "HELLO with \(depth) '[' gets an ERR (seed \(seed))")
            sent += 1
        }
        for _ in 0..<40 where Date() < deadline {
            let socket = try RawSocket(endpoint)
            if input.chance(2) {
                socket.send(input.bytes(count: 1 + Int(input.pick(Array(1...300)))) + [UInt8(ascii: "\n")])
            } else {
                let (verb, json) = Self.body(input.pick(Self.clientTemplates + Self.agentTemplates(node: "x")))
                socket.send(line: input.pick(["HELLO", "AUTH", verb]) + " " + input.mutate(json: json))
            }
            _ = socket.readLine(seconds: 2)
            sent += 1
        }
        // After the handshake, as a client: every verb with one value replaced, and hostile job files.
        let client = try RawSocket(endpoint)
        #expect(client.handshake(token: cluster.token, role: .client))
        for round in 0..<160 where Date() < deadline {
            if round % 3 == 0 {
                client.send(line: WireCodec.encode(.submit(Submit(spec: input.jobFile(), file: "fuzz.yaml"))))
            } else if round % 7 == 0 {
                client.send(input.bytes(count: 64) + [UInt8(ascii: "\n")])
            } else {
                let template = input.pick(
                    Self.clientTemplates.filter {
                        if case .watch = $0 { return false }
                        if case .output = $0 { return false }
                        return true
                    })
                let (verb, json) = Self.body(template)
                client.send(line: verb + " " + input.mutate(json: json))
            }
            let reply = client.readLine(seconds: 5)
            #expect(reply != nil, "round \(round): the coordinator answers every line (seed \(seed))")
            sent += 1
        }
        // As an agent: registrations and reports with one value replaced.
        for round in 0..<60 where Date() < deadline {
            let agent = try RawSocket(endpoint)
            guard agent.handshake(token: cluster.token, role: .agent, node: "fuzz-\(round)") else {
                Issue.record("agent handshake \(round) failed (seed \(seed))")
                continue
            }
            for message in Self.agentTemplates(node: "fuzz-\(round)") {
                let (verb, json) = Self.body(message)
                agent.send(line: verb + " " + (input.chance(3) ? json : input.mutate(json: json)))
                sent += 1
            }
            _ = agent.readLine(seconds: 0.2)
        }
        #expect(coordinator.isRunning, "the coordinator is alive after \(sent) hostile lines (seed \(seed))")
        // And it still does its job for a normal client.
        let submitted = try await cluster.schedctl(["submit", "--id", "after-fuzz", "--chips", "2", "--simulate", "1m"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let done = try await cluster.waitFor("after-fuzz") { $0.state == .completed }
        #expect(done.state == .completed)
        let health = try await cluster.schedctl(["health"])
        #expect(health.status == 0, "\(health.stdout)\(health.stderr)")
    }

    @Test("numbers that used to trap are refused with the field named, and nothing is stored")
    func trappingNumbersRefused() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let coordinator = try await cluster.startCoordinator()
        let cases: [(spec: String, field: String)] = [
            ("kind: batch\nminChipMemoryGiB: -1e20\n", "minChipMemoryGiB"),
            ("kind: training\nnodes: 2\nfallback: {minInterNodeBandwidthGBps: 1e20}\n", "minInterNodeBandwidthGBps"),
            ("kind: batch\ntimeLimit: 1e20s\n", "timeLimit"),
            ("kind: batch\ntimeLimit: 1e306d\n", "timeLimit"),
            ("kind: batch\nsimulate: {duration: 1e300h}\n", "simulate.duration"),
            ("kind: batch\nsimulate: {duration: 1h, steps: 9223372036854775807}\n", "simulate.steps"),
            ("kind: batch\nchipsPerNode: 65\n", "chipsPerNode"),
        ]
        for (spec, field) in cases {
            let reply = try await cluster.session { session in
                try await session.send(.submit(Submit(spec: spec, file: "bad.yaml")))
                return try await session.receive()
            }
            guard case .err(let error) = reply else {
                Issue.record("\(spec) was accepted: \(String(describing: reply))")
                continue
            }
            #expect(error.code == .invalidSpec)
            #expect(error.message.contains(field), "\(error.message)")
        }
        #expect(coordinator.isRunning)
        let jobs = try await cluster.schedctl(["jobs", "--json"])
        #expect(try WireCodec.value([JobRecord].self, from: jobs.stdout).isEmpty, "nothing was stored")
    }

    /// Plays the coordinator for the agent that dials `listener`: the handshake by hand, then its
    /// registration answered. Nil, with the failure recorded, when the agent does not get that far.
    static func coordinate(_ listener: RawListener, _ cluster: Cluster, log: String) -> RawSocket? {
        guard let session = listener.accept(seconds: 20) else {
            recordFailure("the agent did not connect: \(cluster.log(log))")
            return nil
        }
        guard let hello = session.readLine(), hello.hasPrefix("HELLO") else {
            recordFailure("no HELLO")
            return nil
        }
        session.send(line: WireCodec.encode(.challenge(Challenge(nonce: "n1"))))
        guard let auth = session.readLine(), case .success(.auth(let proof)) = WireCodec.decode(auth),
            let coordinatorProof = RawSocket.coordinatorProof(
                token: cluster.token, hello: hello, challenge: "n1", auth: proof)
        else {
            recordFailure("no AUTH with the agent's nonce")
            return nil
        }
        session.send(
            line: WireCodec.encode(.ok(JSONText(WireCodec.json(SessionOpened(role: .agent, proof: coordinatorProof))))))
        guard let register = session.readLine(), case .success(.register(let registration)) = WireCodec.decode(register)
        else {
            recordFailure("no REGISTER")
            return nil
        }
        session.send(line: "OK {\"registered\":\"\(registration.node.id)\"}")
        return session
    }

    @Test(
        "an order to run that an agent cannot read (a newer coordinator's) is answered with the attempt's failure, saying why, by a host's agent and a simulated one: the job is not left placed"
    )
    func unreadableRun() async throws {
        let cluster = try Cluster()
        cluster.plainTCP = true
        defer { cluster.stopAll() }
        // A coordinator of its own gives the host's agent its settings; the order comes from ours.
        try await cluster.startCoordinator()
        let hostListener = try RawListener()
        let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("host").path)
        try cluster.startHostAgent(
            host, data: cluster.directory.appendingPathComponent("agent-data").path,
            extra: ["--coordinator", "127.0.0.1:\(hostListener.port)"])
        let simulatedListener = try RawListener()
        _ = try cluster.startOneNodeAgent(coordinatorPort: simulatedListener.port)
        for (listener, log) in [(hostListener, "host-agent.log"), (simulatedListener, "agent.log")] {
            guard let session = Self.coordinate(listener, cluster, log: log) else { continue }
            // A kind this agent does not know, as a newer coordinator might send.
            session.send(
                line: #"RUN {"job":"newer","attempt":3,"kind":"quantum","tier":0,"tierName":"t","chipModel":"h100","#
                    + #""chips":[0],"numaNodes":[0],"command":["true"],"env":{},"timeLimitSeconds":60}"#)
            var exited: Exit?
            let until = Date().addingTimeInterval(20)
            while exited == nil && Date() < until {
                guard let line = session.readLine(seconds: 1) else { continue }
                if case .success(.exited(let exit)) = WireCodec.decode(line) { exited = exit }
            }
            #expect(exited?.job == "newer" && exited?.attempt == 3 && exited?.outcome == .failed, "\(log)")
            #expect(
                exited?.message?.contains("could not read the order to run it") == true, "\(String(describing: exited))"
            )
            #expect(cluster.log(log).contains("cannot read the order to run newer"), "\(cluster.log(log).suffix(1000))")
        }
    }

    @Test("an agent given hostile orders by its coordinator lives, refuses them, and keeps its session")
    func agentSurvives() async throws {
        let seed = UInt64.random(in: 0...UInt64(UInt32.max))
        var input = HostileInput(seed: seed)
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let listener = try RawListener()
        let agent = try cluster.startOneNodeAgent(coordinatorPort: listener.port)
        guard let session = Self.coordinate(listener, cluster, log: "agent.log") else { return }
        let run = RunOrder(
            job: "j", attempt: 1, kind: .training, tier: 0, tierName: "h100", chipModel: "h100", chips: [0, 1],
            numaNodes: [0], command: [], env: [:], checkpointDirectory: nil, timeLimitSeconds: 3600,
            simulation: SimulatedRun(seconds: 60, steps: 10, checkpointEverySteps: 5), resumeStep: 0)
        let orders: [WireMessage] = [
            .run(run), .kill(KillOrder(job: "j", attempt: 1, reason: "r")),
            .limit(LimitOrder(job: "j", attempt: 1, timeLimitSeconds: 60)),
            .tail(TailRequest(request: 1, job: "j", attempt: 1, follow: false)), .untail(TailStop(request: 1)),
        ]
        let start = Date()
        for round in 0..<150 where Date().timeIntervalSince(start) < 30 {
            if round % 9 == 0 {
                session.send(input.bytes(count: 80) + [UInt8(ascii: "\n")])
            } else if round % 11 == 0 {
                session.send(line: "RUN " + String(repeating: "[", count: 513))
            } else {
                let (verb, json) = Self.body(input.pick(orders))
                var order = input.mutate(json: json)
                // Attempt numbers far apart, so that a hostile order never names a real attempt.
                order = order.replacingOccurrences(of: "\"attempt\":1", with: "\"attempt\":\(1000 + round)")
                session.send(line: verb + " " + order)
            }
        }
        // Alive, and still speaking the protocol: heartbeats keep coming after the storm.
        var heartbeats = 0
        let until = Date().addingTimeInterval(10)
        while heartbeats < 3 && Date() < until {
            guard let line = session.readLine(seconds: 2) else { continue }
            if line.hasPrefix("HEARTBEAT") { heartbeats += 1 }
        }
        #expect(agent.isRunning, "the agent is alive (seed \(seed)): \(cluster.log("agent.log").suffix(2000))")
        #expect(heartbeats >= 3, "the agent still heartbeats after the hostile orders (seed \(seed))")
    }
}
