import Collections

/// The chip models a job's current tier can use: what capacity its wait depends on.
public enum ModelSet: Hashable, Sendable {
    /// A tier without selectors: any chip.
    case any
    case models(Set<ChipModelID>)

    /// The models of `catalog` the tier accepts, and those it names (a model the catalog does not
    /// know is only taken by name).
    public init(tier: ChipTier, catalog: ChipCatalog) {
        guard !tier.selectors.isEmpty else {
            self = .any
            return
        }
        var models = Set(catalog.models.filter { tier.accepts($0) }.map(\.id))
        for case .model(let id) in tier.selectors { models.insert(id) }
        self = .models(models)
    }

    /// The models any of `tiers` can use: a job the expected-finish rule may move down its ladder in a
    /// pass weighs the tiers below by the room they have now, so their chips concern it too.
    public init(tiers: [ChipTier], catalog: ChipCatalog) {
        var models: Set<ChipModelID> = []
        for tier in tiers {
            switch ModelSet(tier: tier, catalog: catalog) {
            case .any:
                self = .any
                return
            case .models(let some): models.formUnion(some)
            }
        }
        self = .models(models)
    }

    func intersects(_ changed: Set<ChipModelID>) -> Bool {
        switch self {
        case .any: true
        case .models(let models): !models.isDisjoint(with: changed)
        }
    }
}

/// The queue between scheduling passes, so that a pass costs what changed rather than the queue's
/// depth. Each waiting job remembers when it was last searched; it is searched again only when it
/// is new or changed, when chips its tier can use may have become free since (or the fleet itself
/// changed), or when its own clock runs out (a wait limit). Each pass takes at most `passLimit` jobs:
/// the first `headDepth` in scheduling order always (the head of the queue is never starved, and the
/// job backfill reserves for is among them), then due jobs: new ones in scheduling order, woken ones,
/// then stale ones found by a sweep that goes round the queue from where the last pass stopped, so
/// that every stale job gets its turn however often capacity changes; the stale jobs are counted by
/// model set, and a sweep ends once it has found them all. What a pass cannot take is
/// carried to the next (`hasDueWork`). Pure: the driver says what changed.
public struct WaitingQueue: Sendable {
    /// Scheduling order: priority (higher first), submission time, id.
    public struct Key: Comparable, Hashable, Sendable {
        public var priority: Int
        public var submittedAt: Seconds
        public var id: JobID

        public init(priority: Int, submittedAt: Seconds, id: JobID) {
            self.priority = priority
            self.submittedAt = submittedAt
            self.id = id
        }

        public static func < (a: Key, b: Key) -> Bool {
            if a.priority != b.priority { return a.priority > b.priority }
            if a.submittedAt != b.submittedAt { return a.submittedAt < b.submittedAt }
            return a.id < b.id
        }
    }

    struct Entry: Sendable {
        var key: Key
        var modelSet: Int
        /// The change stamp when it was last handed to a pass; nil: never (it is due).
        var searchedAt: Int?
        var wakeAt: Seconds?
        var live = true
    }

    /// One priority's jobs, in (submission time, id) order; removed entries stay until compacted.
    struct Bucket: Sendable {
        var priority: Int
        var entries: [Entry] = []
        var dead = 0
    }

    struct Wake: Comparable, Sendable {
        var at: Seconds
        var id: JobID
        static func < (a: Wake, b: Wake) -> Bool { (a.at, a.id) < (b.at, b.id) }
    }

