import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: job dependencies", .serialized)
struct DependencyTests {
    @Test(
        "a chain runs in order; a failed parent fails its afterok children (and theirs), runs afternotok and afterany ones"
    )
    func chain() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.startOneHost()
        func submit(_ id: String, _ command: String, depends: String? = nil) async throws -> Cluster.Output {
            try await cluster.schedctl(
                ["submit", "--id", id, "--chips", "1", "--tier", "ascend-910b"]
                    + (depends.map { ["--depends", $0] } ?? []) + ["--", "sh", "-c", command])
        }
        // prepare runs until the test lets it end, so that what waits on it can be looked at first.
        let gate = cluster.directory.appendingPathComponent("prepare-may-end").path
        // Opened however the test ends, so that a failed expectation leaves no job looping.
        defer { FileManager.default.createFile(atPath: gate, contents: nil) }
        _ = try await submit("prepare", "while [ ! -e '\(gate)' ]; do sleep 0.05; done")
        _ = try await submit("train", "sleep 0.5", depends: "afterok:prepare")
        _ = try await submit("evaluate", "true", depends: "afterok:train")
        _ = try await submit("broken", "exit 3")
        _ = try await submit("after-broken", "true", depends: "afterok:broken")
        _ = try await submit("grandchild", "true", depends: "afterany:after-broken")
        _ = try await submit("cleanup", "true", depends: "afternotok:broken,afterany:prepare")
        let held = try await cluster.schedctl(["status", "evaluate"])
        #expect(held.stdout.contains("depends on  afterok:train"), "\(held.stdout)")
        #expect(held.stdout.contains("held until afterok:train ("), "\(held.stdout)")

        let unknown = try await submit("orphan", "true", depends: "afterok:no-such-job")
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("depends on afterok:no-such-job, but there is no job 'no-such-job'"))
        let bad = try await submit("typo", "true", depends: "after:prepare")
        #expect(bad.stderr.contains("'after:prepare' is not a dependency; write afterok:JOB"), "\(bad.stderr)")
        _ = try await cluster.waitFor("prepare") { $0.state == .running }
        #expect(try await cluster.status("train").state == .queued)
        FileManager.default.createFile(atPath: gate, contents: nil)

        let evaluate = try await cluster.waitFor("evaluate", seconds: 30) { $0.state.isFinal }
        let train = try await cluster.status("train")
        let prepare = try await cluster.status("prepare")
        #expect(evaluate.state == .completed && train.state == .completed && prepare.state == .completed)
        #expect(try #require(train.startedAt) >= #require(prepare.endedAt))
        #expect(try #require(evaluate.startedAt) >= #require(train.endedAt))

        let child = try await cluster.waitFor("after-broken") { $0.state.isFinal }
        #expect(child.state == .failed)
        #expect(child.reason == "dependency afterok:broken can never be met: broken failed", "\(child.reason ?? "")")
        #expect(child.attempt == 0, "never ran")
        let grandchild = try await cluster.waitFor("grandchild") { $0.state.isFinal }
        #expect(grandchild.state == .completed, "afterany: its parent ended, however")
        let cleanup = try await cluster.waitFor("cleanup") { $0.state.isFinal }
        #expect(cleanup.state == .completed)
        let log = try String(contentsOfFile: cluster.dataDirectory + "/placement-log.jsonl", encoding: .utf8)
        #expect(log.contains("train released: afterok:prepare met"))
    }
}
