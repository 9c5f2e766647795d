import AgentKit
import Foundation
import SchedStore
import SchedTestSupport
import Testing
import Wire

/// Two coordinators on one PostgreSQL, a leader and a standby: in the PostgreSQL suite, which runs
/// one test at a time (one database server at a time on a loaded machine).
extension PostgresStoreTests {
    static let pairFleet =
        "name: pair\nnodeGroups:\n  - {name: nv, count: 2, model: h100, chipsPerNode: 8, numaNodes: 2}\n"

    /// Two coordinators on one database, each on a port fixed for the test (the others are told
    /// both addresses), the first leading; agents and schedctl are given both.
    final class Pair: @unchecked Sendable {
        let cluster: Cluster
        let server: PostgresServer
        let url: String
        let addresses: [String]
        /// Each one's `--http`, the same port whether it leads or stands by.
        let pages: [String]
        private(set) var peers: [Process] = []

        init(cluster: Cluster) async throws {
            self.cluster = cluster
            server = try PostgresServer()
            url = try server.database()
            addresses = try (0..<2).map { _ in "127.0.0.1:\(try RawListener().port)" }
            pages = try (0..<2).map { _ in "127.0.0.1:\(try RawListener().port)" }
            cluster.coordinators = addresses.joined(separator: ",")
            try await start(0)
            #expect(try await eventually(seconds: 20) { try self.leader() == self.addresses[0] })
            try await start(1)
            #expect(try await eventually(seconds: 20) { self.log(1).contains("standing by on") })
        }

        func dataDirectory(_ index: Int) -> String {
            cluster.directory.appendingPathComponent("coordinator-\(index)").path
        }

        func log(_ index: Int) -> String { cluster.log("peer-\(index).log") }

        func start(_ index: Int) async throws {
            let process = try cluster.start(
                "sched-coordinator",
                [
                    "--listen", addresses[index], "--data-dir", dataDirectory(index), "--token-file", cluster.tokenFile,
                    "--catalog", Repository.path("deploy/catalog/chips.yaml"), "--heartbeat-timeout", "5",
                    "--handshake-timeout", "60", "--store", url, "--lease", "2", "--http", pages[index],
                ], log: "peer-\(index).log")
            peers.append(process)
            let started = try await eventually(seconds: 20) {
                self.log(index).contains("standing by on") || self.log(index).contains("listening on")
            }
            guard started else { throw ClusterError("coordinator \(index) did not start: \(log(index))") }
        }

        /// The address the lease row names while its lease runs.
        func leader() throws -> String? {
            let text = try server.psql(url, "SELECT address FROM leader_lease WHERE expires_at > now()")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : text
        }

        /// Simulated agents for a two-node fleet, given both addresses; once both nodes are connected,
        /// the path of their attempt log.
        func startAgents() async throws -> String {
            let attemptLog = cluster.directory.appendingPathComponent("attempts.jsonl").path
            try cluster.startAgents(
                fleet: try cluster.fleet(PostgresStoreTests.pairFleet), extra: ["--attempt-log", attemptLog])
            #expect(try await eventually(seconds: 20) { try await self.cluster.connectedNodes() == 2 })
            return attemptLog
        }

        func placementLog(_ index: Int) -> String {
            (try? String(contentsOfFile: dataDirectory(index) + "/placement-log.jsonl", encoding: .utf8)) ?? ""
        }
    }

    /// `schedctl submit` after `schedctl submit`, each a process given both addresses, until told to
    /// stop; the ids acknowledged (exit 0) and when each was.
    final class SubmitStream: @unchecked Sendable {
        let cluster: Cluster
        private let lock = NSLock()
        private var acknowledged: [(id: String, at: ContinuousClock.Instant)] = []
        private var refused: [String] = []
        private var stop = false

        init(cluster: Cluster) { self.cluster = cluster }

        var ids: [String] { lock.withLock { acknowledged.map(\.id) } }
        var failures: [String] { lock.withLock { refused } }
        func finish() { lock.withLock { stop = true } }
        func acknowledged(after instant: ContinuousClock.Instant) -> [ContinuousClock.Instant] {
            lock.withLock { acknowledged.map(\.at).filter { $0 > instant } }
        }

