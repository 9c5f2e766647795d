import AttemptContainment
import Logging
import NIOSSL
import SchedCore
import SchedSim
import SchedSpec
import Wire

/// One simulated node: its own session, heartbeats, and attempts played in scaled time.
public struct SimulatedNodeAgent: Sendable {
    public var node: Node
    public var coordinators: CoordinatorAddresses
    public var token: String
    /// Set: a MUNGE credential instead of the token (`sched-agent --auth munge`).
    public var credentials: (any ClientCredentials)?
    /// What proves the node's name to the coordinator (`--node-key`); one made for this process when not set.
    public var nodeKey = NodeKey()
    /// Set: the session is TLS, the coordinator's certificate checked with it (`--tls-ca`).
    public var tls: NIOSSLContext? = WireTLS.tokenBound
    public var catalog: ChipCatalog
    public var faults: FaultProfile
    /// Simulated seconds per real second.
    public var timeScale: Double
    public var heartbeatInterval: Duration
    public var seed: UInt64
    public var attemptLog: AttemptLog?
    public var logger: Logger
    /// When the coordinator was last heard from: attempts stop when it has been too long, as a real
    /// host's do.
    let lease = CoordinatorLease(file: nil)

    public init(
        node: Node, coordinators: CoordinatorAddresses, token: String, catalog: ChipCatalog, faults: FaultProfile,
        timeScale: Double, heartbeatInterval: Duration, seed: UInt64, attemptLog: AttemptLog? = nil, logger: Logger
    ) {
        self.attemptLog = attemptLog
        self.node = node
        self.coordinators = coordinators
        self.token = token
        self.catalog = catalog
        self.faults = faults
        self.timeScale = timeScale
        self.heartbeatInterval = heartbeatInterval
        self.seed = seed
        self.logger = logger
    }

