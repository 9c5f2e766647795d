import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import SchedSim
import SchedSpec
import Wire

/// `schedctl scenario`: play a scenario file on the live system.
struct ScenarioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario", abstract: "Play a scenario on a live coordinator with simulated agents.",
        subcommands: [ScenarioRunCommand.self])
}

struct ScenarioRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start a coordinator and simulated agents, play a scenario in scaled time, and summarise it.",
        discussion: """
            Without --address, starts sched-coordinator and sched-agent (found beside schedctl) on 127.0.0.1 \
            with a fresh token and data directory, plays the scenario's fleet, submits its jobs at their \
            times, prints the placement log as it happens (t= is simulated time from the start), and ends \
            with a summary: time and failures per tier, fallbacks with reasons, steps lost to each restart, \
            the training job's goodput, where inference ran. It stops exactly the processes it started. \
            With --address, uses a running coordinator whose agents play this scenario \
            (sched-agent --scenario FILE) at the same time scale (sched-coordinator --time-scale). \
            `schedctl simulate --scenario FILE` tells the same story in virtual time.
            """)

    @Argument(help: "Scenario file (deploy/scenarios/*.yaml).") var file: String
    @Option(help: "Use this running coordinator (host:port) instead of starting one.") var address: String?
    @Option(name: .customLong("token-file"), help: "Token file for --address.") var tokenFile: String?
    @Option(name: .customLong("time-scale"), help: "Simulated seconds per wall second (default: the scenario's).")
    var timeScale: Double?
    @Option(name: .customLong("data-dir"), help: "Keep the started coordinator's data here (default: a temporary one).")
    var dataDirectory: String?
    @Option(help: "Chip catalog file (default: HETEROSCHED_CATALOG, /etc/heterosched/chips.yaml, or the built-in).")
    var catalog: String?
    @Option(help: "Give up after this many wall seconds.") var timeout: Double = 900
    @Option(
        help: """
            Have the started coordinator serve its web page and /metrics on HOST:PORT (127.0.0.1:0 picks a \
            port), and print the page's address: watch the story there while it plays.
            """)
    var http: String?
    @Flag(help: "Print the story as JSON lines (one per event), then the summary as one JSON line.") var json = false
    @Option(
        help: """
            Keep the started coordinator, its page and /metrics up this many seconds after the summary, to \
            look at the story's end there; an interrupt ends it sooner.
            """)
    var linger: Double = 0

    func validate() throws {
        try FlagRange.check(timeScale ?? 1, "--time-scale", 0.001...1_000_000)
        try FlagRange.check(timeout, "--timeout", 0.1...864_000, unit: " seconds")
        try FlagRange.check(linger, "--linger", 0...864_000, unit: " seconds")
        if let http, WireEndpoint(http) == nil { throw ValidationError("--http is host:port, got '\(http)'") }
        if http != nil, address != nil {
            throw ValidationError("--http is for the coordinator scenario run starts; not with --address")
        }
    }

    func run() async throws {
        let catalogModels: ChipCatalog
        let spec: ScenarioSpec
        do {
            catalogModels = try Defaults.catalog(path: catalog, overrides: [])
            spec = try ScenarioFile.load(path: file, catalog: catalogModels)
        } catch let error as SpecError {
            fail(error.description)
        } catch let error as SetupError {
            fail(error.description)
        }
        let scale = timeScale ?? spec.timeScale
        var cluster: LocalCluster?
        let endpoint: WireEndpoint
        let token: String
        do {
            if let address {
                guard let parsed = WireEndpoint(address) else { fail("--address is host:port, got '\(address)'") }
                endpoint = parsed
                token = try Defaults.token(file: tokenFile)
            } else {
                let started = try LocalCluster.start(
                    scenario: file, catalog: catalog, policy: spec.policy, timeScale: scale,
                    chipRecovery: spec.fleet.faults.chipRecoverySeconds,
                    faultRates: spec.fleet.faults.knownRates, dataDirectory: dataDirectory, http: http)
                cluster = started
                endpoint = started.endpoint
                token = started.token
                if !json {
                    printLine(
                        "started sched-coordinator (pid \(started.coordinator.processIdentifier)) on \(endpoint) and "
                            + "sched-agent (pid \(started.agents.processIdentifier)) playing \(spec.fleet.nodes.count) nodes"
                            + ", time x\(formatScale(scale))")
                    if let page = started.page { printLine("watch it at \(page)") }
                }
            }
        } catch let error as SetupError {
            fail(error.description)
        }
        let player = ScenarioPlayer(spec: spec, endpoint: endpoint, token: token, timeScale: scale, json: json)
        let outcome: ScenarioPlayer.Outcome
        do {
            outcome = try await player.play(timeout: timeout)
        } catch {
            cluster?.stop()
            fail("the scenario stopped: \(error)")
        }
        // The oracle is played in virtual time: what each tier alone would have done with these faults.
        let oracles = (try? ScenarioOracle.outcomes(spec, catalog: catalogModels)) ?? []
        let summary = ScenarioSummary(
            scenario: spec, catalog: catalogModels, events: outcome.story, end: outcome.end, oracles: oracles)
        if json {
            printLine(WireCodec.json(["summary": summary.render()]))
        } else {
            printLine("")
            printLine(summary.render())
            if let kept = cluster?.keptDirectory { printLine("coordinator data and placement log kept in \(kept)") }
        }
        if let cluster, linger > 0 {
            let page = cluster.page.map { " at \($0)" } ?? ""
            printError(
                "the coordinator stays up for \(formatNumber(linger)) s\(page); SIGINT or SIGTERM ends it sooner")
            await Self.sleepUntilInterrupted(seconds: linger)
        }
        cluster?.stop()
        if !outcome.finished {
            fail("not every job ended within --timeout \(Int(timeout)) s of wall time")
        }
    }

    func formatScale(_ value: Double) -> String { formatNumber(value) }

    /// Sleeps `seconds`, or until SIGINT or SIGTERM: then what was started is stopped as at the end.
    static func sleepUntilInterrupted(seconds: Double) async {
        let sleeper = Task { try await Task.sleep(for: .seconds(seconds)) }
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { sleeper.cancel() }
            source.resume()
            sources.append(source)
        }
        _ = await sleeper.result
        for source in sources { source.cancel() }
    }
}

