import Foundation
import SchedCore
import SchedTestSupport
import Testing
import Wire

/// Login, service and CPU nodes: a host without accelerators joins with its cores and memory.
@Suite("End to end: a host without accelerators", .serialized)
struct CPUOnlyNodeTests {
    @Test(
        "a host without accelerators joins as a CPU-only node: nodes shows its cores and memory, a job of cores only runs there pinned to its core, a chip job waits"
    )
    func joinsAndRuns() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let host = try FakeHost.cpuOnly(at: cluster.directory.appendingPathComponent("host").path)
        try await cluster.startCoordinator()
        try cluster.startHostAgent(
            host, data: cluster.directory.appendingPathComponent("agent-data").path, name: "login-0")
        let joined = try await eventually(seconds: 20) {
            let listed = try await cluster.schedctl(["nodes", "--json"])
            let node = try? WireCodec.value([NodeStatus].self, from: listed.stdout).first
            return node?.connected == true && node?.node.chips.isEmpty == true && node?.node.numaNodes.count == 2
        }
        #expect(joined, "\(cluster.log("host-agent.log"))")
        #expect(
            cluster.log("host-agent.log").contains("no accelerators found: a CPU-only node of 32 cores and 128 GiB"))
        let table = try await cluster.schedctl(["nodes"]).stdout
        let row = table.split(separator: "\n").first { $0.hasPrefix("login-0") }.map {
            $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        }
        #expect(row?[1] == "ready" && row?[2] == "cpu-only" && row?[3] == "0" && row?[9] == "0/32", "\(table)")

        let submitted = try await cluster.schedctl([
            "submit", "--id", "cores", "--chips", "0", "--cpus", "1", "--memory", "256MiB", "--", "sh", "-c",
            "grep Cpus_allowed_list /proc/self/status",
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let done = try await cluster.waitFor("cores") { $0.state.isFinal }
        #expect(done.state == .completed, "\(done.reason ?? "") \(done.lastExit ?? "")")
        let assignment = try #require(done.placement?.assignments.first)
        #expect(assignment.node == "login-0" && assignment.chips.isEmpty && assignment.host?.cpus == [0])
        let logs = try await cluster.schedctl(["logs", "cores"])
        #expect(logs.stdout.contains("Cpus_allowed_list:\t0\n"), "\(logs.stdout)")

        // A job that needs a chip is not placed on it, and says why: it waits, or, once agents have had
        // their time to register (a loaded machine may take that long), fails as no node can ever hold it.
        _ = try await cluster.schedctl(["submit", "--id", "gpu", "--chips", "1", "--tier", "h100", "--", "true"])
        try await Task.sleep(for: .seconds(2))
        let refused = try await cluster.status("gpu")
        #expect(refused.state == .queued || refused.state == .failed, "\(refused.state)")
        #expect(refused.placement == nil && refused.startedAt == nil)
        #expect(
            refused.reason?.contains("no node in the fleet has chips that tier h100 accepts") == true,
            "\(refused.reason ?? "")")
    }
}
