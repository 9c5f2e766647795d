import AgentKit
import ArgumentParser
import Foundation
import Logging
import MungeIdentity
import NIOSSL
import NodeDiscovery
import ProgramSupport
import SchedCore
import SchedSpec
import ServiceLifecycle
import Wire

@main
struct SchedAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sched-agent",
        abstract: "The HeteroSched node agent: finds the host's chips, registers them and runs placed jobs.",
        subcommands: [RunAgent.self, InventoryCommand.self, NodeKeyCommand.self],
        defaultSubcommand: RunAgent.self)
}

struct RunAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve the coordinator (the default): this host's chips, or a simulated fleet (--simulate).",
        discussion: """
            On a host: finds the chips (as `sched-agent inventory` prints them), registers them, and runs \
            each placed attempt as a process under `sched-attempt` (bound to the NUMA node nearest its \
            chips, in its own process group, with the vendor's visible-devices variable and HETEROSCHED_* \
            set, output kept in --data-dir for `schedctl logs`). Cancel and time limits send SIGTERM to the \
            group and SIGKILL after --kill-grace. Chip health from the vendor tools goes out with the \
            heartbeats. Attempts outlive the agent: a restarted agent re-adopts them from --data-dir.

            With --simulate FLEET.yaml (or --scenario), every node of the fleet registers on its own \
            connection and plays placed jobs in simulated time (a job's length on an H100 scaled by the \
            chip model's relative throughput, divided by --time-scale), with the faults the file describes.
            """)

    @Option(help: "Fleet file whose nodes to play (deploy/fleets/*.yaml).")
    var simulate: String?

    @Option(
        help: "Scenario file whose fleet to play (deploy/scenarios/*.yaml); its seed and time scale apply unless given."
    )
    var scenario: String?

    @Option(
        help: """
            Coordinator address, host:port, or several comma-separated (a leader and its standbys on one \
            PostgreSQL store: the agent follows whichever leads). Or HETEROSCHED_ADDRESS.
            """)
    var coordinator: String?

    @Option(
        name: .customLong("token-file"), help: "File whose first line is the shared token (or HETEROSCHED_TOKEN_FILE).")
    var tokenFile: String?

    @OptionGroup var discovery: DiscoveryOptions

    @Option(
        name: .customLong("data-dir"),
        help: "Where attempts' state and output and the node's key are kept (a host's agent only).")
    var dataDirectory = "/var/lib/heterosched-agent"

    @OptionGroup var nodeKeyOptions: NodeKeyOptions

    @Option(
        name: .customLong("checkpoint-base"),
        help:
            "Where a job that names no checkpointDirectory gets one, BASE/JOB: storage every host mounts (default: DATA-DIR/checkpoints, this host only)."
    )
    var checkpointBase: String?

    @Flag(
        name: .customLong("allow-root-jobs"),
        help: """
            Run jobs whose owner is root. Jobs run as their owner when the coordinator knows its users \
            (--client-auth munge); a root-owned one fails unless this is given.
            """)
    var allowRootJobs = false

    @Option(
        help: """
            How the agent proves itself: token, or munge (a credential of the user it runs as, for a \
            coordinator started with --agent-auth munge).
            """)
    var auth = "token"

    @Option(name: .customLong("munge-socket"), help: "munged's socket (default: munged's own default).")
    var mungeSocket: String?

    @Option(
        name: .customLong("coordinator-user"),
        help: "With --auth munge: the user the coordinator runs as, whose credential it must answer with (root).")
    var coordinatorUser = "root"

    @Option(
        name: .customLong("tls-ca"),
        help: """
            PEM certificate of the CA that signed the coordinator's TLS certificate: sessions are refused \
            unless the certificate chains to it and names the address. Without it sessions are TLS all the \
            same, and the coordinator is trusted through the token (the proofs bind its certificate).
            """)
    var tlsCA: String?

    @Flag(
        name: .customLong("plain-tcp"),
        help: "Speak plain TCP, to a coordinator started with --plain-tcp (orders and job environments in clear text).")
    var plainTCP = false

    /// TLS with `--tls-ca`'s check, TLS bound by the token's proofs, or nil for plain TCP.
    func tlsContext() throws -> NIOSSLContext? {
        if plainTCP {
            guard tlsCA == nil else { throw SetupError("--tls-ca and --plain-tcp contradict each other: give one") }
            return nil
        }
        guard let tlsCA else { return WireTLS.tokenBound }
        do {
            return try WireTLS.clientContext(caFile: tlsCA)
        } catch {
            throw SetupError("--tls-ca: \(error.description)")
        }
    }

    /// MUNGE credentials for `--auth munge`; nil for the token.
    func credentials() throws -> (any ClientCredentials)? {
        guard auth == "munge" else { return nil }
        guard let credentials = MungeCredentials(socket: mungeSocket, coordinatorUser: coordinatorUser) else {
            throw SetupError("--coordinator-user: no user '\(coordinatorUser)' on this host")
        }
        return credentials
    }

    @Option(
        name: .customLong("pass-env"),
        help: """
            A variable of the agent's that jobs run as their owner get too (LD_LIBRARY_PATH for a driver); \
            repeatable. They get no other: their own, the scheduler's, and a standard PATH.
            """)
    var passEnv: [String] = []

    @Option(
        help: """
            Contain each job in its own cgroup: auto (v2 where the host has its memory controller there, \
            else v1; off where the agent cannot make cgroups), v2, v1 or off. A contained job gets its \
            booked cores as its cpuset, its booked host memory as its memory limit and --job-pids-limit; \
            cancel and time limits kill all its processes; its CPU time and peak memory are recorded.
            """)
    var cgroups = JobContainment.Mode.auto

    @Option(
        name: .customLong("cgroup-parent"),
        help: """
            The cgroup jobs go under, inside the hierarchy: PARENT/NODE/JOB.ATTEMPT (a subtree delegated to \
            the agent, or one of its own).
            """)
    var cgroupParent = "heterosched"

    @Option(
        name: .customLong("job-pids-limit"),
        help: "Processes and threads one contained job may have at once (0: no limit).")
    var jobPidsLimit = 32768

    @Option(name: .customLong("node-name"), help: "The name this host registers under (default: its hostname).")
    var nodeName: String?

    @Option(help: "The host's scale-out domain, KIND:NAME (switch:leaf-3, supernode:sn-0).")
    var domain: String?

    @Option(help: "A label KEY=VALUE to register; repeatable.")
    var label: [String] = []

    @Option(name: .customLong("inter-node-bandwidth"), help: "Scale-out bandwidth of this host in GB/s.")
    var interNodeBandwidth: Double?

    @Option(name: .customLong("kill-grace"), help: "Seconds between SIGTERM and SIGKILL when stopping a job.")
    var killGrace = 10.0

    @Option(name: .customLong("health-interval"), help: "Seconds between chip health checks with the vendor tools.")
    var healthInterval = 30.0

    @Option(name: .customLong("keep-output-days"), help: "Days an ended attempt's output is kept for schedctl logs.")
    var keepOutputDays = 7.0

    @Option(
        name: .customLong("attempt-helper"), help: "The sched-attempt executable (default: beside sched-agent).")
    var attemptHelper: String?

    @Option(
        name: .customLong("time-scale"),
        help: "Simulated seconds per real second (3600: an hour a second; default 60, or the scenario's).")
    var timeScale: Double?

    @Option(name: .customLong("heartbeat-interval"), help: "Seconds between heartbeats.")
    var heartbeatInterval = 2.0

    @Option(
        name: .customLong("container-runtime"),
        help:
            "podman, docker, apptainer, singularity or enroot, a name or a path: runs jobs with an image (default: the first on PATH)."
    )
    var containerRuntime: String?

    @Option(
        name: .customLong("ascend-docker-runtime"),
        help:
            "The Ascend Docker Runtime: shares of Ascend chips in an image run as vNPUs (default: /usr/local/Ascend/Ascend-Docker-Runtime/ascend-docker-runtime, where it is)."
    )
    var ascendDockerRuntime: String?

    @Option(
        name: .customLong("advertise-address"),
        help:
            "The address the nodes of a gang reach this host at (default: the one the coordinator sees it connect from)."
    )
    var advertiseAddress: String?

    @Option(
        name: .customLong("hccn-conf"),
        help: "Ascend NPUs' own addresses (address_N=IP lines), for HCCL rank tables.")
    var hccnConf = "/etc/hccn.conf"

    @Option(help: "Seed for the simulated faults (default 1, or the scenario's).")
    var seed: UInt64?

    @Option(
        name: .customLong("attempt-log"),
        help: "Append a JSON line to this file as each attempt starts and ends (simulated fleets): what really ran.")
    var attemptLog: String?

    @Option(
        name: .customLong("stop-with-pid"),
        help: "Stop gracefully when this process is gone (set by schedctl scenario run).")
    var stopWithPID: Int32?

    @Option(
        name: .customLong("http"),
        help: """
            Serve this host's /metrics (Prometheus text) on HOST:PORT: each chip's health and, where its vendor \
            tool prints them, utilization, memory used, temperature and power. No ticket is asked (like \
            node_exporter): bind it to loopback or a management network. A host's agent only.
            """)
    var http: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard simulate == nil || scenario == nil else {
            throw ValidationError("--simulate and --scenario both name a fleet to play: pass one of the two")
        }
        try FlagRange.check(timeScale ?? 1, "--time-scale", 0.001...1_000_000)
        try FlagRange.check(heartbeatInterval, "--heartbeat-interval", 0.01...3600, unit: " seconds")
        try FlagRange.check(killGrace, "--kill-grace", 0...3600, unit: " seconds")
        guard ["token", "munge"].contains(auth) else {
            throw ValidationError("--auth is token or munge, got '\(auth)'")
        }
        try FlagRange.check(healthInterval, "--health-interval", 0.1...86_400, unit: " seconds")
        try FlagRange.check(keepOutputDays, "--keep-output-days", 0...36_500, unit: " days")
        if let interNodeBandwidth {
            try FlagRange.check(interNodeBandwidth, "--inter-node-bandwidth", 0...1_000_000_000, unit: " GB/s")
        }
        if let http {
            guard WireEndpoint(http) != nil else {
                throw ValidationError("--http is host:port (127.0.0.1:9100), got '\(http)'")
            }
            guard simulate == nil && scenario == nil else {
                throw ValidationError(
                    "--http serves a host's chips; a simulated fleet has none (watch it on the coordinator's page)")
            }
        }
        if attemptLog != nil && simulate == nil && scenario == nil {
            throw ValidationError(
                "--attempt-log records simulated fleets' attempts: use it with --simulate or --scenario")
        }
        if let advertiseAddress, !WireAddress.isValid(advertiseAddress) {
            throw ValidationError(
                "--advertise-address is a host name or an IP address (letters, digits, '.', '-', ':'), got '\(advertiseAddress)'"
            )
        }
        if let domain, domain.split(separator: ":").count != 2 {
            throw ValidationError("--domain is KIND:NAME (for example switch:leaf-3), got '\(domain)'")
        }
        for item in label where item.split(separator: "=", maxSplits: 1).count != 2 {
            throw ValidationError("--label is KEY=VALUE, got '\(item)'")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown --log-level '\(logLevel)'")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LogSetup.bootstrap(level: level)
        let logger = Logger(label: "sched-agent")
        // A simulated fleet holds a session per node: thousands of descriptors. (A host agent holds
        // one, and its jobs inherit its limits as they are.)
        if simulate != nil { DescriptorLimit.raise() }
        let address = coordinator ?? ProcessInfo.processInfo.environment["HETEROSCHED_ADDRESS"] ?? Defaults.address
        guard let coordinators = CoordinatorAddresses(address) else {
            throw ValidationError(
                "the coordinator address is host:port, or several comma-separated (a:7070,b:7070), got '\(address)'")
        }
        do {
            // With MUNGE the agent proves its user instead, and needs no token.
            let token = auth == "munge" ? "" : try Defaults.token(file: tokenFile)
            let services: [any Service]
            if simulate == nil && scenario == nil {
                services = try hostService(coordinators: coordinators, token: token, logger: logger)
            } else {
                services = [try fleetService(coordinators: coordinators, token: token, logger: logger)]
            }
            // SIGTERM or SIGINT ends the sessions; a host's attempts keep running.
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: services.map { .init(service: $0) }
                        + (stopWithPID.map { [ProcessWatch(pid: $0).configuration] } ?? []),
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch let error as SetupError {
            throw ValidationError(error.description)
        } catch let error as SpecError {
            throw ValidationError(error.description)
        } catch let error as RunnerError {
            throw ValidationError(error.description)
        } catch let error as AttemptLogError {
            throw ValidationError(error.description)
        } catch let error as KeyFileError {
            throw ValidationError(error.description)
        }
    }

    func fleetService(coordinators: CoordinatorAddresses, token: String, logger: Logger) throws -> any Service {
        let catalog = try Defaults.catalog(path: discovery.catalog, overrides: [])
        var fleet: FleetSpec
        var scale = timeScale ?? 60
        var faultSeed = seed ?? 1
        if let scenario {
            let spec = try ScenarioFile.load(path: scenario, catalog: catalog)
            fleet = spec.fleet
            fleet.name = spec.name
            scale = timeScale ?? spec.timeScale
            faultSeed = seed ?? spec.seed
        } else {
            fleet = try FleetFile.load(path: simulate!, catalog: catalog)
        }
        logger.info("playing \(fleet.nodes.count) nodes of \(fleet.name) against \(coordinators), time x\(scale)")
        var players = SimulatedFleet(
            fleet: fleet, coordinators: coordinators, token: token, catalog: catalog, timeScale: scale,
            heartbeatInterval: .milliseconds(Int(heartbeatInterval * 1000)), seed: faultSeed,
            attemptLog: try attemptLog.map { try AttemptLog(path: $0) }, logger: logger)
        players.credentials = try credentials()
        players.nodeKey = try fleetKey(token: token, logger: logger)
        players.tls = try tlsContext()
        return AgentService { [players] in await players.run() }
    }

    func hostService(coordinators: CoordinatorAddresses, token: String, logger: Logger) throws -> [any Service] {
        let scanner = try discovery.scanner()
        let inventory = scanner.scan()
        for warning in inventory.warnings { logger.warning("\(warning)") }
        guard !inventory.chips.isEmpty || !inventory.numaNodes.isEmpty else {
            throw SetupError(
                "neither accelerators nor NUMA nodes found on this host (sysfs at \(discovery.sysfsRoot)): nothing "
                    + "to register; `sched-agent inventory` shows what discovery sees")
        }
        var labels: [String: String] = [:]
        for item in label {
            let parts = item.split(separator: "=", maxSplits: 1)
            labels[String(parts[0])] = String(parts[1])
        }
        let name = nodeName ?? Self.hostNodeName
        let key = try nodeKey(path: nodeKeyOptions.path(dataDirectory: dataDirectory), node: name, logger: logger)
        var node = Node(
            id: NodeID(name), chips: inventory.chips, numaNodes: inventory.numaNodes, labels: labels,
            domain: domain.map {
                let parts = $0.split(separator: ":")
                return TopologyDomain(kind: String(parts[0]), name: String(parts[1]))
            }, interNodeBandwidthGBps: interNodeBandwidth)
        let helper =
            attemptHelper
            ?? (Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("sched-attempt").path
                ?? "sched-attempt")
        guard FileManager.default.isExecutableFile(atPath: helper) else {
            throw SetupError(
                "the attempt supervisor \(helper) is missing: install sched-attempt beside sched-agent, or pass --attempt-helper PATH"
            )
        }
        // libnuma's view, from the helper that binds: said once if it cannot bind; on the real sysfs
        // its nodes are the ones registered (what binding will use).
        if let probe = NUMAProbe.run(helper: helper) {
            if !probe.available {
                logger.warning(
                    """
                    NUMA is not available here (numa_available() < 0, e.g. a container without CAP_SYS_NICE): \
                    jobs run without CPU or memory binding
                    """)
            } else if discovery.sysfsRoot == "/sys" && !probe.nodes.isEmpty {
                let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
                let (nodes, warning) = NUMAMemoryReconciler.reconcile(
                    probe.nodes, hostMemoryGiB: NUMAMemoryReconciler.memTotalGiB(meminfo: meminfo))
                node.numaNodes = nodes
                // Said once: the inventory's scan warns alike when sysfs and libnuma agree.
                if let warning, !inventory.warnings.contains(warning) { logger.warning("\(warning)") }
            }
        } else {
            logger.warning("\(helper) --probe gave no NUMA view: using sysfs's")
        }
        // Settings checked before the cgroup parent is made: a refused start leaves nothing behind.
        let containers = try containerSetup(catalog: scanner.catalog, logger: logger)
        let containment: JobContainment?
        do {
            // A level per node: agents of two nodes on one host never share an attempt's cgroup.
            let (chosen, sentence) = try JobContainment.prepare(
                mode: cgroups, parent: cgroupParent + "/" + name, pidsLimit: jobPidsLimit)
            containment = chosen
            if chosen == nil && cgroups == .auto { logger.warning("\(sentence)") } else { logger.info("\(sentence)") }
        } catch {
            throw SetupError("--cgroups \(cgroups.rawValue): \(error)")
        }
        let runner = try AttemptRunner(
            directory: dataDirectory + "/attempts", helper: helper, killGrace: killGrace,
            environment: ProcessInfo.processInfo.environment,
            containers: containers,
            checkpointBase: checkpointBase ?? dataDirectory + "/checkpoints", allowRootJobs: allowRootJobs,
            passEnvironment: passEnv, containment: containment, logger: logger)
        let models = Dictionary(grouping: inventory.chips, by: \.model).map { "\($0.value.count) x \($0.key)" }.sorted()
        if models.isEmpty {
            let cores = node.numaNodes.reduce(0) { $0 + $1.cpus.count }
            let memory = node.numaNodes.map(\.memoryGiB).sorted().reduce(0, +)
            logger.notice(
                """
                \(name): no accelerators found: a CPU-only node of \(cores) cores and \(formatNumber(memory)) GiB on \
                \(node.numaNodes.count) NUMA node(s), for jobs of cores and memory only (sched-agent inventory shows \
                what discovery sees); serving \(coordinators)
                """)
        } else {
            logger.info(
                "\(name): \(models.joined(separator: ", ")) on \(node.numaNodes.count) NUMA node(s); serving \(coordinators)"
            )
        }
        var agent = HostAgent(
            node: node, coordinators: coordinators, token: token, runner: runner, scanner: scanner,
            heartbeatInterval: .milliseconds(Int(heartbeatInterval * 1000)),
            healthInterval: .milliseconds(Int(healthInterval * 1000)), keepOutput: keepOutputDays * 86400,
            logger: logger)
        agent.address = advertiseAddress
        agent.credentials = try credentials()
        agent.nodeKey = key
        agent.tls = try tlsContext()
        if let text = try? String(contentsOfFile: hccnConf, encoding: .utf8) {
            let known = Set(node.chips.map(\.index))
            let addresses = HCCLRankTable.chipAddresses(hccnConf: text).filter { known.contains($0.chip) }
            if !addresses.isEmpty {
                agent.chipAddresses = addresses
                logger.info("\(name): \(addresses.count) NPU address(es) from \(hccnConf) for HCCL rank tables")
            }
        }
        let configured = agent
        let readings = inventory.telemetry ?? []
        let serving = AgentService {
            await configured.seed(telemetry: readings)
            await configured.run()
        }
        guard let http, let listen = WireEndpoint(http) else { return [serving] }
        return [
            serving,
            AgentMetricsServer.service(
                host: listen.host, port: listen.port, agent: configured, dataDirectory: dataDirectory, logger: logger),
        ]
    }
}

