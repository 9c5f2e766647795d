import Foundation
import SchedCore
import SchedStore
import Wire

extension CoordinatorState {
    /// `schedctl cordon|drain|resume`: sets what an operator says of nodes, stored before it counts.
    /// A cordoned or draining node takes no new work; what runs there goes on (a drain's deadline
    /// stops it later, `enforceDrainDeadlines`). Resuming a node that is neither is a no-op.
    func administer(_ request: NodeStateRequest, by who: String) async throws(ErrorReply) -> [NodeStatus] {
        var ids: [NodeID] = []
        for name in request.nodes where !ids.contains(NodeID(name)) { ids.append(NodeID(name)) }
        let unknown = ids.filter { nodes[$0] == nil }
        guard unknown.isEmpty else {
            let known = nodes.keys.sorted().prefix(5).map(\.name).joined(separator: ", ")
            throw ErrorReply(
                .unknownNode,
                "no node \(unknown.map { "'\($0)'" }.joined(separator: ", "))"
                    + (known.isEmpty ? "" : "; known: \(known)"))
        }
        let now = clock()
        let reason = request.reason?.trimmingCharacters(in: .whitespaces) ?? ""
        var changes: [(id: NodeID, to: NodeAdministration?)] = []
        var events: [PlacementEvent] = []
        for id in ids {
            let to: NodeAdministration? =
                switch request.action {
                case .resume: nil
                case .cordon:
                    NodeAdministration(kind: .cordoned, reason: reason, by: who, since: Date().timeIntervalSince1970)
                case .drain:
                    NodeAdministration(
                        kind: .draining, reason: reason, by: who, since: Date().timeIntervalSince1970,
                        deadline: request.deadlineSeconds.map { now + $0 })
                }
            guard to != nodes[id]?.administration else { continue }
            changes.append((id, to))
            let told = Self.administrationEvent(id, to, by: who, seconds: request.deadlineSeconds)
            events.append(makeEvent(told.kind, node: id.name, told.message, details: told.details))
        }
        if !changes.isEmpty {
            let stored = changes.compactMap { change in
                nodes[change.id].map { StoredNode($0.node, nodeKey: $0.nodeKey, administration: change.to) }
            }
            do {
                try await persist([], events, nodes: stored)
            } catch {
                throw ErrorReply(.unavailable, "cannot store the nodes' state: \(error)")
            }
            // One event a change, in the same order.
            for (change, event) in zip(changes, events) {
                guard var entry = nodes[change.id] else { continue }
                entry.administration = change.to
                nodes[change.id] = entry
                drainDeadlines[change.id] = change.to?.deadline
                logger.notice("\(event.message)")
            }
            // Room came back (resume), or went (a cordon): the next pass's engine sees the nodes' new
            // states, and the jobs waiting for their models are searched again.
            dirty = true
        }
        let statuses = Dictionary(nodeStatuses().map { ($0.node.id, $0) }, uniquingKeysWith: { first, _ in first })
        return ids.compactMap { statuses[$0] }
    }

    /// The placement log's entry for a node's new state: who, why, and what it means.
    static func administrationEvent(_ id: NodeID, _ to: NodeAdministration?, by who: String, seconds: Double?) -> (
        kind: PlacementEvent.Kind, message: String, details: [String: String]
    ) {
        guard let to else { return (.nodeResumed, "node \(id) resumed by \(who): it takes work again", ["by": who]) }
        var details = ["by": who, "reason": to.reason]
        switch to.kind {
        case .cordoned:
            return (
                .nodeCordoned, "node \(id) cordoned by \(who) (\(to.reason)): no new work; what runs there goes on",
                details
            )
        case .draining:
            let until = seconds.map { ", or is stopped and requeued at its deadline in \(formatSeconds($0))" } ?? ""
            if let seconds { details["deadlineSeconds"] = formatNumber(seconds) }
            return (
                .nodeDraining,
                "node \(id) draining by \(who) (\(to.reason)): no new work; what runs there finishes\(until)", details
            )
        }
    }

    /// Drains whose deadline has passed: what still runs on those nodes is stopped and requeued, to
    /// resume from its checkpoint elsewhere (or there, once resumed), as a preemption is.
    func enforceDrainDeadlines(now: Double) async {
        let due = Set(drainDeadlines.filter { $0.value <= now }.keys)
        guard !due.isEmpty else { return }
        let victims = jobs.activeRecords.filter { record in
            record.holdsChips
                && record.placement?.assignments.contains { due.contains($0.node) } == true
        }.sorted { $0.id < $1.id }
        var changed: [JobRecord] = []
        var events: [PlacementEvent] = []
        for victim in victims {
            let node = victim.placement?.assignments.first { due.contains($0.node) }?.node ?? NodeID("?")
            let why = nodes[node]?.administration.map { "\($0.reason), by \($0.by)" } ?? "drained"
            var record = victim
            events.append(
                makeEvent(
                    .preempted, job: record.id, attempt: record.attempt,
                    "preempted \(record.id) attempt \(record.attempt): node \(node)'s drain deadline passed (\(why)); "
                        + "back to the queue, to resume from its checkpoint"))
            requeue(&record)
            changed.append(record)
        }
        let before = jobs.subset(changed.map(\.id))
        for record in changed { jobs[record.id] = record }
        do {
            try await persist(changed, events, stopping: victims.map { ($0, except: nil) }, before: before)
        } catch {
            logger.error("could not store the stops at a drain's deadline; tried again at the next pass: \(error)")
            return
        }
        for node in due { drainDeadlines[node] = nil }
        for victim in victims { sendKill(victim, reason: "its node's drain deadline passed") }
    }
}
