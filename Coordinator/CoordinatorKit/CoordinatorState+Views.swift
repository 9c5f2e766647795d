import Foundation
import SchedCore
import Wire

/// What the HTTP side reads: the gauges of a scrape, the fleet and jobs as the page draws them, and
/// web tickets. Read-only: nothing here changes a job or a node.
extension CoordinatorState {
    func gauges() -> FleetGauges {
        let activity = chipActivity()
        let catalog = configuration.catalog
        var chipCounts: [[String]: Int] = [:]
        var vendors: [String: String] = [:]
        var nodeCounts: [String: Int] = [:]
        var sessions = 0
        var oldest = 0.0
        let now = clock()
        for entry in nodes.values {
            for chip in entry.node.chips {
                let state = activity.state(node: entry.node.id, chip: chip.index)
                chipCounts[[chip.model.name, state, chip.health.rawValue], default: 0] += 1
                vendors[chip.model.name] = catalog.vendor(of: chip.model)
            }
            nodeCounts[entry.displayState(holdsWork: activity.holdsWork(entry.node.id)), default: 0] += 1
            if entry.connected {
                sessions += 1
                oldest = max(oldest, (now - entry.lastHeartbeat) / configuration.timeScale)
            }
        }
        let counts = gate.snapshot
        return FleetGauges(
            jobs: jobs.countByLabels.sorted { $0.key < $1.key }.map { .init(labels: $0.key, count: $0.value) },
            chips: chipCounts.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map {
                .init(
                    model: $0.key[0], vendor: vendors[$0.key[0]] ?? "", state: $0.key[1], health: $0.key[2],
                    count: $0.value)
            },
            nodes: nodeCounts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, agentSessions: sessions,
            oldestHeartbeatAge: max(oldest, 0), clientConnections: counts.open,
            handshakesUnderWay: counts.unauthenticated, authFailures: counts.authFailures,
            waitingJobs: jobs.waiting.count)
    }

    /// Chips no job holds that are not free either, by node: those of attempts being stopped (fenced
    /// until their ends are confirmed) and those resting after a fault. What `NODES` and the page show.
    func unavailableChips() -> (stopping: [NodeID: Set<Int>], resting: [NodeID: Set<Int>]) {
        var stopping: [NodeID: Set<Int>] = [:]
        for (key, holding) in fence.holdings() {
            stopping[key.node, default: []].formUnion(holding?.chips ?? [])
        }
        var resting: [NodeID: Set<Int>] = [:]
        for drain in drains.active(at: clock()) { resting[drain.node, default: []].insert(drain.chip) }
        return (stopping, resting)
    }

    /// What every chip is doing now, from one walk over the jobs holding chips, the fence and the drains.
    func chipActivity() -> ChipActivity {
        let (stopping, resting) = unavailableChips()
        return ChipActivity(held: holdings(), stopping: stopping, resting: resting)
    }

    /// What the fleet's summary is counted from: taken in the actor (a few values a node, the chips'
    /// arrays shared, not copied), counted outside it, where a browser's refresh holds up nothing.
    func fleetCensus() -> FleetCensus {
        let activity = chipActivity()
        return FleetCensus(
            nodes: nodes.values.map {
                FleetCensus.NodeFacts(
                    id: $0.node.id, domain: $0.node.domain,
                    state: $0.displayState(holdsWork: activity.holdsWork($0.node.id)), chips: $0.node.chips)
            }, activity: activity, catalog: configuration.catalog)
    }

