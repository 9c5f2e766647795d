import Foundation
import SchedTestSupport
import Testing
import Wire

/// The commands a Slurm user's fingers know: `squeue`, `sinfo`, `srun`'s exit status, and
/// `sbatch`'s options on the command line.
@Suite("End to end: squeue, sinfo and sbatch's habits", .serialized)
struct SlurmCommandsTests {
    struct SummaryLine: Decodable, Equatable {
        var model: String
        var state: String
        var nodes: Int
        var chips: Int
        var free: Int
        var nodeList: String
    }

    @Test(
        "queue lists what waits and runs as squeue does (its columns, states, --format codes, --me); nodes --summary counts nodes by model and state as sinfo does"
    )
    func queueAndSummary() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        _ = try await cluster.startScaledFleet(nodes: 3, chips: 8)
        for arguments in [
            ["--id", "whole", "--chips", "8", "--job-name", "wholenode", "--simulate", "6000m"],
            ["--id", "half", "--chips", "4", "--simulate", "6000m"],
            ["--id", "waits", "--chips", "8", "--nodes", "3", "--simulate", "10m"],
            ["--id", "after", "--chips", "1", "--depends", "afterok:whole", "--simulate", "1m"],
            ["--id", "gone", "--chips", "1", "--depends", "afterok:whole", "--simulate", "1m"],
        ] {
            let submitted = try await cluster.schedctl(["submit"] + arguments)
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        #expect(try await cluster.schedctl(["cancel", "gone"]).status == 0)
        let whole = try await cluster.waitFor("whole") { $0.state == .running }
        let half = try await cluster.waitFor("half") { $0.state == .running }
        let wholeNode = try #require(whole.placement?.assignments.first?.node.name)
        let halfNode = try #require(half.placement?.assignments.first?.node.name)
        let user = try #require(whole.user)

        // squeue's default columns, oldest first; what ended is not listed.
        let queue = try await cluster.schedctl(["queue"])
        #expect(queue.status == 0, "\(queue.stderr)")
        let rows = queue.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.first == ["JOBID", "QUEUE", "NAME", "USER", "ST", "TIME", "NODES", "NODELIST(REASON)"])
        #expect(rows.dropFirst().map { $0.first ?? "" } == ["whole", "half", "waits", "after"], "\(queue.stdout)")
        if rows.count == 5 {
            // NAME is cut to squeue's 8 columns; a running job shows its nodes, a waiting one why.
            #expect(Array(rows[1].prefix(5)) == ["whole", "default", "wholenod", String(user.prefix(8)), "R"])
            #expect(rows[1].last == wholeNode)
            #expect(rows[3][4] == "PD" && rows[3][6] == "3" && rows[3][7].hasPrefix("("), "\(rows[3])")
            #expect(rows[4][4] == "PD" && rows[4].joined(separator: " ").contains("afterok:whole"), "\(rows[4])")
        }

