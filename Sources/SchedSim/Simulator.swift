import Foundation
import HeapModule
import SchedCore
import SchedSpec

/// Everything one simulation needs: a fleet, a trace, faults, a policy and a seed.
public struct SimulationInput: Sendable {
    public var nodes: [Node]
    public var catalog: ChipCatalog
    public var jobs: [TraceJob]
    public var faults: FaultProfile
    public var policy: SchedulingPolicy
    public var seed: UInt64
    /// A queue tree: limits, the fair order and reclaim, as the coordinator's `--queues`.
    public var queues: QueueTree?
    /// How fast a queue's past use is forgotten, and the youngest a job may be to be reclaimed
    /// (simulated seconds), as the coordinator's `--usage-half-life` and `--reclaim-min-run`.
    public var usageHalfLife: Double = 7 * 86_400
    public var reclaimMinimumRun: Double = 600

    public init(
        nodes: [Node], catalog: ChipCatalog, jobs: [TraceJob], faults: FaultProfile = FaultProfile(),
        policy: SchedulingPolicy, seed: UInt64 = 1
    ) {
        self.nodes = nodes
        self.catalog = catalog
        self.jobs = jobs
        self.faults = faults
        self.policy = policy
        self.seed = seed
    }
}

/// SchedSim: a discrete-event driver over `Scheduler.plan` in virtual time. At every moment something
/// happens (a submission, an end, a fault, a wait limit), it plans exactly as the coordinator does
/// and applies the plan. Pure: the same input gives the same report.
public enum Simulator {
    public static func run(_ input: SimulationInput) throws(SnapshotError) -> SimulationReport {
        var run = try SimulationRun(input)
        try run.run()
        return run.report()
    }
}

/// Something that happens at a time. Ties break by sequence number, so order is deterministic.
struct SimulationEvent: Comparable {
    enum Kind {
        case submit(job: Int)
        /// The attempt ends as its plan said (completion, fault or time limit).
        case end(attempt: Int)
        /// Look again: a wait limit may have passed.
        case wake
        /// A whole node is lost, and comes back after its repair time.
        case nodeDown(node: Int)
        case nodeUp(node: Int)
        /// A step-played attempt of a job below its first tier saves a checkpoint after `step`:
        /// the moment it may return to that tier.
        case checkpoint(attempt: Int, step: Int)
        /// A chip drained after a fault takes work again.
        case chipRecovered(node: NodeID, chip: Int)
        /// A step-played attempt reports its second step: its pace is measured, and the
        /// expected-finish rule weighs it.
        case paceMeasured(attempt: Int, step: Int)
    }
    var time: Double
    var sequence: Int
    var kind: Kind

    static func < (a: SimulationEvent, b: SimulationEvent) -> Bool { (a.time, a.sequence) < (b.time, b.sequence) }
    static func == (a: SimulationEvent, b: SimulationEvent) -> Bool { (a.time, a.sequence) == (b.time, b.sequence) }
}

/// One attempt of one job in the simulation.
struct SimulatedAttemptState {
    enum Ending {
        case completes
        case faults(chip: Int, node: NodeID)
        case timesOut
    }
    var job: Int
    var placement: JobPlacement
    var start: Double
    var end: Double
    var ending: Ending
    /// Seconds this job needs on this chip model for all of its work.
    var fullSeconds: Double
    var chips: Int
    /// Its chips in thousandths of a chip: a share counts as its part of the chip.
    var milliChips: Int
    /// Step-played jobs (scenarios): the fate the agents would play.
    var fate: AttemptFate?
    /// The job's attempt number (1 for its first).
    var number: Int
    var active = true
}

struct SimulatedJobState {
    enum State { case waiting, queued, running(Int), completed, failed }
    var trace: TraceJob
    var state: State = .waiting
    var ladder: FallbackLadder
    /// Fraction of the work done and checkpointed.
    var progress = 0.0
    /// Step-played jobs: the last checkpointed step.
    var checkpointStep = 0
    /// Step-played jobs: each attempt's pace, as the coordinator measures it from the agents' reports.
    var paces: [MeasuredPace] = []
    var outcome: JobOutcome
}