    public let headDepth: Int
    public let passLimit: Int
    private var buckets: [Bucket] = []
    /// Bucket positions by priority, highest first.
    private var bucketOrder: [Int] = []
    private var bucketOfPriority: [Int: Int] = [:]
    /// Each waiting job's key: its bucket is its priority's, its place found by binary search (so
    /// that an entry put in the middle moves no one else's address).
    private var location: [JobID: Key] = [:]
    /// Jobs never handed to a pass (new, requeued, changed), by key.
    private var fresh: Set<Key> = []
    private var wakes = Heap<Wake>()
    private var modelSets: [ModelSet] = []
    private var modelSetPosition: [ModelSet: Int] = [:]
    /// When chips of each model set last may have become free, as a change stamp.
    private var modelSetChangedAt: [Int] = []
    /// Waiting jobs per model set.
    private var modelSetLive: [Int] = []
    /// Of those, the stale ones (`isStale`): a sweep stops once it has found them all, rather than
    /// walk a deep queue of jobs whose chips did not change to reach its end.
    private var modelSetStale: [Int] = []
    /// Entries the sweeps have looked at, all told (for the tests: what a pass costs).
    public private(set) var sweptEntries = 0
    private var stamp = 0
    /// The sweep for stale jobs: where it stands, where it stops, whether it is on its last lap
    /// (past the queue's end, back from the start); nil stop and not active: no sweep under way.
    private var sweepCursor: Key?
    private var sweepStop: Key?
    private var sweepOnLastLap = false
    private var sweepActive = false

    public init(headDepth: Int = 100, passLimit: Int = 1_000) {
        self.headDepth = max(1, headDepth)
        // Room beyond the head, always: else new jobs behind a head that waits would never be searched.
        self.passLimit = max(self.headDepth + 1, passLimit)
    }

    public var count: Int { location.count }

    /// Whether some job is due and was not taken by the last pass: the driver runs another.
    public func hasDueWork(at now: Seconds) -> Bool {
        !fresh.isEmpty || sweepActive || (wakes.min.map { $0.at <= now } ?? false)
    }

    // MARK: What the driver tells it

    /// A job joins (or, changed, rejoins) the queue; it is due. A job that is there, or was (requeued
    /// with its submission time), keeps its place: no entry moves.
    public mutating func insert(_ key: Key, models: ModelSet, wakeAt: Seconds?) {
        if let old = location[key.id], old != key { remove(key.id) }
        let set = position(of: models)
        let bucket = bucketPosition(priority: key.priority)
        let entry = Entry(key: key, modelSet: set, searchedAt: nil, wakeAt: wakeAt)
        let index = buckets[bucket].entries.partitioningIndex { $0.key >= key }
        if index < buckets[bucket].entries.count && buckets[bucket].entries[index].key == key {
            // There already, or a removed entry not compacted away yet: in place.
            let old = buckets[bucket].entries[index]
            if old.live {
                modelSetLive[old.modelSet] -= 1
                if isStale(old) { modelSetStale[old.modelSet] -= 1 }
            } else {
                buckets[bucket].dead -= 1
            }
            buckets[bucket].entries[index] = entry
        } else if index == buckets[bucket].entries.count {
            buckets[bucket].entries.append(entry)
        } else {
            buckets[bucket].entries.insert(entry, at: index)
        }
        location[key.id] = key
        modelSetLive[set] += 1
        modelSetStale[set] += 1
        fresh.insert(key)
        if let wakeAt { wakes.insert(Wake(at: wakeAt, id: key.id)) }
    }

    /// A job leaves the queue (placed, ended, given up).
    public mutating func remove(_ id: JobID) {
        guard let key = location.removeValue(forKey: id), let (bucket, index) = place(of: key) else { return }
        let entry = buckets[bucket].entries[index]
        modelSetLive[entry.modelSet] -= 1
        if isStale(entry) { modelSetStale[entry.modelSet] -= 1 }
        buckets[bucket].entries[index].live = false
        buckets[bucket].dead += 1
        fresh.remove(key)
        if buckets[bucket].dead > 64 && buckets[bucket].dead * 2 > buckets[bucket].entries.count { compact(bucket) }
    }

    /// Where a live or removed entry with this key is.
    private func place(of key: Key) -> (bucket: Int, index: Int)? {
        guard let bucket = bucketOfPriority[key.priority] else { return nil }
        let index = buckets[bucket].entries.partitioningIndex { $0.key >= key }
        guard index < buckets[bucket].entries.count, buckets[bucket].entries[index].key == key else { return nil }
        return (bucket, index)
    }

