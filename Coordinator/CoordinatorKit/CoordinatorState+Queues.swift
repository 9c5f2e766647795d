import SchedCore
import SchedSpec
import Wire

extension CoordinatorState {
    /// `QUEUES`: the tree with each queue's use, jobs and standing; none without a tree.
    func queueStatuses() -> QueuesReply {
        guard var book = queueBook else { return QueuesReply(queues: [], source: nil) }
        var running: [String: Int] = [:]
        for record in jobs.activeRecords { running[record.job.queue, default: 0] += 1 }
        var waiting: [String: Int] = [:]
        for record in jobs.records.values where record.state == .queued { waiting[record.job.queue, default: 0] += 1 }
        // The fleet's capacity needs its nodes, not a snapshot of what holds their chips.
        let ledger = book.ledger(
            holding: jobs.activeRecords, nodes: nodes.values.map(\.node), catalog: configuration.catalog, now: clock())
        queueBook = book
        return book.statuses(ledger, running: running, waiting: waiting)
    }

    /// Where a waiting job stands in its queue: jobs of its queue that a pass takes before it
    /// (higher priority, then earlier submission, then id), and how many wait there in all.
    func queuePosition(of record: JobRecord) -> QueuePosition {
        func key(_ record: JobRecord) -> (Int, Double, String) {
            (-record.job.priority, record.job.submittedAt, record.id)
        }
        let mine = key(record)
        var ahead = 0
        var waiting = 0
        for other in jobs.records.values where other.state == .queued && other.job.queue == record.job.queue {
            waiting += 1
            if key(other) < mine { ahead += 1 }
        }
        return QueuePosition(queue: record.job.queue, position: ahead + 1, waiting: waiting)
    }

    /// Why a job that stopped others waits: for them to end, its chips held; under a tree, whose
    /// queue it reclaimed from. "waiting for 1 job it stopped to end (b3); its chips are held for
    /// it; reclaimed from queue batch"
    func preemptorReason(_ record: JobRecord, _ victims: Set<AttemptRef>) -> String {
        let names = Set(victims.map(\.job)).sorted()
        let others = Set(names.compactMap { jobs[$0]?.job.queue }).subtracting([record.job.queue]).sorted()
        return "waiting for \(names.count) job\(names.count == 1 ? "" : "s") it stopped to end "
            + "(\(names.joined(separator: ", "))); its chips are held for it"
            + (queueBook == nil || others.isEmpty ? "" : "; reclaimed from queue \(others.joined(separator: ", "))")
    }

    /// Replaces the tree with a queues file's text, or refuses it (line and field) and keeps the old
    /// one. Each queue keeps its past use; every waiting job is searched again under the new tree.
    func applyQueues(_ text: String, file: String, by who: String) throws(ErrorReply) -> QueuesReply {
        let tree: QueueTree
        do {
            tree = try QueuesFile.parse(text, file: file, catalog: configuration.catalog)
        } catch {
            throw ErrorReply(.invalidSpec, "\(error.description); the queue tree in use stays")
        }
        if let orphans = orphanedQueues(under: tree) { throw ErrorReply(.conflict, orphans) }
        install(tree, source: "\(file), applied by \(who)")
        return queueStatuses()
    }

    /// Why `tree` would leave jobs behind: the queues that hold jobs not ended and are no leaf of it,
    /// with their counts; nil when every such job keeps its queue.
    func orphanedQueues(under tree: QueueTree) -> String? {
        var held: [String: (waiting: Int, running: Int)] = [:]
        for record in jobs.records.values where !record.state.isFinal {
            let queue = record.job.queue
            guard tree.index(of: queue).map({ !tree.isLeaf($0) }) ?? true else { continue }
            var counts = held[queue] ?? (0, 0)
            if record.state == .queued { counts.waiting += 1 } else { counts.running += 1 }
            held[queue] = counts
        }
        guard !held.isEmpty else { return nil }
        let named = held.sorted { $0.key < $1.key }.map {
            "\($0.key) (\($0.value.waiting) waiting, \($0.value.running) running)"
        }
        return "the new tree has no leaf queue \(named.joined(separator: ", ")) that jobs still use: move them "
            + "(schedctl update JOB --queue Q) or cancel them first (schedctl cancel --queue \(held.keys.sorted()[0])); "
            + "the queue tree in use stays"
    }

    /// A new tree in use: each queue that keeps its name keeps its past use, and every waiting job
    /// is searched again under it.
    private func install(_ tree: QueueTree, source: String) {
        var book = queueBook ?? QueueBook(tree: tree, source: source, configuration: configuration)
        book.replaceTree(tree, source: source)
        queueBook = book
        jobs.everythingChanged()
        dirty = true
        logger.notice("queue tree from \(source): \(tree.queues.count) queues")
    }

    /// SIGHUP: the `--queues` file read again; a bad file is refused in the log and the old tree stays.
    func reloadQueues() {
        guard let path = configuration.queuesFile else { return }
        do {
            let tree = try QueuesFile.load(path: path, catalog: configuration.catalog)
            if let orphans = orphanedQueues(under: tree) {
                logger.error("SIGHUP: \(path): \(orphans)")
                return
            }
            install(tree, source: path)
        } catch {
            logger.error("SIGHUP: \(error.description); the queue tree in use stays")
        }
    }
}
