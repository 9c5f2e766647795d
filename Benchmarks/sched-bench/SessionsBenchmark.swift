import ArgumentParser
import Foundation
import Logging
import ProgramSupport
import SchedCore
import SchedSpec
import SchedStore
import SchedTestSupport
import Wire

/// One real TCP session per simulated node, heartbeats at the agents' default interval, against one
/// coordinator with a deep store: what a fleet the size of a large site's costs the coordinator, on
/// SQLite and on PostgreSQL.
struct SessionsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "10,000 agent sessions with heartbeats: coordinator CPU and memory, placement latency, reconnects.",
        discussion: """
            For each store: --jobs waiting jobs (and their events) are written to the store first; a \
            coordinator (the release binary from --bin) starts on them, and one sched-agent process plays \
            every node of --fleet, each node its own TCP session with heartbeats every --heartbeat-interval \
            seconds. Printed: time for every node to connect; the coordinator's CPU (share of one core) and \
            resident memory at steady state; submit-to-placement p50/p99 for a stream of --stream-rate \
            jobs a second for --stream-seconds (each from its SUBMIT to its `placed` event on a WATCH \
            session), and the placement log's write rate meanwhile (events a second), with what the \
            coordinator's store commits and scheduling passes took meanwhile by its own /metrics (p50 and \
            p99 as the bounds of its histogram buckets); the time for every \
            node to connect again after the coordinator restarts (SIGTERM, started again on its port); on \
            PostgreSQL also after a take-over: a standby is started, the leader killed with SIGKILL, and the \
            time is counted until every node is connected to the standby. PostgreSQL: --postgres URL, or a \
            server of the benchmark's own when Debian's postgresql is installed (scripts/setup.sh --tests). \
            The descriptor limit is raised to the hard limit; it must allow a descriptor per node and more.
            """)

    @Option(help: "Directory with the release binaries (default: this executable's).")
    var bin: String?

    @Option(help: "Fleet whose nodes connect, one session each.")
    var fleet = "deploy/fleets/bench-10k.yaml"

    @Option(help: "Catalog file.")
    var catalog = "deploy/catalog/chips.yaml"

    @Option(help: "Waiting jobs in the store before the coordinator starts.")
    var jobs = 100_000

    @Option(help: "Stores to measure, comma-separated: sqlite, postgres.")
    var stores = "sqlite,postgres"

    @Option(help: "PostgreSQL URL for the postgres store (default: a server of the benchmark's own).")
    var postgres: String?

    @Option(name: .customLong("stream-rate"), help: "Jobs a second in the submission stream.")
    var streamRate = 100.0

    @Option(name: .customLong("stream-seconds"), help: "Seconds the submission stream lasts.")
    var streamSeconds = 20.0

    @Option(name: .customLong("heartbeat-interval"), help: "The agents' heartbeat interval (their default: 2 s).")
    var heartbeatInterval = 2.0

    @Option(help: "The coordinators' --lease on PostgreSQL, seconds.")
    var lease = 10.0

    func validate() throws {
        try FlagRange.check(jobs, "--jobs", 0...1_000_000)
        try FlagRange.check(streamRate, "--stream-rate", 1...10_000, unit: " a second")
        try FlagRange.check(streamSeconds, "--stream-seconds", 1...3_600, unit: " seconds")
        try FlagRange.check(heartbeatInterval, "--heartbeat-interval", 0.1...60, unit: " seconds")
        try FlagRange.check(lease, "--lease", 1...3_600, unit: " seconds")
        for store in stores.split(separator: ",") where !["sqlite", "postgres"].contains(store) {
            throw ValidationError("--stores is sqlite, postgres or both, comma-separated; got '\(store)'")
        }
    }

    func run() async throws {
        let catalogRead = try CatalogFile.load(path: catalog)
        let nodes = try FleetFile.load(path: fleet, catalog: catalogRead).nodes.count
        let descriptors = DescriptorLimit.raise()
        guard descriptors >= UInt64(nodes) + 1_024 else {
            throw ValidationError(
                "\(nodes) sessions need \(nodes + 1_024) descriptors a process; the hard limit here is \(descriptors): "
                    + "raise it (ulimit -Hn, LimitNOFILE=) and run again")
        }
        let binaries =
            bin ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        say(
            "sched-bench sessions: \(nodes) sessions, heartbeats every \(format(heartbeatInterval, 1)) s, "
                + "\(jobs) jobs stored, descriptors \(descriptors) a process, binaries from \(binaries)")
        var figures: [(store: String, figures: SessionFigures)] = []
        for store in stores.split(separator: ",").map(String.init) {
            let measured = try await measure(store: store, nodes: nodes, binaries: binaries, catalog: catalogRead)
            figures.append((store, measured))
        }
        say(SessionFigures.table(figures, nodes: nodes, jobs: jobs))
    }

    func measure(store: String, nodes: Int, binaries: String, catalog catalogRead: ChipCatalog) async throws
        -> SessionFigures
    {
        let harness = Harness(binaries: binaries, catalog: catalog)
        defer { harness.stop() }
        try FileManager.default.createDirectory(atPath: harness.directory, withIntermediateDirectories: true)
        try Defaults.writeToken(harness.token, to: harness.directory + "/token")
        var scratch: PostgresServer?
        var storeFlags: [String] = []
        let seeding = ContinuousClock.now
        if store == "postgres" {
            let url: String
            if let postgres {
                url = postgres
            } else {
                guard PostgresServer.binaries != nil else {
                    throw ValidationError(
                        "no PostgreSQL here: give --postgres URL, or install it (scripts/setup.sh --tests)")
                }
                scratch = try PostgresServer()
                url = try scratch!.database()
            }
            var logger = Logger(label: "sched-bench")
            logger.logLevel = .error
            try await DeepQueue.seed(
                depth: jobs, into: try await PostgresStore(url: url, logger: logger), catalog: catalogRead)
            storeFlags = ["--store", url, "--lease", String(lease)]
        } else {
            try await DeepQueue.seed(depth: jobs, directory: harness.directory + "/data", catalog: catalogRead)
        }
        _ = scratch
        say("  \(store): \(jobs) waiting jobs stored in \(format((ContinuousClock.now - seeding).seconds, 1)) s")
        let ports = try (0..<2).map { _ in try PostgresServer.freePort() }
        let addresses = ports.map { "127.0.0.1:\($0)" }
        // Its /metrics too: what its commits and passes took while the stream ran, by its own count.
        let coordinatorFlags = storeFlags + ["--heartbeat-timeout", "15", "--http", "127.0.0.1:0"]
        try harness.launchCoordinator(extra: coordinatorFlags, listen: addresses[0])
        var leader = harness.processes.last!
        harness.endpoint = try await harness.listening(data: "data")
        let everyAddress = CoordinatorAddresses(store == "postgres" ? addresses.joined(separator: ",") : addresses[0])!

        var figures = SessionFigures()
        let connecting = ContinuousClock.now
        try harness.launch(
            "sched-agent",
            [
                "--simulate", fleet, "--coordinator", everyAddress.description, "--token-file",
                harness.directory + "/token", "--catalog", catalog, "--time-scale", "3600", "--heartbeat-interval",
                String(heartbeatInterval), "--log-level", "error",
            ])
        try await harness.waitForNodes(nodes, at: everyAddress, within: .seconds(600))
        figures.connect = (ContinuousClock.now - connecting).seconds
        say("  \(store): \(nodes) sessions connected in \(format(figures.connect, 1)) s; steady state for 10 s")

        try await Task.sleep(for: .seconds(5))
        let before = ProcessFigures(pid: leader.processIdentifier)
        try await Task.sleep(for: .seconds(10))
        let after = ProcessFigures(pid: leader.processIdentifier)
        figures.cpu = (after.cpuSeconds - before.cpuSeconds) / (after.time - before.time)
        figures.rss = after.residentBytes

        let metricsBefore = await HistogramDelta.scrape(data: harness.directory + "/data")
        let stream = try await harness.stream(rate: streamRate, seconds: streamSeconds)
        let metricsAfter = await HistogramDelta.scrape(data: harness.directory + "/data")
        figures.commits =
            HistogramDelta(
                name: "heterosched_store_commit_duration_seconds", before: metricsBefore, after: metricsAfter
            ).sentence
        figures.passes =
            HistogramDelta(
                name: "heterosched_scheduling_pass_duration_seconds", before: metricsBefore, after: metricsAfter
            ).sentence
        figures.p50 = percentile(stream.latencies, 50)
        figures.p99 = percentile(stream.latencies, 99)
        figures.placed = stream.latencies.count
        figures.submitted = stream.submitted
        figures.eventsPerSecond = stream.eventsPerSecond
        figures.peakRSS = ProcessFigures(pid: leader.processIdentifier).peakResidentBytes
        say(
            "  \(store): stream of \(stream.submitted): p50 \(format(figures.p50 * 1000, 2)) ms, "
                + "p99 \(format(figures.p99 * 1000, 2)) ms; meanwhile the coordinator's store commits "
                + "\(figures.commits), its passes \(figures.passes); restarting the coordinator")

        kill(leader.processIdentifier, SIGTERM)
        leader.waitUntilExit()
        let restarting = ContinuousClock.now
        try harness.launchCoordinator(extra: coordinatorFlags, listen: addresses[0])
        leader = harness.processes.last!
        figures.reconnectBack = try await harness.waitForNodes(nodes, at: everyAddress, within: .seconds(600))
        figures.reconnect = (ContinuousClock.now - restarting).seconds

        if store == "postgres" {
            try harness.launchCoordinator(extra: coordinatorFlags, listen: addresses[1], data: "data-standby")
            let standby = harness.processes.last!
            // A standby writes no address file (that says where a leader listens): give it time to look.
            try await Task.sleep(for: .seconds(3))
            kill(leader.processIdentifier, SIGKILL)
            leader.waitUntilExit()
            let takingOver = ContinuousClock.now
            figures.takeOverBack = try await harness.waitForNodes(
                nodes, at: CoordinatorAddresses(addresses[1])!, within: .seconds(600))
            figures.takeOver = (ContinuousClock.now - takingOver).seconds
            figures.takeOverRSS = ProcessFigures(pid: standby.processIdentifier).residentBytes
        }
        return figures
    }
}

