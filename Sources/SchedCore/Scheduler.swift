/// A job in the queue, with its fallback state.
public struct PendingJob: Hashable, Sendable {
    public var job: Job
    public var ladder: FallbackLadder
    /// Its remaining work, where the driver knows it: what the expected-finish rule weighs.
    public var progress: JobProgress?

    public init(_ job: Job, ladder: FallbackLadder? = nil, progress: JobProgress? = nil) {
        self.job = job
        self.ladder = ladder ?? FallbackLadder(for: job)
        self.progress = progress
    }
}

/// The one entry point: a snapshot of the cluster, the queue, `now`, a policy and a seed in; a plan out.
public enum Scheduler {
    /// Decides what starts now, what is preempted, which jobs move down a tier, and why the rest waits.
    ///
    /// Jobs are taken by priority (higher first), then submission time, then id. The first job that
    /// cannot start gets a reservation (when it will start, found by replaying running jobs' ends);
    /// later jobs start now only where they cannot delay it.
    public static func plan(
        snapshot: ClusterSnapshot, queue: [PendingJob], now: Seconds, policy: SchedulingPolicy, seed: UInt64 = 0,
        faultRates: FaultRates = FaultRates()
    ) throws(SnapshotError) -> SchedulingPlan {
        try SchedulingEngine(snapshot: snapshot).plan(
            queue: queue, now: now, policy: policy, seed: seed, faultRates: faultRates)
    }

}

/// A job holding chips during planning: the snapshot's running jobs, then this plan's placements.
struct HeldChips: Sendable {
    var job: JobID
    var priority: Int
    /// Its chips: `heldSlots[slotRange]` of the session.
    var slotRange: Range<Int>
    var expectedEnd: Seconds?
    var startedAt: Seconds
    var lastCheckpointAt: Seconds?
    var checkpointInterval: Seconds?
    /// It saves a checkpoint when asked before it stops: stopping it loses nothing.
    var savesCheckpointWhenAsked = false
    var chipCount: Int
    /// Set when it holds a share of its chips rather than the whole chips.
    var share: ChipShare?
    /// Host CPUs and memory it holds, per node.
    var host: [HostHold] = []
    /// Its shape, for the fragmentation policy's mix; nil for a driver's placeholder.
    var shape: ShapeKey?
    /// False once released (ended, or stopped by this plan).
    var active = true

    /// Chip-seconds since the last checkpoint: what stopping it at `now` loses.
    func workAtRisk(at now: Seconds) -> Double {
        if savesCheckpointWhenAsked { return 0 }
        var checkpoint = lastCheckpointAt ?? startedAt
        if let interval = checkpointInterval, interval > 0, now > startedAt {
            checkpoint = max(checkpoint, startedAt + ((now - startedAt) / interval).rounded(.down) * interval)
        }
        return max(0, now - checkpoint) * Double(chipCount)
    }
}

/// A node that passed every filter, with the chips that would be used there.
struct Candidate: Sendable {
    var node: Int
    var slot: Int
    var model: Int
    var pick: ChipPick
    var freeChips: Int
}

