/// The cluster's chips and who holds them, kept between decisions. Build it once from a snapshot,
/// tell it what starts (`hold`) and what ends (`release`), and each `plan` works on a copy: a driver
/// with many small decisions (the simulator) does not rebuild the fleet index for every one.
public struct SchedulingEngine: Sendable {
    private var base: PlanningSession

    public init(snapshot: ClusterSnapshot) throws(SnapshotError) {
        base = try PlanningSession(snapshot: snapshot)
    }

    /// A job starts holding chips. Refused (and nothing changes) for unknown nodes or chips, chips
    /// already held, or a job already running.
    public mutating func hold(_ job: RunningJob) throws(SnapshotError) {
        try base.holdRunning(job)
    }

    /// A job stops holding chips (ended, or stopped). Unknown jobs are ignored.
    public mutating func release(_ job: JobID) {
        base.releaseRunning(job)
    }

    public var runningJobs: Int { base.heldByJob.count }

    /// Chip models with a healthy chip that nothing holds here but something held in `earlier` (on a
    /// node of any state: a superset of what a job may use): the only models a job refused then may
    /// fit now. Nil when the two engines were not built from one fleet, or node states moved between
    /// them: then anything may fit.
    public func modelsWithChipsFreed(since earlier: SchedulingEngine) -> Set<ChipModelID>? {
        let now = base.index
        let then = earlier.base.index
        guard now.layout === then.layout, now.nodeStates == then.nodeStates else { return nil }
        var models: Set<ChipModelID> = []
        for slot in now.slotFree.indices where now.slotFree[slot] & ~then.slotFree[slot] != 0 {
            models.insert(now.layout.modelIDs[now.layout.slotModel[slot]])
        }
        return models
    }

    /// Jobs of these shapes are expected (the workload's mix, or each arrival as it comes): the
    /// fragmentation-aware policy weighs nodes against the mix of shapes a driver tells it here,
    /// and against what holds chips and waits only while it was told none.
    public mutating func expect(_ jobs: some Sequence<Job>) {
        for job in jobs { base.expectedShapes[ShapeKey(job: job, shape: job.shape(onTier: 0)), default: 0] += 1 }
    }

    /// A node goes down, drains, or comes back. Jobs on a node that goes down are the driver's to
    /// release (it knows whether they were lost); their chips stay held until then.
    public mutating func setState(of node: NodeID, to state: NodeState) {
        guard let position = base.nodePosition[node] else { return }
        base.index.setState(node: position, state)
        base.stateVersion += 1
    }

    /// Decides what starts now, what is preempted, which jobs move down a tier, and why the rest
    /// waits; see `Scheduler.plan`. The engine itself is unchanged: apply the plan with `hold` and
    /// `release` as the driver carries it out.
    /// With `queues`, jobs are taken in the fair order among queues (`PlanningSession.scheduleFairly`)
    /// and none starts past its queue's limits; the ledger must count the jobs holding chips. With
    /// `windows`, jobs keep off the reservations that do not admit them (`ReservedWindow`).
    public func plan(
        queue: [PendingJob], now: Seconds, policy: SchedulingPolicy, seed: UInt64 = 0,
        faultRates: FaultRates = FaultRates(), queues: QueueLedger? = nil, windows: [ReservedWindow] = []
    ) -> SchedulingPlan {
        var session = base.prepared(now: now, policy: policy, seed: seed)
        session.faultRates = faultRates
        session.queues = queues
        if !windows.isEmpty { session.setWindows(windows) }
        if policy.nodeScorer == .fragmentation { session.fragmentation = session.fragmentationModel(queue: queue) }
        // Sort compact keys, not the jobs themselves: a job is a large value.
        let keys = queue.indices.map {
            (priority: queue[$0].job.priority, submitted: queue[$0].job.submittedAt, position: $0)
        }
        let order = keys.sorted { a, b in
            if a.priority != b.priority { return a.priority > b.priority }
            if a.submitted != b.submitted { return a.submitted < b.submitted }
            return queue[a.position].job.id < queue[b.position].job.id
        }.map(\.position)
        // Room for every job to start, so that the records do not grow (and copy) as they do.
        session.plan.placements.reserveCapacity(queue.count)
        session.reserveHoldings(queue.count)
        if queues != nil {
            session.scheduleFairly(queue, order: order)
        } else {
            for position in order {
                session.schedule(queue[position])
            }
        }
        return session.plan
    }

    /// The expected-finish rule for a running job (at a checkpoint, where a move loses no work, or
    /// when its pace is first measured): the move it picks now (on its ladder), or nil when it
    /// stays. Weighed as for a job about to be placed: its tier against the tiers below with room
    /// now, with the pace measured so far.
    public func expectedFinishMove(
        for job: Job, ladder: FallbackLadder, now: Seconds, policy: SchedulingPolicy, progress: JobProgress,
        faultRates: FaultRates
    ) -> TierFallback? {
        guard job.fallback.policy == .expectedFinish else { return nil }
        var probe = job
        probe.priority = Int.min
        let plan = plan(
            queue: [PendingJob(probe, ladder: ladder, progress: progress)], now: now, policy: policy,
            faultRates: faultRates)
        return plan.fallbacks.first {
            guard $0.job == job.id, case .finishesSooner = $0.reason else { return false }
            return true
        }
    }

    /// When a running job's pace is first measured, at `step`, `secondsPerStep` a step: the rule's
    /// move if going at once (losing the steps since its checkpoint) beats waiting for its next
    /// checkpoint at that pace (`ExpectedFinish.movesBeforeCheckpoint`); nil: it stays, and is
    /// weighed again at that checkpoint. Both drivers decide here.
    public func expectedFinishMoveNow(
        for job: Job, ladder: FallbackLadder, now: Seconds, policy: SchedulingPolicy, progress: JobProgress,
        faultRates: FaultRates, step: Int, secondsPerStep: Seconds
    ) -> TierFallback? {
        guard
            let move = expectedFinishMove(
                for: job, ladder: ladder, now: now, policy: policy, progress: progress, faultRates: faultRates),
            case .finishesSooner(_, let chosen) = move.reason
        else { return nil }
        let every = progress.checkpointEverySteps
        let toCheckpoint = (step / every + 1) * every - step
        let goesNow = ExpectedFinish.movesBeforeCheckpoint(
            chosen: chosen, progress: progress, stepsToCheckpoint: toCheckpoint, secondsPerStepHere: secondsPerStep)
        return goesNow ? move : nil
    }

    /// Whether `job` could start on tier `tier` now on chips nobody holds, preempting no one, and
    /// stay there: a job that returns to its first tier must not displace work there, nor leave
    /// its tier to wait, nor go back where the expected-finish rule would move it from at once.
    public func hasRoom(
        for job: Job, onTier tier: Int, now: Seconds, policy: SchedulingPolicy, progress: JobProgress? = nil,
        faultRates: FaultRates = FaultRates()
    ) -> Bool {
        var probe = job
        probe.priority = Int.min
        let ladder = FallbackLadder(tierCount: job.tierCount, tier: tier, waitingSince: now)
        let plan = plan(
            queue: [PendingJob(probe, ladder: ladder, progress: progress)], now: now, policy: policy,
            faultRates: faultRates)
        return plan.placements.contains { $0.job == job.id && $0.tier == tier } && plan.preemptions.isEmpty
    }
}
