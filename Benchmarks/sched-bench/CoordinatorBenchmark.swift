import ArgumentParser
import Foundation
import ProgramSupport
import Wire

struct CoordinatorBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Durable submissions per second, submit-to-placement latency, and coordinator memory.",
        discussion: """
            Starts the real sched-coordinator (and sched-agent for simulated nodes) from --bin on 127.0.0.1, \
            each in a fresh temporary data directory, and stops them by PID. Submissions: N clients on their \
            own sessions submit as fast as acknowledgements come back; a reply means the job is on disk. \
            Latency: one job at a time, from sending SUBMIT to the `placed` event on a WATCH session (the RUN \
            goes to the agent in the same step). Memory: VmRSS of the coordinator with the nodes connected \
            and the jobs stored. Deep: for each of --depths, that many waiting jobs (for chips of a node that \
            is down) and their events are written to the store first; then the coordinator's restart to its \
            first answer, then with 1,000 simulated nodes connected submit-to-placement for jobs that fit, \
            then acknowledgements per second with 1 and 16 clients (more waiting jobs). Array: a 1,000-task \
            array from SUBMIT to its acknowledgement. Bulk: 2,000 job files through one schedctl submit -f DIR \
            (jobs/s), beside schedctl submit run once per job (ms a call) and the schedctl process's own start \
            (a command that stops before connecting). Metrics: with 1,000 simulated nodes connected and the \
            coordinator serving --http, 8 clients submit while nothing scrapes /metrics, while it is scraped \
            every second, and every 100 ms (the order turned each run); the scrape's own time and size. Agent: a 1,000-task array of \
            `true` on one chip each through one sched-agent on a fake host of 8 H100s (cgroups on when run as root), \
            from SUBMIT until the last task completed, and where an attempt's time goes by the coordinator's \
            event times (placed to started, started to completed, completed to the chip's next placement). \
            Fill: 16 clients \
            submit --memory-jobs waiting jobs into an empty queue, the rate printed per tenth. With \
            SCHED_BENCH_COORDINATOR_LOG=FILE the coordinators log there (at SCHED_BENCH_COORDINATOR_LOG_LEVEL, \
            info by default).
            """)

    @Option(help: "Directory with the release binaries (default: this executable's).")
    var bin: String?

    @Option(help: "Runs per figure; the median is printed.")
    var runs = 5

    @Option(
        help:
            "Parts to run, comma-separated: submit, latency, memory, deep, array, bulk, metrics, agent; fill (not by default)."
    )
    var parts = "submit,latency,memory,deep,array,bulk,metrics,agent"

    @Option(help: "Queue depths for the deep part: waiting jobs stored before the coordinator starts.")
    var depths = "0,10000,100000"

    @Option(help: "Submissions per run for each client count.")
    var submissions = 5_000

    @Option(name: .customLong("memory-jobs"), help: "Jobs stored for the memory figure.")
    var memoryJobs = 100_000

    @Option(help: "Directory with bench-1k.yaml and bench-10k.yaml.")
    var fleets = "deploy/fleets"

    @Option(help: "Catalog file.")
    var catalog = "deploy/catalog/chips.yaml"

    func run() async throws {
        DescriptorLimit.raise()
        let binaries =
            bin ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        let parts = Set(parts.split(separator: ",").map(String.init))
        print("sched-bench coordinator: medians of \(runs) runs, binaries from \(binaries)")
        if parts.contains("submit") {
            for clients in [1, 8, 64] {
                let count = clients == 1 ? min(submissions, 1_000) : submissions
                var rates: [Double] = []
                for _ in 0..<runs {
                    let harness = try await Harness.start(binaries: binaries, catalog: catalog)
                    defer { harness.stop() }
                    let seconds = try await harness.submitConcurrently(clients: clients, total: count)
                    rates.append(Double(count) / seconds)
                }
                print(
                    "  durable submissions, \(clients) client\(clients == 1 ? " " : "s")"
                        + String(repeating: " ", count: 3 - String(clients).count)
                        + "   \(format(Measurement(seconds: rates).median, 0))/s  (\(count) a run)")
            }
        }
        if parts.contains("latency") {
            let harness = try await Harness.start(binaries: binaries, catalog: catalog)
            defer { harness.stop() }
            try await harness.startAgents(fleet: "\(fleets)/bench-1k.yaml", expectNodes: 1_000)
            var samples: [Double] = []
            for _ in 0..<runs { samples += try await harness.placementLatencies(count: 200) }
            let (p50, p99) = (percentile(samples, 50), percentile(samples, 99))
            print(
                "  submit-to-placement, 1,000 nodes    p50 \(format(p50 * 1000, 2)) ms, p99 \(format(p99 * 1000, 2)) ms"
                    + "  (\(samples.count) jobs, one at a time)")
        }
        if parts.contains("deep") {
            let depths = self.depths.split(separator: ",").compactMap { Int($0) }.filter {
                (0...1_000_000).contains($0)
            }
            guard !depths.isEmpty else { throw ValidationError("--depths: comma-separated counts from 0 to 1000000") }
            try await deepQueue(binaries: binaries, depths: depths)
        }
        if parts.contains("fill") { try await fillQueue(binaries: binaries, total: memoryJobs) }
        if parts.contains("array") { try await arrayAcknowledgement(binaries: binaries) }
        if parts.contains("bulk") { try await bulkSubmission(binaries: binaries) }
        if parts.contains("agent") { try await agentThroughput(binaries: binaries) }
        if parts.contains("metrics") { try await metricsCost(binaries: binaries) }
        if parts.contains("memory") {
            for (name, nodes) in [("bench-1k", 1_000), ("bench-10k", 10_000)] {
                let harness = try await Harness.start(binaries: binaries, catalog: catalog)
                defer { harness.stop() }
                try await harness.startAgents(fleet: "\(fleets)/\(name).yaml", expectNodes: nodes)
                let idle = harness.residentMemory()
                // Jobs for a chip model the fleet does not have: they stay queued, stored and explained.
                _ = try await harness.submitConcurrently(clients: 64, total: memoryJobs, tier: "h200")
                try await Task.sleep(for: .seconds(2))
                let loaded = harness.residentMemory()
                print(
                    "  coordinator memory, \(nodes) nodes     \(format(idle / 1_048_576, 1)) MiB connected, "
                        + "\(format(loaded / 1_048_576, 1)) MiB with \(memoryJobs) jobs stored")
            }
        }
    }
}

