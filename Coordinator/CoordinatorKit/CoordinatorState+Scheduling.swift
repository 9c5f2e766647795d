import SchedCore
import SchedSpec
import Wire

extension CoordinatorState {
    /// What one scheduling cycle plans on: taken inside the actor, planned outside it.
    struct CycleInput: Sendable {
        var engine: SchedulingEngine
        var queue: [PendingJob]
        var now: Double
        var seed: UInt64
        var faultRates: FaultRates
        /// The queues' ledger, when the coordinator has a tree.
        var queues: QueueLedger?
        /// The reservations, with the jobs each admits.
        var windows: [ReservedWindow] = []
    }

    /// Every waiting job is searched again this often (within the pass limit), whatever changed: a
    /// safety net for rules that depend on time alone.
    static let fullRefreshInterval: Double = 300

    /// Jobs of each queue every pass searches under a queue tree, beside the pass's own choice.
    static let queueHeadDepth = 8

    /// The snapshot and the jobs a pass searches, or nil when no waiting job is due: new or changed
    /// jobs, jobs whose chips may have become free since they were last searched, jobs whose wait
    /// limit ran out (`WaitingQueue`), at most `--pass-limit` of them with the first `--pass-head`.
    func cycleInput() -> CycleInput? {
        // A preemptor waits out its victims' stop instead of being planned (and preempting) again.
        let wasNominated = Set(nominated.keys)
        nominated = nominated.filter { _, victims in victims.contains { fence.isStopping($0) } }
        reservedFor = reservedFor.filter { nominated[$0.key] != nil }
        for id in wasNominated.subtracting(nominated.keys).sorted() { jobs.searchAgain(id) }
        dirty = false
        // Right after a start the queue is not all read yet: planning part of it would break its order.
        guard !loading, jobs.waiting.count > 0 else { return nil }
        let now = clock()
        guard let engine = plannedEngine(now: now) else { return nil }
        noteChanges(planning.takeChanges(), now: now)
        guard var selected = jobs.selectPass(now: now) else { return nil }
        // Under a queue tree, every queue's first jobs too: the fair order chooses among queues only
        // between jobs the pass searches.
        if queueBook != nil {
            var taken = Set(selected)
            for id in jobs.queueHeads(perQueue: Self.queueHeadDepth) where taken.insert(id).inserted {
                selected.append(id)
            }
        }
        let records = jobs.records
        let queue = selected.compactMap { id -> PendingJob? in
            guard let record = records[id.name], record.state == .queued, nominated[id.name] == nil,
                !admitting.contains(id.name)
            else { return nil }
            if let name = record.reservation, reservations[name] == nil {
                // Its reservation ended or was deleted: it waits (Slurm holds such jobs) until its owner
                // drops the name or cancels it.
                waitReasons[id.name] = WaitReason(
                    kind: .waiting, tier: record.job.tier(at: record.ladder.tier).name,
                    shape: record.job.shape(onTier: record.ladder.tier),
                    detail: "its reservation \(name) has ended or was deleted: schedctl update \(id.name) "
                        + "--reservation none to run outside it, or cancel it")
                return nil
            }
            return PendingJob(record.job, ladder: record.ladder, progress: progress(of: record))
        }
        guard !queue.isEmpty else { return nil }
        let ledger = queueBook?.ledger(
            holding: jobs.activeRecords, nodes: planning.nodes, catalog: configuration.catalog, now: now)
        return CycleInput(
            engine: engine, queue: queue, now: now, seed: configuration.seed &+ UInt64(nextSeq),
            faultRates: faultRates, queues: ledger,
            windows: reservations.isEmpty ? [] : reservations.windows(for: queue, records: records, now: now))
    }

    /// Tells the waiting queue what changed since the last pass: chip models that gained room, or the
    /// fleet itself (nodes, their states, the end of the registration grace, a full refresh).
    func noteChanges(_ change: FleetChanges, now: Double) {
        let settled = fleetSettled(at: now)
        if change.fleetChanged { jobs.everythingChanged() } else { jobs.capacityChanged(models: change.models) }
        if settled && !fleetWasSettled {
            // The registration grace is over: the jobs no tier could hold are searched once more, and
            // fail if that is still so. The others' reasons do not depend on it.
            for id in infeasibleDuringGrace.sorted() { jobs.searchAgain(id) }
            infeasibleDuringGrace = []
        }
        if now - lastFullRefresh >= Self.fullRefreshInterval * configuration.timeScale {
            jobs.everythingChanged()
            lastFullRefresh = now
        }
        fleetWasSettled = settled
    }

