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
    /// What shares and host bookings hold, so that room freed beside them counts as a gain: per entry,
    /// the node's CPUs and MiB held; per chip (entries' chips in order), compute and MiB of shares.
    /// Empty when nothing running holds either.
    var cpusHeld: [Int] = []
    var memoryHeld: [Int] = []
    var shareCompute: [Int] = []
    var shareMemory: [Int] = []

    public init(_ snapshot: ClusterSnapshot) {
        var held: [NodeID: Set<Int>] = [:]
        var hostHeld: [NodeID: (cpus: Int, memory: Int)] = [:]
        var shareHeld: [NodeID: [Int: (compute: Int, memory: Int)]] = [:]
        for job in snapshot.running {
            for assignment in job.assignments {
                held[assignment.node, default: []].formUnion(assignment.chips)
                if let booking = assignment.host {
                    let before = hostHeld[assignment.node] ?? (0, 0)
                    hostHeld[assignment.node] = (
                        before.cpus + booking.cpus.count, saturatingSum(before.memory, booking.memoryMiB)
                    )
                }
                if let share = assignment.share?.clamped {
                    for chip in assignment.chips {
                        let before = shareHeld[assignment.node]?[chip] ?? (0, 0)
                        shareHeld[assignment.node, default: [:]][chip] = (
                            before.compute + share.computePercent, saturatingSum(before.memory, share.memoryMiB)
                        )
                    }
                }
            }
        }
        let extras = !hostHeld.isEmpty || !shareHeld.isEmpty
        for node in snapshot.nodes {
            let taken = held[node.id]
            let hostTaken = hostHeld[node.id] ?? (0, 0)
            let sharesTaken = shareHeld[node.id]
            for (position, chip) in node.chips.prefix(64).enumerated() {
                if extras {
                    let share = sharesTaken?[chip.index] ?? (0, 0)
                    shareCompute.append(share.compute)
                    shareMemory.append(share.memory)
                }
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
                    if extras {
                        cpusHeld.append(hostTaken.cpus)
                        memoryHeld.append(hostTaken.memory)
                    }
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
        guard !(cpusHeld.isEmpty && old.cpusHeld.isEmpty) else { return (models, false) }
        // Fewer cores, MiB or share held than before: room beside chips in use.
        func less(_ now: [Int], _ then: [Int], _ position: Int) -> Bool {
            (then.isEmpty ? 0 : then[position]) > (now.isEmpty ? 0 : now[position])
        }
        var chip = 0
        for index in free.indices {
            var gained = less(cpusHeld, old.cpusHeld, index) || less(memoryHeld, old.memoryHeld, index)
            for offset in chip..<chip + chips[index] where !gained {
                gained = less(shareCompute, old.shareCompute, offset) || less(shareMemory, old.shareMemory, offset)
            }
            chip += chips[index]
            if gained { models.insert(model[index]) }
        }
        return (models, false)
    }
}
