import Foundation
import SchedCore
import Wire

/// What users and operators do to jobs after submitting them: cancel, hold, release and requeue
/// several at once (`JOB_ACTION`), and change a job's priority, time limit or queue (`UPDATE`).
/// Every change is stored before it counts and logged naming who acted.
extension CoordinatorState {
    /// The jobs a request chooses, in id order: those it names (and the names it does not know), kept
    /// only if they match its filters too.
    func chosenJobs(_ request: JobActionRequest) async -> (found: [JobRecord], unknown: [String]) {
        let pattern = request.idPattern
        let states = Set(request.states ?? [])
        func matches(_ record: JobRecord) -> Bool {
            (request.owner == nil || record.user == request.owner)
                && (states.isEmpty || states.contains(record.state))
                && (request.queue == nil || record.job.queue == request.queue)
                && (pattern.map { fnmatch($0, record.id, 0) == 0 } ?? true)
        }
        if let named = request.jobs, !named.isEmpty {
            var found: [JobRecord] = []
            var unknown: [String] = []
            for id in Set(named).sorted() {
                if let record = try? await record(id) {
                    if matches(record) { found.append(record) }
                } else {
                    unknown.append(id)
                }
            }
            return (found, unknown)
        }
        return (jobs.records.values.filter(matches).sorted { $0.id < $1.id }, [])
    }

    func act(_ request: JobActionRequest, identity: PeerIdentity?, by who: String) async -> JobActionReply {
        let (found, unknown) = await chosenJobs(request)
        var results = unknown.map { JobActionResult(job: $0, outcome: .refused, state: nil, message: "no job '\($0)'") }
        for record in found {
            if let refusal = configuration.permissions.refusal(request.action.rawValue, record, by: identity) {
                results.append(
                    JobActionResult(job: record.id, outcome: .refused, state: record.state, message: refusal.message))
                continue
            }
            do throws(ErrorReply) {
                results.append(try await act(request, on: record.id, by: who))
            } catch {
                results.append(
                    JobActionResult(job: record.id, outcome: .refused, state: record.state, message: error.message))
            }
        }
        return JobActionReply(results: results.sorted { $0.job < $1.job })
    }

    private func act(_ request: JobActionRequest, on id: String, by who: String) async throws(ErrorReply)
        -> JobActionResult
    {
        guard let record = jobs[id] else { throw ErrorReply(.unknownJob, "no job '\(id)'") }
        func unchanged(_ why: String) -> JobActionResult {
            JobActionResult(job: id, outcome: .unchanged, state: record.state, message: why)
        }
        guard !record.state.isFinal else { return unchanged("it has ended (\(record.state.rawValue))") }
        switch request.action {
        case .cancel:
            let cancelled = try await cancel(id, by: who)
            return JobActionResult(
                job: id, outcome: .done, state: cancelled.state,
                message: cancelled.state == .cancelled ? "cancelled" : "cancelling: its agents stop it")
        case .hold:
            guard record.state == .queued else {
                return unchanged(
                    "it is \(record.state.rawValue); only a waiting job is held (schedctl requeue --hold stops it "
                        + "and holds it)")
            }
            if let hold = record.userHold { return unchanged("already held by \(hold.by)") }
            return try await store(hold: true, id, reason: request.reason, by: who)
        case .release:
            guard record.userHold != nil else {
                return unchanged(record.held == true ? "it waits on its dependencies, not on a hold" : "it is not held")
            }
            return try await store(hold: false, id, reason: nil, by: who)
        case .requeue:
            guard record.holdsChips else {
                guard request.hold == true, record.userHold == nil else {
                    return unchanged("it waits already; requeue stops a running job and puts it back in the queue")
                }
                return try await store(hold: true, id, reason: request.reason, by: who)
            }
            return try await requeue(record, hold: request.hold == true, reason: request.reason, by: who)
        }
    }

    /// Holds or releases a waiting job.
    private func store(hold: Bool, _ id: String, reason: String?, by who: String) async throws(ErrorReply)
        -> JobActionResult
    {
        guard var record = jobs[id] else { throw ErrorReply(.unknownJob, "no job '\(id)'") }
        let before = jobs.subset([id])
        let because = reason.map { " (\($0))" } ?? ""
        let event: PlacementEvent
        if hold {
            record.userHold = JobHold(by: who, reason: reason, since: Date().timeIntervalSince1970)
            event = makeEvent(
                .held, job: id, "\(id) held by \(who)\(because): it is not placed until released", details: ["by": who])
        } else {
            record.userHold = nil
            event = makeEvent(.released, job: id, "\(id) released by \(who)", details: ["by": who])
        }
        jobs[id] = record
        do {
            try await persist([record], [event], before: before)
        } catch {
            throw ErrorReply(.unavailable, "not stored: \(error)")
        }
        dirty = true
        return JobActionResult(job: id, outcome: .done, state: record.state, message: hold ? "held" : "released")
    }

    /// Stops a running job's attempt and puts it back in the queue, to resume from its checkpoint
    /// (not a failure: its tier and ladder stay), held if asked.
    private func requeue(_ running: JobRecord, hold: Bool, reason: String?, by who: String) async throws(ErrorReply)
        -> JobActionResult
    {
        var record = running
        let before = jobs.subset([record.id])
        let because = reason.map { " (\($0))" } ?? ""
        let event = makeEvent(
            .requeued, job: record.id, attempt: record.attempt,
            "\(record.id) attempt \(record.attempt) requeued by \(who)\(because): stopped, back to the queue"
                + (hold ? " held" : "") + " to resume from its checkpoint", details: ["by": who])
        requeue(&record)
        if hold { record.userHold = JobHold(by: who, reason: reason, since: Date().timeIntervalSince1970) }
        jobs[record.id] = record
        do {
            try await persist([record], [event], stopping: [(running, except: nil)], before: before)
        } catch {
            throw ErrorReply(.unavailable, "the requeue was not stored: \(error)")
        }
        sendKill(running, reason: "requeued by \(who)")
        return JobActionResult(
            job: record.id, outcome: .done, state: record.state, message: hold ? "requeued and held" : "requeued")
    }

