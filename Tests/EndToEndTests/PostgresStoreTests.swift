import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite(
    "End to end: the PostgreSQL store", .serialized,
    .enabled(if: PostgresServer.binaries != nil, "no PostgreSQL here: scripts/setup.sh --tests installs Debian's"))
struct PostgresStoreTests {
    static let smallFleet =
        "name: small\nnodeGroups:\n  - {name: nv, count: 2, model: h100, chipsPerNode: 8, numaNodes: 2}\n"

    @Test(
        "sched-coordinator --store postgres://…: the schedctl flow; a coordinator killed with SIGKILL right after acknowledging comes back with every job; the schema is made once"
    )
    func flowAndRestart() async throws {
        let server = try PostgresServer()
        let url = try server.database()
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let coordinator = try await cluster.startCoordinator(extra: ["--store", url])
        #expect(cluster.log("coordinator-0.log").contains("state in postgres://postgres@127.0.0.1:\(server.port)/"))
        try cluster.startAgents(fleet: try cluster.fleet(Self.smallFleet))
        var submitted: [String] = []
        for number in 0..<12 {
            let id = "pg-\(number)"
            let reply = try await cluster.schedctl([
                "submit", "--id", id, "--chips", "2", "--tier", "h100", "--simulate", number < 4 ? "1m" : "10h",
            ])
            #expect(reply.status == 0, "\(reply.stderr)")
            submitted.append(id)
        }
        let done = try await cluster.waitFor("pg-0") { $0.state == .completed }
        #expect(done.placement?.chipModel == "h100")
        // Acknowledged means committed: every one is in PostgreSQL before the kill.
        #expect(
            try server.psql(url, "SELECT count(*) FROM job").trimmingCharacters(in: .whitespacesAndNewlines) == "12")
        kill(coordinator.processIdentifier, SIGKILL)
        coordinator.waitUntilExit()
        try await cluster.startCoordinator(extra: ["--store", url])
        let listed = try await cluster.schedctl(["jobs", "--json"])
        let records = try WireCodec.value([JobRecord].self, from: listed.stdout)
        #expect(records.map(\.id).sorted() == submitted.sorted())
        #expect(records.first { $0.id == "pg-0" }?.state == .completed)
        _ = try await cluster.waitFor("pg-3") { $0.state == .completed }
        let running = records.filter { $0.state == .running }.map(\.id)
        #expect(running.count == 8, "the long jobs still run across the restart: \(running)")
        let logs = try await cluster.schedctl(["logs", "pg-0", "--events", "--json"])
        #expect(logs.stdout.contains("\"kind\":\"completed\""))
        #expect(
            try server.psql(url, "SELECT name FROM schema_migration ORDER BY name")
                == "v1-jobs-events-nodes-quarantine\nv2-leader-lease\n")
    }

    @Test("a row that cannot be read back is set aside in the quarantine table and reported; the rest is served")
    func quarantine() async throws {
        let server = try PostgresServer()
        let url = try server.database()
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let coordinator = try await cluster.startCoordinator(extra: ["--store", url])
        for id in ["good", "poisoned"] {
            #expect(try await cluster.schedctl(["submit", "--id", id, "--chips", "1", "--simulate", "1m"]).status == 0)
        }
        kill(coordinator.processIdentifier, SIGTERM)
        coordinator.waitUntilExit()
        try server.psql(url, "UPDATE job SET record = '{\"job\": ' WHERE id = 'poisoned'")
        try await cluster.startCoordinator(extra: ["--store", url])
        let health = try await cluster.schedctl(["health", "--json"])
        #expect(health.status == 1, "health exits 1 while records are quarantined")
        let report = try WireCodec.value(HealthReport.self, from: health.stdout)
        #expect(report.quarantined.map(\.key) == ["poisoned"])
        #expect(report.quarantined.first?.reason.hasPrefix("unreadable") == true)
        let listed = try WireCodec.value([JobRecord].self, from: try await cluster.schedctl(["jobs", "--json"]).stdout)
        #expect(listed.map(\.id) == ["good"])
        #expect(try server.psql(url, "SELECT key, record FROM quarantine") == "poisoned|{\"job\": \n")
    }

    @Test("a --store that is not a PostgreSQL URL, or a server that does not answer, is refused at start with why")
    func refusals() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let data = cluster.directory.appendingPathComponent("data").path
        let bad = try await cluster.run(
            "sched-coordinator", ["--store", "mysql://x", "--data-dir", data, "--token-file", cluster.tokenFile])
        #expect(bad.status != 0 && bad.stderr.contains("--store is sqlite or postgres://"), "\(bad.stderr)")
        let port = try PostgresServer.freePort()
        let away = try await cluster.run(
            "sched-coordinator",
            [
                "--store", "postgres://heterosched:secret@127.0.0.1:\(port)/fleet", "--data-dir", data, "--token-file",
                cluster.tokenFile,
            ])
        #expect(away.status != 0, "\(away.stdout)")
        #expect(away.stderr.contains("cannot prepare the store at postgres://heterosched@127.0.0.1:\(port)/fleet"))
        #expect(!away.stderr.contains("secret"), "the password is not printed: \(away.stderr)")
    }
}
