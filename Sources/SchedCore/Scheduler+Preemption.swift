/// What a preemption costs: fewest victims first, then the least work since their checkpoints.
struct PreemptionCost: Comparable {
    var victims: Int
    var workLost: Double
    static func < (a: PreemptionCost, b: PreemptionCost) -> Bool {
        (a.victims, a.workLost) < (b.victims, b.workLost)
    }
}

extension PlanningSession {
    /// The smallest set of strictly lower-priority running jobs whose chips make the job fit, preferring
    /// victims whose last checkpoint is most recent. Gangs look for their victims inside one domain.
    mutating func findPreemption(
        job: Job, shape: JobShape, groups: [[Int]], avoidReserved: Bool
    ) -> (candidates: [Candidate], victims: [Int])? {
        // A share does not preempt (yet): which of a chip's shares to stop is a question of its own.
        guard job.share == nil, shape.chipsPerNode > 0, shape.nodes > 0 else { return nil }
        if reclaimVictims == nil {
            guard let lowest = lowestActivePriority(), lowest < job.priority else { return nil }
        }
        for group in groups {
            var best: (cost: PreemptionCost, candidates: [Candidate], victims: [Int])?
            for model in group {
                let found =
                    shape.nodes == 1
                    ? preemptOnOneNode(model: model, job: job, shape: shape, avoidReserved: avoidReserved)
                    : preemptInOneDomain(model: model, job: job, shape: shape, avoidReserved: avoidReserved)
                if let found, best == nil || found.cost < best!.cost { best = found }
            }
            if let best { return (best.candidates, best.victims.sorted { held[$0].job < held[$1].job }) }
        }
        return nil
    }

    private func preemptOnOneNode(
        model: Int, job: Job, shape: JobShape, avoidReserved: Bool
    ) -> (cost: PreemptionCost, candidates: [Candidate], victims: [Int])? {
        var best: (cost: PreemptionCost, candidates: [Candidate], victims: [Int])?
        for node in 0..<layout.nodeCount where heldHead[node] >= 0 {
            guard let slot = layout.slot(ofNode: node, model: model),
                let set = victimSet(node: node, slot: slot, job: job, shape: shape, avoidReserved: avoidReserved)
            else { continue }
            let candidate = Candidate(
                node: node, slot: slot, model: model, pick: ChipPick(mask: 0, numaNodes: []), freeChips: 0)
            if best == nil || set.cost < best!.cost { best = (set.cost, [candidate], set.victims) }
        }
        return best
    }

    private func preemptInOneDomain(
        model: Int, job: Job, shape: JobShape, avoidReserved: Bool
    ) -> (cost: PreemptionCost, candidates: [Candidate], victims: [Int])? {
        let victimDomains = Set((0..<layout.nodeCount).filter { heldHead[$0] >= 0 }.map { layout.nodeDomains[$0] })
        var best: (cost: PreemptionCost, candidates: [Candidate], victims: [Int])?
        for domain in victimDomains.sorted() {
            var options: [(cost: PreemptionCost, node: Int, slot: Int, victims: [Int])] = []
            for node in layout.domainMembers[domain] {
                guard let slot = layout.slot(ofNode: node, model: model),
                    let set = victimSet(node: node, slot: slot, job: job, shape: shape, avoidReserved: avoidReserved)
                else { continue }
                options.append((set.cost, node, slot, set.victims))
            }
            guard options.count >= shape.nodes else { continue }
            options.sort { ($0.cost, $0.node) < ($1.cost, $1.node) }
            let chosen = options.prefix(shape.nodes)
            let victims = Set(chosen.flatMap(\.victims)).sorted()
            let cost = PreemptionCost(
                victims: victims.count, workLost: victims.reduce(0) { $0 + held[$1].workAtRisk(at: now) })
            guard cost.victims > 0 else { continue }
            if best == nil || cost < best!.cost {
                let candidates = chosen.map {
                    Candidate(
                        node: $0.node, slot: $0.slot, model: model, pick: ChipPick(mask: 0, numaNodes: []), freeChips: 0
                    )
                }
                best = (cost, candidates, victims)
            }
        }
        return best
    }

    /// The cheapest set of victims on one node whose chips, with the free ones, fit the job; exact
    /// for up to 12 candidate victims, greedy (most chips first) beyond.
    func victimSet(node: Int, slot: Int, job: Job, shape: JobShape, avoidReserved: Bool) -> (
        cost: PreemptionCost, victims: [Int]
    )? {
        // Reserved chips are kept below (`blocked`); the reserved job's cores and memory here.
        guard index.nodeStates[node] == .ready,
            rejection(node: node, slot: slot, job: job, shape: shape, avoidReserved: false) == nil,
            !hostReserved(node: node, demand: job.hostDemand(shape), avoidReserved: avoidReserved)
        else { return nil }
        // Chips an operator's reservation keeps from this job are not freed for it either.
        let blocked = (avoidReserved ? reservedChips[slot] ?? 0 : 0) | windowKept(slot: slot)
        let free = index.slotFree[slot] & ~blocked
        let needed = shape.chipsPerNode
        if free.nonzeroBitCount >= needed { return (PreemptionCost(victims: 0, workLost: 0), []) }
        var options: [(position: Int, mask: UInt64)] = []
        for position in holders(of: node).reversed()
        where held[position].active && held[position].share == nil
            && (reclaimVictims.map { $0.contains(position) } ?? (held[position].priority < job.priority))
        {
            // A share's chip comes free only with all its shares: share holders are not victims.
            // Only healthy chips come free: a victim on a faulted chip does not make room there.
            let mask =
                heldSlots[held[position].slotRange].reduce(UInt64(0)) { $1.slot == slot ? $0 | $1.mask : $0 }
                & layout.slotUsable[slot] & ~blocked
            if mask != 0 { options.append((position, mask)) }
        }
        // Candidates in job-id order, so ties resolve the same however the records are kept.
        options.sort { held[$0.position].job < held[$1.position].job }
        let everything = options.reduce(free) { $0 | $1.mask }
        guard everything.nonzeroBitCount >= needed else { return nil }
        if options.count <= 12 {
            var best: (cost: PreemptionCost, subset: Int)?
            for subset in 1..<(1 << options.count) {
                var mask = free
                var lost = 0.0
                for bit in options.indices where subset & (1 << bit) != 0 {
                    mask |= options[bit].mask
                    lost += held[options[bit].position].workAtRisk(at: now)
                }
                guard mask.nonzeroBitCount >= needed else { continue }
                let cost = PreemptionCost(victims: subset.nonzeroBitCount, workLost: lost)
                if best == nil || cost < best!.cost { best = (cost, subset) }
            }
            guard let best else { return nil }
            return (best.cost, options.indices.filter { best.subset & (1 << $0) != 0 }.map { options[$0].position })
        }
        var mask = free
        var chosen: [Int] = []
        var lost = 0.0
        for option in options.sorted(by: {
            ($0.mask.nonzeroBitCount, -held[$0.position].workAtRisk(at: now)) > (
                $1.mask.nonzeroBitCount, -held[$1.position].workAtRisk(at: now)
            )
        }) {
            guard mask.nonzeroBitCount < needed else { break }
            mask |= option.mask
            chosen.append(option.position)
            lost += held[option.position].workAtRisk(at: now)
        }
        return (PreemptionCost(victims: chosen.count, workLost: lost), chosen)
    }
}
