import SchedCore
import SchedStore
import Wire

extension CoordinatorState {
    /// Forgets finished jobs that ended more than `--keep-finished` ago, with their events, and
    /// node events (registrations, losses, chip health) older than that: memory and the database
    /// stay bounded on a fleet that runs for months. What is forgotten is gone from `schedctl jobs`,
    /// `status` and `watch` replays; `placement-log.jsonl` keeps every line.
    func pruneFinished() async {
        let keep = configuration.keepFinished
        let keepAccounts = configuration.keepAccounting
        let now = clock()
        // Retention is counted in days: looking once a minute is enough, and a deep queue of
        // waiting jobs is not walked on every pass; a retention of seconds is looked at four times
        // within it, so that nothing outlives it by a minute.
        let shortest = min(keep > 0 ? keep : .infinity, keepAccounts > 0 ? keepAccounts : .infinity)
        let interval = min(60 * configuration.timeScale, max(shortest / 4, 0.5))
        guard shortest.isFinite, !loading, now - lastPrune >= interval else { return }
        lastPrune = now
        let accountsBefore = keepAccounts > 0 ? now - keepAccounts : nil
        guard keep > 0 else {
            try? await committer.commit(StoreChanges(accountsBefore: accountsBefore))
            return
        }
        let cutoff = now - keep
        let finished = [JobRecord.State.completed, .failed, .cancelled].reduce(0) { $0 + (jobs.countByState[$1] ?? 0) }
        let records = jobs.records
        let expired =
            finished == 0
            ? []
            : jobs.order.filter { id in
                guard let record = records[id], record.state.isFinal else { return false }
                // A task stays while its array runs: the array's outcome is counted from its tasks.
                if let parent = record.arrayParent, records[parent]?.state.isFinal == false { return false }
                return (record.endedAt ?? record.job.submittedAt) < cutoff
            }
        let oldEvents = recentEvents.contains { $0.job == nil && $0.time < cutoff }
        guard !expired.isEmpty || oldEvents || accountsBefore != nil else { return }
        do {
            var changes = StoreChanges(expiredJobs: expired, eventsBefore: cutoff)
            changes.accountsBefore = accountsBefore
            try await committer.commit(changes)
        } catch {
            logger.error("cannot forget \(expired.count) finished job(s) past their retention: \(error)")
            return
        }
        let gone = Set(expired)
        jobs.remove(gone)
        for id in expired { waitReasons[id] = nil }
        recentEvents.removeAll { ($0.job == nil && $0.time < cutoff) || $0.job.map(gone.contains) == true }
        if !expired.isEmpty {
            logger.info("forgot \(expired.count) job(s) that ended more than \(formatNumber(keep)) s ago")
        }
    }
}