        func run(limit: Int) async {
            for number in 0..<limit where !lock.withLock({ stop }) {
                let id = "s-\(number)"
                guard
                    let output = try? await cluster.schedctl([
                        "submit", "--id", id, "--chips", "1", "--simulate", "1m",
                    ])
                else { continue }
                lock.withLock {
                    if output.status == 0 {
                        acknowledged.append((id, ContinuousClock.now))
                    } else {
                        refused.append("\(id): \(output.stderr)")
                    }
                }
            }
        }
    }

    @Test(
        "the leader killed with SIGKILL during a submission stream: the standby takes over, every acknowledged submission is there, running attempts go on, and schedctl and the agents follow without being told"
    )
    func takeOverAfterSIGKILL() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let pair = try await Pair(cluster: cluster)
        let attemptLog = try await pair.startAgents()
        // Jobs running across the take-over (100 h at 600x: ten minutes, longer than the test on a
        // loaded machine, where 10 h had ended before the take-over was checked).
        let long = (0..<4).map { "long-\($0)" }
        for id in long {
            let reply = try await cluster.schedctl(["submit", "--id", id, "--chips", "2", "--simulate", "100h"])
            #expect(reply.status == 0, "\(reply.stderr)")
        }
        for id in long { _ = try await cluster.waitFor(id) { $0.state == .running } }

        let stream = SubmitStream(cluster: cluster)
        let submitting = Task { await stream.run(limit: 60) }
        #expect(try await eventually(seconds: 30) { stream.ids.count >= 8 })
        let killed = ContinuousClock.now
        cluster.signal(pair.peers[0], SIGKILL)
        _ = try await cluster.waitForExit(pair.peers[0])
        #expect(try await eventually(seconds: 30) { stream.acknowledged(after: killed).count >= 8 })
        stream.finish()
        await submitting.value
        let firstAfter = stream.acknowledged(after: killed).first.map { $0 - killed }
        print("take-over: first submission acknowledged \(firstAfter.map { "\($0)" } ?? "never") after the SIGKILL")

        #expect(try pair.leader() == pair.addresses[1])
        #expect(pair.log(1).contains("took the lease (epoch 2): leading"))
        // Every acknowledged submission is in the new leader's store.
        let listed = try await cluster.schedctl(["jobs", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let records = try WireCodec.value([JobRecord].self, from: listed.stdout)
        let stored = Set(records.map(\.id))
        let lost = stream.ids.filter { !stored.contains($0) }
        #expect(lost.isEmpty, "acknowledged, then lost: \(lost)")
        #expect(stream.ids.count >= 16)
        // The running attempts went on: still running, still their first attempt.
        for id in long {
            let record = records.first { $0.id == id }
            #expect(record?.state == .running && record?.attempt == 1, "\(id): \(String(describing: record?.state))")
        }
        // The agents followed: both nodes connected to the new leader.
        #expect(try await eventually(seconds: 30) { try await cluster.connectedNodes() == 2 })
        // The short jobs run to their end on the new leader's orders.
        #expect(
            try await eventually(seconds: 60) {
                let output = try await cluster.schedctl(["jobs", "--json"])
                let now = try WireCodec.value([JobRecord].self, from: output.stdout)
                return now.filter { $0.id.hasPrefix("s-") }.allSatisfy { $0.state == .completed }
            })
        let record = try AttemptRecord(path: attemptLog)
        #expect(record.doubleHeld.isEmpty, "chips held by two attempts at once: \(record.doubleHeld)")
        #expect(record.restarted.isEmpty, "jobs started twice: \(record.restarted)")
    }