    /// Runs until cancelled, reconnecting with back-off when the coordinator is away. Attempts
    /// outlive sessions, as a real host's processes do: after a reconnect the node registers the
    /// attempts it still runs (and those that ended unreported, whose exits follow the registration),
    /// so that a coordinator restart re-adopts them instead of running them again.
    public func run() async {
        let attempts = AttemptBook()
        let link = SessionLink()
        let (orders, submit) = AsyncStream<RunOrder>.makeStream()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await reconnecting(logger: logger, level: .debug, "\(node.id): session", to: coordinators) {
                    try await session(to: $0, attempts: attempts, link: link, play: submit)
                }
                submit.finish()
            }
            for await order in orders {
                group.addTask { try? await play(order, attempts: attempts, link: link) }
            }
            group.cancelAll()
        }
    }

    func session(
        to coordinators: CoordinatorAddresses, attempts: AttemptBook, link: SessionLink,
        play: AsyncStream<RunOrder>.Continuation
    ) async throws {
        try await WireClient.withSession(
            to: coordinators, token: token, hello: Hello(role: .agent, node: node.id.name), credentials: credentials,
            nodeKey: nodeKey, tls: tls, silenceLimit: coordinatorSilenceLimit(heartbeatInterval: heartbeatInterval)
        ) { session in
            _ = try await lease.register(
                Register(node: node, running: await attempts.running()), on: session, node: node.id, logger: logger)
            let writer = session.writer
            // Ends not yet acknowledged (they happened while disconnected, or their store failed).
            for exit in await attempts.undelivered() { try await writer.send(.exited(exit)) }
            let opened = await link.open(writer)
            do {
                try await serve(session, attempts: attempts, play: play)
                await link.close(opened)
            } catch {
                await link.close(opened)
                throw error
            }
        }
    }

    func serve(_ session: WireSession, attempts: AttemptBook, play: AsyncStream<RunOrder>.Continuation) async throws {
        let writer = session.writer
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while true {
                    try await Task.sleep(for: heartbeatInterval)
                    try await writer.send(
                        .heartbeat(
                            Heartbeat(interNodeBandwidthGBps: node.interNodeBandwidthGBps, seq: await lease.heartbeat())
                        ))
                }
            }
            while let message = try await session.receive() {
                switch message {
                case .run(let order):
                    let key = AttemptRef(job: order.job, attempt: order.attempt)
                    guard await attempts.start(key) else { continue }
                    // A command needs a host to run on; a simulated node would only pretend it ran.
                    if order.simulation == nil && !order.command.isEmpty {
                        let exit = Exit(
                            job: order.job, attempt: order.attempt, outcome: .failed, exitStatus: 127,
                            message: "\(node.id) is a simulated node (sched-agent --simulate): it plays jobs with a "
                                + "simulate: section and runs no command; run this job on a host's agent")
                        await attempts.finish(exit)
                        try await writer.send(.exited(exit))
                        continue
                    }
                    play.yield(order)
                case .kill(let order):
                    await attempts.kill(
                        AttemptRef(job: order.job, attempt: order.attempt), checkpointing: order.checkpoint != nil)
                case .limit(let order):
                    await attempts.limit(AttemptRef(job: order.job, attempt: order.attempt), order.timeLimitSeconds)
                case .tail(let request):
                    // Nothing runs here, so nothing was written: said at once, not left unanswered.
                    try await writer.send(
                        .chunk(
                            OutputChunk(
                                request: request.request, data: "", end: true,
                                error: "\(node.id) is a simulated node (sched-agent --simulate): "
                                    + "its attempts write no output")))
                case .ok(let body):
                    // The coordinator stored an exit: it need not be sent again.
                    if let ack = try? WireCodec.value(ExitAcknowledgement.self, from: body.text) {
                        await attempts.delivered(ack.delivered)
                    } else if let ack = try? WireCodec.value(HeartbeatAcknowledgement.self, from: body.text) {
                        await lease.acknowledged(ack.heartbeat)
                    }
                case .err(let error):
                    if let order = error.unreadOrder, await attempts.start(order) {
                        logger.error("\(node.id): cannot read the order to run \(order.job): \(error.message)")
                        let exit = HostAgent.unread(order, error)
                        await attempts.finish(exit)
                        try await writer.send(.exited(exit))
                    } else {
                        logger.warning("\(node.id): coordinator says \(error)")
                    }
                default:
                    break
                }
            }
            group.cancelAll()
        }
    }

    /// Plays one attempt: STARTED, steps in scaled time, then EXITED as the simulation decided.
    func play(_ order: RunOrder, attempts: AttemptBook, link: SessionLink) async throws {
        let key = AttemptRef(job: order.job, attempt: order.attempt)
        await attemptLog?.record(.start, node: node.id, order: order)
        let model = catalog[ChipModelID(order.chipModel)]
        // A gang's steps wait on the fabric between its nodes, as the fleet file says it is.
        let slowdown = faults.slowdown(on: order.gang?.members.map { NodeID($0.node) } ?? [node.id])
        func playing(timeLimit: Double?) -> AttemptFate {
            AttemptFate(
                job: order.job, attempt: order.attempt, kind: order.kind, run: order.simulation, model: model,
                resumeStep: order.resumeStep, nodes: order.nodes, chipsPerNode: order.chips.count,
                timeLimit: timeLimit,
                faultsPerChipHour: faults.chipFaultsPerHour[ChipModelID(order.chipModel)] ?? 0, seed: seed,
                slowdown: slowdown)
        }
        // The same seed plays the same faults: a new time limit changes only where the attempt ends.
        var fate = playing(timeLimit: order.timeLimitSeconds)
        await link.send(.started(key))
        // Bounded: the order's numbers were checked on arrival, and a step never sleeps past a day.
        let realStep = Duration.microseconds(Int64(min(fate.secondsPerStep / timeScale, 86_400) * 1_000_000))
        // Every node of a gang plays the same fate; the node the fault strikes reports it, and the
        // coordinator stops the others.
        var endStep = fate.endStep
        if case .faults(_, let rank, _) = fate.ending, rank != order.rank { endStep = fate.lastStep }
        var step = fate.firstStep - 1
        // Each step ends at a time counted from the start, so that the time a wake-up takes does
        // not add up over the steps (at a scenario's time scale, milliseconds are minutes).
        let playedFrom = ContinuousClock.now
        var stepsPlayed = 0
        while step < endStep {
            if let limit = await attempts.takeLimit(key) {
                fate = playing(timeLimit: limit)
                endStep = fate.endStep
                if case .faults(_, let rank, _) = fate.ending, rank != order.rank { endStep = fate.lastStep }
                if step >= endStep { break }
            }
            // Sleep a step in slices (the lease is looked at between them); a KILL wakes it at once, so
            // that its end is reported as soon as a real host's would be, not up to a slice later (in
            // scaled time a slice is minutes, in which the coordinator waits on the stopped chips).
            stepsPlayed += 1
            let stepEnds = playedFrom + realStep * stepsPlayed
            var stop: String?
            while ContinuousClock.now < stepEnds {
                stop = await stopReason(key, order, attempts)
                if stop != nil { break }
                await attempts.nap(key, until: min(stepEnds, ContinuousClock.now + .milliseconds(100)))
                try Task.checkCancellation()
            }
            step += 1
            if stop == nil { stop = await stopReason(key, order, attempts) }
            if let stop {
                await attemptLog?.record(.end, node: node.id, order: order)
                // Asked to save a checkpoint first: the steps it finished are kept.
                let saves = await attempts.savesCheckpointOnStop(key)
                let saved = saves ? max(step - 1, fate.checkpoint(before: step)) : fate.checkpoint(before: step)
                await end(
                    Exit(
                        job: order.job, attempt: order.attempt, outcome: .killed,
                        message: saves ? "\(stop); saved a checkpoint at step \(saved)" : stop, step: step,
                        checkpointStep: saved), attempts: attempts, link: link)
                return
            }
            // The first node reports the steps both drivers measure the pace from (on the attempt's
            // own clock), and each checkpoint the attempt saves before it ends.
            if order.rank == 0 && fate.reportsProgress(at: step) {
                await link.send(
                    .progress(
                        ProgressReport(
                            job: order.job, attempt: order.attempt, step: step, writtenAt: fate.progressTime(of: step)))
                )
            }
            if order.rank == 0 && step % fate.checkpointEvery == 0 && step < fate.endStep {
                await link.send(.checkpoint(CheckpointReport(job: order.job, attempt: order.attempt, step: step)))
            }
        }
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
        await attemptLog?.record(.end, node: node.id, order: order)
        await end(exit, attempts: attempts, link: link)
    }

    /// Why the attempt must stop now: an order, or a coordinator unheard from for longer than the
    /// job may run unseen; nil: it goes on.
    func stopReason(_ key: AttemptRef, _ order: RunOrder, _ attempts: AttemptBook) async -> String? {
        if await attempts.isKilled(key) { return "stopped on order" }
        let terms = await lease.terms
        guard let limit = order.maxDisconnect ?? terms?.disconnectStop, limit > 0,
            let unseen = await lease.unseenFor(), unseen > limit
        else { return nil }
        return stoppedUnseen(for: unseen)
    }

    /// An attempt ended: kept as undelivered until a session carries its exit.
    func end(_ exit: Exit, attempts: AttemptBook, link: SessionLink) async {
        await attempts.finish(exit)
        // Kept until the coordinator acknowledges it; a later session sends it again otherwise.
        await link.send(.exited(exit))
    }
}

