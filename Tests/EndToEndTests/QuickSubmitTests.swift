import Foundation
import SchedCore
import SchedTestSupport
import Testing
import Wire

@testable import SchedCtlCommands

/// `schedctl submit` with flags goes a short way (no argument parser, no Foundation JSON); these
/// check that it submits exactly what the full command does, and leaves everything else to it.
@Suite("schedctl submit's short way", .serialized)
struct QuickSubmitTests {
    /// Flag sets the short way takes, each with what a user would write.
    static let flagSets: [[String]] = [
        ["--chips", "2", "--", "python", "train.py", "--lr", "3e-4"],
        [
            "--kind", "training", "--chips", "8", "--nodes", "2", "--tier", "ascend-910b", "--tier", "h100|h800",
            "--tier", "vendor:nvidia", "--max-failures", "2", "--max-wait", "30m", "--priority", "5", "--", "torchrun",
            "x.py",
        ],
        [
            "--tier", "family:domestic", "--simulate", "10m", "--steps", "100", "--checkpoint-every", "10",
            "--time-limit", "2h",
        ],
        [
            "--chips=1", "--chip-memory=10GiB", "--compute", "30%", "--image", "registry/cuda:12",
            "--container-option=--shm-size=16g",
            "--container-option", "ipc=host", "--", "sh", "-c", "echo \"quoted\" \\ back\tslash ünïcode",
        ],
        [
            "--chips", "0", "--cpus", "4", "--memory", "8GiB", "--node-selector", "zone=b", "--node-selector",
            "rack=r1",
            "--node-selector", "zone=a", "--", "true",
        ],
        [
            "--cpus-per-chip", "6", "--memory-per-chip", "32GiB", "--array", "0-9%2", "--kind", "inference", "--json",
            "--", "serve",
        ],
    ]