    @Test(
        "a leader stopped (SIGSTOP) until the standby took over writes nothing once it wakes (SIGCONT), steps down and points clients to the new leader"
    )
    func fencedOldLeader() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let pair = try await Pair(cluster: cluster)
        let attemptLog = try await pair.startAgents()
        let long = (0..<2).map { "long-\($0)" }
        for id in long {
            #expect(
                try await cluster.schedctl(["submit", "--id", id, "--chips", "4", "--simulate", "100h"]).status == 0)
        }
        for id in long { _ = try await cluster.waitFor(id) { $0.state == .running } }

        let oldLeader = pair.peers[0]
        // A session opened with the leader before it stops, whose submission reaches it only as it
        // wakes: the first thing it would write.
        let (sent, sending) = AsyncStream<Void>.makeStream()
        let (stopped, stopping) = AsyncStream<Void>.makeStream()
        let lateSubmission = Task {
            try await WireClient.withSession(
                to: WireEndpoint(pair.addresses[0])!, token: cluster.token, hello: Hello(role: .client)
            ) { session -> String in
                sending.yield()
                for await _ in stopped { break }
                let spec = "{\"id\":\"late\",\"kind\":\"batch\",\"chipsPerNode\":1,\"simulate\":{\"duration\":\"1m\"}}"
                try await session.send(.submit(Submit(spec: spec)))
                return String(describing: try await session.receive())
            }
        }
        for await _ in sent { break }
        cluster.signal(oldLeader, SIGSTOP)
        defer { cluster.signal(oldLeader, SIGCONT) }
        stopping.yield()
        #expect(try await eventually(seconds: 20) { try pair.leader() == pair.addresses[1] })
        // A stopped process keeps its connections open: the agents notice its silence and move.
        // (The new leader first, here: a client that dials the stopped one waits out its answer.)
        cluster.coordinators = [pair.addresses[1], pair.addresses[0]].joined(separator: ",")
        #expect(try await eventually(seconds: 40) { try await cluster.connectedNodes() == 2 })
        #expect(
            try await cluster.schedctl(["submit", "--id", "after", "--chips", "1", "--simulate", "1m"]).status == 0)
        let writtenBefore = pair.placementLog(0)

        cluster.signal(oldLeader, SIGCONT)
        #expect(try await eventually(seconds: 20) { pair.log(0).contains("stepped down") })
        // The submission it read on waking was not acknowledged, and is nowhere; nothing it would
        // have logged was stored, so nothing was published either.
        let lateReply = try? await lateSubmission.value
        #expect(lateReply?.contains("ok(") != true, "the fenced leader acknowledged: \(lateReply ?? "")")
        try await Task.sleep(for: .seconds(2))
        #expect(pair.placementLog(0) == writtenBefore, "the old leader wrote after waking")
        #expect(try pair.server.psql(pair.url, "SELECT count(*) FROM job WHERE id = 'late'") == "0\n")
        #expect(oldLeader.isRunning, "it goes back to standing by")
        #expect(try pair.leader() == pair.addresses[1])

        // As a standby it answers with the leader's address; schedctl given only it gets there.
        let standby = try BlockingWireSession.connected(
            to: WireEndpoint(pair.addresses[0])!, tls: WireTLS.tokenBound)
        standby.setReadTimeout(.seconds(10))
        try standby.send(.hello(Hello(role: .client)))
        let answer = try? standby.receive()
        guard case .err(let reply) = answer else {
            Issue.record("the old leader answered HELLO with \(String(describing: answer))")
            return
        }
        #expect(reply.code == .notLeader)
        #expect(reply.leader == pair.addresses[1])
        // Its HTTP port passed from its leader's server to its standby's.
        #expect(
            try await eventually(seconds: 10) {
                (try? httpGet("http://\(pair.pages[0])/leader"))?.status == 503
            })
        cluster.coordinators = pair.addresses[0]
        let listed = try await cluster.schedctl(["jobs", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let records = try WireCodec.value([JobRecord].self, from: listed.stdout)
        #expect(records.map(\.id).sorted() == ["after", "long-0", "long-1"])
        for id in long {
            let record = records.first { $0.id == id }
            #expect(record?.state == .running && record?.attempt == 1, "\(id) ran on across both changes")
        }
        let record = try AttemptRecord(path: attemptLog)
        #expect(record.doubleHeld.isEmpty, "chips held by two attempts at once: \(record.doubleHeld)")
        #expect(record.restarted.isEmpty, "jobs started twice: \(record.restarted)")
    }
}