    /// Chips of these models may have become free: jobs whose tier can use them are due again.
    public mutating func capacityChanged(models: Set<ChipModelID>) {
        guard !models.isEmpty else { return }
        stamp += 1
        var waitingJobsConcerned = false
        for (set, modelSet) in modelSets.enumerated() where modelSet.intersects(models) {
            modelSetChangedAt[set] = stamp
            modelSetStale[set] = modelSetLive[set]
            if modelSetLive[set] > 0 { waitingJobsConcerned = true }
        }
        // No waiting job can use these chips: nothing to look for (a sweep would walk the whole queue).
        if waitingJobsConcerned { startSweep() }
    }

    /// The fleet changed beyond free chips (nodes came, went or changed state, a reservation moved,
    /// the registration grace ended): every waiting job is due again.
    public mutating func everythingChanged() {
        stamp += 1
        for set in modelSetChangedAt.indices {
            modelSetChangedAt[set] = stamp
            modelSetStale[set] = modelSetLive[set]
        }
        startSweep()
    }

    // MARK: One pass

    /// The jobs the next pass searches, in scheduling order, or nil when none is due (the head alone
    /// would be searched with nothing new around it). Each is marked searched now.
    public mutating func selectPass(now: Seconds) -> [JobID]? {
        var chosen: [Key] = []
        var taken: Set<JobID> = []
        var due = 0
        func take(_ key: Key, isDue: Bool) {
            guard chosen.count < passLimit, taken.insert(key.id).inserted else { return }
            chosen.append(key)
            if isDue { due += 1 }
        }
        // The head, due or not.
        for entry in liveEntries(after: nil, limit: headDepth) { take(entry.key, isDue: isStale(entry)) }
        // New and changed jobs, first in scheduling order: from the set when it is small, else by a
        // walk (after a restart every job is new).
        let room = passLimit - chosen.count
        if !fresh.isEmpty && room > 0 {
            let ordered =
                fresh.count <= room
                ? fresh.sorted() : freshByWalk(limit: room + chosen.count).filter { !taken.contains($0.id) }
            for key in ordered { take(key, isDue: true) }
        }
        // Wait limits that ran out.
        while chosen.count < passLimit, let wake = wakes.min, wake.at <= now {
            _ = wakes.removeMin()
            guard let key = location[wake.id], let (bucket, index) = place(of: key),
                buckets[bucket].entries[index].wakeAt == wake.at
            else {
                continue
            }
            take(key, isDue: true)
        }
        // Stale jobs, round the queue from where the sweep stands.
        if sweepActive && chosen.count < passLimit {
            // The stale jobs not taken above: what the sweep has left to find.
            let staleTaken = chosen.count { key in
                place(of: key).map { isStale(buckets[$0.bucket].entries[$0.index]) } ?? false
            }
            let scan = sweep(
                room: passLimit - chosen.count, skipping: taken,
                left: modelSetStale.reduce(0, +) - staleTaken)
            for key in scan.stale { take(key, isDue: true) }
            sweepCursor = scan.cursor
            sweepOnLastLap = scan.onLastLap
            if scan.finished {
                sweepActive = false
                sweepCursor = nil
                sweepStop = nil
            }
        }
        guard due > 0 else { return nil }
        for key in chosen {
            fresh.remove(key)
            guard let (bucket, index) = place(of: key) else { continue }
            let entry = buckets[bucket].entries[index]
            if entry.live && isStale(entry) { modelSetStale[entry.modelSet] -= 1 }
            buckets[bucket].entries[index].searchedAt = stamp
        }
        return chosen.sorted().map(\.id)
    }

