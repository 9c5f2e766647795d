import SchedCore
import Wire

/// The coordinator's queue tree (`--queues FILE`, `schedctl queues apply`): which queues jobs may
/// name, the ledger each pass plans with (built from the jobs holding chips), and each queue's past
/// use, decayed with a half-life (as Slurm's PriorityDecayHalfLife) so that a queue that used much
/// lately comes after one that did not, and forgets it in time.
struct QueueBook: Sendable {
    var tree: QueueTree
    /// Where the tree came from: its file, or the client that applied it.
    var source: String
    /// Each queue's past use, decayed with `--usage-half-life`.
    private(set) var history: QueueUsageHistory
    /// The youngest a job may be to be stopped for a reclaim (seconds, the coordinator's clock).
    let minimumRunTime: Double

    init(tree: QueueTree, source: String, configuration: CoordinatorConfiguration) {
        self.tree = tree
        self.source = source
        history = QueueUsageHistory(halfLife: configuration.usageHalfLife)
        minimumRunTime = configuration.reclaimMinimumRun
    }

    /// A new tree in place of this one; queues that keep their names keep their past use.
    mutating func replaceTree(_ tree: QueueTree, source: String) {
        self.tree = tree
        self.source = source
        history.keep(only: Set(tree.queues.map(\.name)))
    }

    /// Why a job may not name `queue`, or nil: it must be a leaf of the tree.
    func refusal(job: String, queue: String) -> String? {
        if let index = tree.index(of: queue), tree.isLeaf(index) { return nil }
        let why = tree.index(of: queue) == nil ? "which is not a queue" : "which holds queues, not jobs"
        return "job \(job) names queue '\(queue)', \(why): name one of \(tree.leaves.joined(separator: ", ")) "
            + "(schedctl queues)"
    }

    /// Why `identity` may not submit to `queue`: a queue of its lineage lists `users` or `groups`
    /// and names neither the user nor one of their groups. Nil when every such list takes them.
    func membershipRefusal(queue: String, identity: PeerIdentity) -> String? {
        guard let index = tree.index(of: queue) else { return nil }
        for ancestor in tree.lineage(of: index) {
            let spec = tree.queues[ancestor]
            guard !spec.users.isEmpty || !spec.groups.isEmpty else { continue }
            if spec.users.contains(identity.name) || !Set(spec.groups).isDisjoint(with: identity.groups) { continue }
            var takes: [String] = []
            if !spec.users.isEmpty { takes.append("users " + spec.users.joined(separator: ", ")) }
            if !spec.groups.isEmpty { takes.append("groups " + spec.groups.joined(separator: ", ")) }
            return "queue \(spec.name) takes jobs from \(takes.joined(separator: " and ")); \(identity.name) "
                + "(groups \(identity.groups.sorted().joined(separator: ", "))) is not among them: submit to another "
                + "queue, or ask an operator to add you"
        }
        return nil
    }

    /// The ledger of this moment: every job holding chips counted in its queue, the fleet's
    /// capacity, and the past use decayed up to `now` (which this call moves on).
    mutating func ledger(holding records: [JobRecord], nodes: [Node], catalog: ChipCatalog, now: Double)
        -> QueueLedger
    {
        var ledger = QueueLedger(
            tree: tree, capacity: QueueLedger.capacity(of: nodes, catalog: catalog), history: history.amounts)
        ledger.minimumRunTime = minimumRunTime
        for record in records {
            guard let placement = record.placement else { continue }
            ledger.hold(
                record.job.id, queue: record.job.queue, kind: record.job.kind,
                model: catalog[ChipModelID(placement.chipModel)], assignments: placement.assignments)
        }
        let present = ledger
        history.advance(to: now, queues: tree.queues.map(\.name)) { present.usage(of: $0) }
        return ledger
    }

    /// `QUEUES`: each queue in the file's nesting, with its quota, use, jobs and standing.
    func statuses(_ ledger: QueueLedger, running: [String: Int], waiting: [String: Int]) -> QueuesReply {
        func keyed(_ amounts: QuotaAmounts) -> [String: Double] {
            Dictionary(uniqueKeysWithValues: amounts.map { ($0.key.description, $0.value) })
        }
        var queues: [QueueStatus] = []
        for (index, depth) in tree.nested {
            let spec = tree.queues[index]
            // A queue counts its subtree's jobs.
            let subtree = tree.queues.indices.filter { tree.lineage(of: $0).contains(index) }.map {
                tree.queues[$0].name
            }
            queues.append(
                QueueStatus(
                    name: spec.name, parent: spec.parent, depth: depth, guarantee: keyed(spec.guarantee),
                    limit: keyed(spec.limit), weight: spec.weight, inUse: keyed(ledger.usage(of: spec.name)),
                    running: subtree.reduce(0) { $0 + (running[$1] ?? 0) },
                    waiting: subtree.reduce(0) { $0 + (waiting[$1] ?? 0) }, standing: ledger.standing(of: spec.name)))
        }
        return QueuesReply(queues: queues, source: source)
    }
}
