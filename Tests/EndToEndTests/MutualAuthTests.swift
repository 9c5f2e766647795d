import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: both sides prove the token", .serialized)
struct MutualAuthTests {
    /// A fake coordinator that does not know the token: it accepts any AUTH and answers OK.
    static func impostor(_ listener: RawListener, until deadline: Date) -> [String] {
        var seen: [String] = []
        while Date() < deadline, let peer = listener.accept(seconds: max(deadline.timeIntervalSinceNow, 0.1)) {
            guard let hello = peer.readLine(seconds: 2) else { continue }
            seen.append(hello)
            peer.send(line: WireCodec.encode(.challenge(Challenge(nonce: "abcd"))))
            guard let auth = peer.readLine(seconds: 2) else { continue }
            seen.append(auth)
            peer.send(line: "OK {\"role\":\"agent\",\"proof\":\"00\"}")
            // Whatever comes next would be obeyed orders or leaked requests.
            while let line = peer.readLine(seconds: 0.5) { seen.append(line) }
        }
        return seen
    }

    @Test("schedctl refuses a coordinator that cannot prove the token, and sends it nothing")
    func schedctlRefusesImpostor() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let listener = try RawListener()
        let fake = Task.detached { Self.impostor(listener, until: Date().addingTimeInterval(8)) }
        let output = try await cluster.run(
            "schedctl",
            [
                "submit", "--id", "secret", "--simulate", "1m", "--address", "127.0.0.1:\(listener.port)",
                "--token-file",
                cluster.tokenFile,
                "--plain-tcp",
            ])
        #expect(output.status != 0)
        #expect(output.stderr.contains("did not prove it knows the token"), "\(output.stderr)")
        let seen = await fake.value
        #expect(!seen.contains { $0.hasPrefix("SUBMIT") }, "the submission went to the impostor: \(seen)")
    }

    @Test("an agent refuses a coordinator that cannot prove the token: it registers nothing and obeys nothing")
    func agentRefusesImpostor() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let listener = try RawListener()
        let agent = try cluster.startOneNodeAgent(coordinatorPort: listener.port)
        let seen = await Task.detached { Self.impostor(listener, until: Date().addingTimeInterval(4)) }.value
        #expect(seen.contains { $0.hasPrefix("HELLO") }, "the agent came")
        #expect(!seen.contains { $0.hasPrefix("REGISTER") }, "it registered with an impostor: \(seen)")
        #expect(agent.isRunning, "it keeps trying (for the real coordinator)")
        // Said at the default level, once, not at debug level on every try.
        let log = cluster.log("agent.log")
        let warnings = log.split(separator: "\n").filter { $0.contains("refused:") && $0.contains("did not prove") }
        #expect(warnings.count == 1, "one warning that names the impostor: \(log.suffix(2000))")
    }

    @Test("a token that is short, or readable by every user, is refused before anything starts")
    func weakTokens() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let short = cluster.directory.appendingPathComponent("short").path
        try "x\n".write(toFile: short, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: short)
        let open = cluster.directory.appendingPathComponent("open").path
        try "a-long-enough-token-for-the-check\n".write(toFile: open, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: open)
        for (file, message) in [(short, "is 1 characters; use at least 16"), (open, "chmod 600")] {
            let output = try await cluster.run(
                "sched-coordinator",
                ["--listen", "127.0.0.1:0", "--data-dir", cluster.dataDirectory, "--token-file", file])
            #expect(output.status != 0)
            #expect(output.stderr.contains(message), "\(output.stderr)")
        }
    }
}

@Suite("End to end: connections that do nothing", .serialized)
struct IdleConnectionTests {
    @Test(
        "a connection that never finishes its handshake is closed at the deadline; an idle client session too; a watch is not"
    )
    func deadlines() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // A raw socket speaks the protocol by hand: plain TCP.
        cluster.plainTCP = true
        try await cluster.startCoordinator(extra: ["--handshake-timeout", "1", "--client-idle-timeout", "2"])
        let silent = try RawSocket(cluster.endpoint!)
        let halfOpen = try RawSocket(cluster.endpoint!)
        halfOpen.send(line: WireCodec.encode(.hello(Hello(role: .client))))
        #expect(halfOpen.readLine()?.hasPrefix("CHALLENGE") == true)
        let idle = try RawSocket(cluster.endpoint!)
        #expect(idle.handshake(token: cluster.token, role: .client))
        let watcher = try RawSocket(cluster.endpoint!)
        #expect(watcher.handshake(token: cluster.token, role: .client))
        watcher.send(line: "WATCH")
        #expect(watcher.readLine()?.hasPrefix("OK") == true)

        // Past both deadlines the three are closed; the watcher still gets events.
        #expect(silent.closedByPeer(within: 5), "a connection that sends nothing is closed at the deadline")
        #expect(halfOpen.closedByPeer(within: 5), "a handshake left half done is closed at the deadline")
        #expect(idle.closedByPeer(within: 5), "an idle client session is closed")
        #expect(!watcher.closedByPeer(within: 1), "a watch is not idle")
        let submitted = try await cluster.schedctl(["submit", "--id", "seen", "--simulate", "1m"])
        #expect(submitted.status == 0)
        #expect(watcher.readLine(seconds: 5)?.contains("submitted seen") == true, "the watch is still open")
        #expect(cluster.log("coordinator-0.log").contains("nothing received for 2 s"))
    }
}