struct SimulationRun {
    let input: SimulationInput
    /// The engine, kept up to date as attempts start and end, so no decision rebuilds the fleet.
    var engine: SchedulingEngine
    /// The queues' ledger, kept in step as attempts start and stop, and their past use.
    var ledger: QueueLedger?
    var usageHistory: QueueUsageHistory
    var jobIndex: [JobID: Int] = [:]
    var now = 0.0
    var events = Heap<SimulationEvent>()
    var sequence = 0
    var jobs: [SimulatedJobState] = []
    var attempts: [SimulatedAttemptState] = []
    var queued: [Int] = []
    var decisions: [DecisionRecord] = []
    var fallbacks: [FallbackMark] = []
    var faultHistory = FaultHistory()
    /// Faults per chip-hour as the expected-finish rule sees them: the fleet's rates where they are
    /// known (`ratesKnown`), updated by what the attempts here saw.
    var faultRates: FaultRates
    var cycles: UInt64 = 0
    var processed = 0
    var nodeRandom = SeededGenerator(seed: 0)
    /// Submissions, ends and wake-ups still in the heap: while there are none and nothing runs,
    /// nothing can change any more, and node failures stop (they would go on forever).
    var pendingJobEvents = 0
    // Utilization bookkeeping.
    /// Busy chips per model, in thousandths of a chip: whole numbers, so sums do not depend on order.
    var busyByModel: [ChipModelID: Int] = [:]
    /// Under a queue tree: milli-chips busy per queue, for the report's share over time.
    var busyByQueue: [String: Int] = [:]
    var busySecondsByModel: [ChipModelID: Double] = [:]
    var lastChange = 0.0
    var timeline: [UtilizationSample] = []
    let familyOf: [ChipModelID: String]

    init(_ input: SimulationInput) throws(SnapshotError) {
        self.input = input
        faultRates = FaultRates(prior: input.faults.knownRates)
        engine = try SchedulingEngine(snapshot: ClusterSnapshot(nodes: input.nodes, catalog: input.catalog))
        ledger = input.queues.map {
            var ledger = QueueLedger(
                tree: $0, capacity: QueueLedger.capacity(of: input.nodes, catalog: input.catalog))
            ledger.minimumRunTime = input.reclaimMinimumRun
            return ledger
        }
        usageHistory = QueueUsageHistory(halfLife: input.usageHalfLife)
        var families: [ChipModelID: String] = [:]
        for node in input.nodes {
            for chip in node.chips { families[chip.model] = input.catalog[chip.model]?.family.rawValue ?? "unknown" }
        }
        familyOf = families
        for (index, trace) in input.jobs.enumerated() {
            jobs.append(
                SimulatedJobState(
                    trace: trace, ladder: FallbackLadder(for: trace.job),
                    outcome: JobOutcome(
                        job: trace.job.id.name, queue: trace.job.queue, kind: trace.job.kind,
                        submitted: trace.job.submittedAt, state: .unfinished, attempts: 0, fallbacks: 0, preemptions: 0,
                        workLost: 0, finalTier: 0)))
            schedule(.submit(job: index), at: trace.job.submittedAt)
            jobIndex[trace.job.id] = index
        }
        nodeRandom = SeededGenerator(seed: input.seed ^ 0x6E6F_6465)
        for node in input.nodes.indices { scheduleNodeFailure(node) }
    }

    /// The next loss of `node`, if its chip model loses nodes, as a Poisson process from the seed.
    mutating func scheduleNodeFailure(_ node: Int) {
        guard let model = input.nodes[node].chips.first?.model,
            let rate = input.faults.nodeFailuresPerHour[model], rate > 0
        else { return }
        let uniform = max(Double(nodeRandom.next() >> 11) / Double(1 << 53), 1e-12)
        schedule(.nodeDown(node: node), at: now - log(uniform) / (rate / 3600))
    }

    mutating func schedule(_ kind: SimulationEvent.Kind, at time: Double) {
        events.insert(SimulationEvent(time: time, sequence: sequence, kind: kind))
        sequence += 1
        switch kind {
        case .submit, .end, .wake: pendingJobEvents += 1
        case .nodeDown, .nodeUp, .checkpoint, .chipRecovered, .paceMeasured: break
        }
    }

    var somethingCanChange: Bool { pendingJobEvents > 0 || engine.runningJobs > 0 }