/// The working state of one decision. A value: backfill copies it to replay the future.
struct PlanningSession: Sendable {
    var index: FreeCapacityIndex
    let layout: FleetLayout
    /// Host CPUs and memory per NUMA node, and the chips holding shares with what of them is taken:
    /// built on first need (a job or a holding that asks for them), so that a fleet whose jobs ask
    /// neither pays nothing for them.
    var hostState: HostCapacity?
    var shareState: ChipShares?
    let hostLayouts: HostLayoutCache
    /// The fragmentation policy's model for this plan (see `fragmentationModel`).
    /// Shapes of the jobs a driver said to expect (`SchedulingEngine.expect`): when there are any,
    /// the mix is these (placed or refused alike), not what happens to hold chips.
    var expectedShapes: [ShapeKey: Int] = [:]
    var fragmentation: FragmentationModel?
    let catalog: ChipCatalog
    var now: Seconds = 0
    var policy: SchedulingPolicy = .binPack
    /// What the expected-finish rule knows of each chip model's faults.
    var faultRates = FaultRates()
    var generator = SeededGenerator(seed: 0)
    var plan = SchedulingPlan()
    var held: [HeldChips] = []
    var heldSlots: [(slot: Int, mask: UInt64)] = []
    /// Who holds chips on each node: `heldHead[node]` starts a chain through `heldLinks`, -1 ends it.
    var heldHead: [Int]
    var heldLinks: [(held: Int, next: Int)] = []
    /// Chips held by active jobs, per slot: a second holder of a chip is refused.
    var ownerMask: [UInt64]
    /// Where each running job is in `held` (kept by the engine, not by a plan).
    var heldByJob: [JobID: Int] = [:]
    var releasedCount = 0
    /// Bumped whenever chips are held, freed or reserved: cached answers are good for one version.
    var stateVersion = 0
    /// Asks refused at `refusalVersion`, with why: equal asks are refused alike until something changes.
    var refusals: [(ask: AskKey, diagnosis: Diagnosis)] = []
    var refusedShapes: [JobShape] = []
    /// Refused asks past the short list, at `refusalVersion`.
    var moreRefusals: [AskKey: Diagnosis] = [:]
    var refusalVersion = -1
    var lowestPriorityCache: (version: Int, priority: Int?) = (-1, nil)
    let nodePosition: [NodeID: Int]
    /// Chips held back for the reserved head job, by slot, the cores and memory it needs on each of
    /// its nodes, and when it starts.
    var reservedChips: [Int: UInt64] = [:]
    var reservedHost: [Int: HostDemand] = [:]
    var reservedStart: Seconds?
    /// Eligible chip models per (tier, kind, memory), grouped by score, best group first.
    var modelGroupsCache: [ModelGroupsKey: [[Int]]] = [:]
    /// The last answer of `modelGroups`, compared in place (copying the key out costs more than the
    /// comparison); valid while `lastModelGroupsValid`.
    var lastModelGroupsKey = ModelGroupsKey(tier: .anyChip, kind: .training, minMemory: nil)
    var lastModelGroups: [[Int]] = []
    var lastModelGroupsValid = false
    /// The policy's score of each chip model, per job kind (`modelScores[kind.ordinal][model]`): an
    /// array, not a table keyed by kind, since a kind hashes as its name and every decision asks.
    var modelScores: [[Double]] = []
    /// The queue tree's ledger for this plan, when the driver gives one: limits and fair order.
    var queues: QueueLedger?
    var maxRelativeCache: Double?
    /// The job the fair order is scheduling and its queue, known without a lookup by name.
    var servingQueue: (job: JobID, queue: Int)?
    /// While a reclaim searches: the holdings it may stop (instead of those of lower priority).
    var reclaimVictims: Set<Int>?
    /// Reclaim searches this plan made (bounded: each scans what holds chips).
    var reclaimSearches = 0
    /// The driver's reservations for this plan, and what the current job's block took in the index.
    var windowLayouts: [WindowLayout] = []
    var appliedWindowBlock: AppliedWindowBlock?

    /// The cluster's shape and what holds its chips; no policy yet (see `prepared`).
    init(snapshot: ClusterSnapshot) throws(SnapshotError) {
        index = try FreeCapacityIndex(snapshot: snapshot)
        layout = index.layout
        hostLayouts = HostLayoutCache(nodes: snapshot.nodes)
        heldHead = [Int](repeating: -1, count: index.layout.nodeCount)
        ownerMask = [UInt64](repeating: 0, count: index.layout.slotNode.count)
        catalog = snapshot.catalog
        var positions: [NodeID: Int] = [:]
        for (position, id) in layout.nodeIDs.enumerated() { positions[id] = position }
        nodePosition = positions
        held.reserveCapacity(snapshot.running.count)
        for job in snapshot.running { try holdRunning(job) }
    }

    /// Room for `count` more holdings in the records, at once rather than by doubling as they come.
    mutating func reserveHoldings(_ count: Int) {
        held.reserveCapacity(held.count + count)
        heldSlots.reserveCapacity(heldSlots.count + count)
        heldLinks.reserveCapacity(heldLinks.count + count)
    }

    mutating func ensureHost() {
        if hostState == nil { hostState = HostCapacity(layout: hostLayouts.layout()) }
    }

    mutating func ensureShares() {
        if shareState == nil { shareState = ChipShares(chipCount: layout.chipCount, modelCount: layout.modelCount) }
    }