        // --format with squeue's codes, --states, --noheader.
        let formatted = try await cluster.schedctl(["queue", "--states", "R", "--format", "%i|%t|%D|%N|%b|%P"])
        #expect(
            formatted.stdout.split(separator: "\n") == [
                "JOBID|ST|NODES|NODELIST|CHIPS|QUEUE", "whole|R|1|\(wholeNode)|h100:8|default",
                "half|R|1|\(halfNode)|h100:4|default",
            ], "\(formatted.stdout)\(formatted.stderr)")
        let cancelled = try await cluster.schedctl(["queue", "-t", "CA", "--noheader", "-o", "%i %T"])
        #expect(cancelled.stdout.trimmingCharacters(in: .newlines) == "gone CANCELLED", "\(cancelled.stdout)")
        // TIME runs on the coordinator's clock (60 times wall time here): squeue's M:SS, H:MM:SS.
        #expect(
            try await eventually(seconds: 60) {
                let time = try await cluster.schedctl(["queue", "-t", "R", "--noheader", "-o", "%.10M"]).stdout
                return time.split(separator: "\n").allSatisfy {
                    let text = $0.trimmingCharacters(in: .whitespaces)
                    return text != "0:00" && text.wholeMatch(of: /(\d+-)?(\d+:)?\d+:\d\d/) != nil
                }
            })

        // Whose jobs.
        let mine = try await cluster.schedctl(["queue", "--me", "--noheader", "-o", "%i"])
        #expect(mine.stdout.split(separator: "\n").count == 4, "\(mine.stdout)\(mine.stderr)")
        let theirs = try await cluster.schedctl(["queue", "--user", "nobody-here", "--noheader"])
        #expect(theirs.status == 0 && theirs.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        let json = try await cluster.schedctl(["queue", "--json"])
        #expect(
            try WireCodec.value([JobRecord].self, from: json.stdout).map(\.id) == ["whole", "half", "waits", "after"])

        // Mistakes say what to write.
        let badState = try await cluster.schedctl(["queue", "--states", "XX"])
        #expect(badState.status != 0 && badState.stderr.contains("'XX' is not a state"), "\(badState.stderr)")
        let badCode = try await cluster.schedctl(["queue", "-o", "%z"])
        #expect(badCode.status != 0 && badCode.stderr.contains("%z is not a code"), "\(badCode.stderr)")

        // sinfo: a line for each model and state, nodes as a Slurm node list.
        let idleNode = try #require(["nv-0", "nv-1", "nv-2"].first { $0 != wholeNode && $0 != halfNode })
        func summary() async throws -> [SummaryLine] {
            let output = try await cluster.schedctl(["nodes", "--summary", "--json"])
            return try JSONDecoder().decode([SummaryLine].self, from: Data(output.stdout.utf8))
        }
        #expect(
            try await summary() == [
                SummaryLine(model: "h100", state: "idle", nodes: 1, chips: 8, free: 8, nodeList: idleNode),
                SummaryLine(model: "h100", state: "mixed", nodes: 1, chips: 8, free: 4, nodeList: halfNode),
                SummaryLine(model: "h100", state: "allocated", nodes: 1, chips: 8, free: 0, nodeList: wholeNode),
            ])
        #expect(try await cluster.schedctl(["cordon", idleNode, "--reason", "fan"]).status == 0)
        #expect(try await cluster.schedctl(["cordon", halfNode, "--reason", "fan"]).status == 0)
        let cordoned = try await summary().filter { $0.state == "cordoned" }
        #expect(cordoned.map(\.nodes) == [2], "\(cordoned)")
        #expect(cordoned.first?.nodeList == Hostlist.folded([idleNode, halfNode].sorted()))
        let table = try await cluster.schedctl(["nodes", "--summary"])
        #expect(table.stdout.hasPrefix("MODEL  STATE"), "\(table.stdout)")
        #expect(table.stdout.contains("allocated"), "\(table.stdout)")
    }

    @Test(
        "a command runs in the directory it was submitted from, with -J, -o, --env and a job file's relative directory; logs -f exits as the job did and status says its exit code"
    )
    func submitDirectoryAndExitStatus() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.startOneHost()
        let project = cluster.directory.appendingPathComponent("project")
        try FileManager.default.createDirectory(
            at: project.appendingPathComponent("runs"), withIntermediateDirectories: true)
        func submit(_ arguments: [String]) async throws {
            let output = try await cluster.schedctl(["submit", "--tier", "ascend-910b"] + arguments, in: project)
            #expect(output.status == 0, "\(output.stderr)")
        }

        try await submit([
            "--id", "here", "-J", "greeter", "-o", "out-%x-%j.txt", "--env", "GREETING=hello", "--", "sh", "-c",
            "echo \"pwd $(pwd) says $GREETING\"",
        ])
        let here = try await cluster.waitFor("here", seconds: 60) { $0.state.isFinal }
        #expect(here.state == .completed, "\(here.reason ?? "")")
        let written = try? String(
            contentsOf: project.appendingPathComponent("out-greeter-here.txt"), encoding: .utf8)
        #expect(written?.contains("pwd \(project.path) says hello") == true, "\(written ?? "no file")")

        // A job file's relative working directory is the submit directory's.
        try "id: nested\nkind: batch\nworkingDirectory: runs\ntiers: [{models: [ascend-910b]}]\ncommand: [pwd]\n"
            .write(to: project.appendingPathComponent("nested.yaml"), atomically: true, encoding: .utf8)
        let nested = try await cluster.schedctl(["submit", "-f", "nested.yaml"], in: project)
        #expect(nested.status == 0, "\(nested.stderr)")
        _ = try await cluster.waitFor("nested", seconds: 60) { $0.state.isFinal }
        let printed = try await cluster.schedctl(["logs", "nested"])
        #expect(printed.stdout.contains(project.appendingPathComponent("runs").path), "\(printed.stdout)")

        // logs -f follows a running job and exits with its status.
        let gate = cluster.directory.appendingPathComponent("may-exit").path
        defer { FileManager.default.createFile(atPath: gate, contents: nil) }
        try await submit([
            "--id", "seven", "--", "sh", "-c", "echo started; while [ ! -e '\(gate)' ]; do sleep 0.05; done; exit 7",
        ])
        _ = try await cluster.waitFor("seven", seconds: 60) { $0.state == .running }
        let follower = Task { try await cluster.schedctl(["logs", "-f", "seven"]) }
        try await Task.sleep(for: .milliseconds(500))
        FileManager.default.createFile(atPath: gate, contents: nil)
        let followed = try await follower.value
        #expect(followed.status == 7, "\(followed.stdout)\(followed.stderr)")
        #expect(followed.stdout.contains("started"))
        #expect(followed.stderr.contains("seven attempt 1 exited with status 7"), "\(followed.stderr)")
        let status = try await cluster.schedctl(["status", "seven"])
        #expect(status.stdout.contains("exit code   7:0 (exit status 7)"), "\(status.stdout)")

        // A job killed by a signal: 128 + the signal, as a shell says it; a completed one: 0.
        try await submit(["--id", "killed", "--", "sh", "-c", "kill -KILL $$"])
        _ = try await cluster.waitFor("killed", seconds: 60) { $0.state.isFinal }
        let killed = try await cluster.schedctl(["logs", "-f", "killed"])
        #expect(killed.status == 137, "\(killed.stderr)")
        #expect(killed.stderr.contains("killed by signal 9"), "\(killed.stderr)")
        let completed = try await cluster.schedctl(["logs", "-f", "here"])
        #expect(completed.status == 0, "\(completed.stderr)")
    }
}
