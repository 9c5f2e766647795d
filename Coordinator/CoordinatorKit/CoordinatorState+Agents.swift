import SchedCore
import SchedStore
import Wire

extension CoordinatorState {
    /// An agent's session opened for `node`, proving the node key `nodeKey` (its fingerprint).
    /// Returns the session number, or an error to refuse it. The registration (and the node's key,
    /// bound at its first one) is stored first; then, in one step, the node takes work, the agent is
    /// told `OK registered`, and attempts it runs that are not ours are stopped: no `RUN` can reach
    /// the agent before its `OK`.
    func register(_ registration: Register, nodeKey: String, outbox: Outbox, peerAddress: String? = nil)
        async throws(ErrorReply) -> Int
    {
        let id = registration.node.id
        let binding = NodeKeyBinding.check(node: id, key: nodeKey, bound: nodes[id]?.nodeKey, list: nodeKeyList)
        if case .refused(let reason) = binding {
            logger.warning("refused node \(id) from \(peerAddress ?? "?"): \(reason)")
            throw ErrorReply(.forbidden, reason)
        }
        if let existing = nodes[id], existing.connected {
            throw ErrorReply(
                .conflict, "node \(id) is already registered by another live session; stop that agent first")
        }
        let session = nextSession
        nextSession += 1
        // Reconcile: attempts the agent still runs that we also believe in stay; others are stopped.
        let reported = Set(registration.running)
        var strangers: [AttemptRef] = []
        var lostHere: [JobRecord] = []
        var changed: [JobRecord] = []
        var events: [PlacementEvent] = []
        for attempt in registration.running {
            guard let record = jobs[attempt.job], record.attempt == attempt.attempt,
                record.placement?.assignments.contains(where: { $0.node == id }) == true
            else {
                strangers.append(attempt)
                continue
            }
            // Completed is stored only once every node of the attempt reported its end: an agent
            // lists an end it has not seen acknowledged (the acknowledgement was lost with the
            // session) and sends it again right after. Over, then: not an attempt to fence and stop.
            if record.state.isFinal && record.state != .completed { strangers.append(attempt) }
        }
        for record in jobs.activeRecords(on: id).sorted(by: { $0.id < $1.id }) {
            guard !reported.contains(AttemptRef(job: record.id, attempt: record.attempt)) else { continue }
            // Placed here before the agent went away, and it no longer runs: the attempt was lost.
            if let (updated, more) = attemptFailed(record, cause: .nodeLost(id), message: "the agent no longer runs it")
            {
                changed.append(updated)
                events += more
                lostHere.append(record)
            }
        }
        // Stopping attempts it no longer runs are over; those it runs and we did not place stay fenced.
        fence.releaseAll(on: id, except: reported)
        for attempt in strangers { fence.hold(attempt, on: id, holding: nil) }
        let chips = registration.node.chips
        let models = Dictionary(grouping: chips, by: \.model).map { "\($0.value.count) x \($0.key)" }.sorted()
        events.append(
            makeEvent(
                .nodeRegistered, node: id.name,
                "node \(id) registered: \(models.joined(separator: ", ")), \(registration.node.numaNodes.count) NUMA nodes"
                    + (registration.node.domain.map { ", \($0)" } ?? "")))
        let before = jobs.subset(changed.map(\.id))
        for record in changed { jobs[record.id] = record }
        // A gang whose attempt this node lost stops on its other nodes.
        do {
            try await persist(
                changed, events,
                nodes: [StoredNode(registration.node, nodeKey: nodeKey, administration: nodes[id]?.administration)],
                stopping: lostHere.map { ($0, except: id) }, before: before)
        } catch {
            // The agent is there, and keeps trying: not a silent node to declare lost meanwhile.
            if var entry = nodes[id], !entry.connected {
                entry.lastHeartbeat = clock()
                nodes[id] = entry
            }
            throw ErrorReply(.unavailable, "cannot store the registration: \(error)")
        }
        if let existing = nodes[id], existing.connected {
            throw ErrorReply(
                .conflict, "node \(id) is already registered by another live session; stop that agent first")
        }
        nodes[id] = NodeEntry(
            node: registration.node, address: registration.address ?? peerAddress,
            chipAddresses: registration.chipAddresses, writer: outbox, session: session, lastHeartbeat: clock(),
            stopsWhenUnseen: registration.stopsWhenUnseen ?? false, nodeKey: nodeKey,
            administration: nodes[id]?.administration)
        if binding == .bindsNow { logger.notice("node \(id) is bound to node key \(nodeKey) from now on") }
        // What it still runs goes on; what it no longer runs was settled above.
        unseen.forget(node: id)
        let stop = configuration.disconnectStop
        outbox.send(
            .ok(
                JSONText(
                    WireCodec.json(
                        Registered(
                            registered: id.name, disconnectStop: stop > 0 ? stop : nil,
                            disconnectGrace: stop > 0 ? configuration.disconnectGrace : nil)))))
        for attempt in strangers {
            outbox.send(
                .kill(KillOrder(job: attempt.job, attempt: attempt.attempt, reason: "not known to the coordinator")))
        }
        // A gang whose attempt this node lost stops on its other nodes too.
        for record in lostHere { sendKill(record, reason: "node \(id) lost the attempt", except: id) }
        dirty = true
        return session
    }

