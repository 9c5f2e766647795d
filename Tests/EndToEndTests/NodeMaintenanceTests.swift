import Foundation
import SchedCore
import Testing
import Wire

/// Maintenance as operators do it daily: cordon, drain with a deadline, resume.
@Suite("End to end: cordon, drain and resume", .serialized)
struct NodeMaintenanceTests {
    static func node(_ cluster: Cluster, _ name: String) async throws -> NodeStatus? {
        let listed = try await cluster.schedctl(["nodes", "--json"])
        return try? WireCodec.value([NodeStatus].self, from: listed.stdout).first { $0.node.id.name == name }
    }

    @Test(
        "a drained node finishes one job, stops and requeues another at its deadline (to resume from its checkpoint), takes nothing new, says who and why across a restart, and takes work again on resume"
    )
    func drainWithDeadline() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // The coordinator's clock runs as fast as the agents' simulated time: a minute is a second.
        let started = try await cluster.startScaledFleet(nodes: 1, chips: 4)
        let listen = started.listen
        var coordinator = started.coordinator
        func submit(_ arguments: [String]) async throws {
            let submitted = try await cluster.schedctl(["submit", "--tier", "h100"] + arguments)
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        try await submit(["--id", "short", "--chips", "2", "--simulate", "2m"])
        try await submit([
            "--id", "long", "--chips", "2", "--simulate", "10h", "--steps", "36000", "--checkpoint-every", "60",
        ])
        _ = try await cluster.waitFor("long") { $0.state == .running }

        let drained = try await cluster.schedctl([
            "drain", "nv-0", "--reason", "firmware update", "--deadline", "30m",
        ])
        #expect(drained.status == 0, "\(drained.stderr)")
        #expect(drained.stdout.hasPrefix("nv-0: draining (by "), "\(drained.stdout)")
        #expect(drained.stdout.contains(": firmware update, deadline in "), "\(drained.stdout)")
        try await submit(["--id", "new", "--chips", "1", "--simulate", "1m"])

        // What runs finishes; nothing new is placed.
        let short = try await cluster.waitFor("short", seconds: 60) { $0.state.isFinal }
        #expect(short.state == .completed, "\(short.reason ?? "")")
        let waiting = try await cluster.status("new")
        #expect(waiting.state == .queued && (waiting.reason ?? "").contains("draining"), "\(waiting.reason ?? "")")
        let table = try await cluster.schedctl(["nodes"]).stdout
        #expect(table.contains("draining") && table.contains("firmware update"), "\(table)")

        // At the deadline (30 simulated minutes, 30 s here) the long job is stopped and requeued.
        let requeued = try await cluster.waitFor("long", seconds: 90) { $0.state == .queued }
        #expect(requeued.checkpointStep > 0, "it keeps its checkpoint: \(requeued.checkpointStep)")
        let events = try await cluster.schedctl(["logs", "long", "--events"]).stdout
        #expect(events.contains("node nv-0's drain deadline passed (firmware update, by "), "\(events)")
        #expect(
            try await eventually(seconds: 30) { try await Self.node(cluster, "nv-0")?.displayState == "drained" })

        // The state is stored: a restart keeps it, and still places nothing there.
        cluster.signal(coordinator, SIGTERM)
        _ = try await cluster.waitForExit(coordinator)
        coordinator = try await cluster.startCoordinator(listen: listen, extra: Cluster.scaledClock)
        #expect(try await eventually(seconds: 30) { try await cluster.connectedNodes() == 1 })
        let after = try await Self.node(cluster, "nv-0")
        #expect(after?.administration?.kind == .draining && after?.administration?.reason == "firmware update")
        #expect(try await cluster.status("new").state == .queued)