extension RunAgent {
    /// A host's name without its domain: the name its node registers under by default.
    static var hostNodeName: String {
        ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node"
    }

    /// The key in `path`, made there first if there is none.
    func nodeKey(path: String, node: String, logger: Logger) throws -> NodeKey {
        let (key, made) = try NodeKey.loadOrMake(at: path)
        if made {
            logger.notice("made the node key \(path): the coordinator binds \(node) to \(key.fingerprint)")
        } else {
            logger.info("\(node) proves node key \(key.fingerprint) (\(path))")
        }
        return key
    }

    /// A simulated fleet's key: --node-key's, else one made from the token (the same at every start,
    /// so that a coordinator that knows the fleet's nodes knows their key), else one for this process.
    func fleetKey(token: String, logger: Logger) throws -> NodeKey {
        if let path = nodeKeyOptions.path {
            return try nodeKey(path: path, node: "every simulated node", logger: logger)
        }
        guard !token.isEmpty else {
            logger.warning(
                """
                simulated nodes prove a key made for this process (--auth munge, no token): give --node-key FILE \
                so that they are known again after a restart
                """)
            return NodeKey()
        }
        return NodeKey(derivedFrom: token, label: "heterosched simulated nodes")
    }

    /// The runtime for jobs with an image (configured, else detected), and the catalog's vendors.
    func containerSetup(catalog: ChipCatalog, logger: Logger) throws -> ContainerSetup {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var runtime: ContainerRuntime?
        if let containerRuntime {
            switch ContainerRuntime.named(containerRuntime, searchPath: path) {
            case .success(let found): runtime = found
            case .failure(let error): throw SetupError("--container-runtime: \(error)")
            }
        } else {
            runtime = ContainerRuntime.detect(searchPath: path)
        }
        let how = runtime.map { "through \($0.kind.rawValue) (\($0.path))" } ?? "nowhere: no container runtime found"
        logger.info("jobs with an image run \(how)")
        var models: [String: ContainerSetup.ModelDevices] = [:]
        for model in catalog.models {
            models[model.id.name] = ContainerSetup.ModelDevices(
                vendor: model.vendor, visibleDevices: model.visibleDevicesVariables)
        }
        let ascendPath = ascendDockerRuntime ?? AscendVNPU.runtimePath
        let ascend = FileManager.default.isExecutableFile(atPath: ascendPath) ? ascendPath : nil
        if ascendDockerRuntime != nil && ascend == nil {
            throw SetupError("--ascend-docker-runtime: \(ascendPath) is not an executable on this host")
        }
        if let ascend { logger.info("shares of Ascend chips in an image run as vNPUs through \(ascend)") }
        var setup = ContainerSetup(runtime: runtime, models: models, ascendRuntime: ascend)
        // Whether a container can be put under the job's own cgroup (its limits and measures there).
        if let runtime, runtime.kind == .podman || runtime.kind == .docker {
            let name = runtime.kind.rawValue
            setup.cgroupManager = CgroupManagerQuestion(asking: runtime) { asFiles in
                switch asFiles {
                case true?: logger.info("\(name) manages cgroups as files: containers run in their job's cgroup")
                case false?:
                    logger.info(
                        "\(name)'s cgroup manager is not cgroupfs: containers are limited by \(name) itself, not measured"
                    )
                case nil:
                    logger.warning("\(name) did not say its cgroup manager: containers are limited by \(name) itself")
                }
            }
        }
        return setup
    }
}

/// What `sched-attempt --probe` reports: libnuma's nodes, CPUs, memory and distances.
struct NUMAProbe: Decodable {
    var available: Bool
    var nodes: [NUMANode]
    var distances: [String: [Int]]

    static func run(helper: String) -> NUMAProbe? {
        guard let text = try? ToolProcess.run(helper, ["--probe"], timeout: .seconds(10)) else { return nil }
        return try? WireCodec.value(NUMAProbe.self, from: text)
    }
}

/// Runs the agent's sessions until a graceful shutdown.
struct AgentService: Service {
    let body: @Sendable () async -> Void
    func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
    }
}

extension JobContainment.Mode: ExpressibleByArgument {}