/// Submits a scenario's jobs at their times and follows the placement log until every job has ended.
struct ScenarioPlayer: Sendable {
    let spec: ScenarioSpec
    let endpoint: WireEndpoint
    let token: String
    let timeScale: Double
    let json: Bool

    struct Outcome {
        var story: [StoryEvent]
        var end: Double
        var finished: Bool
    }

    func play(timeout: Double) async throws -> Outcome {
        try await waitForFleet(timeout: min(timeout, 60))
        let ids = Set(spec.submissions.map(\.definition.job.id.name))
        let log = StoryLog()
        // The follower subscribes first, then lets the submitter go: no event is missed.
        let (watching, subscribed) = AsyncStream<Date>.makeStream()
        let followed = try await withThrowingTaskGroup(of: FollowEnd?.self) { group in
            group.addTask {
                try await WireClient.withSession(to: endpoint, token: token, hello: Hello(role: .client)) { watch in
                    _ = try await watch.request(.watch(WatchRequest(after: nil)))
                    subscribed.yield(Date())
                    subscribed.finish()
                    return try await follow(watch, ids: ids, log: log)
                }
            }
            group.addTask {
                for await start in watching {
                    try await submitAll(from: start)
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                throw ScenarioTimeout()
            }
            var followed: FollowEnd?
            do {
                while let result = try await group.next() {
                    if let result {
                        followed = result
                        break
                    }
                }
            } catch is ScenarioTimeout {
                followed = nil
            }
            group.cancelAll()
            return followed
        }
        // On a timeout, the story so far.
        let story = await log.story
        return Outcome(
            story: story, end: followed?.end ?? story.last?.time ?? 0, finished: followed?.finished ?? false)
    }

    /// Every node of the scenario registered and connected.
    func waitForFleet(timeout: Double) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        let expected = spec.fleet.nodes.count
        while true {
            let connected = try await WireClient.withSession(to: endpoint, token: token, hello: Hello(role: .client)) {
                try await $0.request(.nodes, as: [NodeStatus].self).filter(\.connected).count
            }
            if connected >= expected { return }
            guard Date() < deadline else {
                throw SetupError(
                    "only \(connected) of the scenario's \(expected) nodes registered within \(Int(timeout)) s")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    func submitAll(from start: Date) async throws {
        // One session per burst of submissions: a session left idle between far-apart submissions
        // would pass the coordinator's idle timeout.
        func wait(for index: Int) -> Double {
            start.addingTimeInterval(spec.submissions[index].at / timeScale).timeIntervalSinceNow
        }
        var index = 0
        while index < spec.submissions.count {
            if wait(for: index) > 0 { try await Task.sleep(for: .milliseconds(Int(wait(for: index) * 1000))) }
            try await WireClient.withSession(to: endpoint, token: token, hello: Hello(role: .client)) { session in
                // This one, and those due within a second; a later one gets a session of its own.
                while index < spec.submissions.count && wait(for: index) <= 1 {
                    if wait(for: index) > 0 { try await Task.sleep(for: .milliseconds(Int(wait(for: index) * 1000))) }
                    let submission = spec.submissions[index]
                    _ = try await session.request(
                        .submit(
                            Submit(spec: submission.jobFileText, file: "\(spec.name):\(submission.definition.job.id)")))
                    index += 1
                }
            }
        }
    }

    /// How following the log ended: every job ended (at `end`), or the coordinator closed the stream.
    struct FollowEnd: Sendable {
        var end: Double
        var finished: Bool
    }

    /// Prints the scenario's events as they come, adding them to `log`; returns once every job has ended.
    func follow(_ session: WireSession, ids: Set<String>, log: StoryLog) async throws -> FollowEnd? {
        var origin: Double?
        var ended: Set<String> = []
        var time = 0.0
        let firstAt = spec.submissions.first?.at ?? 0
        while let message = try await session.receive() {
            guard case .event(let event) = message, let job = event.job, ids.contains(job) else { continue }
            if origin == nil, event.kind == .submitted { origin = event.time - firstAt }
            time = event.time - (origin ?? event.time)
            if json {
                var shifted = event
                shifted.time = time
                printLine(WireCodec.json(shifted))
            } else {
                printLine("t=\(ScenarioSummary.clock(time))  \(event.message)")
            }
            if let step = StoryEvent(event, time: time) { await log.append(step) }
            switch event.kind {
            case .completed, .failed, .cancelled, .gaveUp: ended.insert(job)
            default: break
            }
            if ended.count == ids.count { return FollowEnd(end: time, finished: true) }
        }
        return FollowEnd(end: time, finished: false)
    }
}

extension StoryEvent {
    /// A placement-log event as a story event (nil for events the story does not need); `time` is
    /// the scenario's time. Tests read the live log with it too.
    public init?(_ event: PlacementEvent, time: Double) {
        guard let job = event.job else { return nil }
        let details = event.details
        switch event.kind {
        case .placed:
            self.init(
                time: time, kind: .placed, job: job, tier: details["tier"].flatMap { Int($0) },
                chipModel: details["chipModel"], nodes: details["nodes"]?.split(separator: ",").map(String.init))
        case .faulted:
            self.init(
                time: time, kind: .faulted, job: job, stepsLost: details["stepsLost"].flatMap { Int($0) },
                reason: details["cause"])
        case .fellBack:
            self.init(
                time: time, kind: .fellBack, job: job, tier: details["to"].flatMap { Int($0) },
                reason: details["reason"])
        case .returned:
            self.init(
                time: time, kind: .returned, job: job, tier: details["to"].flatMap { Int($0) },
                reason: details["reason"])
        case .preempted: self.init(time: time, kind: .preempted, job: job)
        case .completed: self.init(time: time, kind: .completed, job: job)
        case .failed: self.init(time: time, kind: .failed, job: job, reason: event.message)
        case .gaveUp: self.init(time: time, kind: .gaveUp, job: job, reason: event.message)
        default: return nil
        }
    }
}

struct ScenarioTimeout: Error {}

/// The story so far, for a summary when the run times out.
actor StoryLog {
    private(set) var story: [StoryEvent] = []
    func append(_ event: StoryEvent) { story.append(event) }
}

/// A coordinator and a simulated fleet started by `schedctl scenario run`, stopped by their PIDs.
final class LocalCluster: @unchecked Sendable {
    let coordinator: Process
    let agents: Process
    let endpoint: WireEndpoint
    let token: String
    let directory: String
    let keptDirectory: String?
    /// The coordinator's web page, when it serves one (`--http`).
    var page: String?

    init(coordinator: Process, agents: Process, endpoint: WireEndpoint, token: String, directory: String, kept: String?)
    {
        self.coordinator = coordinator
        self.agents = agents
        self.endpoint = endpoint
        self.token = token
        self.directory = directory
        keptDirectory = kept
    }

    static func start(
        scenario: String, catalog: String?, policy: PolicyName, timeScale: Double, chipRecovery: Double,
        faultRates: [ChipModelID: Double], dataDirectory: String?, http: String? = nil
    ) throws(SetupError) -> LocalCluster {
        let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        for tool in ["sched-coordinator", "sched-agent"]
        where !FileManager.default.isExecutableFile(atPath: "\(bin)/\(tool)") {
            throw SetupError(
                "\(tool) is not beside schedctl in \(bin); build all products (swift build) or pass --address")
        }
        let work = NSTemporaryDirectory() + "heterosched-scenario-\(ProcessInfo.processInfo.processIdentifier)"
        let data = dataDirectory ?? work + "/data"
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            // Process logs stay with kept data; the token never does.
            let logs = dataDirectory == nil ? work : data
            let token = TokenProof.makeNonce()
            try Defaults.writeToken(token, to: work + "/token")
            try? FileManager.default.removeItem(atPath: data + "/coordinator.addr")
            try? FileManager.default.removeItem(atPath: data + "/coordinator.http")
            // They stop with us, even if we are killed and cannot stop them.
            var common = [
                "--token-file", work + "/token", "--log-level", "warning", "--stop-with-pid",
                String(ProcessInfo.processInfo.processIdentifier),
            ]
            if let catalog { common += ["--catalog", catalog] }
            let coordinator = try launch(
                "\(bin)/sched-coordinator",
                [
                    "--listen", "127.0.0.1:0", "--data-dir", data, "--policy", policy.rawValue, "--time-scale",
                    String(timeScale), "--chip-recovery", String(chipRecovery),
                ] + (http.map { ["--http", $0] } ?? [])
                    // The fleet's known fault rates, as SchedSim takes them: where the expected-finish rule starts.
                    + faultRates.sorted { $0.key < $1.key }.flatMap { ["--fault-rate", "\($0.key)=\($0.value)"] }
                    + common, log: logs + "/coordinator.log")
            let deadline = Date().addingTimeInterval(30)
            // What the coordinator writes to its data directory once it listens, or nil if it does not in time.
            func written(_ file: String) -> String? {
                while Date() < deadline && coordinator.isRunning {
                    let text = (try? String(contentsOfFile: data + "/" + file, encoding: .utf8))?
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                    if let text, !text.isEmpty { return text }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                return nil
            }
            guard let address = written("coordinator.addr"), let endpoint = WireEndpoint(address) else {
                if coordinator.isRunning { coordinator.terminate() }
                throw SetupError("sched-coordinator did not start: \(Self.tail(logs + "/coordinator.log"))")
            }
            // The page's address, once it listens (it starts beside the line protocol's listener).
            let page = http == nil ? nil : written("coordinator.http")
            let agents = try launch(
                "\(bin)/sched-agent",
                [
                    "--scenario", scenario, "--coordinator", address, "--time-scale", String(timeScale),
                    "--heartbeat-interval", "1",
                ] + common, log: logs + "/agents.log")
            let cluster = LocalCluster(
                coordinator: coordinator, agents: agents, endpoint: endpoint, token: token, directory: work,
                kept: dataDirectory)
            cluster.page = page
            return cluster
        } catch let error as SetupError {
            throw error
        } catch {
            throw SetupError("cannot start the local cluster: \(error.localizedDescription)")
        }
    }

    static func tail(_ path: String) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(3).joined(separator: "; ")
    }

    static func launch(_ path: String, _ arguments: [String], log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// SIGTERM to the agents, then the coordinator (it drains and flushes), by PID; then tidy up.
    func stop() {
        for process in [agents, coordinator] where process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        // The working directory holds the token (and, when no data directory is kept, the data and
        // logs): it goes either way. A kept data directory is elsewhere, with the logs.
        try? FileManager.default.removeItem(atPath: directory)
    }
}
