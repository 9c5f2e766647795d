import CoreMetrics
import Foundation
import Logging
import SchedCore
import SchedSpec
import SchedStore
import Wire

/// Which job the last pass reserved chips for, and which chips.
struct ReservedChips: Equatable {
    var job: JobID
    var assignments: [NodeAssignment]
}

/// A node as the coordinator knows it: its inventory, and the agent session that speaks for it.
struct NodeEntry {
    var node: Node
    /// Where other nodes reach it (gang rendezvous): what its agent registered, else the address
    /// its session came from; chips' own addresses where the agent knows them.
    var address: String?
    var chipAddresses: [ChipAddress]?
    var writer: Outbox?
    var session: Int?
    var lastHeartbeat: Double
    /// A node read from the store at start: not lost before this, whatever its last heartbeat
    /// (its agent reconnecting after a restart or a take-over).
    var returnBy: Double?
    /// When the node was declared lost (heartbeat timeout); nil while connected or not yet timed out.
    var lostAt: Double?
    /// Its agent stops its attempts when it hears nothing from the coordinator on the terms it was
    /// given (`Register.stopsWhenUnseen`). A node read from the store is taken to (the safe side).
    var stopsWhenUnseen = true
    /// The fingerprint of the node key its name is bound to (`NodeKeyBinding`); nil: none yet.
    var nodeKey: String?
    /// Cordoned or draining by an operator: it takes no new work.
    var administration: NodeAdministration?
    var connected: Bool { writer != nil }
}

