import SchedCore
import Wire

/// Every job the coordinator knows, with the indexes that keep a deep queue cheap: submission order
/// (for listing), the jobs holding chips (for the snapshot), counts by state (for `HEALTH`), and the
/// waiting queue between passes (`WaitingQueue`). Writing a record through the subscript keeps
/// every index in step, so no caller can forget one.
struct JobTable {
    private(set) var records: [String: JobRecord] = [:]
    /// Submission order; ids leave only when a job is forgotten (retention) or its submission failed.
    private(set) var order: [String] = []
    private var sequence: [String: Int] = [:]
    private var nextSequence = 0
    /// Placed or running: what holds chips.
    private(set) var active: Set<String> = []
    /// The same, by each node their attempts hold: what a node's registration, loss or removal reads
    /// (a fleet of 10,000 registering after a take-over each read their own, not every attempt).
    private var activeByNode: [NodeID: Set<String>] = [:]
    /// Queued but held until their dependencies are met: not in the waiting queue.
    private(set) var held: Set<String> = []
    /// Arrays not ended yet (their own records: never in the waiting queue), and their tasks counted
    /// by state, by array.
    private(set) var arrays: Set<String> = []
    private(set) var taskStates: [String: [JobRecord.State: Int]] = [:]
    /// Jobs that ended (completed, failed, cancelled), counted: what held jobs wait on changes with it.
    var endedCount: Int {
        (countByState[.completed] ?? 0) + (countByState[.failed] ?? 0) + (countByState[.cancelled] ?? 0)
    }
    private(set) var countByState: [JobRecord.State: Int] = [:]
    /// Attempts that ended since the last `takeEndedAttempts()`: each record as it ran, and as it is
    /// now (for accounting, stored with the next commit).
    private var endedAttempts: [(ran: JobRecord, now: JobRecord)] = []
    /// Jobs (not arrays' own records: their tasks are the jobs) by state, kind, queue and tier family,
    /// for the `heterosched_jobs` gauge; kept in step like the others so that a scrape walks no jobs.
    private(set) var countByLabels: [JobLabels: Int] = [:]
    private var tierFamilies: TierFamilies
    private(set) var waiting: WaitingQueue
    /// The waiting jobs of each queue, for passes under a queue tree.
    private var queueHeads = QueueHeads()
    let catalog: ChipCatalog
    private var modelSets: [[ChipTier]: ModelSet] = [:]

    init(catalog: ChipCatalog, headDepth: Int, passLimit: Int) {
        self.catalog = catalog
        tierFamilies = TierFamilies(catalog: catalog)
        waiting = WaitingQueue(headDepth: headDepth, passLimit: passLimit)
    }

    subscript(id: String) -> JobRecord? {
        get { records[id] }
        set {
            let old = records[id]
            if newValue != nil && sequence[id] == nil {
                order.append(id)
                sequence[id] = nextSequence
                nextSequence += 1
            }
            records[id] = newValue
            reindex(id, old: old, new: newValue)
            if newValue == nil { forget(id) }
        }
    }

    /// The attempts that ended since the last call, in the order they ended.
    mutating func takeEndedAttempts() -> [(ran: JobRecord, now: JobRecord)] {
        defer { endedAttempts.removeAll() }
        return endedAttempts
    }

    /// Counts by state, what holds chips and the waiting queue, for a record that changed.
    private mutating func reindex(_ id: String, old: JobRecord?, new: JobRecord?) {
        // An attempt ends when its job leaves placed or running, or moves to another attempt.
        if let old, let new, old.holdsChips,
            !new.holdsChips || new.attempt != old.attempt
        {
            endedAttempts.append((old, new))
        }
        if let old { countByState[old.state, default: 0] -= 1 }
        if let new { countByState[new.state, default: 0] += 1 }
        if let old, old.array == nil {
            let key = labels(old)
            countByLabels[key, default: 0] -= 1
            if countByLabels[key] == 0 { countByLabels[key] = nil }
        }
        if let new, new.array == nil { countByLabels[labels(new), default: 0] += 1 }
        if let new, new.holdsChips {
            active.insert(id)
        } else {
            active.remove(id)
        }
        let nodesBefore = Self.activeNodes(old)
        let nodesAfter = Self.activeNodes(new)
        if nodesBefore != nodesAfter {
            for node in nodesBefore.subtracting(nodesAfter) {
                activeByNode[node]?.remove(id)
                if activeByNode[node]?.isEmpty == true { activeByNode[node] = nil }
            }
            for node in nodesAfter.subtracting(nodesBefore) { activeByNode[node, default: []].insert(id) }
        }
        if let new, new.state == .queued, new.isHeld {
            held.insert(id)
        } else {
            held.remove(id)
        }
        if let new, new.array != nil, !new.state.isFinal {
            arrays.insert(id)
        } else {
            arrays.remove(id)
        }
        if let old, let parent = old.arrayParent { taskStates[parent]?[old.state, default: 0] -= 1 }
        if let new, let parent = new.arrayParent { taskStates[parent, default: [:]][new.state, default: 0] += 1 }
        if new == nil, old?.array != nil { taskStates[id] = nil }
        reindexWaiting(old: old, new: new)
    }

    private mutating func labels(_ record: JobRecord) -> JobLabels {
        JobLabels(
            state: record.state.rawValue, kind: record.job.kind.rawValue, queue: record.job.queue,
            tier: tierFamilies.label(record.job.tier(at: record.ladder.tier)))
    }