    /// Notes a heartbeat; false when `session` is no longer the node's (it was declared lost): then
    /// the heartbeat renews nothing, and must not be acknowledged as if it did.
    @discardableResult
    func heartbeat(node id: NodeID, session: Int, _ beat: Heartbeat) async -> Bool {
        guard var entry = nodes[id], entry.session == session else { return false }
        entry.lastHeartbeat = clock()
        let unhealthy = Set(beat.unhealthyChips)
        var changed = false
        var events: [PlacementEvent] = []
        let now = clock()
        // 10,000 nodes beat every 2 s: one that reports every chip as it is, with no chip held for
        // flapping, changes nothing here.
        let damperIdle = healthDamper.holdsNone
        for index in entry.node.chips.indices {
            let chip = entry.node.chips[index]
            let reported: ChipHealth = unhealthy.contains(chip.index) ? .unhealthy : .healthy
            if damperIdle && reported == chip.health { continue }
            let window = formatNumber(healthDamper.window)
            let sentence: String
            let health: ChipHealth
            switch healthDamper.report("\(id)/\(chip.index)", reported: reported, current: chip.health, at: now) {
            case .held: continue
            case .health(let accepted):
                guard accepted != chip.health else { continue }
                health = accepted
                sentence =
                    accepted == .unhealthy
                    ? "chip \(chip.index) (\(chip.model)) of \(id) is unhealthy: no new work is placed on it"
                    : "chip \(chip.index) (\(chip.model)) of \(id) is healthy again"
            case .startedFlapping(let count):
                health = .unhealthy
                sentence =
                    "chip \(chip.index) (\(chip.model)) of \(id) is flapping (\(count) health changes within \(window) s): "
                    + "held unhealthy until it reports healthy for \(window) s"
                logger.warning("\(sentence)")
            case .stable:
                health = .healthy
                sentence =
                    "chip \(chip.index) (\(chip.model)) of \(id) has been healthy for \(window) s: in service again"
            }
            entry.node.chips[index].health = health
            changed = true
            events.append(
                makeEvent(
                    .chipHealth, node: id.name, sentence,
                    details: ["chip": String(chip.index), "health": health.rawValue]))
        }
        if let bandwidth = beat.interNodeBandwidthGBps, entry.node.interNodeBandwidthGBps != bandwidth {
            entry.node.interNodeBandwidthGBps = bandwidth
            changed = true
        }
        nodes[id] = entry
        if changed { dirty = true }
        if !events.isEmpty {
            do {
                try await persist([], events)
            } catch {
                logger.error("cannot store chip health events: \(error)")
            }
        }
        return true
    }

    /// Checks that an agent speaks of an attempt placed on its own node.
    func attemptOnNode(_ attempt: AttemptRef, node: NodeID) throws(ErrorReply) -> JobRecord? {
        guard let record = jobs[attempt.job] else {
            // Not read yet after a start: then it holds no chips (those are read first), so the
            // attempt is over, as for a record in memory.
            if unloaded[attempt.job] != nil { return nil }
            throw ErrorReply(.unknownJob, "no job '\(attempt.job)'")
        }
        // An attempt that is over (requeued, preempted, ended) may still report: ignore it.
        guard record.attempt == attempt.attempt, record.holdsChips else { return nil }
        guard record.placement?.assignments.contains(where: { $0.node == node }) == true else {
            throw ErrorReply(.wrongNode, "job \(attempt.job) attempt \(attempt.attempt) is not placed on \(node)")
        }
        return record
    }

