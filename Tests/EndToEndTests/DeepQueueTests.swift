import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: a deep queue")
struct DeepQueueTests {
    static let depth = 3_000

    @Test(
        """
        with thousands of jobs waiting, a job that fits is placed and status, health and a paged jobs list \
        answer; after a restart the queue is all there and a job that fits is placed again
        """)
    func deepQueue() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // Small passes, so that a few thousand jobs take many of them.
        let passes = ["--pass-limit", "200", "--pass-head", "20"]
        let coordinator = try await cluster.startCoordinator(extra: passes)
        let port = try #require(cluster.endpoint?.port)
        let fleet = try cluster.fleet(
            """
            name: deep
            nodeGroups:
              - {name: nv, count: 2, model: h100, chipsPerNode: 8, numaNodes: 2}
              - {name: asc, count: 1, model: ascend-910b, chipsPerNode: 8, numaNodes: 2}
            """)
        try cluster.startAgents(fleet: fleet)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 3 })
        // Every H100 is taken for a long time; then thousands of jobs wait for one.
        for holder in ["holder-0", "holder-1"] {
            _ = try await cluster.schedctl([
                "submit", "--id", holder, "--chips", "8", "--tier", "h100", "--simulate", "1000h",
            ])
            _ = try await cluster.waitFor(holder) { $0.state == .running }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<8 {
                group.addTask {
                    try await cluster.session { session in
                        for number in stride(from: client, to: Self.depth, by: 8) {
                            let spec =
                                "{\"id\":\"deep-\(number)\",\"kind\":\"batch\",\"tiers\":[{\"models\":[\"h100\"]}]}"
                            _ = try await session.request(.submit(Submit(spec: spec)), as: SubmitReply.self)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }

        // A job that fits on the other model is placed while they all wait.
        _ = try await cluster.schedctl([
            "submit", "--id", "fits", "--chips", "2", "--tier", "ascend-910b", "--simulate", "1000h",
        ])
        _ = try await cluster.waitFor("fits") { $0.state == .running }
        #expect(try await queuedCount(cluster) == Self.depth)
        // Every waiting job is searched, pass after pass, and says why it waits.
        let last = "deep-\(Self.depth - 1)"
        var reason = ""
        _ = try await eventually(seconds: 30) {
            reason = try await cluster.status(last).reason ?? ""
            return reason.hasPrefix("waiting")
        }
        #expect(reason.hasPrefix("waiting"), "\(reason)")

        // The list comes a page at a time, each page after the last job of the one before.
        let first = try await cluster.schedctl(["jobs", "--state", "queued", "--limit", "100"])
        #expect(first.status == 0, "\(first.stderr)")
        let firstRows = rows(first.stdout)
        #expect(firstRows.count == 100)
        let hint = try #require(first.stderr.range(of: "--after ")).upperBound
        let after = String(first.stderr[hint...].prefix { $0 != " " })
        #expect(after == firstRows.last)
        let second = try await cluster.schedctl(["jobs", "--state", "queued", "--limit", "100", "--after", after])
        let secondRows = rows(second.stdout)
        #expect(secondRows.count == 100)
        #expect(Set(firstRows).isDisjoint(with: secondRows))
        let nobody = try await cluster.schedctl(["jobs", "--user", "nobody-submits-here"])
        #expect(rows(nobody.stdout).isEmpty)
        let mine = try await cluster.schedctl(["jobs", "--state", "running", "--queue", "default", "--limit", "0"])
        #expect(Set(rows(mine.stdout)) == ["holder-0", "holder-1", "fits"])

        // A restart: the queue is all there, a status answers, and a job that fits is placed again.
        cluster.signal(coordinator, SIGTERM)
        #expect(try await cluster.waitForExit(coordinator) == 0)
        try await cluster.startCoordinator(listen: "127.0.0.1:\(port)", extra: passes)
        let status = try await cluster.schedctl(["status", "deep-1500"])
        #expect(status.stdout.contains("job deep-1500: queued"), "\(status.stdout) \(status.stderr)")
        #expect(try await queuedCount(cluster) == Self.depth)
        _ = try await cluster.schedctl([
            "submit", "--id", "fits-again", "--chips", "2", "--tier", "ascend-910b", "--simulate", "1000h",
        ])
        _ = try await cluster.waitFor("fits-again") { $0.state == .running }
        #expect(try await cluster.status("holder-0").state == .running, "the running jobs were kept")
        #expect(try await queuedCount(cluster) == Self.depth)
    }

    @Test(
        "thousands of jobs no tier can hold all fail when the registration grace ends; the coordinator keeps answering")
    func infeasibleAfterGrace() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator(extra: ["--registration-grace", "4", "--pass-limit", "300"])
        let fleet = try cluster.fleet(
            "name: one\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 8}\n")
        try cluster.startAgents(fleet: fleet)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        // No H200 in the fleet: each of these waits as infeasible until the grace ends, then fails.
        let count = 2_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<4 {
                group.addTask {
                    try await cluster.session { session in
                        for number in stride(from: client, to: count, by: 4) {
                            let spec =
                                "{\"id\":\"never-\(number)\",\"kind\":\"batch\",\"tiers\":[{\"models\":[\"h200\"]}]}"
                            _ = try await session.request(.submit(Submit(spec: spec)), as: SubmitReply.self)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        var failed = 0
        _ = try await eventually(seconds: 60) {
            let health = try await cluster.schedctl(["health", "--json"])
            failed = try WireCodec.value(HealthReport.self, from: health.stdout).jobs["failed"] ?? 0
            return failed == count
        }
        #expect(failed == count)
        let last = try await cluster.status("never-\(count - 1)")
        #expect(last.state == .failed)
        #expect(last.reason?.hasPrefix("no tier can ever hold it") == true, "\(last.reason ?? "")")
        _ = try await cluster.schedctl(["submit", "--id", "fits", "--tier", "h100", "--simulate", "1h"])
        _ = try await cluster.waitFor("fits") { $0.state == .running }
    }

    @Test(
        """
        a node of another model that is cordoned and resumed, or whose agent leaves and comes back, sends none \
        of a thousand waiting jobs to be searched again; chips of their own model freed do
        """)
    func otherModelsNodes() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let depth = 1_000
        try await cluster.startCoordinator(extra: ["--pass-limit", "200", "--pass-head", "20", "--http", "127.0.0.1:0"])
        let metrics = try await servedURL(dataDirectory: cluster.dataDirectory) + "metrics"
        // What the passes have searched, all told (the coordinator's own histogram of jobs per pass).
        func searched() throws -> Double {
            try PrometheusText.parse(try httpGet(metrics).body).value("heterosched_scheduling_pass_jobs_sum") ?? 0
        }
        let nvidia = try cluster.fleet(
            "name: nv\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 8}\n", file: "nv.yaml")
        let ascend = try cluster.fleet(
            "name: asc\nnodeGroups:\n  - {name: asc, count: 1, model: ascend-910b, chipsPerNode: 8}\n", file: "asc.yaml"
        )
        try cluster.startAgents(fleet: nvidia, log: "nv-agent.log")
        var ascendAgent = try cluster.startAgents(fleet: ascend, log: "asc-agent-0.log")
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 2 })
        _ = try await cluster.schedctl([
            "submit", "--id", "holder", "--chips", "8", "--tier", "h100", "--simulate", "1000h",
        ])
        _ = try await cluster.waitFor("holder") { $0.state == .running }
        try await cluster.session { session in
            for number in 0..<depth {
                let spec = "{\"id\":\"wait-\(number)\",\"kind\":\"batch\",\"tiers\":[{\"models\":[\"h100\"]}]}"
                _ = try await session.request(.submit(Submit(spec: spec)), as: SubmitReply.self)
            }
        }
        // Every waiting job searched once, and the passes at rest.
        _ = try await cluster.waitFor("wait-\(depth - 1)") { $0.reason?.hasPrefix("waiting") == true }
        var atRest = try searched()
        _ = try await eventually(seconds: 30) {
            try await Task.sleep(for: .seconds(1))
            let now = try searched()
            defer { atRest = now }
            return now == atRest
        }

        // The Ascend node is cordoned and resumed, then its agent is killed and started again; a job
        // placed on it afterwards says a pass has run since.
        for verb in [["cordon", "asc-0", "--reason", "test"], ["resume", "asc-0"]] {
            let answer = try await cluster.schedctl(verb)
            #expect(answer.status == 0, "\(answer.stderr)")
        }
        cluster.signal(ascendAgent, SIGKILL)
        _ = try await cluster.waitForExit(ascendAgent)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        ascendAgent = try cluster.startAgents(fleet: ascend, log: "asc-agent-1.log")
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 2 })
        _ = try await cluster.schedctl(["submit", "--id", "fits", "--tier", "ascend-910b", "--simulate", "1000h"])
        _ = try await cluster.waitFor("fits") { $0.state == .running }
        try await Task.sleep(for: .seconds(2))
        let afterAscend = try searched() - atRest
        #expect(afterAscend < Double(depth / 2), "\(afterAscend) jobs searched: the H100 queue was swept again")

        // The holder ends: H100 chips are free, and every job waiting for them is searched again.
        let before = try searched()
        _ = try await cluster.schedctl(["cancel", "holder"])
        var sinceFreed = 0.0
        _ = try await eventually(seconds: 30) {
            sinceFreed = try searched() - before
            return sinceFreed >= Double(depth - 8)
        }
        #expect(sinceFreed >= Double(depth - 8), "\(sinceFreed) jobs searched after H100 chips were freed")
    }

    func queuedCount(_ cluster: Cluster) async throws -> Int {
        let health = try await cluster.schedctl(["health", "--json"])
        return try WireCodec.value(HealthReport.self, from: health.stdout).jobs["queued"] ?? -1
    }

    /// The job ids of a `schedctl jobs` table.
    func rows(_ table: String) -> [String] {
        table.split(separator: "\n").dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) }
    }
}
