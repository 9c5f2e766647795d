/// Each queue's use of every quota resource (a queue counts its children's), the fleet's capacity,
/// and each queue's decayed past use: what admission (limits) and the fair order among queues
/// read. A driver builds it from the jobs holding chips; a plan keeps its copy in step as it places
/// and preempts.
public struct QueueLedger: Sendable {
    public let tree: QueueTree
    public let resources: [QuotaResource]
    /// `usage[queue][resource]`, the queue's subtree included.
    private(set) var usage: [[Double]]
    /// A job younger than this (seconds since it started) is never stopped to give its chips back
    /// to a queue under its guarantee.
    public var minimumRunTime: Seconds = 600
    /// Decayed past use, in the same units: average amounts held over the recent past.
    private(set) var history: [[Double]]
    /// The fleet's total of each resource.
    let capacity: [Double]
    /// What each job holding resources takes, and where: so that a stop gives back what it took.
    private var holdings: [JobID: (queue: Int, demand: [Double])] = [:]
    /// Each queue's limits as (queue, resource slot, amount), its ancestors' after it: what checks
    /// walk. Empty: neither the queue nor an ancestor has a limit, and nothing needs checking.
    let limitChain: [[(queue: Int, slot: Int, limit: Double)]]
    /// Each queue's standing, until its use changes (a plan asks for it at every step).
    private var standings: [(tier: Int, value: Double)?]

    /// - Parameters:
    ///   - capacity: the fleet's total of each resource (`QueueLedger.capacity(of:catalog:)`).
    ///   - history: each queue's decayed past use by name (a half-life average the driver keeps).
    public init(tree: QueueTree, capacity: QuotaAmounts, history: [String: QuotaAmounts] = [:]) {
        self.tree = tree
        resources = tree.resources
        usage = Array(repeating: Array(repeating: 0, count: resources.count), count: tree.queues.count)
        self.capacity = resources.map { max(capacity[$0] ?? 0, 0) }
        self.history = usage
        let named = resources
        limitChain = tree.queues.indices.map { queue in
            tree.lineage(of: queue).flatMap { ancestor in
                named.enumerated().compactMap { slot, resource in
                    tree.queues[ancestor].limit[resource].map { (ancestor, slot, $0) }
                }
            }
        }
        standings = Array(repeating: nil, count: tree.queues.count)
        setHistory(history)
    }

    /// Each queue's decayed past use by name (`QueueUsageHistory.amounts`), in place of the last.
    public mutating func setHistory(_ amounts: [String: QuotaAmounts]) {
        history = Array(repeating: Array(repeating: 0, count: resources.count), count: tree.queues.count)
        for (name, values) in amounts {
            guard let queue = tree.index(of: name) else { continue }
            for (slot, resource) in resources.enumerated() {
                let value = values[resource] ?? 0
                history[queue][slot] = value.isFinite && value > 0 ? value : 0
            }
        }
        standings = Array(repeating: nil, count: tree.queues.count)
    }

    /// The fleet's total of every quota resource: its chips by model, vendor and family, their
    /// compute (at training throughput), and its host CPUs.
    /// Chips are counted per model first and summed in model order: the total of fractional compute
    /// does not depend on the order the nodes come in.
    public static func capacity(of nodes: [Node], catalog: ChipCatalog) -> QuotaAmounts {
        var chips: [ChipModelID: Int] = [:]
        var cpus = 0
        for node in nodes {
            for chip in node.chips { chips[chip.model, default: 0] += 1 }
            cpus += node.numaNodes.reduce(0) { $0 + $1.cpus.count }
        }
        var total: QuotaAmounts = [.cpus: Double(cpus)]
        for (id, count) in chips.sorted(by: { $0.key < $1.key }) {
            guard let model = catalog[id] else { continue }
            for resource: QuotaResource in [.model(model.id), .vendor(model.vendor), .family(model.family), .compute] {
                total[resource, default: 0] += resource.amount(chips: count, cpus: 0, model: model, kind: .training)
            }
        }
        return total
    }

    /// What a job takes of each resource, in the ledger's order (`quotaDemand` without the table).
    func demandVector(chips: Int, cpus: Int, model: ChipModel?, kind: JobKind) -> [Double] {
        resources.map { $0.amount(chips: chips, cpus: cpus, model: model, kind: kind) }
    }

    /// Records that a running `job` holds what it was placed on: the chips and host CPUs of
    /// `assignments`, on chip model `model`, in its queue `queue` when that is a leaf of the tree.
    public mutating func hold(
        _ job: JobID, queue name: String, kind: JobKind, model: ChipModel?, assignments: [NodeAssignment]
    ) {
        guard let queue = tree.index(of: name), tree.isLeaf(queue) else { return }
        let chips = assignments.reduce(0) { $0 + $1.chips.count }
        let cpus = assignments.reduce(0) { $0 + ($1.host?.cpus.count ?? 0) }
        hold(job, queue: queue, amounts: demandVector(chips: chips, cpus: cpus, model: model, kind: kind))
    }

