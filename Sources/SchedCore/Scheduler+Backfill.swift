extension PlanningSession {
    /// The head job's earliest start: replay running jobs' ends, in order, on a copy of this
    /// decision's state until the job fits. Reserves those chips from then on; `start` is infinite
    /// when the job fits only once jobs without a time limit have ended too.
    mutating func reserve(job: Job, shape: JobShape, groups: [[Int]]) -> Reservation? {
        let ending = held.indices.filter { held[$0].active && held[$0].expectedEnd != nil }
            .sorted { (held[$0].expectedEnd!, held[$0].job) < (held[$1].expectedEnd!, held[$1].job) }
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
            return holdForHead(found, job: job, shape: shape, from: end)
        }
        // Still no room once every job with a time limit has ended: the job waits on jobs without
        // one, whose ends nobody knows. Its chips are held all the same (from an unknown start, as
        // Slurm's backfill treats jobs of unlimited time), or a stream of small jobs would keep a
        // gang waiting for ever; jobs with a time limit may still use them until then.
        let unending = held.indices.filter { future.held[$0].active }
        let holdsEligible = unending.contains { position in
            heldSlots[held[position].slotRange].contains { eligible.contains(layout.slotModel[$0.slot]) }
        }
        guard holdsEligible else { return nil }
        for position in unending { future.free(position) }
        guard let found = future.findPlacement(job: job, shape: shape, groups: groups, avoidReserved: false)
        else { return nil }
        return holdForHead(found, job: job, shape: shape, from: .infinity)
    }

    /// Holds `found` for the head job from `start` (infinite: when jobs without a time limit end).
    private mutating func holdForHead(_ found: [Candidate], job: Job, shape: JobShape, from start: Seconds)
        -> Reservation
    {
        reservedStart = start
        reservedChips = [:]
        reservedHost = [:]
        stateVersion += 1
        for candidate in found { reservedChips[candidate.slot, default: 0] |= candidate.pick.mask }
        // Its cores and memory too: a job started beside the chips must not take what it needs.
        if let demand = job.hostDemand(shape) { for candidate in found { reservedHost[candidate.node] = demand } }
        return Reservation(
            job: job.id, start: start,
            assignments: found.map {
                NodeAssignment(
                    node: layout.nodeIDs[$0.node], chips: layout.chipIndices(node: $0.node, mask: $0.pick.mask),
                    numaNodes: $0.pick.numaNodes)
            })
    }
}
