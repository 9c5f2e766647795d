import Logging
import SchedCore
import SchedSim
import SchedSpec
import Wire

/// One simulated node: its own session, heartbeats, and attempts played in scaled time.
public struct SimulatedNodeAgent: Sendable {
    public var node: Node
    public var endpoint: WireEndpoint
    public var token: String
    public var catalog: ChipCatalog
    public var faults: FaultProfile
    /// Simulated seconds per real second.
    public var timeScale: Double
    public var heartbeatInterval: Duration
    public var seed: UInt64
    public var logger: Logger

    public init(
        node: Node, endpoint: WireEndpoint, token: String, catalog: ChipCatalog, faults: FaultProfile,
        timeScale: Double, heartbeatInterval: Duration, seed: UInt64, logger: Logger
    ) {
        self.node = node
        self.endpoint = endpoint
        self.token = token
        self.catalog = catalog
        self.faults = faults
        self.timeScale = timeScale
        self.heartbeatInterval = heartbeatInterval
        self.seed = seed
        self.logger = logger
    }

    /// Runs until cancelled, reconnecting with back-off when the coordinator is away.
    public func run() async {
        await reconnecting(logger: logger, level: .debug, "\(node.id): session") { try await session() }
    }

    func session() async throws {
        let attempts = AttemptBook()
        try await WireClient.withSession(
            to: endpoint, token: token, hello: Hello(role: .agent, node: node.id.name)
        ) { session in
            _ = try await session.request(.register(Register(node: node, running: await attempts.running())))
            let writer = session.writer
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while true {
                        try await Task.sleep(for: heartbeatInterval)
                        try await writer.send(
                            .heartbeat(Heartbeat(interNodeBandwidthGBps: node.interNodeBandwidthGBps)))
                    }
                }
                while let message = try await session.receive() {
                    switch message {
                    case .run(let order):
                        let key = AttemptRef(job: order.job, attempt: order.attempt)
                        await attempts.start(key)
                        group.addTask { try await play(order, key: key, attempts: attempts, writer: writer) }
                    case .kill(let order):
                        await attempts.kill(AttemptRef(job: order.job, attempt: order.attempt))
                    case .err(let error):
                        logger.warning("\(node.id): coordinator says \(error)")
                    default:
                        break
                    }
                }
                group.cancelAll()
            }
        }
    }

    /// Plays one attempt: STARTED, steps in scaled time, then EXITED as the simulation decided.
    func play(_ order: RunOrder, key: AttemptRef, attempts: AttemptBook, writer: WireWriter) async throws {
        let model = catalog[ChipModelID(order.chipModel)]
        let fate = AttemptFate(
            job: order.job, attempt: order.attempt, kind: order.kind, run: order.simulation, model: model,
            resumeStep: order.resumeStep, nodes: order.nodes, chipsPerNode: order.chips.count,
            timeLimit: order.timeLimitSeconds,
            faultsPerChipHour: faults.chipFaultsPerHour[ChipModelID(order.chipModel)] ?? 0, seed: seed)
        try await writer.send(.started(key))
        // Bounded: the order's numbers were checked on arrival, and a step never sleeps past a day.
        let realStep = Duration.microseconds(Int64(min(fate.secondsPerStep / timeScale, 86_400) * 1_000_000))
        // Every node of a gang plays the same fate; the node the fault strikes reports it, and the
        // coordinator stops the others.
        var endStep = fate.endStep
        if case .faults(_, let rank, _) = fate.ending, rank != order.rank { endStep = fate.lastStep }
        var step = fate.firstStep - 1
        while step < endStep {
            // Sleep a step in slices, so that a KILL is answered within a tenth of a second.
            var remaining = realStep
            while remaining > .zero {
                if await attempts.isKilled(key) { break }
                let slice = min(remaining, .milliseconds(100))
                try await Task.sleep(for: slice)
                remaining -= slice
            }
            step += 1
            if await attempts.isKilled(key) {
                await attempts.finish(key)
                try await writer.send(
                    .exited(
                        Exit(
                            job: order.job, attempt: order.attempt, outcome: .killed, message: "stopped on order",
                            step: step, checkpointStep: fate.checkpoint(before: step))))
                return
            }
            // The first node reports each checkpoint the attempt saves before it ends.
            if order.rank == 0 && step % fate.checkpointEvery == 0 && step < fate.endStep {
                try await writer.send(.checkpoint(CheckpointReport(job: order.job, attempt: order.attempt, step: step)))
            }
        }
        await attempts.finish(key)
        let exit: Exit
        switch fate.ending {
        case .faults(let at, let rank, let offset) where rank == order.rank:
            let chip = order.chips.isEmpty ? 0 : order.chips[min(offset, order.chips.count - 1)]
            exit = Exit(
                job: order.job, attempt: order.attempt, outcome: .fault,
                message: "\(order.chipModel) chip \(chip) faulted at step \(at)", step: at,
                checkpointStep: fate.checkpointAtEnd, faultChip: chip)
        case .timesOut(let at):
            exit = Exit(
                job: order.job, attempt: order.attempt, outcome: .timedOut, message: "time limit reached at step \(at)",
                step: at, checkpointStep: fate.checkpointAtEnd)
        case .completes, .faults:
            exit = Exit(
                job: order.job, attempt: order.attempt, outcome: .completed, exitStatus: 0, step: step,
                checkpointStep: step)
        }
        try await writer.send(.exited(exit))
    }
}

/// Attempts this node runs, and those it was told to stop.
actor AttemptBook {
    private var active: Set<AttemptRef> = []
    private var killed: Set<AttemptRef> = []

    func start(_ key: AttemptRef) { active.insert(key) }
    func kill(_ key: AttemptRef) { if active.contains(key) { killed.insert(key) } }
    func isKilled(_ key: AttemptRef) -> Bool { killed.contains(key) }
    func finish(_ key: AttemptRef) {
        active.remove(key)
        killed.remove(key)
    }
    func running() -> [AttemptRef] { active.sorted { ($0.job, $0.attempt) < ($1.job, $1.attempt) } }
}