    mutating func hold(_ job: JobID, queue: Int, amounts: [Double]) {
        release(job)
        holdings[job] = (queue, amounts)
        for ancestor in tree.lineage(of: queue) {
            for slot in amounts.indices { usage[ancestor][slot] += amounts[slot] }
            standings[ancestor] = nil
        }
    }

    /// Gives back what `job` held, if it held anything.
    public mutating func release(_ job: JobID) {
        guard let (queue, amounts) = holdings.removeValue(forKey: job) else { return }
        for ancestor in tree.lineage(of: queue) {
            for slot in amounts.indices { usage[ancestor][slot] = max(0, usage[ancestor][slot] - amounts[slot]) }
            standings[ancestor] = nil
        }
    }

    /// The queue `job` holds resources in, if the ledger counts it.
    func queue(of job: JobID) -> Int? { holdings[job]?.queue }

    /// Whether `job`'s queue could give back what it holds and still have its guarantee in every
    /// resource it is guaranteed: a reclaim never takes a queue below its own guarantee.
    func canGiveBack(_ job: JobID) -> Bool {
        guard let (queue, amounts) = holdings[job] else { return false }
        let spec = tree.queues[queue]
        for (slot, resource) in resources.enumerated() {
            guard let guarantee = spec.guarantee[resource], guarantee > 0, amounts[slot] > 0 else { continue }
            if usage[queue][slot] - amounts[slot] < guarantee - 1e-9 { return false }
        }
        return true
    }

    /// Whether `chips` chips of any model (at most `maxRelative` H100-equivalents each) and `cpus`
    /// CPUs fit every limit of `queue` and its ancestors: then no model needs checking one by one.
    func surelyFits(chips: Int, cpus: Int, maxRelative: Double, in queue: Int) -> Bool {
        for (ancestor, slot, limit) in limitChain[queue] {
            let worst: Double =
                switch resources[slot] {
                case .model, .vendor, .family: Double(chips)
                case .cpus: Double(cpus)
                case .compute: Double(chips) * maxRelative
                }
            if usage[ancestor][slot] + worst > limit + 1e-9 { return false }
        }
        return true
    }

    /// Why `amounts` (in the ledger's order) may not start in `queue` now: the first queue up its lineage whose limit it
    /// would pass, with the figures. Nil when every limit holds.
    func refusal(amounts: [Double], in queue: Int) -> String? {
        // A little slack for sums of fractional compute.
        for (ancestor, slot, limit) in limitChain[queue]
        where amounts[slot] > 0 && usage[ancestor][slot] + amounts[slot] > limit + 1e-9 {
            return "queue \(tree.queues[ancestor].name) is at its limit of \(resources[slot].amount(limit)) "
                + "(\(formatNumber(usage[ancestor][slot])) in use, \(formatNumber(amounts[slot])) asked)"
        }
        return nil
    }

    /// How a queue stands against its siblings: first those under their guarantee (the least filled
    /// first), then the others by how much they borrow beyond it, as a dominant share of the fleet
    /// over their weight. Past use counts beside present use, so that who used much lately comes later.
    mutating func standing(of queue: Int) -> (tier: Int, value: Double) {
        if let known = standings[queue] { return known }
        let computed = computeStanding(of: queue)
        standings[queue] = computed
        return computed
    }

    func computeStanding(of queue: Int) -> (tier: Int, value: Double) {
        let spec = tree.queues[queue]
        var fill = 0.0
        var guaranteed = false
        var borrowed = 0.0
        for (slot, resource) in resources.enumerated() {
            let used = usage[queue][slot] + history[queue][slot]
            let guarantee = spec.guarantee[resource] ?? 0
            if guarantee > 0 {
                guaranteed = true
                fill = max(fill, used / guarantee)
            }
            if capacity[slot] > 0 { borrowed = max(borrowed, max(0, used - guarantee) / capacity[slot]) }
        }
        if guaranteed && fill < 1 { return (0, fill) }
        return (1, borrowed / spec.weight)
    }

    /// Where `name` stands in the fair order, in words: "under its guarantee (45% of it)", or
    /// "borrowing 12% of the fleet (weight 2)".
    public func standing(of name: String) -> String {
        guard let queue = tree.index(of: name) else { return "" }
        let (tier, value) = computeStanding(of: queue)
        if tier == 0 { return "under its guarantee (\(formatNumber(value * 100))% of it)" }
        let weight = tree.queues[queue].weight
        return "borrowing \(formatNumber(value * weight * 100))% of the fleet"
            + (weight == 1 ? "" : " (weight \(formatNumber(weight)))")
    }

    /// What `name` (and its subtree) uses now, of each resource it has.
    public func usage(of name: String) -> QuotaAmounts {
        guard let queue = tree.index(of: name) else { return [:] }
        var amounts: QuotaAmounts = [:]
        for (slot, resource) in resources.enumerated() where usage[queue][slot] > 0 {
            amounts[resource] = usage[queue][slot]
        }
        return amounts
    }
}
