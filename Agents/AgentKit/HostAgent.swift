import AttemptContainment
import Foundation
import Logging
import NIOSSL
import NodeDiscovery
import SchedCore
import Wire

/// The agent of a real host: registers the chips discovery found, runs placed attempts as
/// processes (`AttemptRunner`), reports their ends, streams their output on request, and reports
/// chip health from the vendor tools in its heartbeats.
public struct HostAgent: Sendable {
    public var node: Node
    public var coordinators: CoordinatorAddresses
    public var token: String
    /// Set: the agent proves it runs as the agents' user with a credential (MUNGE), not the token.
    public var credentials: (any ClientCredentials)?
    /// What proves the node's name to the coordinator (`--node-key`); one made for this process when not set.
    public var nodeKey = NodeKey()
    /// Set: the session is TLS, the coordinator's certificate checked with it (`--tls-ca`).
    public var tls: NIOSSLContext? = WireTLS.tokenBound
    public var runner: AttemptRunner
    public var scanner: InventoryScanner
    public var heartbeatInterval: Duration
    /// How often the vendor tools are asked again for chip health.
    public var healthInterval: Duration
    /// How long an ended attempt's output is kept for `schedctl logs`.
    public var keepOutput: TimeInterval
    public var logger: Logger
    /// Where the nodes of a gang reach this host (nil: where the coordinator sees it connect from),
    /// and its chips' own addresses (Ascend RoCE), for rendezvous and rank tables.
    public var address: String?
    public var chipAddresses: [ChipAddress]?
    /// Chip health and use as the vendor tools last reported them, and whether the session is up.
    let health: HealthBook
    /// When the coordinator was last heard from, for the supervisors that stop jobs left unseen.
    let lease: CoordinatorLease

    public init(
        node: Node, coordinators: CoordinatorAddresses, token: String, runner: AttemptRunner, scanner: InventoryScanner,
        heartbeatInterval: Duration, healthInterval: Duration, keepOutput: TimeInterval, logger: Logger
    ) {
        self.node = node
        self.coordinators = coordinators
        self.token = token
        self.runner = runner
        self.scanner = scanner
        self.heartbeatInterval = heartbeatInterval
        self.healthInterval = healthInterval
        self.keepOutput = keepOutput
        self.logger = logger
        health = HealthBook(startingWith: node.chips)
        lease = CoordinatorLease(file: runner.leaseFile)
    }

    /// What the vendor tools said of the chips' use at discovery, until the first re-scan.
    public func seed(telemetry: [Inventory.ChipReading]) async { await health.seed(telemetry) }

    /// The agent's `/metrics`: each chip's health and use, running attempts, the session.
    public func readings() async -> AgentReadings {
        let health = await health.snapshot(of: node.chips)
        return AgentReadings(
            chips: health.chips, attemptsRunning: await runner.attempts().count,
            connected: health.connected, lastScan: health.lastScan)
    }

    /// Runs until cancelled, reconnecting with back-off; attempts keep running meanwhile.
    public func run() async {
        await runner.prune(olderThan: keepOutput)
        let adopted = await runner.adopt()
        if !adopted.isEmpty { logger.info("\(node.id): \(adopted.count) attempt(s) left by a previous agent") }
        await reconnecting(logger: logger, level: .warning, "\(node.id): session", to: coordinators) { coordinators in
            do {
                try await session(to: coordinators, health: health)
            } catch {
                await health.connected(false)
                throw error
            }
            await health.connected(false)
        }
    }

