import Foundation
import SchedTestSupport
import Testing
import Wire

/// Fault rates learned from every attempt, kept across a restart (from the accounting) and shown
/// in `schedctl health`.
@Suite("End to end: fault rates kept across a restart")
struct FaultRatesKeptTests {
    @Test(
        "the faults and chip-hours attempts saw show in health with the prior, and a restarted coordinator learns them again from its accounting"
    )
    func keptAcrossRestart() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let options = Cluster.scaledClock + ["--fault-rate", "a100=0.002"]
        let first = try await cluster.startCoordinator(extra: options)
        let fleet = try cluster.fleet(
            """
            name: flaky
            nodeGroups:
              - {name: nv, count: 1, model: h100, chipsPerNode: 8, numaNodes: 2}
            faults:
              chipFaultsPerHour: {h100: 5}
            """)
        try cluster.startAgents(fleet: fleet, timeScale: 60)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        let submitted = try await cluster.schedctl([
            "submit", "--id", "flaky", "--kind", "training", "--chips", "8", "--tier", "h100", "--max-failures",
            "1000", "--simulate", "10h", "--steps", "600",
        ])
        try #require(submitted.status == 0, "\(submitted.stderr)")
        // 40 faults an hour over its 8 chips, a step a minute: a few within simulated minutes.
        var before: [ModelFaultRate] = []
        let faulted = try await eventually(seconds: 120) {
            before =
                try WireCodec.value(HealthReport.self, from: try await cluster.schedctl(["health", "--json"]).stdout)
                .faultRates ?? []
            return (before.first { $0.model == "h100" }?.faults ?? 0) >= 2
        }
        #expect(faulted, "\(before)")
        _ = try await cluster.schedctl(["cancel", "flaky"])
        _ = try await cluster.waitFor("flaky") { $0.state == .cancelled }
        let seen = try WireCodec.value(
            HealthReport.self, from: try await cluster.schedctl(["health", "--json"]).stdout)
        let h100 = try #require(seen.faultRates?.first { $0.model == "h100" })
        #expect(h100.prior == nil && h100.chipHours > 0)
        #expect(abs(h100.perChipHour - h100.faults / h100.chipHours) < 1e-9, "\(h100)")
        let a100 = try #require(seen.faultRates?.first { $0.model == "a100" })
        #expect(a100.prior == 0.002 && abs(a100.perChipHour - 0.002) < 1e-12 && a100.faults == 0)
        let shown = try await cluster.schedctl(["health"])
        #expect(shown.stdout.contains("fault rate h100: "), "\(shown.stdout)")
        #expect(shown.stdout.contains("fault rate a100: 0.002 faults a chip-hour: 0 in 0 chip-hours seen, prior 0.002"))

        // A new coordinator on the same store starts from what the accounting says, not from nothing.
        cluster.signal(first, SIGTERM)
        _ = try await cluster.waitForExit(first)
        try await cluster.startCoordinator(extra: options)
        let logs = try FileManager.default.contentsOfDirectory(atPath: cluster.directory.path)
            .filter { $0.hasPrefix("coordinator-") && $0.hasSuffix(".log") }.sorted()
        let secondLog = logs.map { cluster.log($0) }.last { $0.contains("learned") } ?? ""
        let again = try WireCodec.value(
            HealthReport.self, from: try await cluster.schedctl(["health", "--json"]).stdout)
        let learned = try #require(again.faultRates?.first { $0.model == "h100" }, "\(logs)")
        // Every faulted attempt was accounted; a week's half-life weighs minutes-old ones at almost 1.
        #expect(learned.faults > h100.faults - 0.01 && learned.faults <= h100.faults + 0.01, "\(learned) \(h100)")
        // Chip-hours differ a little: the live count runs from each placement, in whole chip-minutes;
        // an account from the attempt's start (later on a loaded machine).
        #expect(learned.chipHours > h100.chipHours / 2, "\(learned) \(h100)")
        #expect(secondLog.contains("h100: learned "), "\(logs)")
    }
}
