extension ChipModelID {
    /// The "model" of a placement that holds no chip: a job that asks only for cores and memory.
    public static let hostOnly = ChipModelID("cpu-only")
}

extension Job {
    /// Asks for cores or memory and no chip on tier `index`: placed on any ready node with room.
    public func isHostOnly(onTier index: Int) -> Bool {
        share == nil && shape(onTier: index).chipsPerNode == 0 && !(host?.isEmpty ?? true)
    }
}

extension PlanningSession {
    /// A node for a job that asks only for cores and memory (one node): the fullest that fits under
    /// bin-pack (fewest free cores, then least free memory), the emptiest under spread, the first in
    /// fleet order under first-fit. Every ready node is looked at: such jobs are few beside chip jobs.
    func findHostOnlyNode(job: Job, demand: HostDemand, avoidReserved: Bool) -> HostHold? {
        guard let host = hostState else { return nil }
        var best: (key: (Double, Int, Int), hold: HostHold)?
        for node in 0..<layout.nodeCount where index.nodeStates[node] == .ready {
            guard labelsMatch(node: node, job: job), host.rejection(node: node, demand: demand) == nil,
                !hostReserved(node: node, demand: demand, avoidReserved: avoidReserved)
            else { continue }
            // A scoring policy scores the node as it would a chip job that takes no chip.
            let slot = layout.slotStart[node] < layout.slotStart[node + 1] ? layout.slotStart[node] : nil
            let score =
                policy.nodeScorer == .order
                ? 0
                : slot.map {
                    nodeScore(
                        slot: $0, free: freeMilli(slot: $0), cpusFree: host.nodeFreeCPUs[node], taking: 0, milli: 0,
                        cpus: demand.cpus)
                } ?? 0
            let key: (Double, Int, Int) =
                switch policy.nodeOrder {
                case .fewestFreeFirst: (score, host.nodeFreeCPUs[node], host.nodeFreeMemory[node])
                case .mostFreeFirst: (score, -host.nodeFreeCPUs[node], -host.nodeFreeMemory[node])
                case .lowestPositionFirst: (score, 0, 0)
                }
            if let best, best.key <= key { continue }
            guard let hold = host.pick(node: node, demand: demand, near: []) else { continue }
            best = (key, hold)
            if policy.nodeOrder == .lowestPositionFirst && policy.nodeScorer == .order { break }
        }
        return best?.hold
    }

    /// Books a host-only job's cores and memory and adds its placement to the plan.
    mutating func commitHostOnly(job: Job, tierIndex: Int, tier: ChipTier, hold taken: HostHold) {
        let booking = hostState?.booking(taken) ?? HostBooking()
        let numa = Array(
            Set(
                booking.memory.map(\.numaNode)
                    + taken.cpuPositions.compactMap { position in
                        hostState.map { $0.layout.entryNUMA[$0.entry(ofPosition: position, node: taken.node)] }
                    })
        ).sorted()
        noteQuota(job: job, shape: job.shape(onTier: tierIndex), model: nil)
        let start = heldSlots.count
        hold(
            HeldChips(
                job: job.id, priority: startedPriority(job), slotRange: start..<start,
                expectedEnd: job.timeLimit.map { now + $0 },
                startedAt: now, lastCheckpointAt: now, checkpointInterval: nil, chipCount: 0, host: [taken],
                shape: ShapeKey(job: job, shape: job.shape(onTier: tierIndex))))
        plan.placements.append(
            JobPlacement(
                job: job.id, tier: tierIndex, tierName: tier.name, chipModel: .hostOnly,
                assignments: [
                    NodeAssignment(node: layout.nodeIDs[taken.node], chips: [], numaNodes: numa, host: booking)
                ],
                reason: PlacementReason(
                    policy: policy.name, scorer: policy.modelScorer, nodeOrder: policy.nodeOrder, kind: job.kind,
                    chipModel: .hostOnly, score: 0, isDomestic: false, nodes: 1, domains: 1, numaNodes: numa,
                    chipsPerNode: 0, nodeScorer: policy.nodeScorer),
                preempting: [], backfilled: reservedStart != nil))
    }

    /// Why no node takes a host-only job: per ready node, too few cores or too little memory ever,
    /// or in use now.
    func diagnoseHostOnly(job: Job, demand: HostDemand, reason: WaitReason) -> Diagnosis {
        var reason = reason
        var counts = CauseCounts()
        var capable = 0
        var cpus = 0
        var memory = 0
        for node in 0..<layout.nodeCount {
            guard labelsMatch(node: node, job: job) else {
                counts[.labels] += 1
                continue
            }
            let cause = hostState?.rejection(node: node, demand: demand) ?? .tooFewCores
            let ever = cause != .tooFewCores && cause != .tooLittleMemory
            if ever { capable += 1 }
            cpus = max(cpus, hostState?.layout.nodeCPUs[node] ?? 0)
            memory = max(memory, hostState?.layout.nodeMemoryMiB[node] ?? 0)
            switch index.nodeStates[node] {
            case .draining: counts[.draining] += 1
            case .down: counts[.down] += 1
            case .ready: if let cause = hostState?.rejection(node: node, demand: demand) { counts[cause] += 1 }
            }
        }
        reason.counts = counts.dictionary
        guard capable > 0 else {
            reason.kind = .infeasible
            reason.detail =
                counts[.labels] == layout.nodeCount
                ? "no node carries the labels \(selectorText(job))"
                : "the largest nodes have \(cpus) cores and \(formatMebibytes(memory)) of memory"
            return Diagnosis(waitReason: reason, blocksTier: true)
        }
        return Diagnosis(waitReason: reason, blocksTier: false)
    }
}
