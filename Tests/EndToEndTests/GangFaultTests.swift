import Foundation
import SchedTestSupport
import Testing
import Wire

/// Two-node gangs on a fleet whose chips fault often: when one node of a gang faults, its partner is
/// told to stop, and neither its chips nor its job may run again before it has (the agents' own
/// record of what ran is the judge).
@Suite("End to end: gang partners stop before their chips are reused", .serialized)
struct GangFaultTests {
    @Test("gangs that fault: no chip held by two attempts, no job running two attempts at once")
    func partnersAreFencedUntilStopped() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator(extra: ["--chip-recovery", "0", "--registration-grace", "0"])
        let attemptLog = cluster.directory.appendingPathComponent("attempts.jsonl").path
        let fleet = try cluster.fleet(
            """
            name: gangs
            nodeGroups:
              - {name: nv, count: 4, model: h100, chipsPerNode: 8, numaNodes: 2, domain: {kind: switch, size: 4, prefix: sw}}
            faults:
              chipFaultsPerHour: {h100: 0.05}
            """)
        try cluster.startAgents(fleet: fleet, timeScale: 600, extra: ["--attempt-log", attemptLog])
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 4 })
        for index in 0..<6 {
            let submitted = try await cluster.schedctl([
                "submit", "--id", "gang-\(index)", "--kind", "training", "--nodes", "2", "--chips", "8",
                "--tier", "h100", "--max-failures", "1000", "--simulate", "2h",
            ])
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        // Until enough gangs have faulted (each fault stops a partner), or all are done.
        var faults = 0
        _ = try await eventually(seconds: 120) {
            let log =
                (try? String(contentsOfFile: cluster.dataDirectory + "/placement-log.jsonl", encoding: .utf8)) ?? ""
            faults = log.split(separator: "\n").filter { $0.contains("\"kind\":\"faulted\"") }.count
            let jobs = try WireCodec.value(
                [JobRecord].self, from: try await cluster.schedctl(["jobs", "--json"]).stdout)
            return faults >= 8 || jobs.allSatisfy { $0.state.isFinal }
        }
        #expect(faults >= 3, "gangs faulted: \(faults)")
        let record = try AttemptRecord(path: attemptLog)
        #expect(record.doubleHeld.isEmpty, "chips held by two attempts at once: \(record.doubleHeld)")
        #expect(record.jobRunTwice.isEmpty, "jobs with two attempts at once: \(record.jobRunTwice)")
    }
}
