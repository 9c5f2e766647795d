import Foundation
import SchedTestSupport
import Testing

/// The expected-finish rule's commands as a user types them: the sweep, and the coordinator's
/// known fault rates.
@Suite("End to end: expected-finish sweep and fault rates")
struct ExpectedFinishCommandTests {
    static let scenario = Repository.path("deploy/scenarios/r2-fallback.yaml")

    @Test("schedctl simulate --sweep prints each rate's completion under both rules and the oracle")
    func sweep() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let output = try await cluster.run(
            "schedctl", ["simulate", "--scenario", Self.scenario, "--sweep", "chipFaultsPerHour.ascend-910c=0,0.008"])
        #expect(output.status == 0, "\(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(output.stdout)")
        #expect(lines[1].hasPrefix("RATE") && lines[1].contains("COUNT RULE") && lines[1].contains("ORACLE"))
        #expect(lines[2].hasPrefix("0 ") && lines[2].contains("13:30:49"), "stays on Ascend: \(lines[2])")
        #expect(lines[3].hasPrefix("0.008") && lines[3].hasSuffix("100%"), "\(lines[3])")
    }

    @Test(
        "bad sweeps and fault rates are refused with what to write",
        arguments: [
            (
                ["simulate", "--scenario", scenario, "--sweep", "chipFaultsPerHour.ascend-999=0"],
                "unknown chip model 'ascend-999'"
            ),
            (["simulate", "--scenario", scenario, "--sweep", "seed=1,2"], "--sweep is chipFaultsPerHour.MODEL=RATE"),
            (
                ["simulate", "--scenario", scenario, "--sweep", "chipFaultsPerHour.h100=0,-1"],
                "is not a rate from 0 to 1000"
            ),
        ])
    func badSweeps(arguments: [String], message: String) async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let output = try await cluster.run("schedctl", arguments)
        #expect(output.status == 1)
        #expect(output.stderr.contains(message), "\(output.stderr)")
    }

    @Test(
        "a training job waiting on a full Ascend tier under the expected-finish rule moves to NVIDIA as soon as H100 chips free, not at the next full refresh"
    )
    func waitingJobSeesTiersBelow() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator(extra: ["--fault-rate", "ascend-910b=5"])
        let fleet = try cluster.fleet(
            """
            name: two
            nodeGroups:
              - {name: asc, count: 1, model: ascend-910b, chipsPerNode: 8}
              - {name: nv, count: 1, model: h100, chipsPerNode: 8}
            """)
        try cluster.startAgents(fleet: fleet, timeScale: 1)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 2 })
        for (holder, model) in [("asc-holder", "ascend-910b"), ("nv-holder", "h100")] {
            _ = try await cluster.schedctl([
                "submit", "--id", holder, "--chips", "8", "--tier", model, "--simulate", "1000h",
            ])
            _ = try await cluster.waitFor(holder) { $0.state == .running }
        }
        let job = cluster.directory.appendingPathComponent("train.yaml").path
        try """
        id: train
        kind: training
        chipsPerNode: 4
        fallback: {policy: expected-finish}
        simulate: {duration: 200h, steps: 20000, checkpointEverySteps: 100}
        tiers:
          - {name: ascend, models: [ascend-910b]}
          - {name: nvidia, models: [h100]}
        """.write(toFile: job, atomically: true, encoding: .utf8)
        let submitted = try await cluster.schedctl(["submit", "-f", job])
        try #require(submitted.status == 0, "\(submitted.stderr)")
        // Both tiers full: it waits where it is.
        let waiting = try await cluster.waitFor("train") { $0.reason?.hasPrefix("waiting") == true }
        #expect(waiting.ladder.tier == 0 && waiting.state == .queued)
        // H100 chips free: only chips of the tier below changed, and the rule weighs that tier's room.
        _ = try await cluster.schedctl(["cancel", "nv-holder"])
        let moved = try await cluster.waitFor("train", seconds: 30) { $0.state == .running }
        #expect(moved.ladder.tier == 1, "\(moved.tierHistory.map(\.name))")
        #expect(moved.placement?.assignments.first?.node.name == "nv-0")
    }

    @Test("sched-coordinator --fault-rate takes MODEL=RATE for catalog models only")
    func coordinatorFlag() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        for (value, message) in [
            ("ascend-910c=lots", "--fault-rate is MODEL=RATE"), ("ascend-910c=5000", "from 0 to 1000"),
            ("ascend-999=0.1", "unknown chip model 'ascend-999'"),
        ] {
            let output = try await cluster.run(
                "sched-coordinator",
                [
                    "--listen", "127.0.0.1:0", "--data-dir", cluster.dataDirectory, "--token-file", cluster.tokenFile,
                    "--fault-rate", value,
                ])
            #expect(output.status != 0, "\(value)")
            #expect(output.stderr.contains(message), "\(value): \(output.stderr)")
        }
    }
}