    /// This state, ready to plan at `now` under `policy`.
    func prepared(now: Seconds, policy: SchedulingPolicy, seed: UInt64) -> PlanningSession {
        var session = self
        session.now = now
        session.policy = policy
        session.generator = SeededGenerator(seed: seed)
        session.plan = SchedulingPlan()
        session.reservedChips = [:]
        session.reservedHost = [:]
        session.reservedStart = nil
        session.modelGroupsCache = [:]
        session.lastModelGroupsValid = false
        session.modelScores = JobKind.allCases.map { kind in
            layout.modelCatalogEntry.map { policy.modelScorer.score($0, kind: kind) }
        }
        return session
    }

    /// Books a running job's chips, refusing unknown nodes or chips and chips already held.
    mutating func holdRunning(_ job: RunningJob) throws(SnapshotError) {
        guard heldByJob[job.id] == nil else { throw .duplicateRunningJob(job.id) }
        let start = heldSlots.count
        if job.assignments.contains(where: { $0.host != nil }) { ensureHost() }
        if job.assignments.contains(where: { $0.share != nil }) { ensureShares() }
        var hostHolds: [HostHold] = []
        for assignment in job.assignments {
            guard let node = nodePosition[assignment.node] else {
                heldSlots.removeSubrange(start...)
                throw .runningOnUnknownNode(job.id, assignment.node)
            }
            guard let masks = layout.slotMasks(node: node, chipIndices: assignment.chips) else {
                heldSlots.removeSubrange(start...)
                let missing = assignment.chips.first { layout.slotMasks(node: node, chipIndices: [$0]) == nil }
                throw .runningOnUnknownChip(job.id, assignment.node, missing ?? -1)
            }
            // A whole chip is held by one job; shares only sit beside shares.
            for (slot, mask) in masks
            where ownerMask[slot] & mask != 0 || (assignment.share == nil && sharedBits(slot: slot) & mask != 0) {
                heldSlots.removeSubrange(start...)
                let taken = (ownerMask[slot] | sharedBits(slot: slot)) & mask
                let chip = layout.chipIndices(node: node, mask: taken).first ?? -1
                let owner = holders(of: node).first { position in
                    held[position].active
                        && heldSlots[held[position].slotRange].contains { $0.slot == slot && $0.mask & taken != 0 }
                }
                throw .chipBookedTwice(assignment.node, chip, owner.map { held[$0].job } ?? job.id, job.id)
            }
            heldSlots += masks
            if assignment.share == nil { for (slot, mask) in masks { ownerMask[slot] |= mask } }
            if let booking = assignment.host, let host = hostState {
                hostHolds.append(host.hold(node: node, booking: booking))
            }
        }
        heldByJob[job.id] = held.count
        hold(
            HeldChips(
                job: job.id, priority: job.priority, slotRange: start..<heldSlots.count, expectedEnd: job.expectedEndAt,
                startedAt: job.startedAt, lastCheckpointAt: job.lastCheckpointAt,
                checkpointInterval: job.checkpointInterval, savesCheckpointWhenAsked: job.savesCheckpointWhenAsked,
                chipCount: job.chipCount, share: job.assignments.first?.share, host: hostHolds,
                shape: Self.shape(of: job)))
    }

    /// A running job's shape for the fragmentation mix; nil for the driver's placeholders (stopping
    /// attempts, resting chips, reservations), which hold at a priority nothing preempts.
    static func shape(of job: RunningJob) -> ShapeKey? {
        guard job.priority != Int.max, let first = job.assignments.first else { return nil }
        let milli = first.chips.isEmpty ? 0 : (first.share.map { $0.clamped.computePercent * 10 } ?? 1000)
        return ShapeKey(chips: first.chips.count, milli: milli, cpus: first.host?.cpus.count ?? 0)
    }

    /// Chips of `slot` that hold shares.
    func sharedBits(slot: Int) -> UInt64 {
        guard let shares = shareState else { return 0 }
        let node = layout.slotNode[slot]
        var bits: UInt64 = 0
        var mask = layout.slotAllChips[slot]
        while mask != 0 {
            let bit = mask.trailingZeroBitCount
            if shares.holders[layout.chipStart[node] + bit] > 0 { bits |= 1 << UInt64(bit) }
            mask &= mask - 1
        }
        return bits
    }