    /// Stale jobs from the sweep's cursor on, up to `room` of them; where it then stands. `left`: the
    /// stale jobs not yet taken, wherever they are; once all are found the sweep is over.
    private mutating func sweep(room: Int, skipping taken: Set<JobID>, left: Int) -> (
        stale: [Key], cursor: Key?, onLastLap: Bool, finished: Bool
    ) {
        var stale: [Key] = []
        var cursor = sweepCursor
        var onLastLap = sweepOnLastLap
        var finished = left <= 0
        var visited = 0
        defer { sweptEntries += visited }
        while !finished && stale.count < room {
            var reachedStop = false
            var reachedLimit = false
            var foundAll = false
            forEachLive(after: cursor) { entry in
                if onLastLap, let stop = sweepStop, entry.key > stop {
                    reachedStop = true
                    return false
                }
                visited += 1
                cursor = entry.key
                if isStale(entry) && !taken.contains(entry.key.id) {
                    stale.append(entry.key)
                    if stale.count >= left {
                        foundAll = true
                        return false
                    }
                }
                if stale.count >= room {
                    reachedLimit = true
                    return false
                }
                return true
            }
            if foundAll {
                finished = true
                break
            }
            if reachedLimit { break }
            // The end of the queue, or the stop on the last lap.
            if onLastLap || reachedStop || sweepStop == nil {
                finished = true
            } else {
                onLastLap = true
                cursor = nil
            }
        }
        return (stale, cursor, onLastLap, finished)
    }

    /// The first `limit` live entries after `key`, in scheduling order.
    private func liveEntries(after key: Key?, limit: Int) -> [Entry] {
        var result: [Entry] = []
        forEachLive(after: key) { entry in
            result.append(entry)
            return result.count < limit
        }
        return result
    }

    /// The first `limit` jobs never handed to a pass, in scheduling order.
    private func freshByWalk(limit: Int) -> [Key] {
        var result: [Key] = []
        forEachLive(after: nil) { entry in
            if entry.searchedAt == nil { result.append(entry.key) }
            return result.count < limit
        }
        return result
    }

    // MARK: Inside

    private func isStale(_ entry: Entry) -> Bool {
        guard let searched = entry.searchedAt else { return true }
        return modelSetChangedAt[entry.modelSet] > searched
    }

    /// Every job must be looked at once more: the sweep goes round from where it stands, so that a
    /// queue whose capacity changes often still reaches its tail.
    private mutating func startSweep() {
        sweepActive = true
        sweepStop = sweepCursor
        sweepOnLastLap = sweepCursor == nil
    }

    /// Live entries after `key` (from the start when nil) in scheduling order, while `body` says go on.
    private func forEachLive(after key: Key?, _ body: (Entry) -> Bool) {
        var startBucket = 0
        if let key {
            startBucket = bucketOrder.partitioningIndex { buckets[$0].priority < key.priority }
            if let same = bucketOfPriority[key.priority], let rank = bucketOrder.firstIndex(of: same) {
                let entries = buckets[same].entries
                let start = entries.partitioningIndex { $0.key > key }
                for entry in entries[start...] where entry.live {
                    if !body(entry) { return }
                }
                startBucket = rank + 1
            }
        }
        for rank in startBucket..<bucketOrder.count {
            for entry in buckets[bucketOrder[rank]].entries where entry.live {
                if !body(entry) { return }
            }
        }
    }

    private mutating func position(of models: ModelSet) -> Int {
        if let known = modelSetPosition[models] { return known }
        modelSets.append(models)
        modelSetChangedAt.append(stamp)
        modelSetLive.append(0)
        modelSetStale.append(0)
        modelSetPosition[models] = modelSets.count - 1
        return modelSets.count - 1
    }

    private mutating func bucketPosition(priority: Int) -> Int {
        if let known = bucketOfPriority[priority] { return known }
        buckets.append(Bucket(priority: priority))
        let position = buckets.count - 1
        bucketOfPriority[priority] = position
        let rank = bucketOrder.partitioningIndex { buckets[$0].priority < priority }
        bucketOrder.insert(position, at: rank)
        return position
    }

    private mutating func compact(_ bucket: Int) {
        buckets[bucket].entries.removeAll { !$0.live }
        buckets[bucket].dead = 0
    }
}

extension RandomAccessCollection where Index == Int {
    /// The first index whose element satisfies `belongs`, for a predicate false then true along the collection.
    public func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = startIndex
        var high = endIndex
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