/// A coordinator (and agents) started from the release binaries, stopped by PID.
final class Harness: @unchecked Sendable {
    let directory: String
    let binaries: String
    let catalog: String
    let token = "bench-\(UInt64.random(in: 0...UInt64.max))"
    var processes: [Process] = []
    var endpoint = WireEndpoint(host: "127.0.0.1", port: 0)
    /// Where the coordinator's log goes (at info level), if anywhere.
    let coordinatorLog = ProcessInfo.processInfo.environment["SCHED_BENCH_COORDINATOR_LOG"]
    let coordinatorLogLevel = ProcessInfo.processInfo.environment["SCHED_BENCH_COORDINATOR_LOG_LEVEL"] ?? "info"

    init(binaries: String, catalog: String) {
        self.binaries = binaries
        self.catalog = catalog
        directory = NSTemporaryDirectory() + "heterosched-bench-\(UUID().uuidString)"
    }

    static func start(binaries: String, catalog: String, extra: [String] = []) async throws -> Harness {
        let harness = Harness(binaries: binaries, catalog: catalog)
        try FileManager.default.createDirectory(atPath: harness.directory, withIntermediateDirectories: true)
        try Defaults.writeToken(harness.token, to: harness.directory + "/token")
        try harness.launchCoordinator(extra: extra)
        do {
            harness.endpoint = try await harness.listening(data: "data")
        } catch {
            harness.stop()
            throw error
        }
        return harness
    }