/// When the first node and half of them were back, in seconds.
struct NodesBack {
    var first = Double.nan
    var half = Double.nan

    var sentence: String { first.isNaN ? "" : " (first \(format(first, 1)) s, half \(format(half, 1)) s)" }
}

/// What one store's run measured.
struct SessionFigures {
    var connect = Double.nan
    var cpu = Double.nan
    var rss = Double.nan
    var peakRSS = Double.nan
    var p50 = Double.nan
    var p99 = Double.nan
    var placed = 0
    var submitted = 0
    var eventsPerSecond = Double.nan
    /// The coordinator's own histograms over the stream: `n, p50 ≤ x ms, p99 ≤ y ms` (bucket bounds).
    var commits = "-"
    var passes = "-"
    var reconnect = Double.nan
    var reconnectBack = NodesBack()
    var takeOver = Double.nan
    var takeOverBack = NodesBack()
    var takeOverRSS = Double.nan

    static func table(_ rows: [(store: String, figures: SessionFigures)], nodes: Int, jobs: Int) -> String {
        let lines: [(String, (SessionFigures) -> String)] = [
            ("all \(nodes) sessions connected", { format($0.connect, 1) + " s" }),
            ("coordinator CPU at steady state", { format($0.cpu * 100, 1) + "% of a core" }),
            ("coordinator RSS at steady state", { format($0.rss / 1_048_576, 0) + " MiB" }),
            ("coordinator peak RSS", { format($0.peakRSS / 1_048_576, 0) + " MiB" }),
            ("submit-to-placement p50", { format($0.p50 * 1000, 2) + " ms" }),
            ("submit-to-placement p99", { format($0.p99 * 1000, 2) + " ms" }),
            ("jobs placed / submitted", { "\($0.placed) / \($0.submitted)" }),
            ("store commits meanwhile", { $0.commits }),
            ("scheduling passes meanwhile", { $0.passes }),
            ("placement log writes", { format($0.eventsPerSecond, 0) + " events/s" }),
            ("every node back after a restart", { format($0.reconnect, 1) + " s" + $0.reconnectBack.sentence }),
            (
                "every node back after a take-over",
                { $0.takeOver.isNaN ? "-" : format($0.takeOver, 1) + " s" + $0.takeOverBack.sentence }
            ),
            (
                "new leader's RSS after it",
                { $0.takeOverRSS.isNaN ? "-" : format($0.takeOverRSS / 1_048_576, 0) + " MiB" }
            ),
        ]
        var text = "\n  \("".padding(toLength: 36, withPad: " ", startingAt: 0))"
        text += rows.map { $0.store.padding(toLength: 40, withPad: " ", startingAt: 0) }.joined()
        for (name, value) in lines {
            text += "\n  " + name.padding(toLength: 36, withPad: " ", startingAt: 0)
            text += rows.map { value($0.figures).padding(toLength: 40, withPad: " ", startingAt: 0) }.joined()
        }
        return text + "\n  (\(nodes) sessions, \(jobs) jobs waiting in the store)"
    }
}

