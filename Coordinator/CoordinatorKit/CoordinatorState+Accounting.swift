import SchedCore
import SchedStore
import Wire

/// Accounting: every ended attempt becomes an `AttemptAccount`, stored with the commit that ends
/// it and kept beyond its job (`--keep-accounting`), for `HISTORY` and `USAGE`.
extension CoordinatorState {
    /// The accounts of the attempts that ended since the last commit.
    func takeAccounts() -> [AttemptAccount] {
        let now = clock()
        return jobs.takeEndedAttempts().compactMap { account(ran: $0.ran, now: $0.now, endedAt: now) }
    }

    /// An attempt as it ran (`ran`) and how its job stands after it (`now`).
    func account(ran: JobRecord, now: JobRecord, endedAt: Double) -> AttemptAccount? {
        guard let placement = ran.placement else { return nil }
        let catalog = configuration.catalog
        let model = catalog[ChipModelID(placement.chipModel)]
        var chips = 0.0
        var cpus = 0
        for assignment in placement.assignments {
            let whole = Double(assignment.chips.count)
            chips += assignment.share.map { whole * Double(min(max($0.computePercent, 0), 100)) / 100 } ?? whole
            cpus += assignment.host?.cpus.count ?? 0
        }
        let startedAt = ran.startedAt ?? placement.placedAt
        let hours = max(endedAt - startedAt, 0) / 3600
        let relative = model.map { ran.job.kind == .inference ? $0.relativeInference : $0.relativeTraining } ?? 1
        let usage = now.attemptUsage?[String(ran.attempt)]
        let tiers = ran.job.tiers.map { tier in
            catalog.models.filter { tier.accepts($0) }.map(\.id.name).sorted().joined(separator: "|")
        }.joined(separator: ";")
        let sameAttempt = now.attempt == ran.attempt
        var account = AttemptAccount(
            job: ran.id, attempt: ran.attempt, user: ran.user, queue: ran.job.queue, kind: ran.job.kind.rawValue,
            tiers: tiers, tierName: placement.tierName,
            model: placement.assignments.allSatisfy(\.chips.isEmpty) ? ChipModelID.hostOnly.name : placement.chipModel,
            nodes: placement.assignments.map(\.node.name), chips: chips, cpus: cpus, submittedAt: ran.job.submittedAt,
            startedAt: startedAt, endedAt: endedAt, chipHours: chips * hours,
            h100Hours: chips * hours * (relative.isFinite && relative > 0 ? relative : 1),
            cpuSeconds: usage?.cpuSeconds, peakMemoryBytes: usage?.peakMemoryBytes,
            outcome: now.state.isFinal && sameAttempt ? now.state.rawValue : "requeued",
            exitStatus: sameAttempt ? now.lastExitStatus : nil, signal: sameAttempt ? now.lastSignal : nil,
            reason: sameAttempt ? (now.reason ?? now.lastExit) : now.lastExit)
        if faultedAttempts.remove(AttemptRef(job: ran.id, attempt: ran.attempt)) != nil { account.faulted = true }
        account.name = ran.run.name
        account.pace = now.paces?.last { $0.attempt == ran.attempt && $0.secondsPerStep != nil }
        pastRunPaces.note(account, catalog: catalog)
        return account
    }

    /// `HISTORY`: at most `HistoryQuery.maximumLimit` accounts (one reply line); `USAGE` reads all.
    func history(_ query: HistoryQuery, everyOne: Bool = false) async throws(ErrorReply) -> [AttemptAccount] {
        var query = query
        if !everyOne { query.limit = min(query.limit ?? HistoryQuery.maximumLimit, HistoryQuery.maximumLimit) }
        let (since, until) = query.window(now: clock())
        do {
            return try await store.accounts(query, since: since, until: until)
        } catch {
            throw ErrorReply(.unavailable, "cannot read the accounting: \(error)")
        }
    }

    func usage(_ query: UsageQuery) async throws(ErrorReply) -> UsageReport {
        var all = query.history
        all.limit = nil
        let (since, until) = all.window(now: clock())
        return UsageReport(
            by: query.by, accounts: try await history(all, everyOne: true), since: since, until: until)
    }
}