    /// Whether agents have had `--registration-grace` since the start: a job no tier could ever hold
    /// fails only then.
    func fleetSettled(at now: Double) -> Bool {
        now - startedAt >= configuration.registrationGrace * configuration.timeScale
    }

    /// The engine a pass plans on: the fleet as the scheduler sees it (disconnected nodes down), holding
    /// what holds chips now (`chipHolders`, repaired by `HoldingsRepair`). Kept between passes and told
    /// what changed (`IncrementalEngine`). Nil, and logged, when the engine refuses the fleet.
    func plannedEngine(now: Double) -> SchedulingEngine? {
        planning.setFleet(generation: nodes.generation, statesMoved: nodes.stateMoves(since: planning.generation)) {
            nodes.values.map(\.planned)
        }
        nodes.markStateMovesSeen()
        let (running, repairs) = HoldingsRepair(nodes: planning.nodeByID, holdings: chipHolders(now: now)).repaired()
        if repairs != lastHoldingsRepairs {
            for repair in repairs where !lastHoldingsRepairs.contains(repair) {
                logger.warning("the live view needed a repair before planning: \(repair)")
            }
            lastHoldingsRepairs = repairs
        }
        do {
            return try planning.engine(holding: running)
        } catch {
            logger.error("the scheduler refused the fleet: \(error)")
            return nil
        }
    }

    /// Everything that holds chips now, the one list both the engine's snapshot and the applier's
    /// re-check read: current attempts; attempts an agent runs that are not ours (fenced whole-node),
    /// chips held for a job while the attempts in its way stop, and chips resting after a fault, each
    /// at a priority nothing preempts. Attempts told to stop are not in it: the engine plans as if
    /// they had stopped, as SchedSim does, and the applier holds back a placement on what they still
    /// hold until their agents confirm (`stopsInTheWay`), so that both drivers decide alike and no
    /// chip is ever used by two attempts.
    func chipHolders(now: Double) -> [RunningJob] {
        let current = jobs.activeRecords
        var holders = current.compactMap { record -> RunningJob? in
            guard let placement = record.placement else { return nil }
            let started = record.startedAt ?? placement.placedAt
            return RunningJob(
                id: record.job.id, priority: record.job.priority, assignments: placement.assignments,
                startedAt: started, expectedEndAt: record.job.timeLimit.map { started + $0 },
                savesCheckpointWhenAsked: record.run.checkpointRequest != nil)
        }
        let currentAttempts = Set(current.map { AttemptRef(job: $0.id, attempt: $0.attempt) })
        for (key, holding) in fence.holdings() where !currentAttempts.contains(key.attempt) && holding == nil {
            let held = NodeAssignment(node: key.node, chips: nodes[key.node]?.node.chips.map(\.index) ?? [])
            holders.append(
                RunningJob(
                    id: JobID("\(key.attempt.job) attempt \(key.attempt.attempt) (stopping)"), priority: Int.max,
                    assignments: [held], startedAt: now,
                    // Told to stop: expected to end at once, so that backfill reserves as if it had
                    // (SchedSim frees a stopped attempt's chips at once).
                    expectedEndAt: now))
        }
        for (job, assignments) in reservedFor.sorted(by: { $0.key < $1.key }) {
            holders.append(
                RunningJob(id: Self.reservation(for: job), priority: Int.max, assignments: assignments, startedAt: now))
        }
        for drain in drains.active(at: now) {
            holders.append(ChipDrain.running(node: drain.node, chip: drain.chip, at: now, until: drain.until))
        }
        return holders
    }

    /// The holder of the chips kept for a preemptor while its victims stop.
    static func reservation(for job: String) -> JobID { JobID("reserved for \(job)") }

    /// One scheduling cycle: snapshot in the actor, plan outside it (sessions go on meanwhile), then
    /// apply here with every placement re-checked against what changed in between.
    func scheduleOnce() async {
        await enforceDrainDeadlines(now: clock())
        await passReservationBoundaries(now: clock())
        await releaseHeld()
        await advanceArrays()
        let started = ContinuousClock.now
        guard let input = cycleInput() else { return }
        let planned = ContinuousClock.now
        let plan = await Self.plan(input, policy: configuration.policy)
        let applying = ContinuousClock.now
        await apply(plan, now: input.now)
        metrics.pass(took: ContinuousClock.now - started, searched: input.queue.count)
        logger.debug(
            """
            pass: \(input.queue.count) of \(jobs.waiting.count + plan.placements.count) waiting jobs searched, \
            \(plan.placements.count) placed; \((planned - started).milliseconds) ms to prepare, \
            \((applying - planned).milliseconds) ms to plan, \((ContinuousClock.now - applying).milliseconds) ms to apply
            """)
        // What this pass could not take is carried to the next, which runs at once.
        if jobs.waiting.hasDueWork(at: clock()) { dirty = true }
    }

