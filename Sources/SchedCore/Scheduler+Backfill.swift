extension PlanningSession {
    /// The head job's earliest start: replay running jobs' ends, in order, on a copy of this
    /// decision's state until the job fits. Reserves those chips from then on.
    mutating func reserve(job: Job, shape: JobShape, groups: [[Int]]) -> Reservation? {
        guard heldWithEnd > 0 else { return nil }  // nothing running has a known end: nothing to replay
        let ending = held.indices.filter { held[$0].active && held[$0].expectedEnd != nil }
            .sorted { (held[$0].expectedEnd!, held[$0].job) < (held[$1].expectedEnd!, held[$1].job) }
        guard !ending.isEmpty else { return nil }
        let eligible = Set(groups.joined())
        var future = self
        future.reservedChips = [:]
        future.reservedHost = [:]
        future.reservedStart = nil
        var releasedEligible = false
        for (offset, position) in ending.enumerated() {
            future.free(position)
            releasedEligible =
                releasedEligible
                || heldSlots[held[position].slotRange].contains {
                    eligible.contains(layout.slotModel[$0.slot])
                }
            let end = held[position].expectedEnd!
            // Jobs that end together free their chips together.
            if offset + 1 < ending.count, held[ending[offset + 1]].expectedEnd! == end { continue }
            // Nothing the job could use came free since the last try: it cannot fit yet.
            guard releasedEligible else { continue }
            releasedEligible = false
            guard let found = future.findPlacement(job: job, shape: shape, groups: groups, avoidReserved: false)
            else { continue }
            reservedStart = end
            reservedChips = [:]
            reservedHost = [:]
            stateVersion += 1
            for candidate in found { reservedChips[candidate.slot, default: 0] |= candidate.pick.mask }
            // Its cores and memory too: a job started beside the chips must not take what it needs.
            if let demand = job.hostDemand(shape) { for candidate in found { reservedHost[candidate.node] = demand } }
            return Reservation(
                job: job.id, start: end,
                assignments: found.map {
                    NodeAssignment(
                        node: layout.nodeIDs[$0.node], chips: layout.chipIndices(node: $0.node, mask: $0.pick.mask),
                        numaNodes: $0.pick.numaNodes)
                })
        }
        return nil
    }
}