    /// Frees a running job's chips; compacts the records when many are released.
    mutating func releaseRunning(_ job: JobID) {
        guard let position = heldByJob.removeValue(forKey: job) else { return }
        if held[position].share == nil {
            for (slot, mask) in heldSlots[held[position].slotRange] { ownerMask[slot] &= ~mask }
        }
        free(position)
        releasedCount += 1
        if releasedCount > 64 && releasedCount * 2 > held.count { compact() }
    }

    /// Rebuilds the held-chip records from the active ones only.
    mutating func compact() {
        let active = held.filter(\.active)
        let oldSlots = heldSlots
        held = []
        heldSlots = []
        heldLinks = []
        heldByJob = [:]
        heldHead = [Int](repeating: -1, count: layout.nodeCount)
        releasedCount = 0
        for var record in active {
            let start = heldSlots.count
            heldSlots += oldSlots[record.slotRange]
            record.slotRange = start..<heldSlots.count
            heldByJob[record.job] = held.count
            hold(record, booking: false)  // its chips, shares and host resources are booked already
        }
    }

    // MARK: Holding and freeing chips

    /// Records a job whose slots were just appended to `heldSlots` and, unless `booking` is false
    /// (a record being moved), books its chips, shares and host resources.
    mutating func hold(_ chips: HeldChips, booking: Bool = true) {
        let position = held.count
        held.append(chips)
        stateVersion += 1
        for (slot, mask) in heldSlots[chips.slotRange] {
            let node = layout.slotNode[slot]
            if booking {
                if let share = chips.share {
                    bookShare(share, slot: slot, chips: mask, taking: true)
                } else {
                    index.book(slot: slot, chips: mask)
                }
            }
            let head = heldHead[node]
            if head < 0 || heldLinks[head].held != position {
                heldLinks.append((position, head))
                heldHead[node] = heldLinks.count - 1
            }
        }
        if booking { for part in chips.host { hostState?.book(part) } }
    }

    /// Positions in `held` of the jobs holding chips on `node`, newest first.
    func holders(of node: Int) -> [Int] {
        var result: [Int] = []
        var link = heldHead[node]
        while link >= 0 {
            result.append(heldLinks[link].held)
            link = heldLinks[link].next
        }
        return result
    }

    /// Takes (or gives back) `share` of each chip of `chips`: a chip's first share takes it out of the
    /// free whole chips, its last gives it back.
    mutating func bookShare(_ share: ChipShare, slot: Int, chips: UInt64, taking: Bool) {
        let node = layout.slotNode[slot]
        let model = layout.slotModel[slot]
        var bits = chips
        while bits != 0 {
            let bit = bits & (~bits &+ 1)
            let chip = layout.chipStart[node] + bit.trailingZeroBitCount
            if taking {
                if shareState?.add(share, chip: chip, model: model) == true { index.book(slot: slot, chips: bit) }
            } else if shareState?.remove(share, chip: chip, model: model) == true {
                index.release(slot: slot, chips: bit)
            }
            bits &= bits - 1
        }
    }

    mutating func free(_ position: Int) {
        let share = held[position].share
        for (slot, mask) in heldSlots[held[position].slotRange] {
            if let share {
                bookShare(share, slot: slot, chips: mask, taking: false)
            } else {
                index.release(slot: slot, chips: mask)
            }
        }
        for part in held[position].host { hostState?.release(part) }
        held[position].active = false
        queues?.release(held[position].job)
        stateVersion += 1
    }

    /// The lowest priority among jobs holding chips, or nil when none does: a job at or below it
    /// cannot preempt anything.
    mutating func lowestActivePriority() -> Int? {
        if lowestPriorityCache.version == stateVersion { return lowestPriorityCache.priority }
        let lowest = held.lazy.filter(\.active).map(\.priority).min()
        lowestPriorityCache = (stateVersion, lowest)
        return lowest
    }

    // MARK: One job

    mutating func schedule(_ pending: PendingJob) {
        // A fleet without reservations pays one check for them.
        if windowLayouts.isEmpty { scheduleInFleet(pending) } else { scheduleWithinWindows(pending) }
    }