    /// Runs on the global executor, not the actor's: planning a long queue must not hold up sessions.
    @concurrent nonisolated static func plan(_ input: CycleInput, policy: SchedulingPolicy) async -> SchedulingPlan {
        input.engine.plan(
            queue: input.queue, now: input.now, policy: policy, seed: input.seed, faultRates: input.faultRates,
            queues: input.queues, windows: input.windows)
    }

    /// The applier: re-checks, persists, then tells agents.
    func apply(_ plan: SchedulingPlan, now: Double) async {
        var changed: [String: JobRecord] = [:]
        var events: [PlacementEvent] = []
        var victims: [(JobRecord, String)] = []

        for preemption in plan.preemptions {
            guard var victim = jobs[preemption.victim.name], victim.holdsChips else {
                continue
            }
            nominated[preemption.preemptor.name, default: []].insert(
                AttemptRef(job: victim.id, attempt: victim.attempt))
            victims.append((victim, "preempted by \(preemption.preemptor)"))
            // A job that said how is asked to save a checkpoint first, and resumes from it.
            let asked = victim.run.checkpointRequest.map { "; asked to save a checkpoint first (\($0.summary))" }
            events.append(
                makeEvent(
                    .preempted, job: victim.id, attempt: victim.attempt,
                    "preempted \(victim.id) attempt \(victim.attempt) for \(preemption.preemptor): "
                        + "\(preemption.reason)\(asked ?? "")",
                    details: victim.run.checkpointRequest.map { ["checkpointSignal": $0.signal] } ?? [:]))
            requeue(&victim)
            changed[victim.id] = victim
        }
        for fallback in plan.fallbacks {
            guard var record = changed[fallback.job.name] ?? jobs[fallback.job.name], record.state == .queued else {
                continue
            }
            events.append(fallBack(&record, fallback, now: now))
            changed[record.id] = record
        }
        // Jobs with no tier left fail, and so does a job no tier of the fleet could ever hold (rather
        // than wait forever), once agents have had time to register after a start.
        let settled = fleetSettled(at: now)
        let infeasible = plan.waiting.filter { settled && $0.reason.isInfeasible }
        let givingUp =
            plan.givenUp.map { ($0.job, $0.reason) }
            + infeasible.map { ($0.job, "no tier can ever hold it: \($0.reason)") }
        for (job, reason) in givingUp {
            guard var record = changed[job.name] ?? jobs[job.name], record.state == .queued else { continue }
            record.state = .failed
            record.endedAt = now
            record.reason = reason
            events.append(makeEvent(.gaveUp, job: record.id, "\(record.id) failed: \(reason)"))
            changed[record.id] = record
        }
        var orders: [(job: String, attempt: Int, node: NodeID, order: RunOrder)] = []
        // What held chips when this cycle started: its placements are re-checked against it.
        let holders = chipHolders(now: clock())
        for placement in plan.placements {
            // Planned on what attempts told to stop still hold, or for a job one of whose attempts still
            // stops somewhere (a gang partner, the attempt it left at a checkpoint: never two attempts of
            // one job at once): it waits for those ends, with the chips it was planned on held for it
            // (SchedSim, which stops attempts at once, places it on them now).
            let inTheWay = stopsInTheWay(of: placement).union(fence.stoppingAttempts(of: placement.job.name))
            if !inTheWay.isEmpty {
                nominated[placement.job.name] = inTheWay
                reservedFor[placement.job.name] = placement.assignments
                continue
            }
            guard var record = changed[placement.job.name] ?? jobs[placement.job.name], record.state == .queued,
                record.ladder.tier == placement.tier, chipsAreFree(placement, holders: holders)
            else {
                // A preemptor waits for its victims to stop; its chips are held for it meanwhile.
                if nominated[placement.job.name] != nil { reservedFor[placement.job.name] = placement.assignments }
                continue
            }
            record.state = .placed
            record.attempt += 1
            record.attemptNodes = (record.attemptNodes ?? [:]).merging(
                [String(record.attempt): placement.assignments[0].node.name]) { $1 }
            if placement.assignments.count > 1 {
                record.attemptRanks = (record.attemptRanks ?? [:]).merging(
                    [String(record.attempt): placement.assignments.map(\.node.name)]) { $1 }
            }
            _ = record.ladder.handle(.placed(at: now), rule: record.job.fallback)
            record.reason = nil
            let run = record.run.resolved(tier: placement.tier)
            let spec = run.summary(tierName: placement.tierName)
            var port: Int?
            if placement.assignments.count > 1 {
                port = rendezvousPort(rankZero: placement.assignments[0].node, besides: Array(changed.values))
                guard port != nil else {
                    let node = placement.assignments[0].node
                    logger.warning(
                        "no rendezvous port of \(configuration.rendezvousPorts) is free on \(node) for \(record.id); it waits"
                    )
                    continue
                }
            }
            record.placement = PlacementRecord(
                tier: placement.tier, tierName: placement.tierName, chipModel: placement.chipModel.name,
                assignments: placement.assignments, reason: placement.reason.description, placedAt: now, spec: spec,
                rendezvousPort: port)
            let whereText = placement.assignments.map(\.summary).joined(separator: "; ")
            // What runs, when it is not simply the job's command as a process.
            let runs = run.fromTier.isEmpty && run.image == nil ? "" : "; runs \(spec)"
            events.append(
                makeEvent(
                    .placed, job: record.id, node: placement.assignments.first?.node.name, attempt: record.attempt,
                    "placed \(record.id) attempt \(record.attempt) on \(whereText), tier \(placement.tier + 1) "
                        + "(\(placement.tierName), \(placement.chipModel)): \(placement.reason)\(runs)",
                    details: [
                        "tier": String(placement.tier), "chipModel": placement.chipModel.name,
                        "nodes": placement.assignments.map(\.node.name).joined(separator: ","),
                        // node=chip,chip;node=...: what a reader of the log checks bookings with.
                        "chips": placement.assignments.map {
                            "\($0.node)=" + $0.chips.map(String.init).joined(separator: ",")
                        }.joined(separator: ";"),
                        "backfilled": String(placement.backfilled),
                    ]))
            // What every node of the attempt shares is worked out once: its spec and rendezvous.
            let vendor = configuration.catalog[placement.chipModel]?.vendor
            let gang = port.flatMap { rendezvous(placement, port: $0, vendor: vendor) }
            for (rank, assignment) in placement.assignments.enumerated() {
                orders.append(
                    (
                        record.id, record.attempt, assignment.node,
                        runOrder(
                            record, placement: placement, assignment: assignment, rank: rank, run: run, spec: spec,
                            gang: gang)
                    ))
            }
            changed[record.id] = record
        }
        // Wait reasons are derived, not state: kept in memory, shown by STATUS and JOBS.
        // Kept as values, told as sentences when read: a pass of a thousand alike jobs formats nothing.
        for waiting in plan.waiting {
            waitReasons[waiting.job.name] = waiting.reason
            if !settled && waiting.reason.isInfeasible { infeasibleDuringGrace.insert(waiting.job.name) }
        }
        // A reservation that moved to other chips or another job frees or holds back chips for the
        // jobs behind it. (Its start alone is not compared: it follows the clock while it waits on
        // attempts being stopped, and would make every pass look new.)
        let reserved = plan.reservation.map { ReservedChips(job: $0.job, assignments: $0.assignments) }
        if reserved != lastReservation {
            jobs.everythingChanged()
            lastReservation = reserved
        }
        for record in changed.values where record.state != .queued { waitReasons[record.id] = nil }
        let before = jobs.subset(Array(changed.keys))
        for record in changed.values { jobs[record.id] = record }
        guard !changed.isEmpty || !events.isEmpty else { return }
        do {
            try await persist(
                changed.values.sorted { $0.id < $1.id }, events, stopping: victims.map { ($0.0, except: nil) },
                before: before)
        } catch {
            logger.error("could not persist a scheduling cycle, so none of it happened: \(error)")
            return
        }
        // Durable: now the agents are told, victims first, on the same ordered sessions.
        for (victim, reason) in victims { sendKill(victim, reason: reason, checkpoint: victim.run.checkpointRequest) }
        for (job, attempt, node, order) in orders {
            // Re-check after the write: a cancel or a lost node may have come in meanwhile.
            guard let record = jobs[job], record.attempt == attempt, record.state == .placed,
                let writer = nodes[node]?.writer
            else { continue }
            if !writer.send(.run(order)) { logger.warning("RUN for \(job) not sent to \(node): its session is gone") }
        }
    }

