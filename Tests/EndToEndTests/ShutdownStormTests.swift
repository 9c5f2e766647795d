import Foundation
import Testing
import Wire

@Suite("End to end: a coordinator stopped while connections pour in", .serialized)
struct ShutdownStormTests {
    @Test(
        "SIGTERM while hundreds of connections arrive (agents reconnecting at once): the coordinator stops cleanly, every round"
    )
    func sigtermDuringConnectionStorm() async throws {
        for round in 0..<4 {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            // A raw socket speaks the protocol by hand: plain TCP.
            cluster.plainTCP = true
            let coordinator = try await cluster.startCoordinator()
            let endpoint = cluster.endpoint!
            // Four connectors opening sockets as fast as they can, and keeping them open.
            let storm = (0..<4).map { _ in
                Task.detached { () -> Int in
                    var sockets: [RawSocket] = []
                    for _ in 0..<150 where !Task.isCancelled {
                        guard let socket = try? RawSocket(endpoint) else { break }
                        sockets.append(socket)
                    }
                    return sockets.count
                }
            }
            try await Task.sleep(for: .milliseconds(30 + 20 * round))
            cluster.signal(coordinator, SIGTERM)
            let status = try await cluster.waitForExit(coordinator, seconds: 60)
            for connector in storm { connector.cancel() }
            var opened = 0
            for connector in storm { opened += await connector.value }
            #expect(
                coordinator.terminationReason == .exit && status == 0,
                "round \(round), \(opened) connections: \(cluster.log("coordinator-0.log").suffix(2_000))")
        }
    }
}