    mutating func scheduleInFleet(_ pending: PendingJob) {
        let job = pending.job
        if job.host != nil { ensureHost() }
        if job.share != nil { ensureShares() }
        var ladder = pending.ladder
        switch ladder.handle(.waitCheck(now: now), rule: job.fallback) {
        case .moveTo(let tier, let reason):
            plan.fallbacks.append(
                TierFallback(job: job.id, fromTier: tier - 1, toTier: tier, reason: reason, ladder: ladder))
        case .giveUp(let reason):
            plan.givenUp.append(GiveUp(job: job.id, reason: reason))
            return
        case .stay, .retry, .refused:
            break
        }
        considerExpectedFinish(pending, ladder: &ladder)
        while true {
            let tierIndex = ladder.tier
            let tier = job.tier(at: tierIndex)
            let shape = job.shape(onTier: tierIndex)
            let avoidReserved = mustAvoidReservation(job)
            // The queue's limits first: what they leave of the tier's models, or why nothing is left.
            let hostOnly = job.isHostOnly(onTier: tierIndex) && shape.nodes == 1 && job.hostDemand(shape) != nil
            let quota =
                hostOnly
                ? (groups: nil, refusal: hostOnlyQuotaRefusal(job: job, shape: shape))
                : withinQuota(job: job, tier: tier, shape: shape)
            if let refusal = quota.refusal {
                // The queue's limit, not the fleet, holds it back: it waits on this tier.
                plan.waiting.append(
                    WaitingJob(job: job.id, reason: quotaWait(job: job, tier: tier, shape: shape, refusal: refusal)))
                return
            }
            // The ask's key is built only where a refusal was remembered since the last change.
            func ask() -> AskKey {
                askKey(job: job, tier: tier, shape: shape, avoidReserved: avoidReserved, models: quota.groups)
            }
            var reason: Diagnosis
            if refusalVersion == stateVersion, let refused = knownRefusal(of: ask(), priority: job.priority) {
                // An equal ask found no room since anything changed: this one finds none either.
                reason = refused
            } else if hostOnly, let demand = job.hostDemand(shape) {
                if let hold = findHostOnlyNode(job: job, demand: demand, avoidReserved: avoidReserved) {
                    commitHostOnly(job: job, tierIndex: tierIndex, tier: tier, hold: hold)
                    return
                }
                reason = diagnose(job: job, tier: tier, shape: shape, avoidReserved: avoidReserved)
                remember(refusal: reason, of: ask())
            } else {
                let groups = quota.groups ?? modelGroups(tier: tier, kind: job.kind, minMemory: job.minChipMemoryGiB)
                if let found = findPlacement(job: job, shape: shape, groups: groups, avoidReserved: avoidReserved) {
                    commit(job: job, tierIndex: tierIndex, tier: tier, candidates: found, preempting: [])
                    return
                }
                if policy.preemption,
                    let (candidates, victims) = findPreemption(
                        job: job, shape: shape, groups: groups, avoidReserved: avoidReserved),
                    applyPreemption(
                        of: victims, for: job, tierIndex: tierIndex, tier: tier, shape: shape,
                        candidates: candidates, avoidReserved: avoidReserved)
                {
                    return
                }
                if policy.preemption,
                    reclaim(
                        for: job, tierIndex: tierIndex, tier: tier, shape: shape, groups: groups,
                        avoidReserved: avoidReserved)
                {
                    return
                }
                reason = diagnose(job: job, tier: tier, shape: shape, avoidReserved: avoidReserved)
                remember(refusal: reason, of: ask())
            }
            if reason.blocksTier && !ladder.isOnLastTier {
                let from = ladder.tier
                if case .moveTo(let to, let why) = ladder.handle(
                    .tierCannotHold(reason.waitReason.description, at: now), rule: job.fallback)
                {
                    plan.fallbacks.append(
                        TierFallback(job: job.id, fromTier: from, toTier: to, reason: why, ladder: ladder))
                }
                continue
            }
            if policy.backfill && reservedStart == nil && reason.waitReason.kind == .waiting,
                let reservation = reserve(
                    job: job, shape: shape,
                    groups: quota.groups ?? modelGroups(tier: tier, kind: job.kind, minMemory: job.minChipMemoryGiB))
            {
                plan.reservation = reservation
                reason.waitReason.reservedStart = reservation.start
            }
            plan.waiting.append(WaitingJob(job: job.id, reason: reason.waitReason))
            return
        }
    }

