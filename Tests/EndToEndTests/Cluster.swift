import AttemptContainment
import Foundation
import ProgramSupport
import SchedTestSupport
import Testing
import Wire

/// Real binaries on 127.0.0.1, port 0, in a temporary directory; stopped by PID in reverse order.
final class Cluster: @unchecked Sendable {
    let directory: URL
    // Always past the 16-character minimum (a random number alone was 5 digits once in a while).
    let token = "e2e-token-\(UUID().uuidString)"
    /// The node key the test's own agent sessions (`session(role: .agent)`) prove.
    let agentKey = NodeKey()
    var tokenFile: String { directory.appendingPathComponent("token").path }
    var dataDirectory: String { directory.appendingPathComponent("data").path }
    /// The cgroup this cluster's host agents put jobs under: one per cluster, so that clusters of
    /// tests running at once never share one, and removed when the cluster stops.
    var cgroupParent: String { "heterosched-test/" + directory.lastPathComponent }
    private(set) var processes: [(name: String, process: Process)] = []
    private(set) var endpoint: WireEndpoint?
    /// Set: schedctl and agents are given this list (a leader and its standbys) instead of `endpoint`.
    var coordinators: String?
    var coordinatorAddress: String { coordinators ?? endpoint!.description }
    /// Set before starting anything: every program speaks plain TCP (`--plain-tcp`), for tests that
    /// speak the protocol by hand on a raw socket. TLS, the default, otherwise.
    var plainTCP = false
    var transportFlags: [String] { plainTCP ? ["--plain-tcp"] : [] }

    /// How long a program run to completion may take: a deadline for a hung one, generous enough for a
    /// debug build on a machine loaded by the rest of the suite (30 s was not, for a simulation).
    static let runLimit: Double = 180

    static let binaries: URL = {
        // The test runner sits beside the built executables.
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }()

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("heterosched-e2e-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Defaults.writeToken(token, to: tokenFile)
    }

    /// Stops what is left and removes the directory (logs, data): a suite leaves nothing in /tmp.
    /// `HETEROSCHED_KEEP_TEST_DIRS=1` keeps it, to read a failed test's logs.
    deinit {
        stopAll()
        guard ProcessInfo.processInfo.environment["HETEROSCHED_KEEP_TEST_DIRS"] == nil else { return }
        // A supervisor of a job just killed may still be writing its exit record: once more after it.
        for attempt in 0..<3 where FileManager.default.fileExists(atPath: directory.path) {
            if attempt > 0 { usleep(200_000) }
            try? FileManager.default.removeItem(at: directory)
        }
    }

    func start(_ name: String, _ arguments: [String], log: String, environment: [String: String] = [:]) throws
        -> Process
    {
        let process = Process()
        process.executableURL = Self.binaries.appendingPathComponent(name)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let output = directory.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        // The child has its own copy; ours would stay open for the whole test run (and be inherited
        // by every program started after: a database server refuses to start with ~1,000 of them).
        try? handle.close()
        processes.append((name, process))
        return process
    }