    mutating func run() throws(SnapshotError) {
        while let first = events.popMin() {
            advance(to: first.time)
            handle(first)
            // Everything else that happens at this moment, before planning once.
            while let next = events.min, next.time == now {
                handle(events.removeMin())
            }
            try plan()
        }
        advance(to: now)
    }

    mutating func handle(_ event: SimulationEvent) {
        processed += 1
        switch event.kind {
        case .submit, .end, .wake: pendingJobEvents -= 1
        case .nodeDown, .nodeUp, .checkpoint, .chipRecovered, .paceMeasured: break
        }
        switch event.kind {
        case .submit(let job):
            jobs[job].state = .queued
            queued.append(job)
        case .end(let attempt):
            guard attempts[attempt].active else { return }
            finish(attempt)
        case .wake:
            break
        case .nodeDown(let node):
            guard somethingCanChange else { return }
            let id = input.nodes[node].id
            engine.setState(of: id, to: .down)
            for attempt in attempts.indices
            where attempts[attempt].active
                && attempts[attempt].placement.assignments.contains(where: { $0.node == id })
            {
                fail(attempt, cause: .nodeLost(id), detail: "node \(id) lost")
            }
            schedule(.nodeUp(node: node), at: now + input.faults.nodeRepairSeconds)
        case .nodeUp(let node):
            engine.setState(of: input.nodes[node].id, to: .ready)
            if somethingCanChange || !queued.isEmpty { scheduleNodeFailure(node) }
        case .checkpoint(let attempt, let step):
            guard attempts[attempt].active else { return }
            notePace(attempt, through: step)
            if !returnToPreferred(attempt, checkpointed: step) && !moveForExpectedFinish(attempt, checkpointed: step) {
                scheduleCheckpoint(attempt, after: step)
            }
        case .chipRecovered(let node, let chip):
            engine.release(ChipDrain.holder(node: node, chip: chip))
        case .paceMeasured(let attempt, let step):
            guard attempts[attempt].active else { return }
            notePace(attempt, through: step)
            _ = moveOnMeasuredPace(attempt, at: step)
        }
    }

    // MARK: Returning to the first tier

    /// The attempt's next checkpoint after `step` that comes before its end, if its job may return
    /// to its first tier there, or the expected-finish rule may move it down: the agents report the
    /// same checkpoints, and the coordinator decides there.
    mutating func scheduleCheckpoint(_ attempt: Int, after step: Int) {
        let state = attempts[attempt]
        let job = jobs[state.job].trace.job
        let mayReturn = job.fallback.returnToPreferredHealthyFor != nil && state.placement.tier > 0
        let mayMoveDown = job.fallback.policy == .expectedFinish && state.placement.tier < job.tierCount - 1
        guard let fate = state.fate, mayReturn || mayMoveDown else { return }
        let next = (step / fate.checkpointEvery + 1) * fate.checkpointEvery
        guard next < fate.endStep else { return }
        schedule(
            .checkpoint(attempt: attempt, step: next),
            at: state.start + Double(next - fate.firstStep + 1) * fate.secondsPerStep)
    }

    /// What job `index` has left after its checkpoint at `checkpointStep`, for the expected-finish rule.
    func progress(of index: Int, checkpointStep: Int) -> JobProgress? {
        jobs[index].trace.steps?.progress(
            checkpointStep: checkpointStep, restartSeconds: input.faults.chipRecoverySeconds
        ).measured(jobs[index].paces, kind: jobs[index].trace.job.kind, catalog: input.catalog)
    }

    /// The pace the coordinator has measured for `attempt` once `step` is done, kept with its job.
    mutating func notePace(_ attempt: Int, through step: Int) {
        let state = attempts[attempt]
        guard let fate = state.fate,
            let pace = fate.pace(
                through: step, attempt: state.number, model: state.placement.chipModel.name,
                node: state.placement.assignments[0].node.name)
        else { return }
        let index = state.job
        if let last = jobs[index].paces.last, last.attempt == pace.attempt {
            jobs[index].paces[jobs[index].paces.count - 1] = pace
        } else {
            jobs[index].paces.append(pace)
        }
    }