    /// `schedctl update`: a job's priority (owners may lower it, operators set any), time limit
    /// (owners may shorten it) and queue, the last two while it waits.
    func update(_ change: JobUpdate, identity: PeerIdentity?, by who: String) async throws(ErrorReply) -> JobRecord {
        var record = try await record(change.job)
        if let refusal = configuration.permissions.refusal("update", record, by: identity) { throw refusal }
        guard !record.state.isFinal else {
            throw ErrorReply(.conflict, "job \(record.id) has ended (\(record.state.rawValue)): nothing to update")
        }
        let mayRaise = identity.map { configuration.permissions.isOperator($0) } ?? true
        var said: [String] = []
        if let priority = change.priority, priority != record.job.priority {
            guard priority < record.job.priority || mayRaise else {
                throw ErrorReply(
                    .forbidden,
                    "only an operator may raise a priority (\(record.job.priority) → \(priority)); owners may lower it")
            }
            said.append("priority \(record.job.priority) → \(priority)")
            record.job.priority = priority
        }
        var newLimit: Double?
        if let limit = change.timeLimitSeconds, limit != record.job.timeLimit {
            guard limit < (record.job.timeLimit ?? .infinity) || mayRaise else {
                throw ErrorReply(.forbidden, "only an operator may lengthen a time limit; owners may shorten it")
            }
            said.append("time limit \(record.job.timeLimit.map(formatSeconds) ?? "none") → \(formatSeconds(limit))")
            record.job.timeLimit = limit
            newLimit = limit
        }
        if let queue = change.queue, queue != record.job.queue {
            guard record.state == .queued else {
                throw ErrorReply(
                    .conflict, "job \(record.id) is \(record.state.rawValue): its queue changes only while it waits")
            }
            guard let book = queueBook else {
                throw ErrorReply(
                    .invalidSpec, "this coordinator has no queue tree (--queues): there is no queue to move to")
            }
            if let refusal = book.refusal(job: record.id, queue: queue) { throw ErrorReply(.invalidSpec, refusal) }
            if let identity, !mayRaise, let refusal = book.membershipRefusal(queue: queue, identity: identity) {
                throw ErrorReply(.forbidden, refusal)
            }
            said.append("queue \(record.job.queue) → \(queue)")
            record.job.queue = queue
        }
        if let tier = change.tier { try moveTier(&record, to: tier, said: &said) }
        if let name = change.reservation, name != (record.reservation ?? "") {
            guard record.state == .queued else {
                throw ErrorReply(
                    .conflict,
                    "job \(record.id) is \(record.state.rawValue): its reservation changes only while it waits")
            }
            if !name.isEmpty, let refusal = reservationRefusal(name, job: record.job, identity: identity) {
                throw refusal
            }
            said.append("reservation \(record.reservation ?? "none") → \(name.isEmpty ? "none" : name)")
            record.reservation = name.isEmpty ? nil : name
        }
        guard !said.isEmpty else { return record }
        let before = jobs.subset([record.id])
        let event = makeEvent(
            .updated, job: record.id, "\(record.id) updated by \(who): \(said.joined(separator: ", "))",
            details: ["by": who])
        jobs[record.id] = record
        do {
            try await persist([record], [event], before: before)
        } catch {
            throw ErrorReply(.unavailable, "the update was not stored: \(error)")
        }
        // A running attempt's agents keep its time limit: they are told the new one, counted from its
        // start as the first was.
        if let limit = newLimit, record.holdsChips {
            for assignment in record.placement?.assignments ?? [] {
                nodes[assignment.node]?.writer?.send(
                    .limit(LimitOrder(job: record.id, attempt: record.attempt, timeLimitSeconds: limit)))
            }
        }
        jobs.everythingChanged()
        dirty = true
        return try await self.record(record.id)
    }

    /// Moves a waiting job to another tier of its list (by number from 1, or name): it waits there
    /// from now, with that tier's failures forgotten, as if it had fallen back (or returned) to it.
    private func moveTier(_ record: inout JobRecord, to text: String, said: inout [String]) throws(ErrorReply) {
        let names = (0..<record.job.tierCount).map { record.job.tier(at: $0).name }
        let index = Int(text).map { $0 - 1 } ?? names.firstIndex(of: text)
        guard let index, names.indices.contains(index) else {
            throw ErrorReply(
                .invalidSpec,
                "job \(record.id) has no tier '\(text)'; its tiers: "
                    + names.enumerated().map { "\($0.offset + 1) \($0.element)" }.joined(separator: ", "))
        }
        guard index != record.ladder.tier else { return }
        guard record.state == .queued else {
            throw ErrorReply(
                .conflict,
                "job \(record.id) is \(record.state.rawValue): it changes tier only while it waits (requeue it first)")
        }
        let now = clock()
        said.append("tier \(record.ladder.tier + 1) (\(names[record.ladder.tier])) → \(index + 1) (\(names[index]))")
        record.ladder = FallbackLadder(tierCount: record.job.tierCount, tier: index, waitingSince: now)
        record.tierHistory.append(TierVisit(tier: index, name: names[index], enteredAt: now, reason: "moved by update"))
    }
}