        let resumed = try await cluster.schedctl(["resume", "nv-0"])
        #expect(resumed.status == 0 && resumed.stdout == "nv-0: ready\n", "\(resumed.stdout) \(resumed.stderr)")
        let back = try await cluster.waitFor("long", seconds: 30) { $0.state == .running }
        #expect(back.attempt == 2, "a new attempt from step \(back.checkpointStep)")
        _ = try await cluster.waitFor("new", seconds: 30) { $0.state == .running || $0.state.isFinal }
        let log = cluster.log("data/placement-log.jsonl")
        #expect(log.contains("\"kind\":\"node-draining\"") && log.contains("\"kind\":\"node-resumed\""))
    }

    @Test("a cordoned node keeps what runs and takes nothing new; a cordon needs a reason and a known node")
    func cordon() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        let fleet = try cluster.fleet(
            "name: two\nnodeGroups:\n  - {name: nv, count: 2, model: h100, chipsPerNode: 2, numaNodes: 1}\n")
        try cluster.startAgents(fleet: fleet, timeScale: 60)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 2 })
        let first = try await cluster.schedctl(["submit", "--id", "first", "--chips", "2", "--simulate", "10h"])
        #expect(first.status == 0, "\(first.stderr)")
        let placed = try await cluster.waitFor("first") { $0.state == .running }
        let busy = try #require(placed.placement?.assignments.first?.node.name)
        let idle = busy == "nv-0" ? "nv-1" : "nv-0"

        let noReason = try await cluster.schedctl(["cordon", idle])
        #expect(noReason.status != 0 && noReason.stderr.contains("--reason"), "\(noReason.stderr)")
        let unknown = try await cluster.schedctl(["cordon", "nv-9", "--reason", "x"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no node 'nv-9'"), "\(unknown.stderr)")

        let cordoned = try await cluster.schedctl(["cordon", busy, idle, "--reason", "rack move"])
        #expect(cordoned.status == 0, "\(cordoned.stderr)")
        #expect(cordoned.stdout.contains("\(busy): cordoned (by ") && cordoned.stdout.contains("\(idle): cordoned"))
        _ = try await cluster.schedctl(["submit", "--id", "second", "--chips", "1", "--simulate", "1m"])
        try await Task.sleep(for: .seconds(2))
        #expect(try await cluster.status("second").state == .queued)
        #expect(try await cluster.status("first").state == .running)
        _ = try await cluster.schedctl(["resume", idle])
        let second = try await cluster.waitFor("second") { $0.state != .queued }
        #expect(second.placement?.assignments.first?.node.name == idle)
    }

    @Test("schedctl nodes counts a chip resting after a fault apart, not as free")
    func restingIsNotFree() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator(extra: ["--chip-recovery", "3600"])
        let fleet = try cluster.fleet(
            """
            name: flaky
            nodeGroups:
              - {name: nv, count: 1, model: h100, chipsPerNode: 2, numaNodes: 1}
            faults:
              chipFaultsPerHour: {h100: 20}
            """)
        try cluster.startAgents(fleet: fleet, timeScale: 600)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        let submitted = try await cluster.schedctl([
            "submit", "--id", "f", "--chips", "1", "--tier", "h100", "--max-failures", "1000", "--simulate", "10h",
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let rested = try await eventually(seconds: 60) {
            try await Self.node(cluster, "nv-0")?.restingChips?.isEmpty == false
        }
        #expect(rested, "\(cluster.log("data/placement-log.jsonl"))")
        let table = try await cluster.schedctl(["nodes"]).stdout
        let header = try #require(table.split(separator: "\n").first).split(separator: " ").map(String.init)
        let row = try #require(table.split(separator: "\n").first { $0.hasPrefix("nv-0") })
            .split(separator: " ").map(String.init)
        func column(_ name: String) -> Int { header.firstIndex(of: name).flatMap { Int(row[$0]) } ?? -1 }
        #expect(column("RESTING") >= 1, "\(table)")
        #expect(column("FREE") + column("USED") + column("RESTING") == 2, "every chip counted once: \(table)")
    }
}