    /// Stops the victims and places the job on the chips they free. Works on a trial copy first, so
    /// that a preemption which would not make room leaves this decision untouched.
    mutating func applyPreemption(
        of victims: [Int], for job: Job, tierIndex: Int, tier: ChipTier, shape: JobShape, candidates: [Candidate],
        avoidReserved: Bool
    ) -> Bool {
        var trial = self
        for victim in victims {
            trial.plan.preemptions.append(
                Preemption(
                    victim: held[victim].job, preemptor: job.id,
                    reason: reclaimVictims == nil
                        ? "priority \(job.priority) job \(job.id) needs its chips; priority "
                            + "\(held[victim].priority) is lower and this set loses the least work"
                        : reclaimReason(for: job, victim: held[victim]),
                    workLost: held[victim].workAtRisk(at: now)))
            trial.free(victim)
        }
        var picked: [Candidate] = []
        for candidate in candidates {
            guard
                let pick = trial.pick(
                    slot: candidate.slot, shape: shape, demand: job.hostDemand(shape), avoidReserved: avoidReserved)
            else {
                return false
            }
            var updated = candidate
            updated.pick = pick
            picked.append(updated)
        }
        trial.commit(
            job: job, tierIndex: tierIndex, tier: tier, candidates: picked, preempting: victims.map { held[$0].job })
        self = trial
        return true
    }

    /// Whether a job must stay off the reserved chips: it may use them only if it surely ends first.
    func mustAvoidReservation(_ job: Job) -> Bool {
        guard let start = reservedStart else { return false }
        guard let limit = job.timeLimit else { return true }
        return now + limit > start
    }

    mutating func commit(job: Job, tierIndex: Int, tier: ChipTier, candidates: [Candidate], preempting: [JobID]) {
        let assignments = candidates.map { candidate in
            NodeAssignment(
                node: layout.nodeIDs[candidate.node],
                chips: layout.chipIndices(node: candidate.node, mask: candidate.pick.mask),
                numaNodes: candidate.pick.numaNodes, host: candidate.pick.host.flatMap { hostState?.booking($0) },
                share: job.share)
        }
        let model = candidates[0].model
        noteQuota(job: job, shape: job.shape(onTier: tierIndex), model: model)
        let start = heldSlots.count
        for candidate in candidates { heldSlots.append((candidate.slot, candidate.pick.mask)) }
        hold(
            HeldChips(
                job: job.id, priority: startedPriority(job), slotRange: start..<heldSlots.count,
                expectedEnd: job.timeLimit.map { now + $0 }, startedAt: now, lastCheckpointAt: now,
                checkpointInterval: nil, chipCount: candidates.reduce(0) { $0 + $1.pick.mask.nonzeroBitCount },
                share: job.share, host: candidates.compactMap(\.pick.host),
                shape: ShapeKey(job: job, shape: job.shape(onTier: tierIndex))))
        plan.placements.append(
            JobPlacement(
                job: job.id, tier: tierIndex, tierName: tier.name, chipModel: layout.modelIDs[model],
                assignments: assignments, reason: placementReason(job: job, model: model, candidates: candidates),
                preempting: preempting, backfilled: reservedStart != nil))
    }

    // MARK: Filter and score stages

    struct ModelGroupsKey: Hashable {
        var tier: ChipTier
        var kind: JobKind
        var minMemory: Double?
    }