/// A process's CPU time and memory from /proc, and when they were read.
struct ProcessFigures {
    var time: Double
    var cpuSeconds = Double.nan
    var residentBytes = Double.nan
    var peakResidentBytes = Double.nan

    init(pid: Int32) {
        time = Date().timeIntervalSince1970
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            // Fields after the command name: state is the 3rd field, utime the 14th, stime the 15th.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) {
                cpuSeconds = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
            }
        }
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) {
            for line in status.split(separator: "\n") {
                let value = (Double(line.split(separator: " ").dropFirst().first ?? "") ?? .nan) * 1024
                if line.hasPrefix("VmRSS:") { residentBytes = value }
                if line.hasPrefix("VmHWM:") { peakResidentBytes = value }
            }
        }
    }
}

extension Harness {
    /// Waits until the coordinator that leads among `addresses` has `count` nodes connected; says when
    /// the first and half of them were (seconds from the call, as the polls saw them), which tells a
    /// slow start from a slow stream.
    @discardableResult
    func waitForNodes(_ count: Int, at addresses: CoordinatorAddresses, within limit: Duration) async throws
        -> NodesBack
    {
        let started = ContinuousClock.now
        let deadline = started + limit
        var back = NodesBack()
        var last = 0
        while ContinuousClock.now < deadline {
            // While thousands of agents open their sessions, a client may be asked to try again shortly.
            if let report = try? await WireClient.withSession(
                to: addresses, token: token, hello: Hello(role: .client), leaderWait: .seconds(1),
                { try await $0.request(.health, as: HealthReport.self) })
            {
                last = report.nodesConnected
                let now = (ContinuousClock.now - started).seconds
                if last > 0 && back.first.isNaN { back.first = now }
                if last * 2 >= count && back.half.isNaN { back.half = now }
                if last >= count { return back }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw ValidationError("only \(last) of \(count) nodes connected within \(limit)")
    }

    /// Jobs submitted at `rate` a second for `seconds` on one session, watched on another: each
    /// one's seconds from SUBMIT to its `placed` event, and the events a second the log took meanwhile.
    func stream(rate: Double, seconds: Double) async throws
        -> (latencies: [Double], submitted: Int, eventsPerSecond: Double)
    {
        let book = StreamBook()
        let total = Int(rate * seconds)
        let endpoint = endpoint
        let token = token
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (ready, watching) = AsyncStream<Void>.makeStream()
            group.addTask {
                try await WireClient.withSession(to: endpoint, token: token, hello: Hello(role: .client)) { watcher in
                    _ = try await watcher.request(.watch(WatchRequest()))
                    watching.yield()
                    while let message = try await watcher.receive() {
                        guard case .event(let event) = message else { continue }
                        if book.eventSeen(event) >= total { return }
                    }
                }
            }
            for await _ in ready { break }
            try await session { submitter in
                let start = ContinuousClock.now
                for number in 0..<total {
                    let due = start + .milliseconds(Int64(Double(number) / rate * 1000))
                    if due > ContinuousClock.now { try await Task.sleep(until: due) }
                    let id = "stream-\(number)"
                    book.sent(id)
                    let spec =
                        "{\"id\":\"\(id)\",\"kind\":\"inference\",\"simulate\":{\"duration\":\"2s\",\"steps\":1}}"
                    _ = try await submitter.request(.submit(Submit(spec: spec)))
                }
                book.finished()
            }
            // Every job placed, or 30 s more.
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                throw CancellationError()
            }
            _ = try? await group.next()
            group.cancelAll()
        }
        return (book.latencies, total, book.eventsPerSecond)
    }
}

