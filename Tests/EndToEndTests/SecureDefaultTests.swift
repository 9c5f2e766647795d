import Foundation
import SchedSpec
import SchedTestSupport
import Testing
import Wire

/// TLS with no flag and no file made by hand, and what it stops: an eavesdropper, a line injected
/// on the path, a relay that ends TLS itself and passes the proofs on.
@Suite("End to end: secure by default", .serialized)
struct SecureDefaultTests {
    static let fleet = "name: one\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 8, numaNodes: 2}\n"

    /// A coordinator started as a fresh install starts (no TLS flag), and a relay in front of it.
    func cluster(plain: Bool = false) async throws -> (Cluster, TCPRelay) {
        let cluster = try Cluster()
        cluster.plainTCP = plain
        try await cluster.startCoordinator()
        return (cluster, try TCPRelay(to: cluster.endpoint!))
    }

    @Test(
        "a fresh install speaks TLS: the coordinator makes its certificate, agents and schedctl need no flag, the path sees no line"
    )
    func tlsWithoutFiles() async throws {
        let (cluster, relay) = try await cluster()
        defer { cluster.stopAll() }
        #expect(FileManager.default.fileExists(atPath: cluster.dataDirectory + "/tls/coordinator.pem"))
        #expect(cluster.log("coordinator-0.log").contains("(TLS)"), "\(cluster.log("coordinator-0.log"))")
        try cluster.startAgents(
            fleet: try cluster.fleet(Self.fleet), extra: ["--coordinator", relay.endpoint.description])
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        let submitted = try await cluster.run(
            "schedctl",
            [
                "submit", "--id", "secret-job", "--tier", "h100", "--simulate", "1m", "--address",
                relay.endpoint.description, "--token-file", cluster.tokenFile,
            ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        _ = try await cluster.waitFor("secret-job") { $0.state == .running || $0.state.isFinal }
        let seen = String(decoding: relay.seen, as: UTF8.self)
        #expect(!relay.seen.isEmpty)
        for word in ["HELLO", "REGISTER", "SUBMIT", "RUN", "secret-job"] {
            #expect(!seen.contains(word), "'\(word)' crossed in clear text")
        }
        let health = try await cluster.schedctl(["health"])
        #expect(health.status == 0 && !health.stdout.contains("plain TCP"), "\(health.stdout)")
    }

    @Test(
        "a coordinator that accepts connections but never answers (a stopped one) is passed over: over TLS, schedctl given it first still reaches the leader"
    )
    func silentCoordinatorPassedOver() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        // The kernel accepts into its backlog; nobody reads: no TLS handshake ever answers.
        let silent = try RawListener()
        let output = try await cluster.run(
            "schedctl",
            [
                "jobs", "--address", "127.0.0.1:\(silent.port),\(cluster.coordinatorAddress)", "--token-file",
                cluster.tokenFile,
            ])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.hasPrefix("JOB"), "\(output.stdout)")
    }

    @Test("plain TCP is asked for, and then the log and schedctl health say what it costs")
    func plainIsSaid() async throws {
        let (cluster, _) = try await cluster(plain: true)
        defer { cluster.stopAll() }
        #expect(cluster.log("coordinator-0.log").contains("plain TCP (--plain-tcp)"))
        let health = try await cluster.schedctl(["health"])
        #expect(health.stdout.contains("warning: plain TCP (--plain-tcp)"), "\(health.stdout)")
        let json = try WireCodec.value(
            HealthReport.self, from: try await cluster.schedctl(["health", "--json"]).stdout)
        #expect(json.plainTCP == true)
    }

    /// An agent through `relay`, with the attempt log; after its session is open, `RUN` for a job the
    /// coordinator never placed is written into the stream toward it. Returns whether it ran it.
    func injectRun(plain: Bool) async throws -> Bool {
        let (cluster, relay) = try await cluster(plain: plain)
        defer { cluster.stopAll() }
        let attempts = cluster.directory.appendingPathComponent("attempts.jsonl").path
        try cluster.startAgents(
            fleet: try cluster.fleet(Self.fleet),
            extra: ["--coordinator", relay.endpoint.description, "--attempt-log", attempts])
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        let order = RunOrder(
            job: "injected", attempt: 1, kind: .batch, tier: 0, tierName: "h100", chipModel: "h100", chips: [0],
            numaNodes: [0], command: [], env: ["STOLEN": "1"], checkpointDirectory: nil, timeLimitSeconds: nil,
            simulation: SimulatedRun(seconds: 60), resumeStep: 0)
        relay.inject(Array((WireCodec.encode(.run(order)) + "\n").utf8))
        return try await eventually(seconds: 5) {
            ((try? String(contentsOfFile: attempts, encoding: .utf8)) ?? "").contains("\"injected\"")
        }
    }