    func session(to coordinators: CoordinatorAddresses, health: HealthBook) async throws {
        try await WireClient.withSession(
            to: coordinators, token: token, hello: Hello(role: .agent, node: node.id.name), credentials: credentials,
            nodeKey: nodeKey, tls: tls, silenceLimit: coordinatorSilenceLimit(heartbeatInterval: heartbeatInterval)
        ) { session in
            var current = node
            current.chips = await health.apply(to: node.chips)
            let terms = try await lease.register(
                Register(
                    node: current, running: await runner.attempts(), address: address, chipAddresses: chipAddresses),
                on: session, node: node.id, logger: logger)
            await runner.keep(to: terms)
            logger.info(
                "\(node.id): registered \(node.chips.count) chip(s) with \(session.endpoint)\(terms.sentence)")
            await health.connected(true)
            let writer = session.writer
            let tails = TailBook()
            let wakes = runner.ends.wakes()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // A look every 200 ms besides the supervisors' own ends: what only a look finds.
                    while true {
                        try await Task.sleep(for: .milliseconds(200))
                        runner.ends.wake()
                    }
                }
                group.addTask {
                    // Ends that happened while disconnected, then every new one as it comes.
                    for exit in await runner.undelivered() { try await report(exit, writer) }
                    runner.ends.wake()
                    for await _ in wakes {
                        // Checkpoints first: an attempt's last step is known before its end is.
                        for saved in await runner.checkpoints() { try await writer.send(.checkpoint(saved)) }
                        // Where jobs are, at most once a heartbeat interval each.
                        for step in await runner.progress(every: heartbeatInterval.seconds) {
                            try await writer.send(.progress(step))
                        }
                        for exit in await runner.poll() { try await report(exit, writer) }
                    }
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: heartbeatInterval)
                        let unhealthy = await health.unhealthy
                        try await writer.send(
                            .heartbeat(
                                Heartbeat(
                                    unhealthyChips: unhealthy, interNodeBandwidthGBps: node.interNodeBandwidthGBps,
                                    seq: await lease.heartbeat()))
                        )
                    }
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: healthInterval)
                        let scan = await Task.detached { scanner.scan() }.value
                        let changes = await health.update(from: scan, known: node.chips)
                        for change in changes { logger.warning("\(node.id): \(change)") }
                        await runner.prune(olderThan: keepOutput)
                    }
                }
                while let message = try await session.receive() {
                    switch message {
                    case .run(let order):
                        group.addTask { try await start(order, writer) }
                    case .kill(let order):
                        await runner.kill(
                            AttemptRef(job: order.job, attempt: order.attempt), reason: order.reason,
                            checkpoint: order.checkpoint)
                    case .limit(let order):
                        await runner.limit(
                            AttemptRef(job: order.job, attempt: order.attempt), seconds: order.timeLimitSeconds)
                    case .tail(let request):
                        let task = Task { await stream(request, writer) }
                        await tails.add(request.request, task)
                    case .untail(let stop):
                        await tails.cancel(stop.request)
                    case .ok(let body):
                        // The coordinator stored an exit: the attempt's state may go.
                        if let ack = try? WireCodec.value(ExitAcknowledgement.self, from: body.text) {
                            await runner.delivered(ack.delivered)
                        } else if let ack = try? WireCodec.value(HeartbeatAcknowledgement.self, from: body.text) {
                            await lease.acknowledged(ack.heartbeat)
                        }
                    case .err(let error):
                        // Only for an attempt not running here: a running one's end is its own to say.
                        if let order = error.unreadOrder, await !runner.isRunning(order) {
                            // Said, not left placed for ever: the coordinator hears it did not start.
                            logger.error("\(node.id): cannot read the order to run \(order.job): \(error.message)")
                            try await writer.send(.exited(Self.unread(order, error)))
                        } else {
                            logger.warning("\(node.id): coordinator says \(error)")
                        }
                    default:
                        break
                    }
                }
                await tails.cancelAll()
                group.cancelAll()
            }
        }
    }

    /// The end of an attempt whose `RUN` this agent could not read: nothing ran.
    static func unread(_ order: AttemptRef, _ error: ErrorReply) -> Exit {
        Exit(
            job: order.job, attempt: order.attempt, outcome: .failed, exitStatus: 127,
            message: "the agent could not read the order to run it (\(error.message)); an agent older than its "
                + "coordinator reads orders it does not know so: upgrade the agent")
    }

    /// Starts an attempt once no attempt being stopped here still holds its chips (a preemption's
    /// victim gets its grace period, and a second more), then says STARTED.
    func start(_ order: RunOrder, _ writer: WireWriter) async throws {
        let key = AttemptRef(job: order.job, attempt: order.attempt)
        let deadline = ContinuousClock.now + .seconds(runner.killGrace + 1)
        while await runner.chipsBusy(order.chips, except: key) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        do {
            _ = try await runner.start(order)
            try await writer.send(.started(key))
            logger.info("\(node.id): started \(order.job) attempt \(order.attempt)")
        } catch {
            logger.error("\(node.id): cannot start \(order.job): \(error)")
            try await writer.send(
                .exited(
                    Exit(
                        job: order.job, attempt: order.attempt, outcome: .failed, exitStatus: 127,
                        message: "\(error)")))
        }
    }

    func report(_ exit: Exit, _ writer: WireWriter) async throws {
        // Kept (undelivered) until the coordinator acknowledges it; sent again on the next session.
        try await writer.send(.exited(exit))
        logger.info("\(node.id): \(exit.job) attempt \(exit.attempt) ended: \(exit.outcome.rawValue)")
    }

    /// Sends an attempt's output file in chunks; following, until the attempt has ended.
    func stream(_ request: TailRequest, _ writer: WireWriter) async {
        let key = AttemptRef(job: request.job, attempt: request.attempt)
        guard let path = await runner.outputPath(key), let file = FileHandle(forReadingAtPath: path) else {
            try? await writer.send(
                .chunk(
                    OutputChunk(
                        request: request.request, data: "", end: true,
                        error: "\(node.id) has no output for \(request.job) attempt \(request.attempt)")))
            return
        }
        defer { try? file.close() }
        var ended = !request.follow
        while !Task.isCancelled {
            let data = (try? file.read(upToCount: 16 * 1024)) ?? nil
            if let data, !data.isEmpty {
                try? await writer.send(
                    .chunk(OutputChunk(request: request.request, data: String(decoding: data, as: UTF8.self))))
                continue
            }
            if ended { break }
            // Once the attempt has ended, one more pass reads what it wrote last.
            ended = await !runner.isRunning(key)
            if !ended { try? await Task.sleep(for: .milliseconds(200)) }
        }
        try? await writer.send(.chunk(OutputChunk(request: request.request, data: "", end: true)))
    }
}