    /// The stored jobs' places in submission order, before their records are read.
    mutating func prepareOrder(_ ids: [String]) {
        order = ids
        sequence = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        nextSequence = ids.count
    }

    /// Drops an id that has no record and never will (its stored row was set aside or is gone).
    mutating func forget(_ id: String) {
        guard records[id] == nil, let position = sequence.removeValue(forKey: id) else { return }
        order.remove(at: order.partitioningIndex { (sequence[$0] ?? Int.max) >= position })
    }

    /// Forgets many jobs at once (retention): one pass over the order, not one per job.
    mutating func remove(_ ids: Set<String>) {
        for id in ids {
            guard let old = records.removeValue(forKey: id) else { continue }
            reindex(id, old: old, new: nil)
            sequence[id] = nil
        }
        order.removeAll { ids.contains($0) }
    }

    /// The records of these ids that exist now: what `persist(_:_:before:)` restores on a failure.
    func subset(_ ids: [String]) -> [String: JobRecord] {
        var result: [String: JobRecord] = [:]
        for id in ids { result[id] = records[id] }
        return result
    }

    /// The jobs holding chips, in submission order (the snapshot gives a chip claimed twice to the first).
    var activeRecords: [JobRecord] { inSubmissionOrder(active) }

    /// The jobs holding chips on `node`, in submission order.
    func activeRecords(on node: NodeID) -> [JobRecord] { inSubmissionOrder(activeByNode[node] ?? []) }

    private func inSubmissionOrder(_ ids: Set<String>) -> [JobRecord] {
        ids.compactMap { id in records[id].map { (sequence[id] ?? Int.max, $0) } }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// The nodes a record's attempt holds chips on, if it holds any.
    private static func activeNodes(_ record: JobRecord?) -> Set<NodeID> {
        guard let record, record.holdsChips, let placement = record.placement else {
            return []
        }
        return Set(placement.assignments.map(\.node))
    }

    /// Where `id` is in submission order, for listing after it.
    func position(after id: String) -> Int? {
        guard let number = sequence[id] else { return nil }
        return order.partitioningIndex { (sequence[$0] ?? Int.max) > number }
    }

    // MARK: The waiting queue

    /// The next pass's jobs (see `WaitingQueue.selectPass`).
    mutating func selectPass(now: Seconds) -> [JobID]? { waiting.selectPass(now: now) }
    mutating func capacityChanged(models: Set<ChipModelID>) { waiting.capacityChanged(models: models) }
    mutating func everythingChanged() { waiting.everythingChanged() }

    /// A queued job to search again at the next pass (a preemptor whose victims have stopped).
    mutating func searchAgain(_ id: String) {
        guard let record = records[id], record.state == .queued, !record.isHeld, record.array == nil else {
            return
        }
        enqueue(record)
    }

    private mutating func reindexWaiting(old: JobRecord?, new: JobRecord?) {
        let wasWaiting = old?.state == .queued && !(old?.isHeld ?? false) && old?.array == nil
        guard let new, new.state == .queued, !new.isHeld, new.array == nil else {
            if wasWaiting, let old { waiting.remove(old.job.id) }
            return
        }
        // New to the queue, or its ask changed (a tier, a retry, a restored record): search it again.
        if !wasWaiting || old?.ladder != new.ladder || old?.job != new.job { enqueue(new) }
    }

    /// Into the waiting queue, due: its place, the chip models its tier can use, its own wake time.
    private mutating func enqueue(_ record: JobRecord) {
        let key = WaitingQueue.Key(
            priority: record.job.priority, submittedAt: record.job.submittedAt, id: record.job.id)
        waiting.insert(key, models: models(record), wakeAt: wakeAt(record))
        queueHeads.insert(key, queue: record.job.queue)
    }

    /// The first `count` waiting jobs of each queue (by name), in scheduling order.
    mutating func queueHeads(perQueue count: Int) -> [JobID] {
        let records = records
        return queueHeads.take(perQueue: count) { key, queue in
            // A job moved to another queue (schedctl update) left its old heap's entry behind.
            guard let record = records[key.id.name], record.state == .queued, !record.isHeld,
                record.array == nil, record.job.queue == queue
            else { return false }
            return record.job.priority == key.priority && record.job.submittedAt == key.submittedAt
        }
    }

    /// The chip models whose room concerns a waiting job: its tier's, and for a job the expected-finish
    /// rule may move, the tiers' below it too (the rule weighs them by their room now).
    private mutating func models(_ record: JobRecord) -> ModelSet {
        let ladder = record.ladder
        let tiers =
            record.job.fallback.policy == .expectedFinish && !ladder.isOnLastTier
            ? (ladder.tier..<ladder.tierCount).map { record.job.tier(at: $0) } : [record.job.tier(at: ladder.tier)]
        if let known = modelSets[tiers] { return known }
        let set = ModelSet(tiers: tiers, catalog: catalog)
        modelSets[tiers] = set
        return set
    }

    /// When the job's own clock may change its search: its wait limit on this tier runs out, or a
    /// gang may spread over more domains.
    private func wakeAt(_ record: JobRecord) -> Seconds? {
        var times: [Seconds] = []
        if let limit = record.job.fallback.maxWaitPerTier, let since = record.ladder.waitingSince,
            !record.ladder.isOnLastTier
        {
            times.append(since + limit)
        }
        if record.job.topology.maxDomains != nil, let wait = record.job.topology.maxDomainsWait {
            times.append(record.job.submittedAt + wait)
        }
        return times.min()
    }
}
