import Foundation
import SchedTestSupport
import Testing
import Wire

/// Peers that open connections and never finish a handshake, from many addresses, while real
/// clients come and go: the clients always get in.
@Suite("End to end: no lock-out before authentication", .serialized)
struct LockOutTests {
    /// Opens `total` connections from the loopback addresses 127.0.0.2 to 127.0.0.`1 + sources`, keeping
    /// up to `held` of them open (the oldest dropped for each new one); each sends nothing, or
    /// (every third) a wrong token's handshake. Stops at `total`, at `stop`, or after 120 s.
    final class Flood: @unchecked Sendable {
        let endpoint: WireEndpoint
        private let lock = NSLock()
        private var stopped = false
        private(set) var opened = 0

        init(endpoint: WireEndpoint) { self.endpoint = endpoint }

        func stop() { lock.withLock { stopped = true } }
        var isStopped: Bool { lock.withLock { stopped } }

        func run(total: Int, held: Int, sources: Int) {
            var open: [RawSocket] = []
            let deadline = Date().addingTimeInterval(120)
            var count = 0
            while count < total && !isStopped && Date() < deadline {
                let source = "127.0.0.\(2 + count % sources)"
                if let socket = try? RawSocket(endpoint, from: source) {
                    if count % 3 == 0 {
                        // A wrong token: answered slowly, and held open meanwhile.
                        socket.send(line: WireCodec.encode(.hello(Hello(role: .client))))
                    }
                    open.append(socket)
                    if open.count > held { open.removeFirst() }
                }
                count += 1
                lock.withLock { opened = count }
            }
            // Held open (the wrong tokens' sessions at their challenge, the rest silent) until told.
            while !isStopped && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            _ = open
        }
    }

    @Test("1,000 sockets that never finish a handshake, from 20 addresses, while 40 schedctl calls all succeed")
    func clientsGetIn() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // The handshake deadline long, so that the flood's sockets are not cut by it: only the gate
        // makes room.
        // At most 256 openings (1,024 by default): the flood's 400 held sockets are more than that.
        try await cluster.startCoordinator(extra: ["--handshake-timeout", "600", "--max-openings", "256"])
        let flood = Flood(endpoint: cluster.endpoint!)
        let flooding = Thread { flood.run(total: 1_000, held: 400, sources: 20) }
        flooding.start()
        defer { flood.stop() }
        // Once the flood has opened all its sockets, and holds more than the gate lets in at once.
        _ = try await eventually(seconds: 60) { flood.opened >= 1_000 }
        // The gate closes openings under way for 5 s or more to let others in: the flood's are that
        // old from now on, however fast it opened them.
        try await Task.sleep(for: .seconds(5.5))
        var failures: [String] = []
        for index in 0..<40 {
            let jobs = try await cluster.schedctl(["jobs", "--state", "queued"])
            if jobs.status != 0 { failures.append("call \(index): \(jobs.stderr)") }
        }
        #expect(failures.isEmpty, "\(failures.count) of 40 failed: \(failures.prefix(3))")
        #expect(flood.opened >= 1_000, "the flood was on: \(flood.opened) sockets")
        let health = try WireCodec.value(
            HealthReport.self, from: try await cluster.schedctl(["health", "--json"]).stdout)
        #expect(health.unauthenticatedConnections <= 256, "never more handshakes under way than the gate allows")
    }
}