    /// At a checkpoint: the expected-finish rule, with the pace measured so far, may move the job
    /// down now, losing nothing since the checkpoint.
    mutating func moveForExpectedFinish(_ attempt: Int, checkpointed step: Int) -> Bool {
        let index = attempts[attempt].job
        let job = jobs[index].trace.job
        guard let progress = progress(of: index, checkpointStep: step),
            let move = engine.expectedFinishMove(
                for: job, ladder: jobs[index].ladder, now: now, policy: input.policy, progress: progress,
                faultRates: faultRates)
        else { return false }
        moveDown(attempt, move, checkpointed: step)
        return true
    }

    /// When the attempt's pace is first measured: the expected-finish rule may move the job now,
    /// losing the steps since its checkpoint, where waiting for the next checkpoint at this pace
    /// would cost more (as the coordinator decides on the same report).
    mutating func moveOnMeasuredPace(_ attempt: Int, at step: Int) -> Bool {
        let index = attempts[attempt].job
        let job = jobs[index].trace.job
        guard let fate = attempts[attempt].fate,
            let progress = progress(of: index, checkpointStep: jobs[index].checkpointStep),
            let move = engine.expectedFinishMoveNow(
                for: job, ladder: jobs[index].ladder, now: now, policy: input.policy, progress: progress,
                faultRates: faultRates, step: step, secondsPerStep: fate.secondsPerStep)
        else { return false }
        moveDown(attempt, move)
        return true
    }

    /// Stops `attempt` (banking its checkpoint, `step` if it stops at one) and moves its job down
    /// as `move` says.
    mutating func moveDown(_ attempt: Int, _ move: TierFallback, checkpointed step: Int? = nil) {
        let index = attempts[attempt].job
        let (_, lost) = stop(attempt, checkpointed: step)
        jobs[index].outcome.workLost += lost
        jobs[index].ladder = move.ladder
        noteFallback(index, from: move.fromTier, to: move.toTier, reason: move.reason)
        requeue(index)
    }

    /// At a checkpoint: back to the first tier if the ladder says it is due and the tier has room.
    mutating func returnToPreferred(_ attempt: Int, checkpointed step: Int) -> Bool {
        let index = attempts[attempt].job
        let job = jobs[index].trace.job
        let lastFault = faultHistory.lastFault(on: job.tier(at: 0), catalog: input.catalog)
        guard let reason = jobs[index].ladder.returnDue(now: now, lastFaultOnPreferred: lastFault, rule: job.fallback),
            engine.hasRoom(
                for: job, onTier: 0, now: now, policy: input.policy,
                progress: progress(of: index, checkpointStep: step), faultRates: faultRates)
        else { return false }
        let (_, lost) = stop(attempt, checkpointed: step)
        jobs[index].outcome.workLost += lost
        jobs[index].ladder.returnToPreferred(at: now)
        record(.returned, index, reason.description, tier: 0)
        requeue(index)
        return true
    }

    // MARK: Attempts