    @Test("every flag set submits the same job the short way as through the full parser, and prints the same")
    func sameJobBothWays() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        for (number, flags) in Self.flagSets.enumerated() {
            // The short way takes these (checked here, in the process), and `--leader-wait` sends the
            // same submission through the full parser instead.
            let quick = ["submit", "--id", "quick-\(number)"] + flags
            #expect(QuickSubmitRequest(quick[...]) != nil, "the short way takes \(quick)")
            let terminator = flags.firstIndex(of: "--") ?? flags.count
            let full =
                ["submit", "--id", "full-\(number)"] + flags[..<terminator] + ["--leader-wait", "30"]
                + flags[terminator...]
            #expect(QuickSubmitRequest(full[...]) == nil)
            let quickRun = try await cluster.schedctl(quick)
            let fullRun = try await cluster.schedctl(full)
            #expect(quickRun.status == 0 && fullRun.status == 0, "\(quickRun.stderr) \(fullRun.stderr)")
            #expect(
                quickRun.stdout.replacingOccurrences(of: "quick-", with: "full-") == fullRun.stdout,
                "\(quickRun.stdout) against \(fullRun.stdout)")
            var quickJob = try await cluster.status("quick-\(number)")
            let fullJob = try await cluster.status("full-\(number)")
            #expect(quickJob.user == fullJob.user && quickJob.user != nil)
            quickJob.job.id = fullJob.job.id
            quickJob.job.submittedAt = fullJob.job.submittedAt
            #expect(quickJob.job == fullJob.job, "flag set \(number)")
            #expect(quickJob.run == fullJob.run, "flag set \(number)")
        }
    }

    @Test("what the short way does not take, or the coordinator refuses, says the same as the full command")
    func refusalsBothWays() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        #expect(try await cluster.schedctl(["submit", "--id", "taken", "--", "true"]).status == 0)
        // The coordinator's refusal, after the job was sent: exit 1 and its reason, either way.
        let quick = try await cluster.schedctl(["submit", "--id", "taken", "--", "true"])
        let full = try await cluster.schedctl(["submit", "--id", "taken", "--leader-wait", "30", "--", "true"])
        #expect(
            quick.status == 1 && quick.stderr == full.stderr && quick.stderr.contains("[conflict]"), "\(quick.stderr)")
        let badSpec = try await cluster.schedctl(["submit", "--tier", "no-such-chip", "--", "true"])
        #expect(badSpec.status == 1 && badSpec.stderr.contains("no-such-chip"), "\(badSpec.stderr)")
        // Left to the argument parser: its own messages and exit status.
        for (arguments, says) in [
            (["submit", "--chips", "many", "--", "true"], "The value 'many' is invalid for '--chips <chips>'"),
            (["submit", "--chips", "0", "--", "true"], "--chips 0 is a job of cores and memory only"),
            (["submit", "--no-such-flag", "1", "--", "true"], "Unknown option '--no-such-flag'"),
            (["submit", "--node-selector", "zone", "--", "true"], "--node-selector is KEY=VALUE, got 'zone'"),
            // Nothing to run is refused before anything is sent, not failed later on a host.
            (["submit", "--chips", "2"], "nothing to run: give the command after --"),
        ] {
            let output = try await cluster.schedctl(arguments)
            #expect(output.status == 64 && output.stderr.contains(says), "\(arguments): \(output.stderr)")
        }
        // A job file, and a coordinator that is not there, are the full command's.
        let file = cluster.directory.appendingPathComponent("job.yaml").path
        try "id: from-file\nkind: batch\ncommand: [\"true\"]\n".write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try await cluster.schedctl(["submit", "-f", file])
        #expect(fromFile.status == 0 && fromFile.stdout == "submitted from-file (queued)\n", "\(fromFile.stderr)")
        let away = try await cluster.run(
            "schedctl",
            [
                "submit", "--address", "127.0.0.1:\(try RawListener().port)", "--token-file", cluster.tokenFile, "--",
                "true",
            ])
        #expect(away.status == 1 && away.stderr.contains("connection refused"), "\(away.stderr)")
    }

    @Test("any command line the short way takes, the full parser takes too, with the same flags (1,500 generated)")
    func agreesWithTheParser() async throws {
        // Seconds of parsing, on a thread of its own: on the test process's few shared threads it held
        // one for over a minute on a loaded machine, and the end-to-end tests beside it waited.
        let (taken, disagreements) = try await onOwnThread(Self.compareWithTheParser)
        #expect(disagreements.isEmpty, "\(disagreements.count) disagree: \(disagreements.prefix(3))")
        #expect(taken > 250, "the generator reaches command lines the short way takes (\(taken))")
    }

    /// How many generated command lines the short way took, and those it read otherwise than the parser.
    static func compareWithTheParser() throws -> (taken: Int, disagreements: [[String]]) {
        var random = SeededGenerator(seed: 20_261_127)
        // Options with values a user would give; now and then a word from anywhere instead.
        let options: [String: [String]] = [
            "--id": ["a", "job-1"], "--kind": ["batch", "training"], "--chips": ["0", "1", "8"], "--nodes": ["1", "2"],
            "--tier": ["h100", "h100|h800", "vendor:huawei", "family:nvidia"], "--priority": ["0", "5", "100"],
            "--queue": ["default", "team-a"], "--time-limit": ["2h"], "--max-failures": ["2"], "--max-wait": ["30m"],
            "--cpus": ["4", "70000"], "--cpus-per-chip": ["6"], "--memory": ["8GiB", "lots"],
            "--memory-per-chip": ["32G"],
            "--chip-memory": ["10GiB"], "--compute": ["30%", "101%"], "--node-selector": ["zone=a", "zone"],
            "--array": ["0-9%2"], "--depends": ["afterok:a"], "--image": ["img:1"], "--container-option": ["x"],
            "--simulate": ["10m"], "--steps": ["100"], "--checkpoint-every": ["10"], "--address": ["127.0.0.1:7070"],
            "--coordinator": ["a:1,b:2"], "--token-file": ["/t"], "--config": ["/c"], "--auth": ["token", "munge"],
            "--file": ["job.yaml"], "-f": ["job.yaml"],
        ]
        let names = options.keys.sorted()
        let words = [
            "--json", "--help", "--", "1", "-1", "2x", "", "=", "--chips=4", "--tier=vendor:huawei", "--json=1", "x\ny",
            "ü", "9223372036854775808", "--priority=7", "--no-such",
        ]
        var taken = 0
        var disagreements: [[String]] = []
        for _ in 0..<1_500 {
            var arguments = ["submit"]
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                if Int.random(in: 0..<5, using: &random) == 0 {
                    arguments.append(words.randomElement(using: &random)!)
                } else {
                    let name = names.randomElement(using: &random)!
                    arguments += [name, options[name]!.randomElement(using: &random)!]
                }
            }
            // Something to run, as every submission with flags needs (unless one was drawn).
            if let terminator = arguments.firstIndex(of: "--") {
                if terminator == arguments.count - 1 { arguments.append("true") }
            } else {
                arguments += ["--", "true"]
            }
            guard let request = QuickSubmitRequest(arguments[...]) else { continue }
            taken += 1
            let parsed = try SubmitCommand.parse(Array(arguments.dropFirst()))
            let connection = parsed.connection
            let alike =
                parsed.flags == request.flags && parsed.json == request.json && connection.address == request.address
                && connection.tokenFile == request.tokenFile && connection.config == request.config
                && connection.auth == request.auth
            if !alike { disagreements.append(arguments) }
        }
        return (taken, disagreements)
    }

    @Test("replies are read as JSON: escapes, surrogate pairs, values of other kinds skipped, anything else refused")
    func readsReplies() {
        let reply = FlatJSON.strings(#"{"job":"a","state":"queued","job":"b"}"#)
        #expect(
            reply?["job"] == "b" && reply?["state"] == "queued" && reply?["proof"] == nil, "the last of a name counts")
        let mixed = FlatJSON.strings(
            #" { "m" : "q\"\\\/\n\t\u00e9\ud83d\ude00", "n": 3, "o": {"p": ["}", 1]}, "b": true } "#)
        #expect(mixed?["m"] == "q\"\\/\n\té😀" && mixed?.count == 1)
        #expect(FlatJSON.strings("{}")?.count == 0)
        for bad in [
            "", "[]", "{", #"{"a"}"#, #"{"a":"b"} x"#, #"{"a":"\ud83d"}"#, #"{"a":"\q"}"#, "{\"a\":\"\u{01}\"}",
            #"{"a":}"#,
        ] {
            #expect(FlatJSON.strings(Substring(bad)) == nil, "\(bad)")
        }
    }
}