extension PostgresStoreTests {
    @Test(
        "a standby's HTTP side says who leads: /healthz 200, /leader 503, heterosched_leader 0, the page's paths 503; at a take-over its port serves the leader's page"
    )
    func standbyHTTP() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let pair = try await Pair(cluster: cluster)
        let leader = "http://\(pair.pages[0])"
        let standby = "http://\(pair.pages[1])"
        #expect(
            try await eventually(seconds: 10) {
                (try? httpGet(standby + "/healthz"))?.body.contains("\(pair.addresses[0]) leads") == true
            })
        let health = try httpGet(standby + "/healthz")
        #expect(health.status == 200)
        #expect(health.body == "standby; \(pair.addresses[0]) leads (epoch 1)\n")
        #expect(try httpGet(standby + "/leader").status == 503)
        let leading = try httpGet(leader + "/leader")
        #expect(leading.status == 200 && leading.body == "leader\n", "\(leading)")
        #expect(try httpGet(leader + "/healthz").body == "ok\n")
        for path in ["/", "/api/jobs", "/api/jobs/x"] {
            let page = try httpGet(standby + path)
            #expect(page.status == 503, "\(path)")
            #expect(page.body.contains("\(pair.addresses[0]) leads"), "\(path): \(page.body)")
        }
        /// The value of `heterosched_leader` a scrape gives.
        func leaderGauge(_ url: String) throws -> Double? {
            try httpGet(url + "/metrics").body.split(separator: "\n").lazy
                .compactMap { line in line.hasPrefix("heterosched_leader ") ? Double(line.dropFirst(19)) : nil }.first
        }
        let standbyMetrics = try httpGet(standby + "/metrics")
        #expect(standbyMetrics.status == 200)
        #expect(standbyMetrics.body.contains("# TYPE heterosched_leader gauge"))
        #expect(try leaderGauge(standby) == 0)
        #expect(try leaderGauge(leader) == 1)

        // A clean stop gives the lease back: the standby leads, on the same HTTP port.
        cluster.signal(pair.peers[0], SIGTERM)
        _ = try await cluster.waitForExit(pair.peers[0])
        #expect(
            try await eventually(seconds: 20) {
                (try? httpGet(standby + "/leader"))?.status == 200
            })
        #expect(try leaderGauge(standby) == 1)
        #expect(try httpGet(standby + "/api/jobs").status == 200)
        let url = try await servedURL(dataDirectory: pair.dataDirectory(1))
        #expect(url == standby + "/")
    }
}

/// The leader lease in the store itself.
extension PostgresStoreTests {
    static func event(_ seq: Int) -> PlacementEvent {
        PlacementEvent(seq: seq, time: Double(seq), kind: .nodeRegistered, node: "n", message: "event \(seq)")
    }

    @Test(
        "one coordinator holds the lease at a time, each new holder's epoch is one more, and a write under a term no longer current is refused and leaves nothing"
    )
    func fencing() async throws {
        let server = try PostgresServer()
        let url = try server.database()
        let first = try await Self.openStore(url)
        let second = try await Self.openStore(url)
        let term = try #require(
            try await first.acquireLease(holder: "a", address: "10.0.0.1:7070", duration: .milliseconds(1500)))
        #expect(try await second.acquireLease(holder: "b", address: "10.0.0.2:7070", duration: .seconds(5)) == nil)
        #expect(try await second.leaderStatus() == LeaderStatus(epoch: term.epoch, address: "10.0.0.1:7070"))
        first.fence(with: term)
        try await first.apply([StoreChanges(events: [Self.event(1)])])
        #expect(try await first.renewLease(term, duration: .milliseconds(500)))

        // Not renewed: it lapses, and the other takes it.
        try await Task.sleep(for: .milliseconds(700))
        #expect(try await second.leaderStatus().address == nil, "a lapsed lease names no leader")
        let next = try #require(
            try await second.acquireLease(holder: "b", address: "10.0.0.2:7070", duration: .seconds(5)))
        #expect(next.epoch == term.epoch + 1)
        #expect(try await first.renewLease(term, duration: .seconds(5)) == false)
        await #expect(throws: StoreFenced.self) { try await first.apply([StoreChanges(events: [Self.event(2)])]) }
        #expect(first.isFenced)
        #expect(try server.psql(url, "SELECT seq FROM event ORDER BY seq") == "1\n")

        second.fence(with: next)
        try await second.apply([StoreChanges(events: [Self.event(2)])])
        #expect(try server.psql(url, "SELECT seq FROM event ORDER BY seq") == "1\n2\n")
        // Given back: free at once, to a holder whose epoch is one more again.
        try await second.releaseLease(next)
        #expect(try await first.leaderStatus().address == nil)
        let third = try await first.acquireLease(holder: "a", address: "10.0.0.1:7070", duration: .seconds(5))
        #expect(third?.epoch == next.epoch + 1)
    }
}