    mutating func start(_ placement: JobPlacement, job index: Int) throws(SnapshotError) {
        var job = jobs[index]
        let trace = job.trace
        let model = placement.chipModel
        let speed = max(input.catalog[model]?.relativeThroughput(for: trace.job.kind) ?? 1, 0.001)
        // A gang's steps wait on the fabric between its nodes: a degraded one slows them.
        let slowdown = input.faults.slowdown(on: placement.assignments.map(\.node))
        let fullSeconds = (trace.secondsByModel[model] ?? trace.referenceSeconds / speed) * slowdown
        let remaining = (1 - job.progress) * fullSeconds
        let chips = placement.assignments.reduce(0) { $0 + $1.chips.count }
        let chipMemory = mebibytes(fromGiB: input.catalog[model]?.memoryGiB ?? 0)
        let milliChips = placement.assignments.reduce(0) { total, assignment in
            let part = assignment.share.map { Int(($0.fraction(ofChipMemoryMiB: chipMemory) * 1000).rounded()) } ?? 1000
            return total + part * assignment.chips.count
        }
        // Chip faults as a Poisson process over the attempt's chips, from a seed of its own.
        var random = SeededGenerator(
            seed: input.seed ^ stableHash(trace.job.id.name) ^ UInt64(job.outcome.attempts + 1))
        let rate = (input.faults.chipFaultsPerHour[model] ?? 0) * Double(chips) / 3600
        var ending = SimulatedAttemptState.Ending.completes
        var duration = remaining
        var fate: AttemptFate?
        if let steps = trace.steps {
            // Played step by step, exactly as a simulated agent plays it.
            let played = AttemptFate(
                job: trace.job.id.name, attempt: job.outcome.attempts + 1, kind: trace.job.kind, run: steps,
                model: input.catalog[model], resumeStep: job.checkpointStep, nodes: placement.assignments.count,
                chipsPerNode: placement.assignments[0].chips.count, timeLimit: trace.job.timeLimit,
                faultsPerChipHour: input.faults.chipFaultsPerHour[model] ?? 0, seed: input.seed, slowdown: slowdown)
            duration = played.duration
            switch played.ending {
            case .completes: ending = .completes
            case .timesOut: ending = .timesOut
            case .faults(_, let rank, let offset):
                let assignment = placement.assignments[min(rank, placement.assignments.count - 1)]
                // A job of cores only has no chip to fault.
                ending =
                    assignment.chips.isEmpty
                    ? .completes
                    : .faults(chip: assignment.chips[min(offset, assignment.chips.count - 1)], node: assignment.node)
            }
            fate = played
        } else if rate > 0 {
            let uniform = max(Double(random.next() >> 11) / Double(1 << 53), 1e-12)
            let faultAfter = -log(uniform) / rate
            if faultAfter < duration {
                duration = faultAfter
                let assignment = placement.assignments[Int(random.next() % UInt64(placement.assignments.count))]
                if !assignment.chips.isEmpty {
                    let chip = assignment.chips[Int(random.next() % UInt64(assignment.chips.count))]
                    ending = .faults(chip: chip, node: assignment.node)
                }
            }
        }
        if fate == nil, let limit = trace.job.timeLimit, limit < duration {
            duration = limit
            ending = .timesOut
        }
        try engine.hold(
            RunningJob(
                id: trace.job.id, priority: trace.job.priority, assignments: placement.assignments, startedAt: now,
                expectedEndAt: trace.job.timeLimit.map { now + $0 }, checkpointInterval: trace.checkpointEverySeconds,
                savesCheckpointWhenAsked: trace.savesCheckpointWhenAsked))
        ledger?.hold(
            trace.job.id, queue: trace.job.queue, kind: trace.job.kind, model: input.catalog[placement.chipModel],
            assignments: placement.assignments)
        let attempt = attempts.count
        attempts.append(
            SimulatedAttemptState(
                job: index, placement: placement, start: now, end: now + duration, ending: ending,
                fullSeconds: fullSeconds, chips: chips, milliChips: milliChips, fate: fate,
                number: job.outcome.attempts + 1))
        job.state = .running(attempt)
        job.outcome.attempts += 1
        job.outcome.firstStart = job.outcome.firstStart ?? now
        job.outcome.chipModel = model.name
        job.outcome.finalTier = placement.tier
        _ = job.ladder.handle(.placed(at: now), rule: trace.job.fallback)
        jobs[index] = job
        busy(model, milliChips, queue: trace.job.queue)
        record(
            .placed, index, "\(model) x\(chips) tier \(placement.tier + 1)", tier: placement.tier,
            chipModel: model.name,
            nodes: placement.assignments.map(\.node.name))
        schedule(.end(attempt: attempt), at: now + duration)
        if let fate {
            scheduleCheckpoint(attempt, after: fate.firstStep - 1)
            let second = fate.firstStep + 1
            if trace.job.fallback.policy == .expectedFinish, placement.tier < trace.job.tierCount - 1,
                fate.reportsProgress(at: second)
            {
                schedule(.paceMeasured(attempt: attempt, step: second), at: now + 2 * fate.secondsPerStep)
            }
        }
    }