    func started(_ attempt: AttemptRef, node: NodeID) async throws(ErrorReply) {
        guard var record = try attemptOnNode(attempt, node: node), record.state == .placed else { return }
        let before = record
        record.state = .running
        record.startedAt = clock()
        jobs[record.id] = record
        let event = makeEvent(
            .started, job: record.id, node: node.name, attempt: record.attempt,
            "started \(record.id) attempt \(record.attempt) on \(node)"
                + (record.checkpointStep > 0 ? ", resuming from step \(record.checkpointStep)" : ""))
        do {
            try await persist([record], [event], before: [record.id: before])
        } catch {
            throw ErrorReply(.unavailable, "cannot store the start: \(error)")
        }
    }

    /// Where an attempt's job is: its measured pace, timed on the clock of the first node of the
    /// attempt that reported. Kept in memory and stored with the record's next change (a coordinator
    /// that takes over measures again from the next reports).
    ///
    /// When the pace is first measured, the expected-finish rule weighs it at once: a job it moves
    /// goes now, if the next checkpoint is further away at this pace than a checkpoint interval
    /// takes on the tier chosen (else at that checkpoint, `checkpointed`).
    func progressed(_ report: ProgressReport, node: NodeID) async throws(ErrorReply) {
        guard var record = try attemptOnNode(AttemptRef(job: report.job, attempt: report.attempt), node: node),
            let model = record.placement?.chipModel
        else { return }
        var paces = record.paces ?? []
        let measuredBefore = record.currentPace?.secondsPerStep != nil
        if var pace = record.currentPace {
            guard pace.node == node.name, pace.record(step: report.step, at: report.writtenAt) else { return }
            paces[paces.count - 1] = pace
        } else {
            paces.append(
                MeasuredPace(
                    attempt: report.attempt, model: model, node: node.name, step: report.step, at: report.writtenAt))
            paces = Array(paces.suffix(JobRecord.pacesKept))
        }
        record.paces = paces
        jobs[record.id] = record
        guard !measuredBefore, let pace = record.currentPace?.secondsPerStep,
            record.job.fallback.policy == .expectedFinish, let progress = progress(of: record)
        else { return }
        let now = clock()
        guard
            let move = plannedEngine(now: now)?.expectedFinishMoveNow(
                for: record.job, ladder: record.ladder, now: now, policy: configuration.policy, progress: progress,
                faultRates: faultRates, step: report.step, secondsPerStep: pace)
        else { return }
        let before = record
        requeue(&record)
        let event = fallBack(
            &record, move, now: now,
            at: " at step \(report.step), resuming from its checkpoint of step \(record.checkpointStep)")
        jobs[record.id] = record
        do {
            try await persist([record], [event], stopping: [(before, except: nil)], before: [record.id: before])
        } catch {
            throw ErrorReply(.unavailable, "cannot store the move: \(error)")
        }
        sendKill(before, reason: "moving down a tier: its measured pace")
    }