/// The session reports go out on, while there is one.
actor SessionLink {
    private var writer: WireWriter?
    private var current = 0

    /// Makes `writer` the session's; returns its number for `close`.
    func open(_ writer: WireWriter) -> Int {
        self.writer = writer
        current += 1
        return current
    }

    func close(_ session: Int) { if session == current { writer = nil } }

    /// False when no session is open or the send failed.
    @discardableResult
    func send(_ message: WireMessage) async -> Bool {
        guard let writer else { return false }
        do {
            try await writer.send(message)
            return true
        } catch {
            return false
        }
    }
}

/// Attempts this node runs, those it was told to stop, and ended attempts whose exit no session
/// has carried yet.
actor AttemptBook {
    private var active: Set<AttemptRef> = []
    private var killed: Set<AttemptRef> = []
    private var ended: [AttemptRef: Exit] = [:]

    /// False when the attempt is known already (a repeated RUN).
    func start(_ key: AttemptRef) -> Bool {
        guard !active.contains(key), ended[key] == nil else { return false }
        active.insert(key)
        return true
    }
    /// Naps of attempts, woken at their end or by a KILL; each nap numbered, so that the timer of
    /// an earlier one does not wake a later one.
    private var naps: [AttemptRef: (number: Int, wake: CheckedContinuation<Void, Never>)] = [:]
    private var napNumber = 0

    /// Time limits changed while attempts run (`LIMIT`).
    private var limits: [AttemptRef: Double] = [:]
    func limit(_ key: AttemptRef, _ seconds: Double) {
        guard active.contains(key) else { return }
        limits[key] = seconds
    }
    /// The time limit a running attempt was last given, once, if it changed.
    func takeLimit(_ key: AttemptRef) -> Double? { limits.removeValue(forKey: key) }

    /// `checkpointing`: it was asked to save a checkpoint first, which a simulated job does at once,
    /// at the last step it finished (SchedSim stops such a victim losing nothing alike).
    func kill(_ key: AttemptRef, checkpointing: Bool = false) {
        guard active.contains(key) else { return }
        if checkpointing && !killed.contains(key) { savesOnStop.insert(key) }
        killed.insert(key)
        naps.removeValue(forKey: key)?.wake.resume()
    }
    private var savesOnStop: Set<AttemptRef> = []
    func savesCheckpointOnStop(_ key: AttemptRef) -> Bool { savesOnStop.contains(key) }

    /// Sleeps until `deadline`, or less if the attempt is told to stop meanwhile.
    func nap(_ key: AttemptRef, until deadline: ContinuousClock.Instant) async {
        guard !killed.contains(key) else { return }
        napNumber += 1
        let number = napNumber
        await withCheckedContinuation { continuation in
            naps[key] = (number, continuation)
            Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                self.wake(key, number)
            }
        }
    }

    private func wake(_ key: AttemptRef, _ number: Int) {
        guard naps[key]?.number == number else { return }
        naps.removeValue(forKey: key)?.wake.resume()
    }
    func isKilled(_ key: AttemptRef) -> Bool { killed.contains(key) }
    func finish(_ exit: Exit) {
        let key = AttemptRef(job: exit.job, attempt: exit.attempt)
        active.remove(key)
        killed.remove(key)
        savesOnStop.remove(key)
        ended[key] = exit
    }
    func delivered(_ key: AttemptRef) { ended[key] = nil }
    func undelivered() -> [Exit] { ended.values.sorted { ($0.job, $0.attempt) < ($1.job, $1.attempt) } }
    /// What a registration reports: running attempts and ended ones not yet reported.
    func running() -> [AttemptRef] {
        (active.union(ended.keys)).sorted { ($0.job, $0.attempt) < ($1.job, $1.attempt) }
    }
}