    /// Where the coordinator with data directory `data` listens, once it does (at most 15 s).
    func listening(data: String) async throws -> WireEndpoint {
        for _ in 0..<300 {
            if let text = try? String(contentsOfFile: directory + "/\(data)/coordinator.addr", encoding: .utf8),
                let endpoint = WireEndpoint(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return endpoint
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("the coordinator did not start; is --bin the directory of a release build?")
    }

    func launchCoordinator(extra: [String] = [], listen: String = "127.0.0.1:0", data: String = "data") throws {
        try launch(
            "sched-coordinator",
            [
                "--listen", listen, "--data-dir", directory + "/" + data, "--token-file", directory + "/token",
                "--catalog", catalog, "--heartbeat-timeout", "60", "--log-level",
                coordinatorLog == nil ? "error" : coordinatorLogLevel,
            ] + extra)
    }

    func launch(_ name: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binaries + "/" + name)
        // They end with the benchmark, however it ends.
        process.arguments = arguments + ["--stop-with-pid", String(getpid())]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        if name == "sched-coordinator", let coordinatorLog {
            if !FileManager.default.fileExists(atPath: coordinatorLog) {
                _ = FileManager.default.createFile(atPath: coordinatorLog, contents: nil)
            }
            if let log = FileHandle(forWritingAtPath: coordinatorLog) {
                _ = try? log.seekToEnd()
                process.standardError = log
            }
        }
        try process.run()
        processes.append(process)
    }

    func startAgents(fleet: String, expectNodes: Int) async throws {
        try launch(
            "sched-agent",
            [
                "--simulate", fleet, "--coordinator", endpoint.description, "--token-file", directory + "/token",
                "--catalog", catalog, "--time-scale", "3600", "--heartbeat-interval", "5", "--log-level", "error",
            ])
        try await waitForConnectedNodes(expectNodes, within: 120)
    }

    /// Waits (at most `seconds`) until `count` nodes are connected.
    func waitForConnectedNodes(_ count: Int, within seconds: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            // While a thousand agents open their sessions, a client may be asked to try again shortly.
            let nodes = (try? await session { try await $0.request(.nodes, as: [NodeStatus].self) }) ?? []
            if nodes.filter(\.connected).count >= count { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ValidationError("only some of the \(count) nodes registered in \(Int(seconds)) s")
    }

    func session<T: Sendable>(_ body: (WireSession) async throws -> T) async throws -> T {
        try await WireClient.withSession(to: endpoint, token: token, hello: Hello(role: .client), body)
    }

    /// Seconds for `total` submissions spread over `clients` concurrent sessions.
    func submitConcurrently(clients: Int, total: Int, tier: String? = nil) async throws -> Double {
        let tierText = tier.map { ",\"tiers\":[{\"models\":[\"\($0)\"]}]" } ?? ""
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                let share = total / clients + (client < total % clients ? 1 : 0)
                group.addTask {
                    try await self.session { session in
                        for number in 0..<share {
                            let spec =
                                "{\"id\":\"b\(client)-\(number)-\(UInt32.random(in: 0...UInt32.max))\","
                                + "\"kind\":\"batch\"\(tierText)}"
                            _ = try await session.request(.submit(Submit(spec: spec)))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return (ContinuousClock.now - started).seconds
    }

    /// Seconds from SUBMIT to its `placed` event, for jobs submitted one at a time.
    func placementLatencies(count: Int) async throws -> [Double] {
        try await WireClient.withSession(to: endpoint, token: token, hello: Hello(role: .client)) { watcher in
            _ = try await watcher.request(.watch(WatchRequest()))
            return try await session { submitter in
                var samples: [Double] = []
                for _ in 0..<count {
                    let id = "lat-\(UInt64.random(in: 0...UInt64.max))"
                    let spec =
                        "{\"id\":\"\(id)\",\"kind\":\"inference\",\"simulate\":{\"duration\":\"2s\",\"steps\":1}}"
                    let started = ContinuousClock.now
                    _ = try await submitter.request(.submit(Submit(spec: spec)))
                    while let message = try await watcher.receive() {
                        if case .event(let event) = message, event.job == id, event.kind == .placed { break }
                    }
                    samples.append((ContinuousClock.now - started).seconds)
                }
                return samples
            }
        }
    }

    /// The coordinator's resident memory in bytes.
    func residentMemory() -> Double {
        guard let coordinator = processes.first,
            let status = try? String(contentsOfFile: "/proc/\(coordinator.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return .nan }
        let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") ?? .nan
        return kilobytes * 1024
    }

    /// Stops the programs; `removing`: and removes the data directory (a benchmark comparing runs
    /// may keep them all to the end: on ext4 without a journal, files made soon after many were
    /// deleted cost more, and the next run would pay for this one's).
    func stop(removing: Bool = true) {
        for process in processes.reversed() where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        for process in processes.reversed() {
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        processes = []
        if removing { try? FileManager.default.removeItem(atPath: directory) }
    }
}