    /// An attempt saved a checkpoint: a restart resumes from it, and a job below its first tier may
    /// go back there now, if the job asks to, the tier has been healthy for its window and has room.
    func checkpointed(_ report: CheckpointReport, node: NodeID) async throws(ErrorReply) {
        guard var record = try attemptOnNode(AttemptRef(job: report.job, attempt: report.attempt), node: node) else {
            return
        }
        guard report.step > record.checkpointStep else { return }
        let before = record
        record.checkpointStep = report.step
        var events: [PlacementEvent] = []
        let now = clock()
        let job = record.job
        let lastFault = faultHistory.lastFault(on: job.tier(at: 0), catalog: configuration.catalog)
        if let reason = record.ladder.returnDue(now: now, lastFaultOnPreferred: lastFault, rule: job.fallback),
            plannedEngine(now: now)?.hasRoom(
                for: job, onTier: 0, now: now, policy: configuration.policy,
                progress: progress(of: record), faultRates: faultRates) == true
        {
            record.ladder.returnToPreferred(at: now)
            requeue(&record)
            let name = job.tier(at: 0).name
            record.tierHistory.append(TierVisit(tier: 0, name: name, enteredAt: now, reason: reason.description))
            events.append(
                makeEvent(
                    .returned, job: record.id, attempt: record.attempt,
                    "\(record.id) returns from tier \(reason.from + 1) (\(job.tier(at: reason.from).name)) to tier 1 "
                        + "(\(name)) at its checkpoint of step \(report.step): \(reason)",
                    details: [
                        "from": String(reason.from), "to": "0", "reason": reason.description,
                        "checkpointStep": String(report.step),
                    ]))
        } else if let progress = progress(of: record), record.job.fallback.policy == .expectedFinish,
            let move = plannedEngine(now: now)?.expectedFinishMove(
                for: job, ladder: record.ladder, now: now, policy: configuration.policy, progress: progress,
                faultRates: faultRates)
        {
            // Down a tier at the checkpoint, losing nothing: the pace measured here, or the faults
            // seen, make another tier expected to finish sooner.
            requeue(&record)
            events.append(fallBack(&record, move, now: now, at: " at its checkpoint of step \(report.step)"))
        }
        jobs[record.id] = record
        do {
            try await persist(
                [record], events, stopping: record.state == .queued ? [(before, except: nil)] : [],
                before: [record.id: before])
        } catch {
            throw ErrorReply(.unavailable, "cannot store the checkpoint: \(error)")
        }
        // Orders go out once the decision is durable.
        if record.state == .queued {
            let moved = record.ladder.tier < before.ladder.tier ? "returning to its first tier" : "moving down a tier"
            sendKill(before, reason: "\(moved) at its checkpoint")
        }
    }

    func exited(_ exit: Exit, node: NodeID) async throws(ErrorReply) {
        // The agent confirms the attempt is over here: its chips are free again.
        if fence.release(AttemptRef(job: exit.job, attempt: exit.attempt), on: node) {
            dirty = true
            // It may have been the last of the job's attempts still running: it may run again.
            if !fence.isStopping(job: exit.job) { jobs.searchAgain(exit.job) }
        }
        if try await completedBeforeItsStop(exit, node: node) { return }
        if try await checkpointedAsItStopped(exit, node: node) { return }
        guard var record = try attemptOnNode(AttemptRef(job: exit.job, attempt: exit.attempt), node: node) else {
            return
        }
        let original = record
        let before = [record.id: original]
        var stopPartners: String?
        let now = clock()
        var changed: [JobRecord] = []
        var events: [PlacementEvent] = []
        let detail = exit.message.map { ": \($0)" } ?? ""
        record.lastExit = "\(exit.outcome.rawValue) on \(node)\(detail)"
        record.lastExitStatus = exit.exitStatus
        record.lastSignal = exit.signal
        let measured = exit.cpuSeconds != nil || exit.peakMemoryBytes != nil
        if measured {
            var usage = record.attemptUsage?[String(exit.attempt)] ?? AttemptUsage()
            usage.add(cpuSeconds: exit.cpuSeconds, peakMemoryBytes: exit.peakMemoryBytes)
            record.attemptUsage = (record.attemptUsage ?? [:]).merging([String(exit.attempt): usage]) { $1 }
        }
        if let step = exit.checkpointStep { record.checkpointStep = max(record.checkpointStep, step) }
        switch exit.outcome {
        case .completed:
            let nodesOfAttempt = Set(record.placement?.assignments.map(\.node) ?? [])
            completedNodes[record.id, default: []].insert(node)
            guard completedNodes[record.id]! == nodesOfAttempt else {
                jobs[record.id] = record
                return
            }
            completedNodes[record.id] = nil
            noteExposure(of: record, until: now)
            record.state = .completed
            record.endedAt = now
            record.reason = nil
            events.append(
                makeEvent(
                    .completed, job: record.id, node: node.name, attempt: record.attempt,
                    "completed \(record.id) on attempt \(record.attempt), tier \((record.placement?.tier ?? 0) + 1) "
                        + "(\(record.placement?.tierName ?? "?"))"))
            changed.append(record)
        case .failed, .timedOut:
            stopPartners = "another node of the gang ended"
            record.state = .failed
            record.endedAt = now
            record.reason =
                exit.outcome == .timedOut
                ? "ran past its time limit"
                : (exit.signal.map { "killed by signal \($0)" }
                    ?? "exited with status \(exit.exitStatus.map(String.init) ?? "?")") + detail
            events.append(
                makeEvent(
                    .failed, job: record.id, node: node.name, attempt: record.attempt,
                    "\(record.id) failed: \(record.reason!)"))
            changed.append(record)
        case .fault:
            stopPartners = "another node of the gang faulted"
            let cause: FailureCause =
                exit.faultChip.map { .chipFault(node: node, chip: $0) } ?? .other(exit.message ?? "fault on \(node)")
            if let (updated, more) = attemptFailed(record, cause: cause, message: exit.message, step: exit.step) {
                changed.append(updated)
                events += more
            }
            if let chip = exit.faultChip, let resting = rest(chip: chip, of: node, faultedBy: record, at: now) {
                events.append(resting)
            }
        case .killed:
            if record.reason?.hasPrefix("cancelling") == true {
                record.state = .cancelled
                record.endedAt = now
                let who = record.cancelledBy ?? "a user"
                record.reason = "cancelled by \(who)"
                events.append(
                    makeEvent(
                        .cancelled, job: record.id, node: node.name, attempt: record.attempt,
                        "cancelled \(record.id) by \(who)", details: ["by": who]))
                changed.append(record)
            } else {
                // Its attempt is current, so no order stopped it (a preemption, a fallback or a
                // partner's end requeue the job before the KILL goes out): its host did, having lost
                // the coordinator for longer than the job runs unseen. It runs again elsewhere.
                stopPartners = "another node of the gang was stopped by its host"
                if let (updated, more) = attemptFailed(record, cause: .nodeLost(node), message: exit.message) {
                    changed.append(updated)
                    events += more
                }
            }
        }
        for record in changed { jobs[record.id] = record }
        do {
            try await persist(
                changed, events, stopping: stopPartners == nil ? [] : [(original, except: node)], before: before)
        } catch {
            if exit.outcome == .completed { completedNodes[record.id]?.remove(node) }
            throw ErrorReply(.unavailable, "cannot store the exit: \(error)")
        }
        if let stopPartners { sendKill(original, reason: stopPartners, except: node) }
        dirty = true
    }

