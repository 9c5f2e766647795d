extension PlanningSession {
    /// The expected-finish rule, for a job about to be placed: estimates on its tier and the tiers
    /// below, and a move (in the plan's fallbacks) when `ExpectedFinish.choose` picks one. Decided
    /// before the job is placed, so that it starts on the tier chosen in this same plan.
    mutating func considerExpectedFinish(_ pending: PendingJob, ladder: inout FallbackLadder) {
        let job = pending.job
        guard job.fallback.policy == .expectedFinish, let progress = pending.progress, progress.stepsLeft > 0,
            !ladder.isOnLastTier, let current = estimate(job, onTier: ladder.tier, progress: progress)
        else { return }
        var below: [TierEstimate] = []
        for tier in (ladder.tier + 1)..<ladder.tierCount {
            if let estimate = estimate(job, onTier: tier, progress: progress) { below.append(estimate) }
        }
        let tolerance = job.fallback.tolerance ?? FallbackRule.defaultTolerance
        guard let chosen = ExpectedFinish.choose(current: current, below: below, tolerance: tolerance) else { return }
        let from = ladder.tier
        if case .moveTo(let to, let reason) = ladder.handle(
            .finishesSooner(current: current, chosen: chosen, at: now), rule: job.fallback)
        {
            plan.fallbacks.append(TierFallback(job: job.id, fromTier: from, toTier: to, reason: reason, ladder: ladder))
        }
    }

    /// The outlook on `tier`: on the model a placement there would take now (room now), else on the
    /// model the tier prefers most; nil when the fleet has no chip the tier accepts.
    private mutating func estimate(_ job: Job, onTier tier: Int, progress: JobProgress) -> TierEstimate? {
        let chipTier = job.tier(at: tier)
        let shape = job.shape(onTier: tier)
        let groups = modelGroups(tier: chipTier, kind: job.kind, minMemory: job.minChipMemoryGiB)
        let found = findPlacement(job: job, shape: shape, groups: groups, avoidReserved: mustAvoidReservation(job))
        guard let model = found?.first?.model ?? groups.first?.first, let entry = layout.modelCatalogEntry[model]
        else { return nil }
        return ExpectedFinish.estimate(
            tier: tier, model: entry, kind: job.kind, chips: shape.chipsPerNode * shape.nodes, progress: progress,
            rates: faultRates, roomNow: found != nil)
    }
}
