import Foundation
import SchedCore
import SchedSim
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: cores, memory and shares of a chip through schedctl", .serialized)
struct ResourceEndToEndTests {
    @Test("shares pack one chip, a job file's cores and memory are booked, and a job short of cores says so")
    func sharesAndCores() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents(fleet: try cluster.fleet(smallFleet))
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 3 })
        for name in ["s1", "s2", "s3"] {
            let submitted = try await cluster.schedctl([
                "submit", "--id", name, "--kind", "inference", "--chips", "1", "--chip-memory", "10GiB", "--compute",
                "30%", "--tier", "h100", "--simulate", "100h",
            ])
            #expect(submitted.status == 0, "\(submitted.stderr)")
            _ = try await cluster.waitFor(name) { $0.state == .running }
        }
        let shares = try await [cluster.status("s1"), cluster.status("s2"), cluster.status("s3")]
        let spots = Set(shares.map { "\($0.placement!.assignments[0].node)/\($0.placement!.assignments[0].chips)" })
        #expect(spots.count == 1, "three 30% shares on one chip: \(spots)")
        #expect(
            shares.allSatisfy { $0.placement?.assignments[0].share == ChipShare(memoryMiB: 10240, computePercent: 30) })
        let sharedNode = shares[0].placement!.assignments[0].node
        let human = try await cluster.schedctl(["status", "s1"])
        #expect(human.stdout.contains("asks        a share of one chip: 30% compute and 10 GiB of chip memory"))
        #expect(human.stdout.contains("(30% compute and 10 GiB of chip memory)"), "\(human.stdout)")

        // 40 cores and 300 GiB: more than one NUMA node (32 cores, 256 GiB) holds.
        let file = cluster.directory.appendingPathComponent("loader.yaml")
        try """
        id: loader
        kind: training
        chipsPerNode: 2
        cpus: 40
        memory: 300GiB
        tiers: [{models: h100}]
        simulate: {duration: 100h}
        """.write(to: file, atomically: true, encoding: .utf8)
        let loaderSubmitted = try await cluster.schedctl(["submit", "-f", file.path])
        #expect(loaderSubmitted.status == 0, "\(loaderSubmitted.stderr)")
        let loader = try await cluster.waitFor("loader") { $0.state == .running }
        let booking = try #require(loader.placement?.assignments[0].host)
        #expect(booking.cpus.count == 40 && Set(booking.cpus).count == 40)
        #expect(booking.memoryMiB == 300 * 1024)
        #expect(Set(booking.memory.map(\.numaNode)).count == 2)
        let loaderNode = loader.placement!.assignments[0].node
        #expect(loaderNode == sharedNode, "bin-pack puts it on the node already in use")
        let loaderStatus = try await cluster.schedctl(["status", "loader"])
        #expect(loaderStatus.stdout.contains("asks        40 cores and 300 GiB memory per node"))
        #expect(loaderStatus.stdout.contains(", cores "), "\(loaderStatus.stdout)")

        // The other H100 node takes 8 chips and 40 cores; then 30 more cores fit nowhere.
        _ = try await cluster.schedctl([
            "submit", "--id", "big", "--chips", "8", "--cpus", "40", "--tier", "h100", "--simulate", "100h",
        ])
        _ = try await cluster.waitFor("big") { $0.state == .running }
        _ = try await cluster.schedctl([
            "submit", "--id", "crowded", "--chips", "1", "--cpus", "30", "--tier", "h100", "--simulate", "1h",
        ])
        let crowded = try await cluster.waitFor("crowded") { $0.reason != nil }
        #expect(crowded.state == .queued)
        #expect(
            crowded.reason == "waiting: no h100 node with 1 free chip and 30 free cores (1 full, 1 cores in use)"
                + "; chips held for it until jobs without a time limit end",
            "\(crowded.reason ?? "")")

        let nodes = try WireCodec.value(
            [NodeStatus].self, from: try await cluster.schedctl(["nodes", "--json"]).stdout)
        let shared = try #require(nodes.first { $0.node.id == sharedNode })
        #expect(shared.usedBy.values.contains("s1,s2,s3"))
        #expect(shared.cpusUsed == 40)
        #expect(shared.memoryUsedMiB == 300 * 1024)
        let table = try await cluster.schedctl(["nodes"])
        #expect(table.stdout.contains("40/64"), "\(table.stdout)")
    }

    @Test("a share bigger than any chip is refused with the largest chip's memory, and bad flags say what to fix")
    func refusals() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator(extra: ["--registration-grace", "1"])
        try cluster.startAgents(fleet: try cluster.fleet(smallFleet))
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 3 })
        _ = try await cluster.schedctl([
            "submit", "--id", "huge", "--chips", "1", "--chip-memory", "200GiB", "--tier", "h100", "--simulate", "1h",
        ])
        let huge = try await cluster.waitFor("huge") { $0.state == .failed }
        #expect(huge.reason?.contains("no h100 chip with 200 GiB of chip memory free") == true, "\(huge.reason ?? "")")
        #expect(huge.reason?.contains("the largest such chip has 80 GiB of memory") == true)

        let gang = try await cluster.schedctl(["submit", "--chips", "2", "--compute", "50%", "--simulate", "1h"])
        #expect(gang.status != 0)
        #expect(gang.stderr.contains("--chip-memory and --compute ask for a share of one chip"), "\(gang.stderr)")
        let badSize = try await cluster.schedctl(["submit", "--memory", "lots", "--simulate", "1h"])
        #expect(badSize.status != 0)
        #expect(badSize.stderr.contains("expected a size such as 512MiB, 10GiB or 1.5TiB"), "\(badSize.stderr)")
        let badCompute = try await cluster.schedctl(["submit", "--compute", "150%", "--simulate", "1h"])
        #expect(badCompute.stderr.contains("1% to 100%"), "\(badCompute.stderr)")
        // A file goes to the coordinator's parser: its error names the field.
        let file = cluster.directory.appendingPathComponent("bad.yaml")
        try "kind: inference\nchipsPerNode: 4\ncompute: 20%\n".write(to: file, atomically: true, encoding: .utf8)
        let refused = try await cluster.schedctl(["submit", "-f", file.path])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("compute"), "\(refused.stderr)")
        #expect(refused.stderr.contains("chipsPerNode is 4"), "\(refused.stderr)")
    }

    @Test("schedctl simulate runs shares side by side and counts each as its part of the chip")
    func simulatedShares() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let fleet = try cluster.fleet(
            """
            name: one
            nodeGroups:
              - {name: g, count: 1, model: h100, chipsPerNode: 1}
            """)
        let trace = cluster.directory.appendingPathComponent("shares.csv")
        try
            "id,submit,duration,kind,chips,compute,chipMemory,cpus\na,0,3600,inference,1,30%,10GiB,4\nb,0,3600,inference,1,30%,10GiB,4\nc,0,3600,inference,1,30%,10GiB,4\n"
            .write(to: trace, atomically: true, encoding: .utf8)
        let output = try await cluster.run(
            "schedctl", ["simulate", "--fleet", fleet, "--trace", trace.path, "--policies", "bin-pack", "--json"])
        #expect(output.status == 0, "\(output.stderr)")
        let report = try #require(try WireCodec.value([SimulationReport].self, from: output.stdout).first)
        #expect(report.jobs.allSatisfy { $0.queueingDelay == 0 }, "three 30% shares run at once on the one chip")
        #expect(abs(report.makespan - 3600) < 1)
        #expect(abs((report.utilizationByModel["h100"] ?? 0) - 0.9) < 0.001, "\(report.utilizationByModel)")
    }
}