/// The one owner of the coordinator's mutable state: jobs, nodes, the placement log, watchers.
/// Sessions and the scheduling loop call into it; every change is persisted before it is acknowledged
/// or acted on.
actor CoordinatorState {
    let configuration: CoordinatorConfiguration
    let committer: GroupCommitter
    let store: any JobStore
    let logFile: PlacementLogFile
    let logger: Logger
    let gate: ConnectionGate
    let clock: @Sendable () -> Double
    /// When this coordinator started, on its clock, and in wall time.
    let startedAt: Double
    let startedAtWall = Date().timeIntervalSince1970
    /// Stored records set aside at load (kept in the store's quarantine table).
    var quarantined: [QuarantinedRecord] = []
    /// Stored jobs whose records are not read yet (a start reads them after it begins to answer), with
    /// their stored state; scheduling waits until none is left.
    var unloaded: [String: JobRecord.State] = [:]
    var loading = false

    /// Every job, with its indexes (submission order, what holds chips, the waiting queue).
    var jobs: JobTable
    /// The queue tree and each queue's past use, when the coordinator has a tree.
    var queueBook: QueueBook?
    /// The operator's node list (`--node-keys`), re-read on SIGHUP; nil: nodes bind at first use.
    var nodeKeyList: NodeKeyList?
    /// This coordinator's term as leader of a shared store; nil on SQLite.
    var leaderTerm: LeaseTerm?
    func lead(in term: LeaseTerm?) { leaderTerm = term }
    /// Nodes and chips set aside for windows (`schedctl reserve`).
    var reservations = ReservationBook()
    /// Draining nodes with a deadline not yet enforced, and when (coordinator clock).
    var drainDeadlines: [NodeID: Double] = [:]
    var nodes = NodeTable()
    var nextSeq = 1
    /// Publishes committed events in sequence order.
    var sequencer = EventSequencer(next: 1)
    var recentEvents: [PlacementEvent] = []
    var watchers: [Int: Watcher] = [:]
    var watchersFellBehind: Set<Int> = []
    var nextWatcher = 0
    var nextSession = 0
    var nextJobNumber = 1
    /// How many jobs had ended when held jobs were last looked at (nil: look now).
    var endedAtLastRelease: Int?
    /// Something changed that the scheduler should look at; setting it wakes the scheduling loop.
    var dirty = true {
        didSet { if dirty { wake.yield() } }
    }
    let wake: AsyncStream<Void>.Continuation
    /// Why each queued job waits, from the last pass that searched it.
    var waitReasons: [String: WaitReason] = [:]
    /// The engine passes plan on, kept between them; what changed in it since the last pass, and the
    /// reservation that pass made, decide which waiting jobs the next pass searches.
    var planning: IncrementalEngine
    var lastReservation: ReservedChips?
    var fleetWasSettled = false
    /// Jobs found infeasible before the registration grace ended: searched again when it ends.
    var infeasibleDuringGrace: Set<String> = []
    var lastFullRefresh: Double = 0
    var lastPrune = -Double.infinity
    /// Gang attempts: nodes that reported completion.
    var completedNodes: [String: Set<NodeID>] = [:]
    /// When each chip model last failed an attempt, since this coordinator started: a job returns
    /// to its first tier only once that tier has been healthy for the job's window.
    var faultHistory = FaultHistory()
    /// Attempts a fault ended whose account is not written yet: it says so, for the rates learned
    /// from the accounting at the next start.
    var faultedAttempts: Set<AttemptRef> = []
    /// The fastest pace past runs of each job name were measured at (`PastRunPaces`).
    var pastRunPaces = PastRunPaces()
    /// Faults per chip-hour for the expected-finish rule: the configured prior, then what attempts
    /// saw (in memory: a restarted coordinator starts again from the prior).
    var faultRates: FaultRates
    /// Attempts told to stop (or found where they should not be) and the chips they still hold.
    var fence = ChipFence()
    /// Attempts on lost nodes that may still run there, until their agents have surely stopped them.
    var unseen = UnseenAttempts()
    /// Chips resting after a fault, until their recovery time has passed.
    var drains = ChipDrains()
    /// Chips whose reported health flaps are held unhealthy until stable.
    var healthDamper = ChipHealthDamper()
    /// Preemptors waiting for their victims to confirm they stopped, and those victims: such a job is
    /// not planned again meanwhile (it would preempt someone else for the same room).
    var nominated: [String: Set<AttemptRef>] = [:]
    /// Jobs being admitted: in the table, not yet stored; no scheduling pass takes them.
    var admitting: Set<String> = []
    /// The chips each nominated preemptor was planned on: held for it while its victims stop, so that
    /// no lower-priority job (the victim itself, requeued) takes them in between.
    var reservedFor: [String: [NodeAssignment]] = [:]
    /// The last repairs of the holdings the engine is told (`HoldingsRepair`), so that each is logged once.
    var lastHoldingsRepairs: [String] = []
    /// Output relays in progress: request number -> the node asked, and the client's stream.
    var outputStreams: [Int: (node: NodeID, continuation: AsyncStream<OutputChunk>.Continuation)] = [:]
    /// Output requests their agent has answered at least once.
    var outputsAnswered: Set<Int> = []
    var nextOutputRequest = 1
    /// Where the HTTP side serves the page (`--http`), once it listens.
    var webURL: String?
    /// Counters and histograms, moved by what is published.
    var metrics: CoordinatorMetrics

    struct Watcher {
        var job: String?
        var continuation: AsyncStream<PlacementEvent>.Continuation
    }

    static let recentEventLimit = 10_000

    init(
        configuration: CoordinatorConfiguration, store: any JobStore, committer: GroupCommitter,
        logFile: PlacementLogFile, logger: Logger, clock: @escaping @Sendable () -> Double,
        wake: AsyncStream<Void>.Continuation
    ) {
        self.wake = wake
        self.configuration = configuration
        self.store = store
        self.committer = committer
        self.logFile = logFile
        self.logger = logger
        self.clock = clock
        self.gate = ConnectionGate(maximumUnauthenticated: configuration.maximumUnauthenticated)
        jobs = JobTable(
            catalog: configuration.catalog, headDepth: configuration.passHead, passLimit: configuration.passLimit)
        faultRates = FaultRates(prior: configuration.faultRatePrior)
        planning = IncrementalEngine(catalog: configuration.catalog)
        metrics = CoordinatorMetrics(
            factory: configuration.metricsFactory ?? NOOPMetricsHandler.instance, catalog: configuration.catalog)
        queueBook = configuration.queues.map {
            QueueBook(tree: $0, source: configuration.queuesFile ?? "the configuration", configuration: configuration)
        }
        nodeKeyList = configuration.nodeKeys
        startedAt = clock()
    }

    /// Reads back what serving needs: every job's id, state and place in the order, the records of
    /// the jobs holding chips, the recent events and the fleet. The other records follow page by page
    /// (`loadPage`, driven by `StoredJobsLoader`) while the coordinator already answers; nothing is
    /// scheduled until they are all in. Nodes that held running jobs come back as disconnected; if
    /// their agents do not return within the heartbeat timeout they are lost.
    func load() async throws {
        let started = ContinuousClock.now
        let stored = try await store.load(recentEvents: Self.eventsReadAtStart)
        let now = clock()
        jobs.prepareOrder(stored.jobStubs.map(\.id))
        for stub in stored.jobStubs {
            unloaded[stub.id] = JobRecord.State(rawValue: stub.state) ?? .queued
            if let number = Int(stub.id.split(separator: "-").last ?? ""), stub.id.hasPrefix("job-") {
                nextJobNumber = max(nextJobNumber, number + 1)
            }
        }
        for record in stored.jobs { takeIn(record) }
        loading = !unloaded.isEmpty
        // The fleet as it last registered: down until each agent registers again, and lost (but still
        // counted, so that jobs wait for it) if it does not come back within the heartbeat timeout and
        // the return grace (an agent finds a new leader only after noticing the old one is gone).
        let returnBy = now + (configuration.heartbeatTimeout + configuration.returnGrace) * configuration.timeScale
        for stored in stored.nodes {
            nodes[stored.node.id] = NodeEntry(
                node: stored.node, lastHeartbeat: now, returnBy: returnBy, nodeKey: stored.nodeKey,
                administration: stored.administration)
            if let deadline = stored.administration?.deadline { drainDeadlines[stored.node.id] = deadline }
        }
        reservations = ReservationBook(stored.reservations)
        for record in stored.jobs where !record.state.isFinal {
            for assignment in record.placement?.assignments ?? [] where nodes[assignment.node] == nil {
                nodes[assignment.node] = NodeEntry(
                    node: Node(id: assignment.node, chips: []), lastHeartbeat: now, returnBy: returnBy)
            }
        }
        await learnFromAccounting(now: now)
        recentEvents = stored.recentEvents
        nextSeq = stored.lastEventSeq + 1
        sequencer = EventSequencer(next: nextSeq)
        quarantined = stored.quarantined
        logger.info(
            """
            found \(stored.jobStubs.count) jobs (\(stored.jobs.count) holding chips read now), \(stored.nodes.count) \
            nodes and \(stored.lastEventSeq) events in \((ContinuousClock.now - started).milliseconds) ms
            """)
        for record in stored.quarantined {
            logger.error(
                """
                stored \(record.kind.rawValue) \(record.key) is set aside (quarantined), not loaded: \(record.reason); \
                it is kept in the quarantine table of coordinator.sqlite (schedctl health lists it)
                """)
        }
    }

    /// Events read at start for `WATCH` replays from memory; older ones are read from the store.
    static let eventsReadAtStart = 1_000

    /// Adds a page of records read after the start (`StoredJobsLoader`); a job read on demand or
    /// changed meanwhile is kept as it is. Returns whether records are still to be read.
    func loadPage(_ page: StoredJobPage) -> Bool {
        for record in page.records { takeIn(record) }
        for record in page.quarantined {
            unloaded[record.key] = nil
            jobs.forget(record.key)
            quarantined.append(record)
            logger.error(
                """
                stored job \(record.key) is set aside (quarantined), not loaded: \(record.reason); it is kept in \
                the quarantine table of coordinator.sqlite (schedctl health lists it)
                """)
        }
        if page.last == nil {
            // The store has no more rows: anything still unread was deleted meanwhile.
            for id in unloaded.keys { jobs.forget(id) }
            unloaded = [:]
        }
        if unloaded.isEmpty && loading {
            loading = false
            dirty = true
            logger.info("every stored job is read: scheduling starts")
        }
        return loading
    }

    /// A job not read yet, read now (a request about it came first).
    func readNow(_ id: String) async {
        guard unloaded[id] != nil, jobs[id] == nil else { return }
        let record: JobRecord?
        do {
            record = try await store.job(id)
        } catch {
            logger.error("cannot read job \(id) from the store: \(error)")
            return
        }
        if let record { takeIn(record) }
    }

    /// A stored record read after the start joins the table, unless the job is in it already (read
    /// on demand, or changed meanwhile: the table's is newer).
    private func takeIn(_ record: JobRecord) {
        guard unloaded[record.id] != nil, jobs[record.id] == nil else { return }
        jobs[record.id] = record
        unloaded[record.id] = nil
    }

    // MARK: Events

    /// A new event with the next sequence number; it is published once its change is durable.
    func makeEvent(
        _ kind: PlacementEvent.Kind, job: String? = nil, node: String? = nil, attempt: Int? = nil, _ message: String,
        details: [String: String] = [:]
    ) -> PlacementEvent {
        defer { nextSeq += 1 }
        return PlacementEvent(
            seq: nextSeq, time: clock(), kind: kind, job: job, node: node, attempt: attempt, message: message,
            details: details)
    }

    /// Records, new or changed, and their events in one commit, in memory at once: on a failure each
    /// is as it was (a new one gone), and the next pass tries again.
    func store(_ records: [JobRecord], _ events: [PlacementEvent]) async throws {
        let before = jobs.subset(records.map(\.id))
        // New jobs are in the table from now (their ids taken), but no pass may see them until they
        // are stored: a pass that placed one during the commit would run a job the store refused.
        let fresh = records.map(\.id).filter { before[$0] == nil }
        admitting.formUnion(fresh)
        defer { admitting.subtract(fresh) }
        for record in records { jobs[record.id] = record }
        do {
            try await persist(records, events, before: before)
        } catch {
            // Never stored: gone, whatever touched them meanwhile (a cancel, a release of held jobs).
            for id in fresh { jobs[id] = nil }
            throw error
        }
        // A pass that ran during the commit passed them by: the next one searches them.
        for id in fresh { jobs.searchAgain(id) }
        dirty = true
    }

    /// Persists job records and events in one group commit, then publishes the events. When the
    /// store refuses, what could not be stored did not happen: each record goes back to its value
    /// in `before` (unless something changed it since), and the events are not published.
    /// `stopping`: the attempts this commit decides to stop (on all their nodes but `except`): their
    /// chips are fenced before its await, in which a pass may run (`fenceForStop`), and unfenced if
    /// the store refuses; the caller tells their agents once it returns.
    func persist(
        _ records: [JobRecord], _ events: [PlacementEvent], nodes: [StoredNode] = [], forgetting: [NodeID] = [],
        stopping: [(JobRecord, except: NodeID?)] = [], before: [String: JobRecord] = [:],
        reservations: [AdvanceReservation] = [], deletedReservations: [String] = []
    ) async throws {
        var changes = StoreChanges(jobs: records, events: events, nodes: nodes, forgottenNodes: forgetting)
        changes.accounts = takeAccounts()
        changes.reservations = reservations
        changes.deletedReservations = deletedReservations
        let fenced = stopping.flatMap { fenceForStop($0.0, except: $0.except) }
        do {
            try await committer.commit(changes)
        } catch {
            unfence(fenced)
            for record in records where jobs[record.id] == record {
                if let old = before[record.id] { jobs[record.id] = old }
            }
            dirty = true
            publishInOrder(sequencer.abandon(events.map(\.seq)))
            throw error
        }
        publishInOrder(sequencer.committed(events))
    }

    /// Durable events, in sequence order, to the placement log file, memory and live watchers.
    private func publishInOrder(_ events: [PlacementEvent]) {
        for event in events {
            if let error = logFile.append(event) {
                logger.error("cannot append to \(logFile.path) (events stay in the database): \(error)")
            }
            recentEvents.append(event)
            metrics.observe(event, record: event.job.flatMap { jobs[$0] })
            for (id, watcher) in watchers where watcher.job == nil || watcher.job == event.job {
                if case .dropped = watcher.continuation.yield(event) {
                    // Its client reads slower than events come: stop it rather than grow without bound.
                    watchersFellBehind.insert(id)
                    removeWatcher(id)
                }
            }
        }
        if recentEvents.count > Self.recentEventLimit * 2 {
            recentEvents.removeFirst(recentEvents.count - Self.recentEventLimit)
        }
    }

    /// Events a watcher may have waiting before it is stopped as too slow.
    static let watcherBacklogLimit = 10_000

    /// A live watcher: it receives every event from `startSeq` on; older ones (a replay) the
    /// session reads page by page with `events(after:before:)`, at its client's pace.
    func addWatcher(job: String?) -> (id: Int, startSeq: Int, events: AsyncStream<PlacementEvent>) {
        let (stream, continuation) = AsyncStream<PlacementEvent>.makeStream(
            bufferingPolicy: .bufferingOldest(Self.watcherBacklogLimit))
        let id = nextWatcher
        nextWatcher += 1
        watchers[id] = Watcher(job: job, continuation: continuation)
        return (id, sequencer.next, stream)
    }

    /// Up to `limit` kept events with `after < seq < before`, oldest first: from memory when it
    /// holds them, else from the store.
    func events(after: Int, before: Int, limit: Int = 1000) async -> [PlacementEvent] {
        guard after + 1 < before else { return [] }
        if let first = recentEvents.first, first.seq <= after + 1 {
            let start = recentEvents.firstIndex { $0.seq > after } ?? recentEvents.endIndex
            return Array(recentEvents[start...].prefix { $0.seq < before }.prefix(limit))
        }
        let stored = (try? await store.events(after: after, limit: limit)) ?? []
        return stored.filter { $0.seq < before }
    }

    func watcherFellBehind(_ id: Int) -> Bool { watchersFellBehind.remove(id) != nil }

    func removeWatcher(_ id: Int) {
        watchers.removeValue(forKey: id)?.continuation.finish()
    }

    func finishWatchers() {
        for watcher in watchers.values { watcher.continuation.finish() }
        watchers = [:]
    }

    // MARK: Client requests

    /// Parses the job off the actor (a parse per submission must not hold up every session and the
    /// scheduler), then admits it: an id, the record, its event, one group commit, the reply. No
    /// scheduling pass is waited for; the loop picks the job up after.
    nonisolated func submit(_ request: Submit, identity: PeerIdentity? = nil) async throws(ErrorReply) -> SubmitReply {
        var definition: JobDefinition
        do {
            definition = try JobFile.parseDefinition(
                request.spec, file: request.file, catalog: configuration.catalog, submittedAt: clock())
            if let directory = request.directory { definition.run.settle(submitDirectory: directory) }
        } catch {
            let code: ErrorReply.Code = error.message.contains("unknown chip model") ? .unknownChip : .invalidSpec
            throw ErrorReply(code, error.description)
        }
        return try await admit([definition], user: request.user, identity: identity)[0]
    }

    /// Several job files in one commit: all are admitted, or none (each bad file said with its name).
    nonisolated func submit(
        _ batch: [JobText], user: String?, directory: String? = nil, identity: PeerIdentity? = nil
    ) async throws(ErrorReply) -> SubmitBatchReply {
        var definitions: [JobDefinition] = []
        var problems: [String] = []
        let now = clock()
        for text in batch {
            do {
                var definition = try JobFile.parseDefinition(
                    text.spec, file: text.file, catalog: configuration.catalog, submittedAt: now)
                if let directory { definition.run.settle(submitDirectory: directory) }
                definitions.append(definition)
            } catch {
                problems.append(error.description)
            }
        }
        guard problems.isEmpty else {
            let shown = problems.prefix(20).joined(separator: "\n")
            let more = problems.count > 20 ? "\n… and \(problems.count - 20) more" : ""
            throw ErrorReply(
                .invalidSpec, "\(problems.count) of \(batch.count) job files refused; none submitted:\n\(shown)\(more)")
        }
        return SubmitBatchReply(jobs: try await admit(definitions, user: user, identity: identity))
    }

    /// Admits jobs together: ids picked or checked (against each other too), then one commit; a job
    /// is acknowledged once that commit is durable.
    /// Under a queue tree, a proved user (not an operator) may name only queues whose `users` and
    /// `groups` (theirs and their ancestors') take them.
    func admit(_ definitions: [JobDefinition], user: String?, identity: PeerIdentity? = nil) async throws(ErrorReply)
        -> [SubmitReply]
    {
        var records: [JobRecord] = []
        var events: [PlacementEvent] = []
        var taken = Set<String>()
        for definition in definitions {
            var job = definition.job
            if job.id.name.isEmpty {
                while jobs["job-\(nextJobNumber)"] != nil || unloaded["job-\(nextJobNumber)"] != nil
                    || taken.contains("job-\(nextJobNumber)")
                {
                    nextJobNumber += 1
                }
                job.id = JobID("job-\(nextJobNumber)")
                nextJobNumber += 1
            }
            if let existing = jobs[job.id.name]?.state ?? unloaded[job.id.name] {
                throw ErrorReply(.conflict, "job \(job.id) already exists (\(existing.rawValue)); choose another id")
            }
            guard taken.insert(job.id.name).inserted else {
                throw ErrorReply(.conflict, "job \(job.id) is named twice in this batch; choose another id")
            }
            if let refusal = queueBook?.refusal(job: job.id.name, queue: job.queue) {
                throw ErrorReply(.invalidSpec, refusal)
            }
            if let identity, !configuration.permissions.isOperator(identity),
                let refusal = queueBook?.membershipRefusal(queue: job.queue, identity: identity)
            {
                throw ErrorReply(.forbidden, refusal)
            }
            if let name = definition.reservation, let refusal = reservationRefusal(name, job: job, identity: identity) {
                throw refusal
            }
            var record = JobRecord(job: job, run: definition.run)
            record.user = user
            record.groups = identity?.groups
            record.reservation = definition.reservation
            for dependency in definition.dependencies
            where jobs[dependency.job] == nil && unloaded[dependency.job] == nil && !taken.contains(dependency.job) {
                throw ErrorReply(
                    .unknownJob,
                    "job \(job.id) depends on \(dependency), but there is no job '\(dependency.job)'")
            }
            if !definition.dependencies.isEmpty {
                record.dependencies = definition.dependencies
                record.held = true
                endedAtLastRelease = nil
            }
            if let array = definition.array { record.array = JobArrayProgress(spec: array) }
            records.append(record)
            let tiers = job.effectiveTiers.map(\.name).joined(separator: " > ")
            let shape = job.shape(onTier: 0)
            events.append(
                makeEvent(
                    .submitted, job: record.id,
                    "submitted \(record.id): \(job.kind.rawValue), \(shape.nodes) x \(shape.chipsPerNode) chips, "
                        + "tiers \(tiers), priority \(job.priority)"
                        + (record.array.map { ", array \($0.spec) (\($0.spec.count) tasks)" } ?? ""),
                    details: ["kind": job.kind.rawValue, "tiers": tiers, "queue": job.queue]))
        }
        do {
            try await store(records, events)
        } catch {
            throw ErrorReply(.unavailable, "the submission was not stored: \(error)")
        }
        return records.map { SubmitReply(job: $0.id, state: $0.state) }
    }

    func record(_ id: String) async throws(ErrorReply) -> JobRecord {
        await readNow(id)
        guard var record = jobs[id] else {
            let close = jobs.order.filter { $0.hasPrefix(String(id.prefix(3))) }.suffix(3)
            let hint = close.isEmpty ? "" : "; recent jobs like it: \(close.joined(separator: ", "))"
            throw ErrorReply(.unknownJob, "no job '\(id)'\(hint)")
        }
        if record.state == .queued {
            record.reason = queuedReason(record)
            record.queuePosition = queuePosition(of: record)
            if let victims = nominated[id], !victims.isEmpty { record.reason = preemptorReason(record, victims) }
        } else if record.array != nil, let summary = arraySummary(record) {
            record.reason = summary + (record.reason.map { "; \($0)" } ?? "")
        }
        record.elapsed = elapsed(record)
        record.paceExpectation = paceExpectation(record)
        return record
    }

    /// What the current attempt's pace should be, from the job's earlier attempts' and the catalog.
    func paceExpectation(_ record: JobRecord) -> PaceExpectation? {
        guard let pace = record.currentPace, let model = configuration.catalog[ChipModelID(pace.model)] else {
            return nil
        }
        let earlier = (record.paces ?? []).filter { $0.attempt != pace.attempt }
        // A past run of the same name is a baseline too, first so that this job's own wins a tie; the
        // fastest is taken, as the expected-finish rule takes it.
        let past = pastRunPaces.baseline(name: record.run.name, kind: record.job.kind, excluding: record.id)
        var expected = PaceExpectation.on(
            model, kind: record.job.kind, from: (past.map { [$0.pace] } ?? []) + earlier,
            catalog: configuration.catalog)
        if let past, expected?.baseline == past.pace { expected?.baselineJob = past.job }
        return expected
    }

    /// Why a queued job waits: held, an array's progress, or the last search's reason.
    func queuedReason(_ record: JobRecord) -> String? {
        record.isHeld ? heldReason(record) : record.array != nil ? arraySummary(record) : waitReason(of: record.id)
    }

    /// How long a running job's attempt has run, on the coordinator's clock; nil otherwise.
    func elapsed(_ record: JobRecord) -> Double? {
        guard record.state == .running, let started = record.startedAt else { return nil }
        return max(clock() - started, 0)
    }

    /// Why a queued job waits: from the last pass that searched it, or that none has yet.
    func waitReason(of id: String) -> String {
        waitReasons[id]?.describe(now: clock())
            ?? "not searched yet: each scheduling pass searches at most \(configuration.passLimit) of the "
            + "\(jobs.waiting.count) waiting jobs, the first \(configuration.passHead) and what changed first"
    }

    /// A page of jobs in submission order, filtered by state, queue and user, after a job or an offset.
    func list(_ query: JobsQuery) async throws(ErrorReply) -> [JobRecord] {
        // A list in order needs every record: right after a start it waits until they are read.
        while loading { try? await Task.sleep(for: .milliseconds(20)) }
        let wanted = Set(query.states)
        for state in wanted where JobRecord.State(rawValue: state) == nil {
            throw ErrorReply(
                .malformed,
                "unknown state '\(state)'; states: \(JobRecord.State.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var start = 0
        if let after = query.after {
            guard let position = jobs.position(after: after) else {
                throw ErrorReply(.unknownJob, "no job '\(after)' to list after (it may have been forgotten)")
            }
            start = position
        }
        func matches(_ record: JobRecord) -> Bool {
            (wanted.isEmpty || wanted.contains(record.state.rawValue))
                && (query.queue == nil || record.job.queue == query.queue)
                && (query.user == nil || record.user == query.user)
        }
        let limit = query.limit ?? JobsQuery.maximumLimit
        let offset = query.offset ?? 0
        let page: [JobRecord]
        if !wanted.isEmpty && wanted.isSubset(of: ["placed", "running"]) {
            // What holds chips is indexed: no walk through a deep queue to find it.
            let floor = start
            page = Array(
                jobs.activeRecords.filter { matches($0) && (jobs.position(after: $0.id) ?? 0) > floor }
                    .dropFirst(offset).prefix(limit))
        } else {
            let records = jobs.records
            page = Array(
                jobs.order[start...].lazy.compactMap { records[$0] }.filter(matches).dropFirst(offset).prefix(limit))
        }
        return page.map {
            var record = $0
            if record.state == .queued { record.reason = queuedReason(record) }
            record.elapsed = elapsed(record)
            return record
        }
    }

    func health() -> HealthReport {
        var byState = Dictionary(
            uniqueKeysWithValues: JobRecord.State.allCases.map { ($0.rawValue, jobs.countByState[$0] ?? 0) })
        for state in unloaded.values { byState[state.rawValue, default: 0] += 1 }
        let counts = gate.snapshot
        var report = HealthReport(
            uptimeSeconds: Date().timeIntervalSince1970 - startedAtWall, jobs: byState,
            nodesConnected: nodes.values.filter(\.connected).count,
            nodesDisconnected: nodes.values.filter { !$0.connected }.count, connections: counts.open,
            unauthenticatedConnections: counts.unauthenticated, authFailures: counts.authFailures,
            quarantined: quarantined, jobsToRead: loading ? unloaded.count : nil)
        report.plainTCP = configuration.tls == nil ? true : nil
        report.leader = leaderTerm?.holder ?? "this coordinator (SQLite: the only one)"
        report.epoch = leaderTerm.map { Int($0.epoch) }
        let rates = faultRateReport()
        report.faultRates = rates.isEmpty ? nil : rates
        return report
    }

    /// What the jobs holding chips hold on one node: each chip's holders (a shared chip has several),
    /// and the cores and memory booked there.
    struct NodeHoldings {
        var chips: [Int: [String]] = [:]
        var cpus = 0
        var memoryMiB = 0
    }

    /// One walk over the jobs holding chips, by node: what `NODES` and the web page show.
    func holdings() -> [NodeID: NodeHoldings] {
        var result: [NodeID: NodeHoldings] = [:]
        for record in jobs.activeRecords {
            for assignment in record.placement?.assignments ?? [] {
                var holding = result[assignment.node] ?? NodeHoldings()
                for chip in assignment.chips { holding.chips[chip, default: []].append(record.id) }
                holding.cpus += assignment.host?.cpus.count ?? 0
                holding.memoryMiB += assignment.host?.memoryMiB ?? 0
                result[assignment.node] = holding
            }
        }
        return result
    }

    func nodeStatuses() -> [NodeStatus] {
        let now = clock()
        // Attempts told to stop still run there until their ends are confirmed.
        let activity = chipActivity()
        let (held, stoppingChips, resting) = (activity.held, activity.stopping, activity.resting)
        return nodes.values.sorted { $0.node.id < $1.node.id }.map {
            let holding = held[$0.node.id] ?? NodeHoldings()
            // A shared chip is used by several jobs: their ids, sorted, comma-separated.
            let used = Dictionary(
                uniqueKeysWithValues: holding.chips.map { (String($0.key), $0.value.sorted().joined(separator: ",")) })
            var status = NodeStatus(
                node: $0.node, connected: $0.connected, lastHeartbeat: $0.lastHeartbeat, usedBy: used,
                lost: $0.lostAt != nil, cpusUsed: holding.cpus, memoryUsedMiB: holding.memoryMiB, nodeKey: $0.nodeKey)
            status.administration = $0.administration
            status.restingChips = resting[$0.node.id].map { $0.sorted() }
            status.stoppingChips = stoppingChips[$0.node.id].map { $0.sorted() }
            status.deadlineIn = $0.administration?.deadline.map { max($0 - now, 0) }
            status.displayState = $0.displayState(holdsWork: activity.holdsWork($0.node.id))
            return status
        }
    }

    func logs(job: String) async throws(ErrorReply) -> [PlacementEvent] {
        _ = try await record(job)
        do {
            return try await store.events(job: job, limit: 10_000)
        } catch {
            throw ErrorReply(.unavailable, "cannot read the log: \(error)")
        }
    }

    func cancel(_ id: String, by who: String) async throws(ErrorReply) -> JobRecord {
        var record = try await record(id)
        guard !record.state.isFinal else { return record }
        let before = [id: jobs[id]!]
        var events: [PlacementEvent] = []
        let running = record.state != .queued
        let reachable =
            running && (record.placement?.assignments.contains { nodes[$0.node]?.connected == true } ?? false)
        record.cancelledBy = who
        if !reachable {
            record.state = .cancelled
            record.endedAt = clock()
            record.reason = "cancelled by \(who)"
            events.append(
                makeEvent(
                    .cancelled, job: id, attempt: record.attempt, "cancelled \(id) by \(who)", details: ["by": who]))
        } else {
            record.reason = "cancelling: waiting for the agent to stop it"
        }
        jobs[id] = record
        do {
            try await persist([jobs[id]!], events, before: before)
        } catch {
            throw ErrorReply(.unavailable, "the cancellation was not stored: \(error)")
        }
        // Once durable: the agents are told (and the chips fenced, on nodes away too).
        if running { sendKill(before[id]!, reason: "cancelled") }
        if record.array != nil { await cancelTasks(of: record, by: who) }
        dirty = true
        return jobs[id]!
    }

    /// Fences what `record`'s attempt holds on each of its nodes (but `except`) now, before the
    /// decision that stops it is stored: a scheduling pass that runs while that commit is under way
    /// must not place another attempt on those chips. Returns what this call fenced, for `unfence`
    /// when the commit fails; `sendKill` tells the agents once it is stored.
    private func fenceForStop(_ record: JobRecord, except: NodeID? = nil) -> [(AttemptRef, NodeID)] {
        let attempt = AttemptRef(job: record.id, attempt: record.attempt)
        return (record.placement?.assignments ?? []).compactMap { assignment in
            guard assignment.node != except, fence.holdNew(attempt, on: assignment.node, holding: assignment) else {
                return nil
            }
            return (attempt, assignment.node)
        }
    }

    /// Takes back what `fenceForStop` fenced for a decision that was not stored.
    private func unfence(_ fenced: [(AttemptRef, NodeID)]) {
        for (attempt, node) in fenced { fence.lift(attempt, on: node) }
    }

    /// Sends KILL to every node of the job's current attempt; false when no agent could be told.
    /// The attempt's chips stay fenced on each node until its agent confirms the end (or the node is
    /// lost); on a node that cannot be told now, they stay fenced until it registers again.
    @discardableResult
    func sendKill(
        _ record: JobRecord, reason: String, except: NodeID? = nil, checkpoint: CheckpointRequest? = nil
    ) -> Bool {
        var sent = false
        let attempt = AttemptRef(job: record.id, attempt: record.attempt)
        for assignment in record.placement?.assignments ?? [] where assignment.node != except {
            // Ended there already (while this decision was being stored): nothing to stop.
            guard fence.hold(attempt, on: assignment.node, holding: assignment) else { continue }
            guard let writer = nodes[assignment.node]?.writer else { continue }
            if writer.send(
                .kill(KillOrder(job: record.id, attempt: record.attempt, reason: reason, checkpoint: checkpoint)))
            {
                sent = true
            }
        }
        return sent
    }
}