    /// The applier's re-check: every chip of the placement is on a live node and healthy, and what it
    /// books (whole chips, a share, CPUs, memory) is free beside `holders` (`chipHolders`, taken once
    /// per cycle) but the chips kept for this very job.
    /// The attempts told to stop whose chips, cores or shares `placement` would use.
    func stopsInTheWay(of placement: JobPlacement) -> Set<AttemptRef> {
        let nodes = Set(placement.assignments.map(\.node))
        var inTheWay: Set<AttemptRef> = []
        // A set comes out: the fence's entries need no order here (this runs for every placement).
        for (key, holding) in fence.stopping where nodes.contains(key.node) {
            guard let holding, let node = self.nodes[key.node]?.node else { continue }
            var ledger = HoldingsLedger(nodes: [node])
            _ = ledger.take(holding, for: JobID("\(key.attempt.job) attempt \(key.attempt.attempt) (stopping)"))
            if placement.assignments.contains(where: {
                $0.node == key.node && ledger.conflict(in: $0, for: placement.job) != nil
            }) {
                inTheWay.insert(key.attempt)
            }
        }
        return inTheWay
    }

    func chipsAreFree(_ placement: JobPlacement, holders: [RunningJob]) -> Bool {
        var live: [Node] = []
        for assignment in placement.assignments {
            guard let entry = nodes[assignment.node], entry.connected else { return false }
            let present = Set(entry.node.chips.filter { $0.health == .healthy }.map(\.index))
            guard Set(assignment.chips).isSubset(of: present) else { return false }
            live.append(entry.node)
        }
        var ledger = HoldingsLedger(nodes: live)
        let own = Self.reservation(for: placement.job.name)
        for holder in holders where holder.id != own {
            for held in holder.assignments { _ = ledger.take(held, for: holder.id) }
        }
        return placement.assignments.allSatisfy { ledger.conflict(in: $0, for: placement.job) == nil }
    }

