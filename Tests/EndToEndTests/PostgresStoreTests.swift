import Foundation
import SchedCore
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
        // The long jobs running before the kill (a loaded machine may start one after pg-0 ends).
        for number in 4..<12 { _ = try await cluster.waitFor("pg-\(number)") { $0.state == .running } }
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
        // Accounting is in PostgreSQL too: the short jobs' attempts, found by job and by window.
        let history = try await cluster.schedctl(["history", "--json", "--model", "h100", "--since", "1d"])
        let accounts = try WireCodec.value([AttemptAccount].self, from: history.stdout)
        #expect(
            accounts.contains { $0.job == "pg-0" && $0.outcome == "completed" && $0.chips == 2 }, "\(history.stdout)")
        let one = try await cluster.schedctl(["history", "--json", "--job", "pg-0"])
        #expect(try WireCodec.value([AttemptAccount].self, from: one.stdout).map(\.job) == ["pg-0"])
        #expect(
            try server.psql(url, "SELECT name FROM schema_migration ORDER BY name")
                == "v1-jobs-events-nodes-quarantine\nv2-leader-lease\nv3-accounts\nv4-reservations\nv5-apply-function\n"
        )
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
        // Who answers, and the second term of the lease (the first coordinator gave it back).
        #expect(report.leader?.contains(" pid ") == true && report.epoch.map { $0 >= 2 } == true, "\(health.stdout)")
        #expect(report.quarantined.first?.reason.hasPrefix("unreadable") == true)
        let listed = try WireCodec.value([JobRecord].self, from: try await cluster.schedctl(["jobs", "--json"]).stdout)
        #expect(listed.map(\.id) == ["good"])
        #expect(try server.psql(url, "SELECT key, record FROM quarantine") == "poisoned|{\"job\": \n")
    }

    @Test(
        "an attempt that completes while its preemption is being stored is completed, not fenced: the preemptor starts at once"
    )
    func endDuringPreemptionCommit() async throws {
        let server = try PostgresServer()
        let url = try server.database()
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // A raw socket speaks the protocol by hand: plain TCP.
        cluster.plainTCP = true
        // This agent sends no heartbeats: its node must not be lost on a slow machine meanwhile. A
        // commit held on a lock holds up the lease's renewal too: a long lease, so that the
        // coordinator does not step down while the test holds it.
        try await cluster.startCoordinator(extra: ["--store", url, "--heartbeat-timeout", "600", "--lease", "600"])
        let node = Node(
            id: "one", chips: [Chip(index: 0, model: "h100", memoryGiB: 80, numaNode: 0)],
            numaNodes: [NUMANode(id: 0, cpus: [0, 1], memoryGiB: 64)])
        let agent = try RawSocket(cluster.endpoint!)
        #expect(agent.handshake(token: cluster.token, role: .agent, node: "one"))
        agent.send(line: WireCodec.encode(.register(Register(node: node, running: []))))
        #expect(agent.readLine()?.hasPrefix("OK") == true)
        #expect(try await cluster.schedctl(["submit", "--id", "victim", "--chips", "1", "--", "true"]).status == 0)
        guard let line = agent.readLine(seconds: 10), case .run(let run) = try? WireCodec.decode(line).get() else {
            Issue.record("no RUN for the victim")
            return
        }
        agent.send(line: WireCodec.encode(.started(AttemptRef(job: run.job, attempt: run.attempt))))
        _ = try await cluster.waitFor("victim") { $0.state == .running }

        // Another session holds the victim's row: the commit that preempts it waits on that lock
        // until the test lets it go, with the decision taken and the order to stop not yet sent.
        let locker = Task.detached {
            try? server.psql(
                url, "BEGIN; SELECT id FROM job WHERE id = 'victim' FOR UPDATE; SELECT pg_sleep(60); COMMIT")
        }
        func count(_ condition: String) throws -> String {
            try server.psql(url, "SELECT count(*) FROM pg_stat_activity WHERE \(condition)")
        }
        // psql takes its time to start on a loaded machine.
        #expect(try await eventually(seconds: 60) { try count("wait_event = 'PgSleep'") == "1\n" })
        let submitted = try await cluster.schedctl([
            "submit", "--id", "preemptor", "--chips", "1", "--priority", "10", "--", "true",
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        // Whatever waits on a lock waits on ours: the preemption's commit (and the lease's renewal
        // behind it, on a slow machine).
        #expect(
            try await eventually(seconds: 60) { try count("wait_event_type = 'Lock'") != "0\n" },
            "the preemption's commit waits on the row lock")
        // The victim ends on its own, before any order to stop it: the agent says so.
        agent.send(line: WireCodec.encode(.exited(Exit(job: "victim", attempt: 1, outcome: .completed))))
        try await Task.sleep(for: .milliseconds(300))
        try server.psql(url, "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")
        await locker.value

        // The end is acknowledged, no KILL is sent for an attempt that is over, and the preemptor
        // gets the chip.
        var seen: [String] = []
        var preemptorRuns = false
        let deadline = Date().addingTimeInterval(15)
        while !preemptorRuns && Date() < deadline {
            guard let line = agent.readLine(seconds: 1) else { continue }
            seen.append(line)
            if case .run(let order) = try? WireCodec.decode(line).get(), order.job == "preemptor" {
                preemptorRuns = true
            }
        }
        #expect(preemptorRuns, "the preemptor starts; the agent was sent: \(seen)")
        #expect(!seen.contains { $0.hasPrefix("KILL") }, "\(seen)")
        let victim = try await cluster.status("victim")
        #expect(victim.state == .completed, "its work is done: it does not run again (\(victim.state))")
        let events = try await cluster.schedctl(["logs", "victim", "--events"]).stdout
        #expect(
            events.contains("preempted victim attempt 1") && events.contains("before the order to stop it"), "\(events)"
        )
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
