/// Queues in a plan: limits filter the chip models a job may take, placements and preemptions keep
/// the ledger in step, and the order among queues is the fair one. On the paths every job takes
/// the ledger is read in place (`queues!`), not bound to a local: a copy of it per job cost more
/// than the checks (a reclaim search, at most 32 a plan, takes one copy).
extension PlanningSession {
    /// The queue `job` counts against, if a tree is given and names it as a leaf.
    func quotaQueue(of job: Job) -> Int? {
        if let known = servingQueue, known.job == job.id { return known.queue }
        guard queues != nil, let queue = queues!.tree.index(of: job.queue), queues!.tree.isLeaf(queue) else {
            return nil
        }
        return queue
    }

    /// What `job` would take of each quota resource on chip model `model` (nil: host only), in the
    /// ledger's order.
    func quotaAmounts(job: Job, shape: JobShape, model: Int?) -> [Double] {
        guard queues != nil else { return [] }
        return queues!.demandVector(
            chips: model == nil ? 0 : shape.nodes * shape.chipsPerNode,
            cpus: (job.hostDemand(shape)?.cpus ?? 0) * shape.nodes,
            model: model.flatMap { layout.modelCatalogEntry[$0] }, kind: job.kind)
    }

    /// What the job's queue's limits (and its ancestors') leave of the tier's models: nil groups
    /// when they take none out; a refusal (the first limit met) when they take them all.
    mutating func withinQuota(job: Job, tier: ChipTier, shape: JobShape) -> (groups: [[Int]]?, refusal: String?) {
        guard queues != nil, let queue = quotaQueue(of: job), !queues!.limitChain[queue].isEmpty else {
            return (nil, nil)
        }
        // Room for the worst model: nothing to filter.
        let maxRelative = maxRelativeThroughput
        if queues!.surelyFits(
            chips: shape.nodes * shape.chipsPerNode, cpus: (job.hostDemand(shape)?.cpus ?? 0) * shape.nodes,
            maxRelative: maxRelative, in: queue)
        {
            return (nil, nil)
        }
        let groups = modelGroups(tier: tier, kind: job.kind, minMemory: job.minChipMemoryGiB)
        var refusal: String?
        var kept: [[Int]] = []
        var removed = false
        for group in groups {
            let allowed = group.filter { model in
                guard let why = queues!.refusal(amounts: quotaAmounts(job: job, shape: shape, model: model), in: queue)
                else { return true }
                if refusal == nil { refusal = why }
                removed = true
                return false
            }
            if !allowed.isEmpty { kept.append(allowed) }
        }
        guard removed else { return (nil, nil) }
        return kept.isEmpty ? (nil, refusal) : (kept, nil)
    }

    /// The largest relative throughput of any model in the fleet, for either kind of job.
    var maxRelativeThroughput: Double {
        mutating get {
            if let known = maxRelativeCache { return known }
            let found =
                layout.modelCatalogEntry.compactMap { $0 }.map { max($0.relativeTraining, $0.relativeInference) }
                .filter { $0.isFinite && $0 > 0 }.max() ?? 1
            maxRelativeCache = found
            return found
        }
    }

    /// Why a host-only job may not start in its queue now, if a CPU limit stops it.
    func hostOnlyQuotaRefusal(job: Job, shape: JobShape) -> String? {
        guard queues != nil, let queue = quotaQueue(of: job) else { return nil }
        return queues!.refusal(amounts: quotaAmounts(job: job, shape: shape, model: nil), in: queue)
    }

    /// The job now holds what it was placed on: its queue's use grows.
    mutating func noteQuota(job: Job, shape: JobShape, model: Int?) {
        guard let queue = quotaQueue(of: job) else { return }
        let amounts = quotaAmounts(job: job, shape: shape, model: model)
        queues?.hold(job.id, queue: queue, amounts: amounts)
    }

    /// Most reclaim searches one plan makes; the rest wait for the next pass.
    static let reclaimSearchLimit = 32

    /// Reclaim: a job of a queue under its guarantee that finds no room stops jobs of queues that
    /// borrow beyond theirs (any priority; never a job younger than the ledger's minimum run time,
    /// nor one whose queue it would take below its own guarantee, nor one of its own lineage),
    /// the fewest and then the least work lost since their checkpoints, gangs on whole nodes.
    mutating func reclaim(
        for job: Job, tierIndex: Int, tier: ChipTier, shape: JobShape, groups: [[Int]], avoidReserved: Bool
    ) -> Bool {
        guard let ledger = queues, let queue = quotaQueue(of: job), reclaimSearches < Self.reclaimSearchLimit,
            ledger.computeStanding(of: queue).tier == 0
        else { return false }
        let tree = ledger.tree
        let lineage = Set(tree.lineage(of: queue))
        var eligible = Set<Int>()
        // Whether a queue may lend: borrowing beyond its guarantee, and not of the job's lineage.
        var lends: [Int: Bool] = [:]
        for position in held.indices {
            let holding = held[position]
            // This plan's own placements and the driver's placeholders hold at the top priority.
            guard holding.active, holding.share == nil, holding.priority != Int.max,
                now - holding.startedAt >= ledger.minimumRunTime, let owner = ledger.queue(of: holding.job)
            else { continue }
            if lends[owner] == nil {
                lends[owner] =
                    !lineage.contains(owner) && !tree.lineage(of: owner).contains(queue)
                    && ledger.computeStanding(of: owner).tier == 1
            }
            guard lends[owner]!, ledger.canGiveBack(holding.job) else { continue }
            eligible.insert(position)
        }
        guard !eligible.isEmpty else { return false }
        reclaimSearches += 1
        reclaimVictims = eligible
        defer { reclaimVictims = nil }
        guard
            let (candidates, victims) = findPreemption(
                job: job, shape: shape, groups: groups, avoidReserved: avoidReserved)
        else { return false }
        return applyPreemption(
            of: victims, for: job, tierIndex: tierIndex, tier: tier, shape: shape, candidates: candidates,
            avoidReserved: avoidReserved)
    }