    /// What `record` has left after its checkpoint, for the expected-finish rule, with the paces it
    /// reported: a simulated run's steps as SchedSim builds them; a real job's `steps`, once a pace
    /// of it is measured (nil before).
    func progress(of record: JobRecord) -> JobProgress? {
        let paces = record.paces ?? []
        let catalog = configuration.catalog
        if let simulation = record.run.simulation {
            return simulation.progress(
                checkpointStep: record.checkpointStep, restartSeconds: configuration.chipRecovery
            )
            .measured(paces, kind: record.job.kind, catalog: catalog)
        }
        // A real job: the steps it declared, at the pace it reported, or a past run of its name did
        // (the fastest of them: what the catalog's speeds are nearest to).
        let past = pastRunPaces.baseline(name: record.run.name, kind: record.job.kind, excluding: record.id)
        let own = JobProgress.referenceStepSeconds(from: paces, kind: record.job.kind, catalog: catalog)
        guard let steps = record.run.steps, let every = record.run.checkpointInterval,
            let reference = [own, past?.reference].compactMap({ $0 }).min()
        else { return nil }
        return JobProgress(
            stepsLeft: steps - record.checkpointStep, secondsPerReferenceStep: reference,
            checkpointEverySteps: every, restartSeconds: configuration.chipRecovery
        ).measured(paces, kind: record.job.kind, catalog: catalog)
    }

    /// Moves `record` down its tiers as `fallback` says: its ladder, its tier history, and the event
    /// for the log (`at` says where, for a running job moved at a checkpoint).
    func fallBack(_ record: inout JobRecord, _ fallback: TierFallback, now: Double, at: String = "") -> PlacementEvent {
        record.ladder = fallback.ladder
        let name = record.job.tier(at: fallback.toTier).name
        record.tierHistory.append(
            TierVisit(tier: fallback.toTier, name: name, enteredAt: now, reason: fallback.reason.description))
        return makeEvent(
            .fellBack, job: record.id,
            "\(record.id) falls back from tier \(fallback.fromTier + 1) (\(record.job.tier(at: fallback.fromTier).name)) "
                + "to tier \(fallback.toTier + 1) (\(name))\(at): \(fallback.reason)",
            details: [
                "from": String(fallback.fromTier), "to": String(fallback.toTier),
                "reason": fallback.reason.description, "reasonCode": fallback.reason.code,
            ])
    }

    /// Back to the queue on the same tier (the ladder decides about tiers elsewhere).
    func requeue(_ record: inout JobRecord) {
        record.state = .queued
        record.placement = nil
        record.startedAt = nil
        completedNodes[record.id] = nil
        dirty = true
    }
}