/// What the stream's two sessions saw, shared between them.
final class StreamBook: @unchecked Sendable {
    private let lock = NSLock()
    private var sentAt: [String: ContinuousClock.Instant] = [:]
    private var placedAfter: [String: Double] = [:]
    private var events = 0
    private var firstSent: ContinuousClock.Instant?
    private var lastSent: ContinuousClock.Instant?
    private var eventsAtEnd: Int?

    func sent(_ id: String) {
        lock.withLock {
            let now = ContinuousClock.now
            sentAt[id] = now
            if firstSent == nil { firstSent = now }
        }
    }

    func finished() {
        lock.withLock {
            lastSent = ContinuousClock.now
            eventsAtEnd = events
        }
    }

    /// Counts an event; returns how many of the stream's jobs are placed so far.
    func eventSeen(_ event: PlacementEvent) -> Int {
        lock.withLock {
            events += 1
            if event.kind == .placed, let job = event.job, let sent = sentAt[job], placedAfter[job] == nil {
                placedAfter[job] = (ContinuousClock.now - sent).seconds
            }
            return placedAfter.count
        }
    }

    var latencies: [Double] { lock.withLock { placedAfter.values.sorted() } }

    /// Events while the stream was sent, a second.
    var eventsPerSecond: Double {
        lock.withLock {
            guard let firstSent, let lastSent, let eventsAtEnd else { return .nan }
            return Double(eventsAtEnd) / (lastSent - firstSent).seconds
        }
    }
}

/// A line on stdout at once, through a pipe too (`print` holds it back there): a run takes minutes.
func say(_ line: String) {
    try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
}
