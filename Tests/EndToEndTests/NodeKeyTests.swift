import Foundation
import SchedCore
import SchedTestSupport
import Testing
import Wire

/// A node's name belongs to its key: an impostor holding the shared token is refused.
@Suite("End to end: one host, one node (node keys)", .serialized)
struct NodeKeyTests {
    /// What the coordinator answers an agent that proves `key` and registers `node` (one H100).
    /// The coordinator's answer to a registration; a connection that broke on the way (not an
    /// `ERR`: a loaded machine's) is tried again, as an agent would, up to three times.
    static func register(_ cluster: Cluster, _ node: String, key: NodeKey) async throws -> String {
        var broken: (any Error)?
        for _ in 0..<3 {
            do {
                return try await WireClient.withSession(
                    to: cluster.endpoint!, token: cluster.token, hello: Hello(role: .agent, node: node), nodeKey: key
                ) { session in
                    let inventory = Node(
                        id: NodeID(node), chips: [Chip(index: 0, model: "h100", memoryGiB: 80, numaNode: 0)],
                        numaNodes: [NUMANode(id: 0, cpus: [0, 1], memoryGiB: 64)])
                    try await session.send(.register(Register(node: inventory)))
                    return (try await session.receive()).map(WireCodec.encode) ?? "closed"
                }
            } catch let refusal as ErrorReply {
                throw refusal
            } catch {
                broken = error
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        throw broken ?? ClusterError("no answer")
    }

    static func status(_ cluster: Cluster, _ node: String) async throws -> NodeStatus? {
        let listed = try await cluster.schedctl(["nodes", "--json"])
        return try? WireCodec.value([NodeStatus].self, from: listed.stdout).first { $0.node.id.name == node }
    }

    @Test(
        "a host agent's key binds its node; an impostor with the token is refused while it runs, while it is away and after a coordinator restart; forget-node lets a reinstalled host bind its new key"
    )
    func impostorRefused() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("host").path)
        let data = cluster.directory.appendingPathComponent("agent-data").path
        let coordinator = try await cluster.startCoordinator()
        let agent = try cluster.startHostAgent(host, data: data)
        let bound = try await eventually(seconds: 20) {
            try await Self.status(cluster, "asc-host")?.connected == true
        }
        #expect(bound, "\(cluster.log("host-agent.log"))")
        // The key the agent made in its data directory is the one the coordinator bound, as
        // `sched-agent node-key` prints it for an operator's list.
        let printed = try await cluster.run(
            "sched-agent", ["node-key", "--data-dir", data, "--node-name", "asc-host"])
        #expect(printed.status == 0, "\(printed.stderr)")
        let fingerprint = try await Self.status(cluster, "asc-host")?.nodeKey
        #expect(fingerprint != nil && printed.stdout == "asc-host \(fingerprint ?? "")\n", "\(printed.stdout)")
        let mode = try FileManager.default.attributesOfItem(atPath: data + "/node-key.pem")[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let impostor = NodeKey()
        let whileRunning = try await Self.register(cluster, "asc-host", key: impostor)
        #expect(
            whileRunning.hasPrefix("ERR {\"code\":\"forbidden\"") && whileRunning.contains("bound to node key"),
            "\(whileRunning)")
        #expect(cluster.log("coordinator-0.log").contains("refused node asc-host"))

        cluster.signal(agent, SIGTERM)
        _ = try await cluster.waitForExit(agent)
        #expect(try await eventually(seconds: 20) { try await Self.status(cluster, "asc-host")?.connected == false })
        let whileAway = try await Self.register(cluster, "asc-host", key: impostor)
        #expect(whileAway.hasPrefix("ERR {\"code\":\"forbidden\""), "\(whileAway)")

        // A restart keeps the binding: the store has it.
        cluster.signal(coordinator, SIGTERM)
        _ = try await cluster.waitForExit(coordinator)
        try await cluster.startCoordinator()
        let afterRestart = try await Self.register(cluster, "asc-host", key: impostor)
        #expect(afterRestart.hasPrefix("ERR {\"code\":\"forbidden\""), "\(afterRestart)")
        #expect(try await Self.status(cluster, "asc-host")?.nodeKey == fingerprint)
        let back = try cluster.startHostAgent(host, data: data, log: "host-agent-2.log")
        #expect(
            try await eventually(seconds: 20) { try await Self.status(cluster, "asc-host")?.connected == true },
            "\(cluster.log("host-agent-2.log"))")

        // Reinstalled with a new key: refused until an operator forgets the node.
        cluster.signal(back, SIGTERM)
        _ = try await cluster.waitForExit(back)
        #expect(try await eventually(seconds: 20) { try await Self.status(cluster, "asc-host")?.connected == false })
        let reinstalled = NodeKey()
        #expect(try await Self.register(cluster, "asc-host", key: reinstalled).hasPrefix("ERR {\"code\":\"forbidden\""))
        let forgot = try await cluster.schedctl(["forget-node", "asc-host"])
        #expect(forgot.status == 0, "\(forgot.stderr)")
        let rebound = try await Self.register(cluster, "asc-host", key: reinstalled)
        #expect(rebound.hasPrefix("OK"), "\(rebound)")
        #expect(try await Self.status(cluster, "asc-host")?.nodeKey == reinstalled.fingerprint)
    }

    @Test(
        "with --node-keys only the listed nodes register, each with its own key; SIGHUP reads the list again; a bad list stops the start naming its line"
    )
    func listedNodes() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let listed = NodeKey()
        let newcomer = NodeKey()
        let file = cluster.directory.appendingPathComponent("node-keys").path
        try "# node and key, as sched-agent node-key prints them\nlisted \(listed.fingerprint)\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let coordinator = try await cluster.startCoordinator(extra: ["--node-keys", file])
        #expect(try await Self.register(cluster, "listed", key: listed).hasPrefix("OK"))
        let wrongKey = try await Self.register(cluster, "listed", key: newcomer)
        #expect(wrongKey.hasPrefix("ERR {\"code\":\"forbidden\"") && wrongKey.contains(file), "\(wrongKey)")
        let unlisted = try await Self.register(cluster, "newcomer", key: newcomer)
        #expect(
            unlisted.hasPrefix("ERR {\"code\":\"forbidden\"")
                && unlisted.contains("not in the coordinator's node list"),
            "\(unlisted)")

        try "listed \(listed.fingerprint)\nnewcomer \(newcomer.fingerprint)  # racked today\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        cluster.signal(coordinator, SIGHUP)
        let admitted = try await eventually(seconds: 10) {
            try await Self.register(cluster, "newcomer", key: newcomer).hasPrefix("OK")
        }
        #expect(admitted, "\(cluster.log("coordinator-0.log"))")

        let bad = cluster.directory.appendingPathComponent("bad-keys").path
        try "listed \(listed.fingerprint)\nnewcomer sha1:abc\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try await cluster.run(
            "sched-coordinator",
            [
                "--data-dir", cluster.directory.appendingPathComponent("other").path, "--token-file", cluster.tokenFile,
                "--listen", "127.0.0.1:0", "--node-keys", bad,
            ])
        #expect(refused.status != 0 && refused.stderr.contains("\(bad) line 2"), "\(refused.stderr)")
    }
}