    /// Filter stage over chip models (the tier accepts it, some chip has the memory), then the score
    /// stage: models grouped by the policy's score, best group first, catalog order inside a group.
    mutating func modelGroups(tier: ChipTier, kind: JobKind, minMemory: Double?) -> [[Int]] {
        // Consecutive jobs usually ask alike: compare with the last key before building one to hash.
        if lastModelGroupsValid && lastModelGroupsKey.kind == kind && lastModelGroupsKey.minMemory == minMemory
            && lastModelGroupsKey.tier == tier
        {
            return lastModelGroups
        }
        let key = ModelGroupsKey(tier: tier, kind: kind, minMemory: minMemory)
        if let cached = modelGroupsCache[key] {
            remember(groups: cached, for: key)
            return cached
        }
        var scored: [(model: Int, score: Double, order: Int)] = []
        for model in 0..<layout.modelCount {
            guard modelAccepted(model, by: tier) else { continue }
            if let minMemory, layout.modelMaxMemory(model) < minMemory { continue }
            let order = layout.modelCatalogEntry[model].flatMap { catalog.ids.firstIndex(of: $0.id) } ?? Int.max
            scored.append((model, modelScores[kind.ordinal][model], order))
        }
        scored.sort { ($0.score, -$0.order, -$0.model) > ($1.score, -$1.order, -$1.model) }
        var groups: [[Int]] = []
        var lastScore: Double?
        for item in scored {
            // Equal scores share a group, up to 64 models (the width of the search's bitmask).
            if item.score == lastScore && groups[groups.count - 1].count < 64 {
                groups[groups.count - 1].append(item.model)
            } else {
                groups.append([item.model])
                lastScore = item.score
            }
        }
        modelGroupsCache[key] = groups
        remember(groups: groups, for: key)
        return groups
    }

    private mutating func remember(groups: [[Int]], for key: ModelGroupsKey) {
        lastModelGroupsKey = key
        lastModelGroups = groups
        lastModelGroupsValid = true
    }

    func modelAccepted(_ model: Int, by tier: ChipTier) -> Bool {
        if tier.selectors.isEmpty { return true }
        if let entry = layout.modelCatalogEntry[model] { return tier.accepts(entry) }
        // A chip the catalog does not know is only taken by name.
        return tier.selectors.contains { $0 == .model(layout.modelIDs[model]) }
    }

    /// Whether `node` carries every label `job`'s node selector asks for.
    func labelsMatch(node: Int, job: Job) -> Bool {
        guard let selector = job.nodeSelector else { return true }
        let labels = layout.nodeLabels[node]
        return selector.allSatisfy { labels[$0.key] == $0.value }
    }

    /// Node filters beyond what the index guarantees (ready, right model, enough free chips).
    func rejection(
        node: Int, slot: Int, job: Job, shape: JobShape, avoidReserved: Bool
    ) -> RejectionCause? {
        if !labelsMatch(node: node, job: job) { return .labels }
        if let minMemory = job.minChipMemoryGiB, layout.slotMinMemory[slot] < minMemory { return .chipMemoryTooSmall }
        if shape.nodes > 1, let minBandwidth = job.fallback.minInterNodeBandwidthGBps,
            layout.nodeBandwidth[node] < minBandwidth
        {
            return .bandwidthTooLow
        }
        if avoidReserved, let reserved = reservedChips[slot],
            (index.slotFree[slot] & ~reserved).nonzeroBitCount < shape.chipsPerNode
        {
            return .reserved
        }
        if let demand = job.hostDemand(shape) {
            guard let host = hostState else { return .tooFewCores }
            if let cause = host.rejection(node: node, demand: demand) { return cause }
            if hostReserved(node: node, demand: demand, avoidReserved: avoidReserved) { return .reserved }
        }
        return nil
    }

    /// Whether `demand` would take cores or memory the reserved head job needs on `node`.
    func hostReserved(node: Int, demand: HostDemand?, avoidReserved: Bool) -> Bool {
        guard avoidReserved, let demand, let kept = reservedHost[node], let host = hostState else { return false }
        return host.nodeFreeCPUs[node] - max(kept.cpus, 0) < demand.cpus
            || host.nodeFreeMemory[node] - max(kept.memoryMiB, 0) < demand.memoryMiB
    }

    /// The pick stage for one node: chips on one NUMA node if possible, then the host CPUs and memory
    /// the job asks beside them, nearest the chips first.
    func pick(slot: Int, shape: JobShape, demand: HostDemand?, avoidReserved: Bool) -> ChipPick? {
        guard
            var pick = index.pickChips(
                slot: slot, count: shape.chipsPerNode, excluding: avoidReserved ? reservedChips[slot] ?? 0 : 0)
        else { return nil }
        if let demand {
            guard let hold = hostState?.pick(node: layout.slotNode[slot], demand: demand, near: pick.numaNodes) else {
                return nil
            }
            pick.host = hold
        }
        return pick
    }