    @Test(
        "a RUN written into the stream on the path: obeyed on plain TCP, impossible over TLS (the session breaks instead)"
    )
    func injectedRun() async throws {
        #expect(try await injectRun(plain: true), "the attack works where TLS is turned off")
        #expect(try await !injectRun(plain: false), "over TLS the injected order is not obeyed")
    }

    @Test(
        "a relay that ends TLS with its own certificate and passes each line on opens no session: the coordinator refuses the relayed proof",
        .enabled(if: TLSTests.openssl != nil, "needs the openssl tool for the relay's certificate"))
    func relayedLoginRefused() async throws {
        let (cluster, _) = try await cluster()
        defer { cluster.stopAll() }
        let folder = cluster.directory.appendingPathComponent("relay").path
        _ = try TLSTests.makeCertificates(in: folder, name: "relay")
        let port = try RawListener().port
        // The relay's TLS end: openssl's server with its own certificate; each line the client sends is
        // passed to the real coordinator, over TLS, and each answer back.
        let server = Process()
        server.executableURL = URL(fileURLWithPath: TLSTests.openssl!)
        server.arguments = [
            "s_server", "-accept", "127.0.0.1:\(port)", "-cert", folder + "/server.pem", "-key", folder + "/server.key",
            "-quiet",
        ]
        let toClient = Pipe()
        let fromClient = Pipe()
        server.standardInput = toClient
        server.standardOutput = fromClient
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        let endpoint = cluster.endpoint!
        let relayed = Task.detached { () -> [String] in
            var lines: [String] = []
            var buffer: [UInt8] = []
            guard let upstream = try? BlockingWireSession.connected(to: endpoint, tls: WireTLS.tokenBound) else {
                return ["cannot reach the coordinator"]
            }
            // Generous: beside the 10,000-session page test a coordinator's answer can take seconds, and a
            // relay that gave up left schedctl waiting on it (a CI run failed so).
            upstream.setReadTimeout(.seconds(90))
            let deadline = Date().addingTimeInterval(150)
            while Date() < deadline, lines.count < 4 {
                let data = fromClient.fileHandleForReading.availableData
                if data.isEmpty { break }
                buffer += data
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    // openssl's own word of a connection accepted, not the client's.
                    guard !line.isEmpty, line != "ACCEPT" else { continue }
                    lines.append(line)
                    guard (try? upstream.sendRaw(line)) != nil, let answer = (try? upstream.receiveLine()) ?? nil else {
                        return lines
                    }
                    lines.append(answer)
                    toClient.fileHandleForWriting.write(Data((answer + "\n").utf8))
                }
            }
            return lines
        }
        // The relay's port is open once openssl listens.
        _ = try await eventually(seconds: 10) { (try? RawSocket(WireEndpoint(host: "127.0.0.1", port: port))) != nil }
        let submitted = try await cluster.run(
            "schedctl",
            [
                "submit", "--id", "relayed", "--simulate", "1m", "--address", "127.0.0.1:\(port)", "--token-file",
                cluster.tokenFile,
                "--leader-wait", "0",
            ])
        #expect(submitted.status != 0, "the relayed session was opened")
        let lines = await relayed.value
        #expect(lines.contains { $0.hasPrefix("AUTH") }, "the client's proof reached the relay: \(lines)")
        #expect(
            lines.contains { $0.hasPrefix("ERR") && $0.contains("auth_failed") },
            "the coordinator refused the relayed proof: \(lines)")
        #expect(!lines.contains { $0.hasPrefix("OK") }, "no session opened: \(lines)")
        let jobs = try await cluster.schedctl(["jobs"])
        #expect(!jobs.stdout.contains("relayed"))
        let health = try WireCodec.value(
            HealthReport.self, from: try await cluster.schedctl(["health", "--json"]).stdout)
        #expect(health.authFailures >= 1)
    }
}