    /// The nodes of `domain` (every domain's when nil) whose ids contain `match` (when given), in id
    /// order, `limit` of them from `offset`, each with its chips and who holds them.
    func fleetPart(domain: String?, match: String?, offset: Int, limit: Int) -> FleetPart {
        let needle = match?.lowercased()
        let chosen = nodes.values.filter { entry in
            (domain == nil || (entry.node.domain?.name ?? "") == domain)
                && (needle.map { entry.node.id.name.lowercased().contains($0) } ?? true)
        }
        .sorted { $0.node.id < $1.node.id }
        let start = min(max(offset, 0), chosen.count)
        let page = chosen[start..<min(start + max(limit, 0), chosen.count)]
        let activity = chipActivity()
        let catalog = configuration.catalog
        let views = page.map { entry in
            let id = entry.node.id
            return FleetPart.NodeView(
                id: id.name, domain: entry.node.domain?.name ?? "",
                state: entry.displayState(holdsWork: activity.holdsWork(id)), connected: entry.connected,
                lost: entry.lostAt != nil, cpusUsed: activity.held[id]?.cpus ?? 0,
                cpus: entry.node.numaNodes.reduce(0) { $0 + $1.cpus.count },
                chips: entry.node.chips.map { chip in
                    let holders = activity.holders(node: id, chip: chip.index)
                    return FleetPart.ChipView(
                        index: chip.index, model: chip.model.name, vendor: catalog.vendor(of: chip.model),
                        health: chip.health.rawValue, state: activity.state(node: id, chip: chip.index),
                        jobs: holders, queue: holders.first.flatMap { jobs[$0]?.job.queue })
                },
                note: entry.administration.map { "\($0.kind.rawValue) by \($0.by): \($0.reason)" })
        }
        return FleetPart(domain: domain, match: match, offset: start, total: chosen.count, nodes: views)
    }

    /// Up to `limit` jobs holding chips (the last started first), then up to `limit` waiting jobs in
    /// scheduling order, then the last `limit` ended; `counts` says how many there are of each state.
    func jobsView(limit: Int) -> JobsView {
        let records = jobs.records
        let active = jobs.activeRecords.sorted { ($0.startedAt ?? .infinity) > ($1.startedAt ?? .infinity) }
            .prefix(limit)
        let waiting = jobs.order.lazy.compactMap { records[$0] }.filter { $0.state == .queued && $0.array == nil }
            .sorted { ($0.job.priority, -$0.job.submittedAt) > ($1.job.priority, -$1.job.submittedAt) }.prefix(limit)
        // An ended array is one row (its own record sums its tasks up), not a row a task.
        let ended = jobs.order.reversed().lazy.compactMap { records[$0] }
            .filter { $0.state.isFinal && $0.arrayParent == nil }.prefix(limit)
        var summaries = active.map(summary)
        summaries += waiting.map {
            var job = summary($0)
            job.reason = $0.isHeld ? heldReason($0) : waitReason(of: $0.id)
            return job
        }
        summaries += ended.map(summary)
        return JobsView(
            jobs: summaries,
            counts: Dictionary(uniqueKeysWithValues: jobs.countByState.map { ($0.key.rawValue, $0.value) }))
    }

    private func summary(_ record: JobRecord) -> JobSummary {
        let placement = record.placement
        return JobSummary(
            id: record.id, state: record.state.rawValue, kind: record.job.kind.rawValue, queue: record.job.queue,
            user: record.user, priority: record.job.priority, tier: record.ladder.tier + 1,
            tierName: record.job.tier(at: record.ladder.tier).name, tiers: record.job.effectiveTiers.count,
            // What it holds, or while it waits what it asks on its tier.
            model: placement?.chipModel,
            chips: placement?.assignments.reduce(0) { $0 + $1.chips.count }
                ?? record.job.shape(onTier: record.ladder.tier).chipsPerNode
                * record.job.shape(onTier: record.ladder.tier).nodes,
            nodes: placement?.assignments.map(\.node.name) ?? [], attempt: record.attempt,
            submittedAt: record.job.submittedAt, startedAt: record.startedAt, endedAt: record.endedAt,
            reason: record.reason)
    }

    func jobView(_ id: String) async throws(ErrorReply) -> JobView {
        let record = try await record(id)
        return JobView(time: clock(), record: record, events: try await logs(job: id))
    }

    /// The last `count` published events, oldest first, and a live stream of what follows.
    func recentAndLive(count: Int) -> (recent: [PlacementEvent], watcher: Int, live: AsyncStream<PlacementEvent>) {
        let watcher = addWatcher(job: nil)
        return (Array(recentEvents.suffix(count)), watcher.id, watcher.events)
    }

    func setWebURL(_ url: String) { webURL = url }

