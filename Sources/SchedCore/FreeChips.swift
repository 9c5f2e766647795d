/// The chips a snapshot leaves free, node by node: healthy chips of ready nodes that no running job
/// holds. Comparing two says which chip models gained free chips (jobs waiting for them may now fit)
/// and whether the fleet itself changed (nodes came, went or changed state).
public struct FreeChips: Equatable, Sendable {
    struct FreeChip: Equatable, Sendable {
        var index: Int
        var model: ChipModelID
    }
    struct NodeView: Equatable, Sendable {
        var state: NodeState
        var chipCount: Int
        var free: [FreeChip]
    }
    var nodes: [NodeID: NodeView]

    public init(_ snapshot: ClusterSnapshot) {
        var held: [NodeID: Set<Int>] = [:]
        for job in snapshot.running {
            for assignment in job.assignments { held[assignment.node, default: []].formUnion(assignment.chips) }
        }
        var nodes: [NodeID: NodeView] = [:]
        for node in snapshot.nodes {
            let taken = held[node.id] ?? []
            let free =
                node.state == .ready
                ? node.chips.filter { $0.health == .healthy && !taken.contains($0.index) }.map {
                    FreeChip(index: $0.index, model: $0.model)
                } : []
            nodes[node.id] = NodeView(state: node.state, chipCount: node.chips.count, free: free)
        }
        self.nodes = nodes
    }

    /// What changed from `old` to this: the models of chips free now that were not free then, and
    /// whether any node joined, left or changed state.
    public func changes(since old: FreeChips) -> (models: Set<ChipModelID>, fleetChanged: Bool) {
        var models: Set<ChipModelID> = []
        var fleetChanged = nodes.count != old.nodes.count
        for (id, view) in nodes {
            guard let before = old.nodes[id] else {
                fleetChanged = true
                continue
            }
            if before.state != view.state || before.chipCount != view.chipCount { fleetChanged = true }
            guard view.free != before.free else { continue }
            for chip in view.free where !before.free.contains(chip) { models.insert(chip.model) }
        }
        return (models, fleetChanged)
    }
}
