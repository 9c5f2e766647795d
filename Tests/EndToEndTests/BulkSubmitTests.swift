import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: submissions in bulk", .serialized)
struct BulkSubmitTests {
    @Test(
        "one schedctl submit takes a directory of 600 job files in batches; a batch with a bad file submits none of it and names it"
    )
    func directory() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // No node holds these jobs: they must stay queued however long a loaded machine takes, not
        // fail when the registration grace ends.
        try await cluster.startCoordinator(extra: ["--registration-grace", "3600"])
        let folder = cluster.directory.appendingPathComponent("jobs")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for index in 0..<600 {
            let name = String(format: "sweep-%03d", index)
            try """
            id: \(name)
            kind: batch
            chipsPerNode: 1
            tiers: [{models: [h100]}]
            env: {LEARNING_RATE: "0.\(index)"}
            command: python sweep.py --lr $LEARNING_RATE   # a comment, to make the file a realistic size
            """.write(to: folder.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
        }
        try "not a job".write(to: folder.appendingPathComponent("README.txt"), atomically: true, encoding: .utf8)
        let submitted = try await cluster.schedctl(["submit", "-f", folder.path])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let lines = submitted.stdout.split(separator: "\n")
        #expect(lines.count == 600)
        #expect(lines.first == "submitted sweep-000 (queued)" && lines.last == "submitted sweep-599 (queued)")
        let listed = try await cluster.schedctl(["jobs", "--state", "queued", "--limit", "1000", "--json"])
        #expect(try WireCodec.value([JobRecord].self, from: listed.stdout).count == 600)
        let status = try await cluster.status("sweep-042")
        #expect(status.run.env["LEARNING_RATE"] == "0.42")

        // A second directory: one file is bad, so its batch goes in whole or not at all.
        let more = cluster.directory.appendingPathComponent("more")
        try FileManager.default.createDirectory(at: more, withIntermediateDirectories: true)
        for index in 0..<3 {
            try "id: more-\(index)\nkind: batch\ntiers: [{models: [h100]}]\ncommand: \"true\"\n".write(
                to: more.appendingPathComponent("more-\(index).yaml"), atomically: true, encoding: .utf8)
        }
        try "id: broken\nkind: training\ntiers: [{models: [h1000]}]\n".write(
            to: more.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        let refused = try await cluster.schedctl(["submit", "-f", more.path])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("1 of 4 job files refused; none submitted"), "\(refused.stderr)")
        #expect(refused.stderr.contains("broken.yaml:3"), "\(refused.stderr)")
        #expect(refused.stderr.contains("unknown chip model 'h1000'"), "\(refused.stderr)")
        let after = try await cluster.schedctl(["jobs", "--limit", "1000", "--json"])
        #expect(try WireCodec.value([JobRecord].self, from: after.stdout).count == 600, "nothing of the bad batch")

        // The same ids again: refused as a conflict, nothing half-submitted.
        let again = try await cluster.schedctl([
            "submit", "-f", folder.path + "/sweep-001.yaml", "-f", folder.path + "/sweep-002.yaml",
        ])
        #expect(again.status != 0)
        #expect(again.stderr.contains("job sweep-001 already exists"), "\(again.stderr)")
    }
}