    /// An attempt told to stop (preempted, sent back to its first tier, its node given up) that
    /// completed before the order reached it: the job's work is done, so it is completed rather than
    /// run again. True when that was so and is stored. One-node attempts only: a gang completes when
    /// every node says so, and its other nodes were stopped.
    func completedBeforeItsStop(_ exit: Exit, node: NodeID) async throws(ErrorReply) -> Bool {
        let attempt = String(exit.attempt)
        guard exit.outcome == .completed, let before = jobs[exit.job], before.state == .queued,
            before.attempt == exit.attempt, before.attemptNodes?[attempt] == node.name,
            before.attemptRanks?[attempt] == nil
        else { return false }
        var record = before
        record.state = .completed
        record.endedAt = clock()
        record.reason = nil
        record.lastExit = "\(exit.outcome.rawValue) on \(node)"
        record.lastExitStatus = exit.exitStatus
        record.lastSignal = exit.signal
        if let step = exit.checkpointStep { record.checkpointStep = max(record.checkpointStep, step) }
        let event = makeEvent(
            .completed, job: record.id, node: node.name, attempt: record.attempt,
            "completed \(record.id) on attempt \(record.attempt): it ended on \(node) before the order to stop it arrived"
        )
        jobs[record.id] = record
        do {
            try await persist([record], [event], before: [record.id: before])
        } catch {
            throw ErrorReply(.unavailable, "cannot store the exit: \(error)")
        }
        dirty = true
        return true
    }

    /// An attempt told to stop (a reclaim or a preemption asks a job that says how to save a
    /// checkpoint first) whose end reports a checkpoint newer than the job's: the next attempt resumes
    /// from it. Kept in memory before anything waits, so that no pass places the job from the older
    /// step meanwhile. True when that was so and is stored.
    func checkpointedAsItStopped(_ exit: Exit, node: NodeID) async throws(ErrorReply) -> Bool {
        let attempt = String(exit.attempt)
        guard let step = exit.checkpointStep, let before = jobs[exit.job], before.attempt == exit.attempt,
            before.state == .queued, step > before.checkpointStep,
            before.attemptNodes?[attempt] == node.name || before.attemptRanks?[attempt]?.contains(node.name) == true
        else { return false }
        var record = before
        record.checkpointStep = step
        jobs[record.id] = record
        let event = makeEvent(
            .checkpointed, job: record.id, node: node.name, attempt: record.attempt,
            "\(record.id) attempt \(record.attempt) saved a checkpoint at step \(step) as it stopped on \(node); "
                + "its next attempt resumes from it",
            details: ["checkpointStep": String(step)])
        do {
            try await persist([record], [event], before: [record.id: before])
        } catch {
            throw ErrorReply(.unavailable, "cannot store the checkpoint: \(error)")
        }
        return true
    }

