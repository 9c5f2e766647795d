extension PlanningSession {
    /// The domain limit in force for a gang: its own, until it has waited `maxDomainsWait`.
    func domainLimit(for job: Job) -> Int? {
        guard let limit = job.topology.maxDomains else { return nil }
        if let wait = job.topology.maxDomainsWait, now - job.submittedAt >= wait { return nil }
        return limit
    }

    /// Gang placement: every node or none, on one chip model, in the fewest topology domains.
    mutating func findGang(job: Job, shape: JobShape, groups: [[Int]], avoidReserved: Bool) -> [Candidate]? {
        for group in groups {
            var best: (candidates: [Candidate], domains: Int)?
            for model in group {
                guard let found = findGang(model: model, job: job, shape: shape, avoidReserved: avoidReserved)
                else { continue }
                if best == nil || found.domains < best!.domains { best = found }
                if found.domains == 1 { break }  // nothing does better than one domain; ties keep the earlier model
            }
            if let best { return best.candidates }
        }
        return nil
    }

    /// Chooses domains from the index's per-domain counts, then checks only those domains' nodes;
    /// a domain whose nodes fail a filter has its count corrected and the choice is made again.
    /// Only the domains holding the model's nodes are weighed (`FleetLayout.modelDomains`).
    func findGang(model: Int, job: Job, shape: JobShape, avoidReserved: Bool) -> (
        candidates: [Candidate], domains: Int
    )? {
        let wanted = shape.nodes
        guard index.readyNodeCount(model: model, atLeast: shape.chipsPerNode) >= wanted else { return nil }
        // Positions below are into the model's domains. Nodes with room per domain (uncapped, to
        // rank domains) and the usable estimate (capped).
        let domains = layout.modelDomains[model]
        let room = domains.map { index.readyNodeCount(model: model, domain: $0, atLeast: shape.chipsPerNode) }
        var estimate = room.map { min($0, wanted) }
        var verified = [[Candidate]?](repeating: nil, count: domains.count)
        let limit = domainLimit(for: job)
        while true {
            var chosen: [Int] = []
            if let single = bestSingleDomain(estimate, room: room, wanted: wanted) {
                chosen = [single]
            } else {
                let order = estimate.indices.filter { estimate[$0] > 0 }.sorted {
                    estimate[$0] != estimate[$1] ? estimate[$0] > estimate[$1] : $0 < $1
                }
                var total = 0
                for domain in order where total < wanted {
                    chosen.append(domain)
                    total += estimate[domain]
                }
                guard total >= wanted else { return nil }
            }
            if let limit, chosen.count > limit { return nil }
            var corrected = false
            for domain in chosen where verified[domain] == nil {
                let nodes = acceptableNodes(
                    domain: domains[domain], model: model, job: job, shape: shape, avoidReserved: avoidReserved)
                verified[domain] = nodes
                if nodes.count != estimate[domain] {
                    estimate[domain] = nodes.count
                    corrected = true
                }
            }
            if corrected { continue }
            var result: [Candidate] = []
            for domain in chosen {
                result += (verified[domain] ?? []).prefix(wanted - result.count)
            }
            return (result, chosen.count)
        }
    }

    /// Among domains that hold the whole gang: the one with the fewest nodes with room (bin-pack),
    /// the most (spread), or the first (first-fit).
    func bestSingleDomain(_ estimate: [Int], room: [Int], wanted: Int) -> Int? {
        var best: Int?
        for domain in estimate.indices where estimate[domain] >= wanted {
            guard let current = best else {
                best = domain
                continue
            }
            switch policy.nodeOrder {
            case .lowestPositionFirst: break
            case .fewestFreeFirst: if room[domain] < room[current] { best = domain }
            case .mostFreeFirst: if room[domain] > room[current] { best = domain }
            }
        }
        return best
    }

    /// Up to `shape.nodes` nodes of a domain that pass every filter, in the policy's node order.
    func acceptableNodes(domain: Int, model: Int, job: Job, shape: JobShape, avoidReserved: Bool) -> [Candidate] {
        var found: [Candidate] = []
        let members = layout.domainMembers[domain]
        if members.count <= 256 {
            for node in members {
                if let candidate = acceptable(
                    node: node, model: model, job: job, shape: shape, avoidReserved: avoidReserved)
                {
                    found.append(candidate)
                }
            }
            // Sort small keys, not the candidates: a candidate is a large value.
            let keys = found.indices.map { (free: found[$0].freeChips, node: found[$0].node, position: $0) }
            let nodeOrder = policy.nodeOrder  // not `self` in the closure: that would copy the session
            let order = keys.sorted { x, y in
                switch nodeOrder {
                case .lowestPositionFirst: return x.node < y.node
                case .fewestFreeFirst: return (x.free, x.node) < (y.free, y.node)
                case .mostFreeFirst: return (x.free, y.node) > (y.free, x.node)
                }
            }
            return order.prefix(shape.nodes).map { found[$0.position] }
        }
        // A large domain (a flat fleet is one): walk the index in node order instead of the members.
        var cursor = index.cursor(model: model, atLeast: shape.chipsPerNode, order: policy.nodeOrder)
        while found.count < shape.nodes, let node = index.next(&cursor) {
            guard layout.nodeDomains[node] == domain,
                let candidate = acceptable(
                    node: node, model: model, job: job, shape: shape, avoidReserved: avoidReserved)
            else { continue }
            found.append(candidate)
        }
        return found
    }

    /// `node` as a gang member on `model`'s chips, if it passes every filter.
    private func acceptable(node: Int, model: Int, job: Job, shape: JobShape, avoidReserved: Bool) -> Candidate? {
        guard index.nodeStates[node] == .ready, let slot = layout.slot(ofNode: node, model: model),
            index.freeCount(slot: slot) >= shape.chipsPerNode,
            rejection(node: node, slot: slot, job: job, shape: shape, avoidReserved: avoidReserved) == nil,
            let pick = pick(slot: slot, shape: shape, demand: job.hostDemand(shape), avoidReserved: avoidReserved)
        else { return nil }
        return Candidate(node: node, slot: slot, model: model, pick: pick, freeChips: index.freeCount(slot: slot))
    }
}