    /// Starts a coordinator and waits (at most 20 s) until it listens.
    @discardableResult
    func startCoordinator(listen: String = "127.0.0.1:0", extra: [String] = []) async throws -> Process {
        try? FileManager.default.removeItem(atPath: dataDirectory + "/coordinator.addr")
        let process = try start(
            "sched-coordinator",
            [
                "--listen", listen, "--data-dir", dataDirectory, "--token-file", tokenFile, "--catalog",
                Repository.path("deploy/catalog/chips.yaml"), "--heartbeat-timeout", "5",
                // A loaded 2-core machine (a browser, a database and live stories beside) can take seconds
                // to finish a handshake; tests of the deadline give their own (the last value counts).
                "--handshake-timeout", "60",
                // Nor does a job fail as no node can hold it while agents are still slow to register
                // (tests that want it sooner give their own).
                "--registration-grace", "120",
            ] + transportFlags + extra, log: "coordinator-\(processes.count).log")
        // Two minutes: a debug coordinator making its certificate on a machine loaded beyond its
        // cores (a load average of 58 was seen) took more than 20 s.
        for _ in 0..<1200 {
            if let text = try? String(contentsOfFile: dataDirectory + "/coordinator.addr", encoding: .utf8),
                let endpoint = WireEndpoint(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                self.endpoint = endpoint
                return process
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ClusterError("the coordinator did not start: \(log("coordinator-\(processes.count - 1).log"))")
    }

    @discardableResult
    func startAgents(fleet: String, timeScale: Double = 600, extra: [String] = [], log: String = "agents.log") throws
        -> Process
    {
        try start(
            "sched-agent",
            [
                "--simulate", fleet, "--coordinator", coordinatorAddress, "--token-file", tokenFile, "--catalog",
                Repository.path("deploy/catalog/chips.yaml"), "--time-scale", String(timeScale),
                "--heartbeat-interval", "0.5",
            ] + transportFlags + extra, log: log)
    }

    /// Simulated agents for a one-node H100 fleet against `port` on 127.0.0.1 (a fake coordinator).
    /// (Plain TCP: the fake coordinators of the tests that use it speak it.)
    func startOneNodeAgent(coordinatorPort port: Int, log: String = "agent.log") throws -> Process {
        let fleet = try fleet(
            "name: one\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 8, numaNodes: 2}\n")
        return try start(
            "sched-agent",
            [
                "--simulate", fleet, "--coordinator", "127.0.0.1:\(port)", "--token-file", tokenFile, "--catalog",
                Repository.path("deploy/catalog/chips.yaml"), "--heartbeat-interval", "0.2", "--plain-tcp",
            ], log: log)
    }

    /// How many nodes are connected now, as `schedctl nodes` says.
    func connectedNodes() async throws -> Int {
        let nodes = try await schedctl(["nodes", "--json"])
        // No answer yet (a take-over under way, a coordinator starting): none connected, as far as we know.
        guard nodes.status == 0 else { return 0 }
        return try WireCodec.value([NodeStatus].self, from: nodes.stdout).filter(\.connected).count
    }

    /// Starts a host agent on a fake host (sysfs tree and vendor tools), keeping attempts in `data`.
    @discardableResult
    func startHostAgent(
        _ host: FakeHost, data: String, name: String = "asc-host", log: String = "host-agent.log", extra: [String] = [],
        environment: [String: String] = [:], through relay: TCPRelay? = nil
    ) throws -> Process {
        try start(
            "sched-agent",
            [
                "--coordinator", (relay?.endpoint ?? endpoint!).description, "--token-file", tokenFile, "--catalog",
                Repository.path("deploy/catalog/chips.yaml"), "--sysfs-root", host.sysfs, "--tool-dir", host.tools,
                "--only-tool-dirs", "--node-name", name, "--data-dir", data, "--heartbeat-interval", "0.5",
                "--kill-grace", "2", "--health-interval", "0.5", "--cgroup-parent", cgroupParent,
            ] + transportFlags + extra, log: log, environment: environment)
    }

    /// A host's agent on a fake host made by `make` (the Ascend 910B host by default) under the
    /// cluster's directory, once it has registered; fails with its log if it does not.
    @discardableResult
    func startOneHost(
        name: String = "asc-host", _ make: (String) throws -> FakeHost = FakeHost.ascend910B
    ) async throws -> FakeHost {
        let host = try make(directory.appendingPathComponent("host").path)
        try startHostAgent(host, data: directory.appendingPathComponent("agent-data").path, name: name)
        let registered = try await eventually(seconds: 15) { try await self.connectedNodes() == 1 }
        guard registered else { throw ClusterError("the host's agent did not register: \(log("host-agent.log"))") }
        return host
    }

    /// An Ascend 910B host (`asc-host`, its agent's log `asc.log`) and an H100 host (`nv-host`,
    /// `nv.log`), each with its agent (`extra` given to both), once both have registered; fails
    /// with their logs if they do not.
    func startAscendAndNvidiaHosts(extra: [String] = []) async throws {
        let ascend = try FakeHost.ascend910B(at: directory.appendingPathComponent("asc").path)
        let nvidia = try FakeHost.nvidiaH100(at: directory.appendingPathComponent("nv").path)
        for (host, name, short) in [(ascend, "asc-host", "asc"), (nvidia, "nv-host", "nv")] {
            try startHostAgent(
                host, data: directory.appendingPathComponent("\(short)-data").path, name: name, log: "\(short).log",
                extra: extra)
        }
        let registered = try await eventually(seconds: 60) { try await self.connectedNodes() == 2 }
        guard registered else {
            throw ClusterError("the hosts' agents did not register: \(log("asc.log")) \(log("nv.log"))")
        }
    }

    /// The coordinator's options that make its clock run as fast as `startScaledFleet`'s agents.
    static let scaledClock = ["--time-scale", "60"]

    /// A coordinator on a port fixed for the test (to restart it there with `scaledClock`) and
    /// simulated agents for `count` nodes of `chips` H100s, both at 60 times wall time: a simulated
    /// minute is a second. Returns the port's address and the coordinator, once every node is in.
    func startScaledFleet(nodes count: Int, chips: Int) async throws -> (listen: String, coordinator: Process) {
        let listen = "127.0.0.1:\(try RawListener().port)"
        let coordinator = try await startCoordinator(listen: listen, extra: Self.scaledClock)
        let fleet = try fleet(
            "name: scaled\nnodeGroups:\n  - {name: nv, count: \(count), model: h100, chipsPerNode: \(chips), numaNodes: 1}\n"
        )
        try startAgents(fleet: fleet, timeScale: 60)
        guard try await eventually(seconds: 20, { try await self.connectedNodes() == count }) else {
            throw ClusterError("the simulated nodes did not register: \(log("agents.log"))")
        }
        return (listen, coordinator)
    }

    /// Writes a fleet file into the cluster's directory.
    func fleet(_ yaml: String, file: String = "fleet.yaml") throws -> String {
        let path = directory.appendingPathComponent(file).path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs schedctl against this cluster's coordinator, to completion (at most `Cluster.runLimit`).
    func schedctl(_ arguments: [String], token: String? = nil, in workingDirectory: URL? = nil) async throws -> Output {
        let tokenPath: String
        if let token {
            tokenPath = directory.appendingPathComponent("other-token").path
            try Defaults.writeToken(token, to: tokenPath)
        } else {
            tokenPath = tokenFile
        }
        // Connection options go before a `--` that starts a job's command.
        let connection = ["--address", coordinatorAddress, "--token-file", tokenPath] + transportFlags
        var full = arguments + connection
        if arguments.first == "submit" {
            // Right after `submit`: what follows a batch script is the script's.
            full = ["submit"] + connection + arguments.dropFirst()
        } else if let terminator = arguments.firstIndex(of: "--") {
            full = Array(arguments[..<terminator]) + connection + Array(arguments[terminator...])
        }
        return try await run("schedctl", full, in: workingDirectory)
    }

    /// Runs one of the built programs to completion (at most `runLimit`), capturing its output.
    func run(
        _ name: String, _ arguments: [String], in workingDirectory: URL? = nil, environment: [String: String] = [:]
    ) async throws -> Output {
        let process = Process()
        // A built program by name, or any program by its absolute path.
        process.executableURL =
            name.hasPrefix("/") ? URL(fileURLWithPath: name) : Self.binaries.appendingPathComponent(name)
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        process.environment = ["HOME": directory.path, "PATH": "/usr/bin:/bin"].merging(environment) { $1 }
        let out = directory.appendingPathComponent("run-\(UUID()).out")
        let err = directory.appendingPathComponent("run-\(UUID()).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: out)
        let errHandle = try FileHandle(forWritingTo: err)
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        try? outHandle.close()
        try? errHandle.close()
        let deadline = Date().addingTimeInterval(Self.runLimit)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            throw ClusterError(
                "\(name) \(arguments.joined(separator: " ")) did not finish in \(Int(Self.runLimit)) s")
        }
        return Output(
            status: process.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
            stderr: try String(contentsOf: err, encoding: .utf8))
    }

    /// `schedctl status JOB --json`, decoded.
    func status(_ job: String) async throws -> JobRecord {
        let output = try await schedctl(["status", job, "--json"])
        guard output.status == 0 else { throw ClusterError("status \(job) failed: \(output.stderr)") }
        return try WireCodec.value(JobRecord.self, from: output.stdout)
    }

    /// Polls a job until `condition` holds (at most `seconds`).
    func waitFor(_ job: String, seconds: Double = 30, _ condition: (JobRecord) -> Bool) async throws -> JobRecord {
        let deadline = Date().addingTimeInterval(seconds)
        var last: JobRecord
        // Asked once more after the deadline, as `eventually` does: on a loaded machine the test's own task
        // can wait tens of seconds to run again, and the job's state when it does is what counts.
        while true {
            last = try await status(job)
            if condition(last) { return last }
            if Date() >= deadline { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        // What the job last was, and what the log says of it, so a failure on a loaded machine explains itself.
        let said = "\(last.state), attempt \(last.attempt), reason \(last.reason ?? "-"), exit \(last.lastExit ?? "-")"
        let events = ((try? String(contentsOfFile: dataDirectory + "/placement-log.jsonl", encoding: .utf8)) ?? "")
            .split(separator: "\n").filter { $0.contains("\"\(job)\"") }.suffix(8).joined(separator: "\n")
        throw ClusterError("job \(job) did not get there in \(seconds) s; last: \(said)\n\(events)")
    }

    /// A raw client session (HELLO, CHALLENGE, AUTH done) for protocol-level checks.
    func session<T: Sendable>(
        role: PeerRole = .client, node: String? = nil, _ body: (WireSession) async throws -> T
    ) async throws -> T {
        try await WireClient.withSession(
            to: endpoint!, token: token, hello: Hello(role: role, node: node),
            nodeKey: role == .agent ? agentKey : nil, tls: plainTCP ? nil : WireTLS.tokenBound, body)
    }

    func signal(_ process: Process, _ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits (at most `seconds`) for a process to exit; returns its status.
    func waitForExit(_ process: Process, seconds: Double = 20) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        guard !process.isRunning else { throw ClusterError("\(process.executableURL!.lastPathComponent) did not exit") }
        return process.terminationStatus
    }

    /// The placement log's events, in order.
    func placementEvents() throws -> [PlacementEvent] {
        try String(contentsOfFile: dataDirectory + "/placement-log.jsonl", encoding: .utf8)
            .split(separator: "\n").compactMap { try? WireCodec.value(PlacementEvent.self, from: String($0)) }
    }

    func log(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    func stopAll() {
        for (_, process) in processes.reversed() where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
        }
        for (_, process) in processes.reversed() {
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        processes = []
        stopJobs()
        // The supervisors remove each attempt's cgroup as it ends; the parent stays until here.
        CgroupCleanup.remove(cgroupParent)
    }

    /// Jobs outlive their agent by design: end every job process group a host agent of this cluster
    /// started (its `attempts/*/job.pid`), so that no test leaves one running. Their supervisors
    /// (sched-attempt) then record the end and exit.
    private func stopJobs() {
        guard let files = FileManager.default.enumerator(atPath: directory.path) else { return }
        for case let file as String in files where file.hasSuffix("/job.pid") && file.contains("attempts/") {
            let path = directory.appendingPathComponent(file).path
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                let group = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), group > 1
            else { continue }
            kill(-group, SIGKILL)
        }
    }
}

struct ClusterError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

let smallFleet = """
    name: e2e
    nodeGroups:
      - name: nv
        count: 2
        model: h100
        chipsPerNode: 8
        numaNodes: 2
      - name: asc
        count: 1
        model: ascend-910c
        chipsPerNode: 16
        numaNodes: 4
    """

/// Whether `condition` comes true within `seconds`, asked every 50 ms.
func eventually(seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
