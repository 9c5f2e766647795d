/// How good a chip is for a share under the policy's node order; smaller is better.
struct ShareRank: Comparable {
    var tier: Int
    var key: Int
    var node: Int
    var bit: Int

    static func < (a: ShareRank, b: ShareRank) -> Bool {
        (a.tier, a.key, a.node, a.bit) < (b.tier, b.key, b.node, b.bit)
    }

    /// A chip under the policy's node order: one that already holds shares (`room`: compute left
    /// after this share) or a free one (`room`: free chips on its node). Bin-pack takes shared chips
    /// first, tightest first; spread free chips first, on the emptiest node; first-fit fleet order.
    init(order: NodeOrder, onSharedChip shared: Bool, room: Int, node: Int, bit: Int) {
        switch order {
        case .fewestFreeFirst: (tier, key) = (shared ? 0 : 1, room)
        case .mostFreeFirst: (tier, key) = (shared ? 1 : 0, -room)
        case .lowestPositionFirst: (tier, key) = (0, 0)
        }
        self.node = node
        self.bit = bit
    }
}

extension PlanningSession {
    /// Where a share of one chip goes: a chip that already holds shares and has room beside them, or
    /// a free whole chip, as the policy orders nodes. Bin-pack fills shared chips first, the fullest
    /// that fits (best fit), and opens a whole chip on the fullest node only when none has room;
    /// spread opens whole chips on the emptiest nodes first; first-fit takes the first chip in fleet
    /// order. Whole chips are never given to a share and a whole-chip job at once.
    mutating func findShare(
        job: Job, share: ChipShare, shape: JobShape, groups: [[Int]], avoidReserved: Bool
    ) -> Candidate? {
        guard let shares = shareState else { return nil }
        let demand = job.hostDemand(shape)
        let order = policy.nodeOrder
        let minimum = max(share.memoryMiB, job.minChipMemoryGiB.map { mebibytes(fromGiB: $0) } ?? 0)
        let lookahead = 8
        for group in groups {
            var best: (rank: ShareRank, candidate: Candidate)?
            func consider(_ rank: ShareRank, node: Int, slot: Int, model: Int, bit: Int) {
                if let best, best.rank <= rank { return }
                let mask: UInt64 = 1 << UInt64(bit)
                var pick = ChipPick(mask: mask, numaNodes: [])
                let numa = layout.chipNUMA[layout.chipStart[node] + bit]
                if numa >= 0 { pick.numaNodes = [numa] }
                if let demand {
                    guard let hold = hostState?.pick(node: node, demand: demand, near: pick.numaNodes) else { return }
                    pick.host = hold
                }
                best = (
                    rank,
                    Candidate(node: node, slot: slot, model: model, pick: pick, freeChips: index.freeCount(slot: slot))
                )
            }
            for model in group {
                // Chips that already hold shares, by compute left: tightest first for bin-pack (the
                // first that passes is the best fit), roomiest first for spread, every room for first-fit.
                let rooms = Array(min(max(share.computePercent, 0), 100)...100)
                for room in order == .mostFreeFirst ? rooms.reversed() : rooms {
                    let bucket = shares.byRoom[model][room]
                    var position = bucket.first(from: 0)
                    var foundHere = false
                    while let chip = position, !foundHere {
                        position = bucket.first(from: chip + 1)
                        let slot = layout.chipSlot[chip]
                        let node = layout.slotNode[slot]
                        let bit = chip - layout.chipStart[node]
                        let capacity = layout.chipMemoryMiB[chip]
                        guard index.nodeStates[node] == .ready, labelsMatch(node: node, job: job),
                            layout.slotUsable[slot] & (1 << UInt64(bit)) != 0,
                            capacity >= minimum, shares.fits(share, chip: chip, capacity: capacity),
                            demand.map({ hostState?.rejection(node: node, demand: $0) == nil }) ?? true,
                            !hostReserved(node: node, demand: demand, avoidReserved: avoidReserved)
                        else { continue }
                        let rank = ShareRank(
                            order: order, onSharedChip: true, room: room - share.computePercent, node: node, bit: bit)
                        consider(rank, node: node, slot: slot, model: model, bit: bit)
                        // Chips in fleet order: the first that passes in a bucket is its best.
                        foundHere = true
                    }
                    if foundHere && order != .lowestPositionFirst { break }
                }
                // Free whole chips, nodes in the policy's order.
                var cursor = index.cursor(model: model, atLeast: 1, order: order)
                var looked = 0
                while looked < lookahead, let node = index.next(&cursor) {
                    guard let slot = layout.slot(ofNode: node, model: model),
                        rejection(node: node, slot: slot, job: job, shape: shape, avoidReserved: avoidReserved) == nil,
                        let chosen = index.pickChips(
                            slot: slot, count: 1, excluding: avoidReserved ? reservedChips[slot] ?? 0 : 0)
                    else { continue }
                    let bit = chosen.mask.trailingZeroBitCount
                    guard layout.chipMemoryMiB[layout.chipStart[node] + bit] >= minimum else { continue }
                    looked += 1
                    let rank = ShareRank(
                        order: order, onSharedChip: false, room: index.freeCount(slot: slot), node: node, bit: bit)
                    consider(rank, node: node, slot: slot, model: model, bit: bit)
                }
            }
            if let best { return best.candidate }
        }
        return nil
    }
}