    /// Ends an attempt early (preemption, a return at the checkpoint after `step`) or as planned,
    /// banking checkpointed progress.
    /// `savingNow`: a victim that saves a checkpoint when asked keeps all it did (the checkpoint is
    /// taken as instant; the coordinator waits for it, up to the job's grace).
    mutating func stop(_ attempt: Int, checkpointed step: Int? = nil, savingNow: Bool = false) -> (
        ranFor: Double, lost: Double
    ) {
        attempts[attempt].active = false
        let state = attempts[attempt]
        engine.release(jobs[state.job].trace.job.id)
        ledger?.release(jobs[state.job].trace.job.id)
        let index = state.job
        let ran = now - state.start
        let every = jobs[index].trace.checkpointEverySeconds
        var kept: Double
        switch jobs[index].trace.job.kind {
        case .training: kept = every.map { (ran / $0).rounded(.down) * $0 } ?? 0
        case .inference, .batch: kept = 0
        }
        if savingNow { kept = ran }
        if let fate = state.fate {
            // The step this attempt is in, and the last checkpoint before it.
            let done = fate.firstStep - 1 + Int((ran / fate.secondsPerStep).rounded(.down))
            let banked =
                step ?? (savingNow ? min(done, fate.lastStep) : nil)
                ?? (state.end <= now
                    ? fate.checkpointAtEnd : max(fate.checkpoint(before: min(done, fate.lastStep)), fate.firstStep - 1))
            kept = Double(banked - (fate.firstStep - 1)) * fate.secondsPerStep
            jobs[index].checkpointStep = max(jobs[index].checkpointStep, banked)
            notePace(attempt, through: state.end <= now ? fate.endStep : done)
        }
        jobs[index].progress = min(1, jobs[index].progress + kept / state.fullSeconds)
        unbusy(state.placement.chipModel, state.milliChips, queue: jobs[index].trace.job.queue)
        faultRates.ran(state.placement.chipModel, chips: state.chips, seconds: ran)
        return (ran, (ran - kept) * Double(state.milliChips) / 1000)
    }

    mutating func finish(_ attempt: Int) {
        let state = attempts[attempt]
        let index = state.job
        switch state.ending {
        case .completes:
            attempts[attempt].active = false
            engine.release(jobs[index].trace.job.id)
            ledger?.release(jobs[index].trace.job.id)
            unbusy(state.placement.chipModel, state.milliChips, queue: jobs[index].trace.job.queue)
            jobs[index].progress = 1
            end(index, .completed)
            record(.completed, index, "")
        case .timesOut:
            _ = stop(attempt)
            end(index, .failed)
            record(.failed, index, "time limit")
        case .faults(let chip, let node):
            fail(attempt, cause: .chipFault(node: node, chip: chip), detail: "chip \(chip) of \(node)")
            drain(chip: chip, of: node)
        }
    }

    /// A chip whose fault ended an attempt takes no work for the fleet's recovery time, as the
    /// coordinator drains it: held, at a priority nothing preempts, until it recovers.
    mutating func drain(chip: Int, of node: NodeID) {
        let recovery = input.faults.chipRecoverySeconds
        guard recovery > 0 else { return }
        guard (try? engine.hold(ChipDrain.running(node: node, chip: chip, at: now, until: now + recovery))) != nil
        else { return }
        schedule(.chipRecovered(node: node, chip: chip), at: now + recovery)
    }

    /// An attempt ended by a fault (chip or node): work since its checkpoint is lost, and the job's
    /// ladder decides whether it retries, moves down a tier, or gives up.
    mutating func fail(_ attempt: Int, cause: FailureCause, detail: String) {
        let index = attempts[attempt].job
        // A step-played fault at its planned step loses the steps since the checkpoint before it.
        var stepsLost: Int?
        if let fate = attempts[attempt].fate, case .faults = attempts[attempt].ending, attempts[attempt].end <= now {
            stepsLost = fate.endStep - fate.checkpointAtEnd
        }
        let (_, lost) = stop(attempt)
        jobs[index].outcome.workLost += lost
        faultHistory.record(attempts[attempt].placement.chipModel, at: now)
        faultRates.faulted(attempts[attempt].placement.chipModel)
        record(.faulted, index, detail, stepsLost: stepsLost)
        let from = jobs[index].ladder.tier
        switch jobs[index].ladder.handle(.failed(cause, at: now), rule: jobs[index].trace.job.fallback) {
        case .retry, .stay, .refused:
            requeue(index)
        case .moveTo(let tier, let reason):
            noteFallback(index, from: from, to: tier, reason: reason)
            requeue(index)
        case .giveUp(let reason):
            end(index, .failed)
            record(.gaveUp, index, reason)
        }
    }