    /// A ticket for the web page, minted for whoever this session proved to be.
    func webTicket(_ request: WebTicketRequest, identity: PeerIdentity?) -> WebTicketReply {
        let user = identity?.name ?? "token"
        let expires = Date().timeIntervalSince1970 + request.ttlSeconds
        return WebTicketReply(
            ticket: WebTicketKey(token: configuration.token).mint(user: user, expiresAt: expires), user: user,
            expiresAt: expires.rounded(.down), url: webURL)
    }
}

/// The coordinator as its HTTP side sees it: read-only views, the live log, tickets.
public struct CoordinatorReader: Sendable {
    let state: CoordinatorState

    public var configuration: CoordinatorConfiguration { state.configuration }
    public func gauges() async -> FleetGauges { await state.gauges() }
    /// Counted here, outside the state actor, from what `fleetCensus` took in it.
    public func fleetSummary() async -> FleetSummary { await state.fleetCensus().summary }
    /// Clamps `limit` to `FleetPart.maximumLimit`.
    public func fleetPart(domain: String?, match: String?, offset: Int, limit: Int) async -> FleetPart {
        await state.fleetPart(
            domain: domain, match: match, offset: offset, limit: min(limit, FleetPart.maximumLimit))
    }
    public func jobs(limit: Int) async -> JobsView { await state.jobsView(limit: limit) }
    public func job(_ id: String) async throws(ErrorReply) -> JobView { try await state.jobView(id) }
    /// The last `count` events and the live ones after them; call `stopWatching` with the id when done.
    public func watch(recent count: Int) async -> (recent: [PlacementEvent], id: Int, live: AsyncStream<PlacementEvent>)
    {
        let opened = await state.recentAndLive(count: count)
        return (opened.recent, opened.watcher, opened.live)
    }
    public func stopWatching(_ id: Int) async { await state.removeWatcher(id) }
    /// Where the page is served, for the links `WEB_TICKET` answers with.
    public func served(at url: String) async { await state.setWebURL(url) }
}

/// Each node's domain, display state and chips, with what every chip is doing: the fleet's summary
/// counted from values, away from the state they were taken from.
struct FleetCensus: Sendable {
    struct NodeFacts: Sendable {
        var id: NodeID
        var domain: TopologyDomain?
        var state: String
        var chips: [Chip]
    }
    var nodes: [NodeFacts]
    var activity: ChipActivity
    var catalog: ChipCatalog

    var summary: FleetSummary {
        var tally = FleetSummary.Tally()
        // Nodes of one model are the rule: one catalog look-up a model, not one a chip.
        var vendors: [ChipModelID: String] = [:]
        for node in nodes {
            tally.add(
                domain: node.domain?.name ?? "", kind: node.domain?.kind, state: node.state,
                available: node.state == "ready",
                chips: node.chips.map { chip in
                    let vendor =
                        vendors[chip.model]
                        ?? {
                            let found = catalog.vendor(of: chip.model)
                            vendors[chip.model] = found
                            return found
                        }()
                    return (
                        chip.model.name, vendor, activity.state(node: node.id, chip: chip.index),
                        chip.health == .healthy
                    )
                })
        }
        return tally.summary
    }
}

/// What each chip is doing: held by jobs (`busy`), being stopped (`stopping`), resting after a fault
/// (`resting`) or `free`.
struct ChipActivity: Sendable {
    let held: [NodeID: CoordinatorState.NodeHoldings]
    let stopping: [NodeID: Set<Int>]
    let resting: [NodeID: Set<Int>]

    func state(node: NodeID, chip: Int) -> String {
        if stopping[node]?.contains(chip) == true { return "stopping" }
        if held[node]?.chips[chip]?.isEmpty == false { return "busy" }
        return resting[node]?.contains(chip) == true ? "resting" : "free"
    }

    /// The jobs holding the chip, sorted.
    func holders(node: NodeID, chip: Int) -> [String] { (held[node]?.chips[chip] ?? []).sorted() }

    /// Jobs hold chips there, or attempts told to stop still run there: a draining node is not
    /// drained yet (`schedctl nodes`, the page and `/metrics` alike).
    func holdsWork(_ node: NodeID) -> Bool { held[node] != nil || stopping[node] != nil }
}