/// Output streams in progress on one session, by request number.
actor TailBook {
    private var tasks: [Int: Task<Void, Never>] = [:]
    func add(_ id: Int, _ task: Task<Void, Never>) { tasks[id] = task }
    func cancel(_ id: Int) { tasks.removeValue(forKey: id)?.cancel() }
    func cancelAll() {
        for task in tasks.values { task.cancel() }
        tasks = [:]
    }
}

/// What an agent's `/metrics` reports: per chip its health and what its tool said of its use.
public struct AgentReadings: Sendable {
    public struct ChipReading: Sendable {
        public var index: Int
        public var model: String
        public var healthy: Bool
        public var memoryTotalMiB: Double
        public var telemetry: ChipTelemetry?
    }
    public var chips: [ChipReading]
    public var attemptsRunning: Int
    public var connected: Bool
    /// When the vendor tools were last asked (Unix seconds), nil before the first re-scan.
    public var lastScan: Double?
}

/// Chip health and use as the vendor tools last reported them, and whether the session is up.
actor HealthBook {
    private var unhealthyChips: Set<Int>
    var unhealthy: [Int] { unhealthyChips.sorted() }
    private var telemetry: [Int: ChipTelemetry] = [:]
    private var lastScan: Double?
    private var isConnected = false

    func seed(_ readings: [Inventory.ChipReading]) {
        telemetry = Dictionary(readings.map { ($0.index, $0.telemetry) }, uniquingKeysWith: { _, last in last })
    }

    func connected(_ up: Bool) { isConnected = up }

    func snapshot(of chips: [Chip]) -> (chips: [AgentReadings.ChipReading], connected: Bool, lastScan: Double?) {
        let readings = chips.sorted { $0.index < $1.index }.map {
            AgentReadings.ChipReading(
                index: $0.index, model: $0.model.name, healthy: !unhealthyChips.contains($0.index),
                memoryTotalMiB: $0.memoryGiB * 1024, telemetry: telemetry[$0.index])
        }
        return (readings, isConnected, lastScan)
    }

    /// Starts from the inventory's health, so that the first heartbeat does not report a chip that
    /// discovery found unhealthy as healthy.
    init(startingWith chips: [Chip]) {
        unhealthyChips = Set(chips.filter { $0.health == .unhealthy }.map(\.index))
    }

    func apply(to chips: [Chip]) -> [Chip] {
        chips.map { chip in
            var chip = chip
            chip.health = unhealthyChips.contains(chip.index) ? .unhealthy : .healthy
            return chip
        }
    }

    /// Takes a fresh scan; returns a sentence per chip whose health changed. A chip the tool no
    /// longer lists counts as unhealthy.
    func update(from scan: Inventory, known: [Chip]) -> [String] {
        var now: Set<Int> = []
        for chip in known {
            let seen = scan.chips.first { $0.index == chip.index && $0.pciBusID == chip.pciBusID }
            if seen == nil || seen?.health == .unhealthy { now.insert(chip.index) }
        }
        let changes =
            now.subtracting(unhealthyChips).sorted().map { "chip \($0) is unhealthy: reported, no new work there" }
            + unhealthyChips.subtracting(now).sorted().map { "chip \($0) is healthy again" }
        unhealthyChips = now
        seed(scan.telemetry ?? [])
        lastScan = Date().timeIntervalSince1970
        return changes
    }
}