    /// A job is done, one way or the other.
    mutating func end(_ index: Int, _ state: JobOutcome.State) {
        jobs[index].state = state == .completed ? .completed : .failed
        jobs[index].outcome.state = state
        jobs[index].outcome.end = now
    }

    mutating func requeue(_ index: Int) {
        jobs[index].state = .queued
        queued.append(index)
        record(.requeued, index, "")
    }

    mutating func noteFallback(_ index: Int, from: Int, to: Int, reason: FallbackReason) {
        jobs[index].outcome.fallbacks += 1
        fallbacks.append(
            FallbackMark(
                time: now, job: jobs[index].trace.job.id.name, fromTier: from, toTier: to, reason: reason.description))
        record(.fellBack, index, reason.description, tier: to)
    }

    mutating func record(
        _ kind: DecisionRecord.Kind, _ index: Int, _ detail: String, tier: Int? = nil, chipModel: String? = nil,
        nodes: [String]? = nil, stepsLost: Int? = nil
    ) {
        decisions.append(
            DecisionRecord(
                time: now, kind: kind, job: jobs[index].trace.job.id.name, detail: detail, tier: tier,
                chipModel: chipModel, nodes: nodes, stepsLost: stepsLost))
    }

    // MARK: Planning

    mutating func plan() throws(SnapshotError) {
        queued = queued.filter { if case .queued = jobs[$0].state { return true } else { return false } }
        guard !queued.isEmpty else { return }
        cycles += 1
        if let current = ledger {
            usageHistory.advance(to: now, queues: current.tree.queues.map(\.name)) { current.usage(of: $0) }
            ledger?.setHistory(usageHistory.amounts)
        }
        let plan = engine.plan(
            queue: queued.map { index in
                PendingJob(
                    jobs[index].trace.job, ladder: jobs[index].ladder,
                    progress: progress(of: index, checkpointStep: jobs[index].checkpointStep))
            }, now: now, policy: input.policy, seed: input.seed &+ cycles, faultRates: faultRates, queues: ledger)
        let byID = jobIndex

        for preemption in plan.preemptions {
            guard let index = byID[preemption.victim], case .running(let attempt) = jobs[index].state else { continue }
            let (_, lost) = stop(attempt, savingNow: jobs[index].trace.savesCheckpointWhenAsked)
            jobs[index].outcome.preemptions += 1
            jobs[index].outcome.workLost += lost
            if preemption.reason.hasPrefix("reclaimed") {
                jobs[index].outcome.reclaimed += 1
                jobs[index].outcome.workLostToReclaims += lost
            }
            record(.preempted, index, "for \(preemption.preemptor): \(preemption.reason)")
            requeue(index)
        }
        for fallback in plan.fallbacks {
            guard let index = byID[fallback.job] else { continue }
            jobs[index].ladder = fallback.ladder
            noteFallback(index, from: fallback.fromTier, to: fallback.toTier, reason: fallback.reason)
        }
        // Jobs with no tier left fail, and so does a job no tier could ever hold, as in the
        // coordinator once its fleet has registered.
        let infeasible = plan.waiting.filter(\.reason.isInfeasible)
        let givingUp =
            plan.givenUp.map { ($0.job, $0.reason) }
            + infeasible.map { ($0.job, "no tier can ever hold it: \($0.reason)") }
        for (job, reason) in givingUp {
            guard let index = byID[job], case .queued = jobs[index].state else { continue }
            end(index, .failed)
            record(.gaveUp, index, reason)
        }
        for placement in plan.placements {
            guard let index = byID[placement.job], case .queued = jobs[index].state else { continue }
            try start(placement, job: index)
        }
        queued = queued.filter { if case .queued = jobs[$0].state { return true } else { return false } }
        // Wait limits pass with no event of their own: wake up for the next one.
        var next = Double.infinity
        for index in queued {
            let job = jobs[index].trace.job
            // A wait limit moves a job down only while a tier is left below it, and only in the future.
            if let limit = job.fallback.maxWaitPerTier, let since = jobs[index].ladder.waitingSince,
                !jobs[index].ladder.isOnLastTier, since + limit > now
            {
                next = min(next, since + limit)
            }
            if let wait = job.topology.maxDomainsWait, job.topology.maxDomains != nil {
                let lapse = job.submittedAt + wait
                if lapse > now { next = min(next, lapse) }
            }
        }
        if next.isFinite && next > now { schedule(.wake, at: next) }
    }