    mutating func findPlacement(job: Job, shape: JobShape, groups: [[Int]], avoidReserved: Bool) -> [Candidate]? {
        guard shape.chipsPerNode > 0, shape.nodes > 0 else { return nil }
        if shape.nodes == 1 && policy.nodeScorer != .order {
            if job.share != nil && shape.chipsPerNode != 1 { return nil }
            return findScoredNode(job: job, shape: shape, groups: groups, avoidReserved: avoidReserved).map { [$0] }
        }
        if let share = job.share {
            guard shape.chipsPerNode == 1, shape.nodes == 1 else { return nil }
            return findShare(job: job, share: share, shape: shape, groups: groups, avoidReserved: avoidReserved)
                .map { [$0] }
        }
        if shape.nodes == 1 {
            return findNode(job: job, shape: shape, groups: groups, avoidReserved: avoidReserved).map { [$0] }
        }
        return findGang(job: job, shape: shape, groups: groups, avoidReserved: avoidReserved)
    }

    /// Single-node placement. Per score group, the group's models are ranked from the index's buckets
    /// alone (tightest fit, emptiest node or first node, as the policy orders nodes); then nodes of the
    /// best model are visited in that order. The first node whose chips sit on as few NUMA nodes as the
    /// node's shape allows wins; otherwise the best of a few more is taken.
    mutating func findNode(job: Job, shape: JobShape, groups: [[Int]], avoidReserved: Bool) -> Candidate? {
        let lookahead = 8
        let order = policy.nodeOrder
        let rotation = order == .mostFreeFirst ? Int(generator.next() % UInt64(max(layout.nodeCount, 1))) : 0
        for group in groups {
            var best: Candidate?
            var bestSpan = Int.max
            // The group's models best rank first, from the buckets alone; usually the first one fits.
            var tried: UInt64 = 0  // bit i: group[i] was tried (groups hold at most 64 models)
            while tried.nonzeroBitCount < group.count {
                var next: (rank: Int, offset: Int)?
                for (offset, model) in group.enumerated() where tried & (1 << UInt64(offset)) == 0 {
                    guard let rank = index.rank(model: model, atLeast: shape.chipsPerNode, order: order) else {
                        tried |= 1 << UInt64(offset)
                        continue
                    }
                    if next == nil || rank < next!.rank { next = (rank, offset) }
                }
                guard let offset = next?.offset else { break }
                tried |= 1 << UInt64(offset)
                let model = group[offset]
                var cursor = index.cursor(model: model, atLeast: shape.chipsPerNode, order: order, rotation: rotation)
                var looked = 0
                while looked < lookahead, let node = index.next(&cursor) {
                    guard let slot = layout.slot(ofNode: node, model: model),
                        rejection(node: node, slot: slot, job: job, shape: shape, avoidReserved: avoidReserved) == nil,
                        let pick = pick(
                            slot: slot, shape: shape, demand: job.hostDemand(shape), avoidReserved: avoidReserved)
                    else { continue }
                    let span = pick.numaNodes.count
                    if span < bestSpan {
                        best = Candidate(
                            node: node, slot: slot, model: model, pick: pick, freeChips: index.freeCount(slot: slot))
                        bestSpan = span
                    }
                    if span <= layout.fewestNUMANodes(slot: slot, chips: shape.chipsPerNode) { return best }
                    looked += 1
                }
            }
            if let best { return best }
        }
        return nil
    }

    func placementReason(job: Job, model: Int, candidates: [Candidate]) -> PlacementReason {
        var domains = 1
        if candidates.count > 1 {
            domains = Set(candidates.map { layout.nodeDomains[$0.node] }).count
        }
        return PlacementReason(
            policy: policy.name, scorer: policy.modelScorer, nodeOrder: policy.nodeOrder, kind: job.kind,
            chipModel: layout.modelIDs[model], score: modelScores[job.kind.ordinal][model],
            isDomestic: layout.modelFamilies[model] == .domestic, nodes: candidates.count, domains: domains,
            numaNodes: candidates.count == 1 ? candidates[0].pick.numaNodes : [],
            chipsPerNode: candidates[0].pick.mask.nonzeroBitCount,
            nodeScorer: candidates.count == 1 ? policy.nodeScorer : .order)
    }
}

func formatScore(_ value: Double) -> String {
    let hundredths = (value * 100).rounded() / 100
    return String(hundredths)
}
