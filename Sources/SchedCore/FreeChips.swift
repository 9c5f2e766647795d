/// The chips a snapshot leaves free, per node and chip model: healthy chips of ready nodes that no
/// running job holds. Comparing two says which chip models have chips free now that were not (only
/// those can make a refused job fit) and whether the fleet itself changed (nodes came, went or
/// changed state, or their chips did). Flat arrays in the snapshot's node order, a bit per chip:
/// built and compared on every scheduling pass, so no per-node allocation.
public struct FreeChips: Equatable, Sendable {
    /// One entry per run of same-model chips of a node, in node order.
    var node: [NodeID] = []
    var state: [NodeState] = []
    var model: [ChipModelID] = []
    var chips: [Int] = []
    /// Bit i: the node's i-th chip (in its inventory's order; at most 64) is free.
    var free: [UInt64] = []

    public init(_ snapshot: ClusterSnapshot) {
        var held: [NodeID: Set<Int>] = [:]
        for job in snapshot.running {
            for assignment in job.assignments { held[assignment.node, default: []].formUnion(assignment.chips) }
        }
        for node in snapshot.nodes {
            let taken = held[node.id]
            for (position, chip) in node.chips.prefix(64).enumerated() {
                let isFree = node.state == .ready && chip.health == .healthy && taken?.contains(chip.index) != true
                let bit: UInt64 = isFree ? 1 << UInt64(position) : 0
                if let last = model.indices.last, self.node[last] == node.id, model[last] == chip.model {
                    chips[last] += 1
                    free[last] |= bit
                } else {
                    self.node.append(node.id)
                    state.append(node.state)
                    model.append(chip.model)
                    chips.append(1)
                    free.append(bit)
                }
            }
        }
    }

    /// What changed from `old` to this: the models of chips free now that were not then, and whether
    /// any node joined, left or changed state or chips.
    public func changes(since old: FreeChips) -> (models: Set<ChipModelID>, fleetChanged: Bool) {
        guard node == old.node, state == old.state, model == old.model, chips == old.chips else {
            return ([], true)
        }
        var models: Set<ChipModelID> = []
        for index in free.indices where free[index] & ~old.free[index] != 0 { models.insert(model[index]) }
        return (models, false)
    }
}