    // MARK: Utilization

    mutating func advance(to time: Double) {
        let elapsed = time - lastChange
        if elapsed > 0 {
            for (model, milli) in busyByModel {
                busySecondsByModel[model, default: 0] += Double(milli) / 1000 * elapsed
            }
        }
        lastChange = time
        now = time
    }

    mutating func busy(_ model: ChipModelID, _ milliChips: Int, queue: String) {
        busyByModel[model, default: 0] += milliChips
        if input.queues != nil { busyByQueue[queue, default: 0] += milliChips }
        sample()
    }

    mutating func unbusy(_ model: ChipModelID, _ milliChips: Int, queue: String) {
        busyByModel[model, default: 0] -= milliChips
        if input.queues != nil { busyByQueue[queue, default: 0] -= milliChips }
        sample()
    }

    mutating func sample() {
        var milliByFamily: [String: Int] = [:]
        for (model, milli) in busyByModel where milli > 0 {
            milliByFamily[familyOf[model] ?? "unknown", default: 0] += milli
        }
        let byFamily = milliByFamily.mapValues { Double($0) / 1000 }
        let byQueue = input.queues == nil ? nil : busyByQueue.filter { $0.value > 0 }.mapValues { Double($0) / 1000 }
        if let last = timeline.last, last.time == now {
            timeline[timeline.count - 1].busyByFamily = byFamily
            timeline[timeline.count - 1].busyByQueue = byQueue
        } else {
            timeline.append(UtilizationSample(time: now, busyByFamily: byFamily, busyByQueue: byQueue))
        }
    }

    func report() -> SimulationReport {
        let makespan = jobs.compactMap(\.outcome.end).max() ?? now
        var chipsByModel: [ChipModelID: Int] = [:]
        for node in input.nodes {
            for chip in node.chips { chipsByModel[chip.model, default: 0] += 1 }
        }
        var byModel: [String: Double] = [:]
        var busyByFamily: [String: Double] = [:]
        var chipsByFamily: [String: Int] = [:]
        // In model order: a family's sum must not depend on a dictionary's order, which changes
        // from one process to the next (and the last digits of a float sum with it).
        for (model, chips) in chipsByModel.sorted(by: { $0.key < $1.key }) {
            let busy = busySecondsByModel[model] ?? 0
            byModel[model.name] = makespan > 0 ? busy / (Double(chips) * makespan) : 0
            let family = familyOf[model] ?? "unknown"
            busyByFamily[family, default: 0] += busy
            chipsByFamily[family, default: 0] += chips
        }
        var byFamily: [String: Double] = [:]
        for (family, chips) in chipsByFamily {
            byFamily[family] = makespan > 0 ? (busyByFamily[family] ?? 0) / (Double(chips) * makespan) : 0
        }
        var queueSeconds: [String: Double] = [:]
        for attempt in attempts {
            let end = attempt.active ? now : min(attempt.end, now)
            queueSeconds[jobs[attempt.job].trace.job.queue, default: 0] +=
                max(0, end - attempt.start) * Double(attempt.milliChips) / 1000
        }
        let total = queueSeconds.sorted { $0.key < $1.key }.reduce(0) { $0 + $1.value }
        var report = SimulationReport(
            policy: input.policy.name.rawValue, jobs: jobs.map(\.outcome), makespan: makespan,
            utilizationByModel: byModel, utilizationByFamily: byFamily,
            queueShare: queueSeconds.mapValues { total > 0 ? $0 / total : 0 }, timeline: timeline,
            fallbackTimeline: fallbacks, decisions: decisions, chipsByFamily: chipsByFamily, events: processed,
            decisionCycles: Int(cycles))
        if let tree = input.queues {
            report.queueWeights = Dictionary(
                uniqueKeysWithValues: tree.leaves.compactMap { name in
                    tree.index(of: name).map { (name, tree.queues[$0].weight) }
                })
        }
        return report
    }
}