    /// A chip whose fault ended `record`'s attempt rests for `--chip-recovery` before it takes work
    /// again; returns the event that says so (nil when chips do not rest).
    func rest(chip: Int, of node: NodeID, faultedBy record: JobRecord, at now: Double) -> PlacementEvent? {
        let recovery = configuration.chipRecovery
        guard recovery > 0 else { return nil }
        drains.drain(chip: chip, of: node, until: now + recovery)
        // Plan again the moment it recovers (as SchedSim does), not at the next tick.
        let wall = recovery / configuration.timeScale
        Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(Int(min(wall, 86_400 * 365) * 1000) + 1))
            await self?.markDirty()
        }
        let model = nodes[node]?.node.chips.first { $0.index == chip }?.model.name ?? "?"
        return makeEvent(
            .chipHealth, job: record.id, node: node.name, attempt: record.attempt,
            "chip \(chip) (\(model)) of \(node) faulted: it takes no work for \(formatNumber(recovery / 60)) min "
                + "while it recovers",
            details: ["chip": String(chip), "health": "recovering", "recoverySeconds": formatNumber(recovery)])
    }

    /// An attempt ended by something that counts against its tier: the ladder decides whether it
    /// retries, moves down a tier, or gives up. Returns the new record and its events.
    func attemptFailed(_ record: JobRecord, cause: FailureCause, message: String?, step: Int? = nil)
        -> (JobRecord, [PlacementEvent])?
    {
        var record = record
        let now = clock()
        var events: [PlacementEvent] = []
        if let model = record.placement?.chipModel {
            faultHistory.record(ChipModelID(model), at: now)
            faultRates.faulted(ChipModelID(model))
            faultedAttempts.insert(AttemptRef(job: record.id, attempt: record.attempt))
            noteExposure(of: record, until: now)
        }
        let lost = max((step ?? record.checkpointStep) - record.checkpointStep, 0)
        record.stepsLost += lost
        let lostText =
            step == nil || record.job.kind != .training
            ? "" : ", \(lost) steps since the checkpoint at step \(record.checkpointStep) lost"
        events.append(
            makeEvent(
                .faulted, job: record.id, attempt: record.attempt,
                "\(record.id) attempt \(record.attempt) ended by a fault: \(cause)\(lostText)",
                details: [
                    "stepsLost": String(lost), "checkpointStep": String(record.checkpointStep), "cause": "\(cause)",
                    "chipModel": record.placement?.chipModel ?? "",
                ]))
        if !record.tierHistory.isEmpty { record.tierHistory[record.tierHistory.count - 1].failures += 1 }
        let from = record.ladder.tier
        switch record.ladder.handle(.failed(cause, at: now), rule: record.job.fallback) {
        case .retry, .stay, .refused:
            requeue(&record)
            let resume = record.job.kind == .training ? ", will resume from step \(record.checkpointStep)" : ""
            events.append(
                makeEvent(
                    .requeued, job: record.id,
                    "requeued \(record.id) on tier \(from + 1) (\(record.job.tier(at: from).name))\(resume)"))
        case .moveTo(let tier, let reason):
            requeue(&record)
            let name = record.job.tier(at: tier).name
            record.tierHistory.append(TierVisit(tier: tier, name: name, enteredAt: now, reason: reason.description))
            events.append(
                makeEvent(
                    .fellBack, job: record.id,
                    "\(record.id) falls back from tier \(from + 1) (\(record.job.tier(at: from).name)) to tier "
                        + "\(tier + 1) (\(name)): \(reason); resumes from step \(record.checkpointStep)",
                    details: [
                        "from": String(from), "to": String(tier), "reason": reason.description,
                        "reasonCode": reason.code,
                    ]))
        case .giveUp(let reason):
            record.state = .failed
            record.endedAt = now
            record.reason = reason
            record.placement = nil
            events.append(makeEvent(.gaveUp, job: record.id, "\(record.id) failed: \(reason)"))
        }
        return (record, events)
    }

    /// Chip-hours the attempt of `record` ran, for the fault rates (as SchedSim counts from placement).
    func noteExposure(of record: JobRecord, until now: Double) {
        guard let placement = record.placement else { return }
        faultRates.ran(
            ChipModelID(placement.chipModel), chips: placement.assignments.reduce(0) { $0 + $1.chips.count },
            seconds: now - placement.placedAt)
    }

    /// The session of `node` ended; the node is kept, marked disconnected, until it returns or times out.
    func disconnected(node id: NodeID, session: Int) {
        guard var entry = nodes[id], entry.session == session else { return }
        entry.writer?.close()
        entry.writer = nil
        entry.session = nil
        nodes[id] = entry
        endOutputStreams(of: id)
        dirty = true
    }

    /// Nodes silent past the heartbeat timeout are lost: they take no work, and the node stays known
    /// (down) until its agent registers again. Their attempts go back to the queue once their agents
    /// have surely stopped them (`UnseenAttempts`), at once where the agent does not stop attempts.
    func expireSilentNodes() async {
        let now = clock()
        var changed: [JobRecord] = []
        var events: [PlacementEvent] = []
        // The timeout is in wall seconds; the clock may run faster (a scenario's time scale).
        let timeout = configuration.heartbeatTimeout * configuration.timeScale
        var before: [String: JobRecord] = [:]
        var partners: [(JobRecord, NodeID)] = []
        func requeue(_ record: JobRecord, lostOn id: NodeID) -> Bool {
            guard let (updated, more) = attemptFailed(record, cause: .nodeLost(id), message: nil) else { return false }
            before[record.id] = before[record.id] ?? record
            partners.append((record, id))
            jobs[updated.id] = updated
            changed.append(updated)
            events += more
            return true
        }
        for id in nodes.silent(at: now, timeout: timeout) {
            guard var entry = nodes[id] else { continue }
            var lostJobs = 0
            var waiting = 0
            for record in jobs.activeRecords(on: id) {
                if let until = unseenUntil(record, on: entry), until > now {
                    unseen.wait(AttemptRef(job: record.id, attempt: record.attempt), on: id, until: until)
                    waiting += 1
                    let seconds = formatNumber(((until - now) / configuration.timeScale).rounded(.up))
                    events.append(
                        makeEvent(
                            .nodeLost, job: record.id, node: id.name, attempt: record.attempt,
                            "node \(id) lost with \(record.id) attempt \(record.attempt) on it: requeued in "
                                + "\(seconds) s, once its host has surely stopped it (it runs unseen for at most "
                                + "\(formatNumber(record.run.maxDisconnect ?? configuration.disconnectStop)) s)"))
                } else if requeue(record, lostOn: id) {
                    lostJobs += 1
                }
            }
            // Hang up its old session, if any is still open: a node that comes back registers anew.
            // The node stays known, down: jobs that need it wait for it rather than fail.
            entry.writer?.disconnect(because: "node \(id) was declared lost")
            entry.writer = nil
            entry.session = nil
            entry.lostAt = now
            nodes[id] = entry
            // What it was stopping is given up with the node (it takes no work until it returns).
            fence.releaseAll(on: id)
            endOutputStreams(of: id)
            events.append(
                makeEvent(
                    .nodeLost, node: id.name,
                    "node \(id) lost: no heartbeat for \(Int((now - entry.lastHeartbeat) / configuration.timeScale)) s; "
                        + "\(lostJobs) job(s) requeued"
                        + (waiting == 0 ? "" : ", \(waiting) once its host has surely stopped them")))
        }
        // Attempts whose hosts have surely stopped them by now.
        for (attempt, id) in unseen.due(at: now) {
            guard nodes[id]?.connected != true, let record = jobs[attempt.job], record.attempt == attempt.attempt,
                record.holdsChips,
                record.placement?.assignments.contains(where: { $0.node == id }) == true
            else { continue }
            _ = requeue(record, lostOn: id)
        }
        guard !events.isEmpty else { return }
        // The other nodes of a gang that lost one stop too.
        do {
            try await persist(changed, events, stopping: partners.map { ($0.0, except: $0.1) }, before: before)
        } catch {
            logger.error("cannot store lost nodes: \(error)")
            return
        }
        for (record, lost) in partners { sendKill(record, reason: "node \(lost) was lost", except: lost) }
        dirty = true
    }

    /// When `record`'s attempt on the lost node of `entry` has surely been stopped by its host (the
    /// coordinator's clock); nil when its host does not stop attempts it is cut off with.
    func unseenUntil(_ record: JobRecord, on entry: NodeEntry) -> Double? {
        guard entry.stopsWhenUnseen else { return nil }
        let limit = record.run.maxDisconnect ?? configuration.disconnectStop
        guard limit > 0 else { return nil }
        let wall = UnseenAttempts.wallSeconds(
            limit: limit, grace: configuration.disconnectGrace, heartbeatTimeout: configuration.heartbeatTimeout)
        return entry.lastHeartbeat + wall * configuration.timeScale
    }

    /// `schedctl fallback JOB`: move a job to its next tier now, keeping its checkpoint.
    func operatorFallback(_ request: FallbackRequest) async throws(ErrorReply) -> JobRecord {
        var record = try await record(request.job)
        guard !record.state.isFinal else {
            throw ErrorReply(.conflict, "job \(record.id) has ended (\(record.state.rawValue))")
        }
        let before = [record.id: record]
        let now = clock()
        let from = record.ladder.tier
        switch record.ladder.handle(.operatorRequest(request.reason, at: now), rule: record.job.fallback) {
        case .refused(let why):
            throw ErrorReply(.conflict, "cannot move \(record.id) down: \(why)")
        case .moveTo(let tier, let reason):
            let running = record
            requeue(&record)
            let name = record.job.tier(at: tier).name
            record.tierHistory.append(TierVisit(tier: tier, name: name, enteredAt: now, reason: reason.description))
            let event = makeEvent(
                .fellBack, job: record.id,
                "\(record.id) falls back from tier \(from + 1) (\(record.job.tier(at: from).name)) to tier \(tier + 1) "
                    + "(\(name)): \(reason); resumes from step \(record.checkpointStep)",
                details: [
                    "from": String(from), "to": String(tier), "operator": "true", "reason": reason.description,
                    "reasonCode": reason.code,
                ])
            jobs[record.id] = record
            do {
                try await persist([record], [event], stopping: [(running, except: nil)], before: before)
            } catch {
                throw ErrorReply(.unavailable, "cannot store the fallback: \(error)")
            }
            sendKill(running, reason: "operator fallback")
            return record
        case .stay, .retry, .giveUp:
            throw ErrorReply(.internal, "the fallback ladder did not move \(record.id)")
        }
    }

    /// `schedctl forget-node`: a node that is gone for good leaves the fleet; jobs only it could
    /// hold then fail as no tier can hold them, instead of waiting for it.
    func forget(_ id: NodeID) async throws(ErrorReply) -> NodeStatus {
        guard let entry = nodes[id] else {
            let known = nodes.keys.sorted().prefix(5).map(\.name).joined(separator: ", ")
            throw ErrorReply(.unknownNode, "no node '\(id)'" + (known.isEmpty ? "" : "; known: \(known)"))
        }
        guard !entry.connected else {
            throw ErrorReply(.conflict, "node \(id) is connected: stop its agent first, then forget it")
        }
        let holders = jobs.activeRecords(on: id).map(\.id).sorted()
        guard holders.isEmpty else {
            throw ErrorReply(
                .conflict,
                "jobs \(holders.joined(separator: ", ")) are placed on \(id); forget it once it is declared lost")
        }
        let event = makeEvent(.nodeForgotten, node: id.name, "node \(id) forgotten: it no longer counts in the fleet")
        nodes[id] = nil
        drainDeadlines[id] = nil
        fence.releaseAll(on: id)
        do {
            try await persist([], [event], forgetting: [id])
        } catch {
            nodes[id] = entry
            throw ErrorReply(.unavailable, "cannot store that the node is forgotten: \(error)")
        }
        dirty = true
        return NodeStatus(
            node: entry.node, connected: false, lastHeartbeat: entry.lastHeartbeat, usedBy: [:], lost: true)
    }

    /// Something time-bound changed (a drained chip recovered): plan again now.
    func markDirty() { dirty = true }
}
