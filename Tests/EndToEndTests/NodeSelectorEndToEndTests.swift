import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: node selectors", .serialized)
struct NodeSelectorEndToEndTests {
    @Test("--node-selector places on nodes with the labels; a selector no node carries fails with the reason")
    func selector() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator(extra: ["--registration-grace", "1"])
        let fleet = try cluster.fleet(
            """
            name: zones
            nodeGroups:
              - {name: east, count: 2, model: h100, chipsPerNode: 8, labels: {zone: east}}
              - {name: west, count: 2, model: h100, chipsPerNode: 8, labels: {zone: west, disk: nvme}}
            """)
        try cluster.startAgents(fleet: fleet, timeScale: 600)
        let connected = try await eventually(seconds: 15) { try await cluster.connectedNodes() == 4 }
        try #require(connected, "\(cluster.log("agents.log"))")
        for index in 0..<3 {
            _ = try await cluster.schedctl([
                "submit", "--id", "west-\(index)", "--chips", "4", "--tier", "h100", "--node-selector", "zone=west",
                "--node-selector", "disk=nvme", "--simulate", "1h",
            ])
        }
        for index in 0..<3 {
            // Running, or (a busy machine looks late) already done: either way placed, and it says where.
            let placed = try await cluster.waitFor("west-\(index)") { $0.state == .running || $0.state.isFinal }
            #expect(placed.placement?.assignments.allSatisfy { $0.node.name.hasPrefix("west") } == true)
        }
        let status = try await cluster.schedctl(["status", "west-0"])
        #expect(status.stdout.contains("on nodes    labelled disk=nvme, zone=west"), "\(status.stdout)")
        _ = try await cluster.schedctl([
            "submit", "--id", "north", "--chips", "1", "--tier", "h100", "--node-selector", "zone=north", "--simulate",
            "1m",
        ])
        let failed = try await cluster.waitFor("north", seconds: 20) { $0.state.isFinal }
        #expect(failed.state == .failed)
        #expect(
            failed.reason?.contains("0 nodes of this tier carry the labels zone=north") == true,
            "\(failed.reason ?? "")")
        let bad = try await cluster.schedctl(["submit", "--chips", "1", "--node-selector", "zone", "--simulate", "1m"])
        #expect(bad.stderr.contains("--node-selector is KEY=VALUE, got 'zone'"), "\(bad.stderr)")
    }
}