    /// "reclaimed for queue prod (under its guarantee) from queue batch (borrowing beyond its guarantee)"
    func reclaimReason(for job: Job, victim: HeldChips) -> String {
        let tree = queues?.tree
        let mine = quotaQueue(of: job).map { tree!.queues[$0].name } ?? job.queue
        let theirs = queues?.queue(of: victim.job).map { tree!.queues[$0].name } ?? "?"
        let lost =
            victim.savesCheckpointWhenAsked
            ? "none: it saves a checkpoint when asked"
            : "\(formatNumber(victim.workAtRisk(at: now) / 3600)) chip-hours since its checkpoint"
        return "reclaimed for queue \(mine) (under its guarantee) from queue \(theirs) (borrowing beyond its "
            + "guarantee): job \(job.id) needs its chips; this set loses the least work, here \(lost)"
    }

    /// The priority a job this plan starts holds its chips at. In the fair order a later job may
    /// outrank an earlier one of another queue; a plan never stops what it starts, so there the
    /// job is beyond preemption until the next plan.
    func startedPriority(_ job: Job) -> Int { queues == nil ? job.priority : Int.max }

    /// A wait reason for a job its queue's limit holds back.
    func quotaWait(job: Job, tier: ChipTier, shape: JobShape, refusal: String) -> WaitReason {
        var reason = WaitReason(kind: .waiting, tier: tier.name, shape: shape, host: job.hostDemand(shape))
        reason.quota = refusal
        return reason
    }

    /// Schedules the queue in the fair order: at each step, from the top of the tree down, the
    /// queue that stands lowest against its siblings (`QueueLedger.standing`) among those with jobs
    /// left, then its next job by priority, submission and id. Jobs whose queue the tree does not
    /// have as a leaf come after all the others, in that order too.
    mutating func scheduleFairly(_ queue: [PendingJob], order: [Int]) {
        guard let tree = queues?.tree else { return }
        var perLeaf = Array(repeating: [Int](), count: tree.queues.count)
        var outside: [Int] = []
        for position in order {
            if let leaf = quotaQueue(of: queue[position].job) {
                perLeaf[leaf].append(position)
            } else {
                outside.append(position)
            }
        }
        var next = Array(repeating: 0, count: tree.queues.count)
        // Jobs left in each queue's subtree.
        var left = Array(repeating: 0, count: tree.queues.count)
        for leaf in perLeaf.indices where !perLeaf[leaf].isEmpty {
            for ancestor in tree.lineage(of: leaf) { left[ancestor] += perLeaf[leaf].count }
        }
        func lowest(_ candidates: [Int]) -> Int? {
            var best: (queue: Int, tier: Int, value: Double)?
            for candidate in candidates where left[candidate] > 0 {
                let standing = queues!.standing(of: candidate)
                if let current = best, (current.tier, current.value) <= (standing.tier, standing.value) { continue }
                best = (candidate, standing.tier, standing.value)
            }
            return best?.queue
        }
        // The top level, kept in order: only the queue just served can have moved (a deep tree's
        // lower levels are few queues each, and scanned).
        func key(_ root: Int) -> (Int, Double, Int) {
            let standing = queues!.standing(of: root)
            return (standing.tier, standing.value, root)
        }
        var tops = tree.roots.filter { left[$0] > 0 }.map { (key: key($0), queue: $0) }.sorted { $0.key < $1.key }
        while let first = tops.first {
            var current = first.queue
            while !tree.isLeaf(current), let child = lowest(tree.children[current]) { current = child }
            let position = perLeaf[current][next[current]]
            next[current] += 1
            for ancestor in tree.lineage(of: current) { left[ancestor] -= 1 }
            let pending = queue[position]  // one copy of the job, not one per use
            servingQueue = (pending.job.id, current)
            schedule(pending)
            servingQueue = nil
            tops.removeFirst()
            if left[first.queue] > 0 {
                let moved = (key: key(first.queue), queue: first.queue)
                var low = 0
                var high = tops.count
                while low < high {
                    let middle = (low + high) / 2
                    if tops[middle].key < moved.key { low = middle + 1 } else { high = middle }
                }
                tops.insert(moved, at: low)
            }
        }
        for position in outside { schedule(queue[position]) }
    }
}
