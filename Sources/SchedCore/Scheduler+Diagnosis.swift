/// Nodes turned away per cause, in a fixed array: tallying is on the hot path of every waiting job.
struct CauseCounts {
    private var values = [Int](repeating: 0, count: RejectionCause.allCases.count)

    subscript(cause: RejectionCause) -> Int {
        get { values[cause.ordinal] }
        set { values[cause.ordinal] = newValue }
    }

    var dictionary: [RejectionCause: Int] {
        var result: [RejectionCause: Int] = [:]
        for cause in RejectionCause.allCases where values[cause.ordinal] > 0 { result[cause] = values[cause.ordinal] }
        return result
    }
}

/// Nodes of one chip model that could ever hold a job's share, could with its bandwidth, and can now.
struct ModelTally {
    var capable = 0
    var capableWithBandwidth = 0
    var available = 0
}

/// A wait reason, and whether it rules the current tier out (so the job moves down now).
struct Diagnosis: Sendable {
    var waitReason: WaitReason
    var blocksTier: Bool
}

/// What finding room for a job depends on besides the cluster's state. The job's kind only orders
/// the models tried, so equal keys at one state version either both fit or are both refused alike.
struct AskKey: Hashable {
    var tier: ChipTier
    var shape: JobShape
    var minMemory: Double?
    var minBandwidth: Double?
    var avoidReserved: Bool
    var domainLimit: Int?
    var host: HostDemand?
    var share: ChipShare?
    var nodeSelector: [String: String]?
    /// The models its queue's limits leave it, when they take any out (nil: the tier's own).
    var models: [[Int]]?

    /// The cheap fields first: most keys differ in their shape.
    static func == (a: AskKey, b: AskKey) -> Bool {
        a.shape == b.shape && a.avoidReserved == b.avoidReserved && a.domainLimit == b.domainLimit
            && a.minMemory == b.minMemory && a.minBandwidth == b.minBandwidth && a.host == b.host && a.share == b.share
            && a.tier == b.tier && a.nodeSelector == b.nodeSelector && a.models == b.models
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(shape)
        hasher.combine(avoidReserved)
        hasher.combine(domainLimit)
        hasher.combine(minMemory)
        hasher.combine(minBandwidth)
        hasher.combine(host)
        hasher.combine(share)
        hasher.combine(tier)
        hasher.combine(nodeSelector)
        hasher.combine(models)
    }
}

extension PlanningSession {
    /// How many refused asks one state version keeps in its short list. A queue holds few kinds of
    /// ask; a short list compared field by field is cheaper than hashing tier names for every waiting
    /// job. Past it, a queue of many distinct asks is remembered in a table.
    static let rememberedRefusals = 32

    func askKey(job: Job, tier: ChipTier, shape: JobShape, avoidReserved: Bool, models: [[Int]]? = nil) -> AskKey {
        AskKey(
            tier: tier, shape: shape, minMemory: job.minChipMemoryGiB,
            minBandwidth: shape.nodes > 1 ? job.fallback.minInterNodeBandwidthGBps : nil, avoidReserved: avoidReserved,
            domainLimit: shape.nodes > 1 ? domainLimit(for: job) : nil, host: job.hostDemand(shape), share: job.share,
            nodeSelector: job.nodeSelector, models: models)
    }

    /// Why an equal ask was refused, while nothing has been held, freed or reserved since; nil when
    /// the job must search (no such refusal, or it might preempt where the earlier job could not).
    /// A long queue of alike jobs waiting for a full fleet costs one search, not one per job.
    mutating func knownRefusal(of ask: AskKey, priority: Int) -> Diagnosis? {
        guard refusalVersion == stateVersion else { return nil }
        if policy.preemption, let lowest = lowestActivePriority(), lowest < priority { return nil }
        // Shapes first, from their own array: comparing them copies nothing.
        for position in refusedShapes.indices where refusedShapes[position] == ask.shape {
            if refusals[position].ask == ask { return refusals[position].diagnosis }
        }
        return refusals.count < Self.rememberedRefusals ? nil : moreRefusals[ask]
    }

    mutating func remember(refusal: Diagnosis, of ask: AskKey) {
        if refusalVersion != stateVersion {
            refusals.removeAll(keepingCapacity: true)
            refusedShapes.removeAll(keepingCapacity: true)
            moreRefusals.removeAll(keepingCapacity: true)
            refusalVersion = stateVersion
        }
        guard refusals.count < Self.rememberedRefusals else {
            moreRefusals[ask] = refusal
            return
        }
        refusals.append((ask, refusal))
        refusedShapes.append(ask.shape)
    }

    /// Explains why a job did not fit on a tier, from the index's counts where it can, visiting a
    /// model's nodes only when a memory or bandwidth requirement splits them.
    func diagnose(job: Job, tier: ChipTier, shape: JobShape, avoidReserved: Bool) -> Diagnosis {
        let models = (0..<layout.modelCount).filter { modelAccepted($0, by: tier) }
        let unknown = tier.selectors.compactMap { selector -> ChipModelID? in
            guard case .model(let id) = selector, !catalog.contains(id), layout.modelPosition[id] == nil else {
                return nil
            }
            return id
        }
        let demand = job.hostDemand(shape)
        var reason = WaitReason(kind: .waiting, tier: tier.name, shape: shape, host: demand, share: job.share)
        if shape.chipsPerNode == 0, shape.nodes == 1, job.share == nil, let demand {
            return diagnoseHostOnly(job: job, demand: demand, reason: reason)
        }
        if shape.chipsPerNode <= 0 || shape.nodes <= 0 {
            reason.kind = .infeasible
            reason.detail =
                shape.chipsPerNode == 0 && demand != nil
                ? "a job of cores and memory only runs on one node; this one asks for \(shape.nodes)"
                : "asks for \(shape.chipsPerNode) chips on \(shape.nodes) nodes; both must be at least 1 "
                    + "(or 0 chips with cores or memory)"
            return Diagnosis(waitReason: reason, blocksTier: true)
        }
        if models.isEmpty {
            reason.kind = .infeasible
            if !unknown.isEmpty {
                reason.detail = unknown.map {
                    UnknownChipModel(name: $0.name, closest: catalog.closestNames(to: $0.name)).description
                }
                .joined(separator: "; ")
            } else {
                reason.detail = "no node in the fleet has chips that tier \(tier.name) accepts"
            }
            return Diagnosis(waitReason: reason, blocksTier: true)
        }
        if let share = job.share {
            return diagnoseShare(job: job, share: share, shape: shape, models: models, demand: demand, reason: reason)
        }

        let needed = shape.chipsPerNode
        let needsBandwidth = shape.nodes > 1 ? job.fallback.minInterNodeBandwidthGBps : nil
        var counts = CauseCounts()
        // A gang runs on one chip model, so what counts is the best single model.
        var best = ModelTally()
        for model in models {
            let tally = self.tally(
                model: model, job: job, needed: needed, needsBandwidth: needsBandwidth, demand: demand,
                avoidReserved: avoidReserved, into: &counts)
            best.capable = max(best.capable, tally.capable)
            best.capableWithBandwidth = max(best.capableWithBandwidth, tally.capableWithBandwidth)
            best.available = max(best.available, tally.available)
        }
        let capable = best.capable
        let capableWithBandwidth = best.capableWithBandwidth
        let available = best.available
        reason.counts = counts.dictionary

        if capable < shape.nodes {
            reason.kind = .infeasible
            let largest = models.map { layout.modelMaxChips[$0] }.max() ?? 0
            let withLabels = models.reduce(0) { total, model in
                total + layout.modelNodes[model].filter { labelsMatch(node: $0, job: job) }.count
            }
            if job.nodeSelector != nil && withLabels < shape.nodes {
                reason.detail =
                    "\(withLabels) node\(withLabels == 1 ? "" : "s") of this tier carry the labels \(selectorText(job))"
            } else if largest < needed {
                reason.detail = "the largest node has \(largest) such chips"
            } else if let demand, let phrase = demand.phrase, capable == 0 {
                let (cpus, memory) = models.flatMap { layout.modelNodes[$0] }.reduce((0, 0)) {
                    (
                        max($0.0, hostState?.layout.nodeCPUs[$1] ?? 0),
                        max($0.1, hostState?.layout.nodeMemoryMiB[$1] ?? 0)
                    )
                }
                reason.detail =
                    "no node with such chips could ever offer \(phrase) (the largest have \(cpus) cores and "
                    + "\(formatMebibytes(memory)) of memory)"
            } else if shape.nodes > 1 {
                reason.detail =
                    "only \(capable) node\(capable == 1 ? "" : "s") in the fleet could ever hold \(needed) such chips"
                    + (models.count > 1 ? " of one model (a gang runs on one chip model)" : "")
            }
            if !unknown.isEmpty {
                reason.detail = [reason.detail, "unknown chip model \(unknown.map(\.name).joined(separator: ", "))"]
                    .compactMap { $0 }.joined(separator: "; ")
            }
            return Diagnosis(waitReason: reason, blocksTier: true)
        }
        if capableWithBandwidth < shape.nodes, let minBandwidth = needsBandwidth {
            reason.detail =
                "needs \(formatNumber(minBandwidth)) GB/s between nodes; only \(capableWithBandwidth) node"
                + "\(capableWithBandwidth == 1 ? "" : "s") of this tier offer it"
            return Diagnosis(waitReason: reason, blocksTier: true)
        }
        if shape.nodes > 1 && available >= shape.nodes {
            let kind = layout.domains.compactMap { $0?.kind }.first ?? "topology"
            let most =
                models.map { model in
                    layout.modelDomains[model].map {
                        index.readyNodeCount(model: model, domain: $0, atLeast: needed)
                    }.max() ?? 0
                }.max() ?? 0
            var detail = "\(available) nodes have room but at most \(most) in one \(kind) domain"
            if let limit = domainLimit(for: job) {
                detail += "; the job allows \(limit) domain\(limit == 1 ? "" : "s")"
                reason.counts[.domainLimit] = available
            }
            reason.detail = detail
        }
        return Diagnosis(waitReason: reason, blocksTier: false)
    }

    /// Counts one model's nodes by rejection cause into `counts`, from the index's histograms where a
    /// memory or bandwidth requirement does not split the model's nodes, node by node where it does.
    private func tally(
        model: Int, job: Job, needed: Int, needsBandwidth: Double?, demand: HostDemand?, avoidReserved: Bool,
        into counts: inout CauseCounts
    ) -> ModelTally {
        var tally = ModelTally()
        let stats = index.modelStats[model]
        if let minMemory = job.minChipMemoryGiB, minMemory > stats.maxMemory {
            counts[.chipMemoryTooSmall] += stats.total
            return tally
        }
        let memorySplits = job.minChipMemoryGiB.map { $0 > stats.minMemory } ?? false
        let bandwidthSplits = needsBandwidth.map { $0 > stats.minBandwidth && $0 <= stats.maxBandwidth } ?? false
        // Host CPUs, memory and labels are not in the histograms: a job that asks for them is told
        // node by node.
        if memorySplits || bandwidthSplits || demand != nil || job.nodeSelector != nil {
            for node in layout.modelNodes[model] {
                let slot = layout.slot(ofNode: node, model: model)!
                guard labelsMatch(node: node, job: job) else {
                    counts[.labels] += 1
                    continue
                }
                if let minMemory = job.minChipMemoryGiB, layout.slotMinMemory[slot] < minMemory {
                    counts[.chipMemoryTooSmall] += 1
                    continue
                }
                let bandwidthOK = needsBandwidth.map { layout.nodeBandwidth[node] >= $0 } ?? true
                let chips = layout.slotAllChips[slot].nonzeroBitCount
                let hostCause = demand.flatMap { hostState?.rejection(node: node, demand: $0) }
                let hostCapable = hostCause != .tooFewCores && hostCause != .tooLittleMemory
                if chips >= needed && hostCapable {
                    tally.capable += 1
                    if bandwidthOK { tally.capableWithBandwidth += 1 }
                }
                let cause: RejectionCause? =
                    switch index.nodeStates[node] {
                    case .draining: .draining
                    case .down: .down
                    case .ready:
                        if chips < needed {
                            .tooFewChips
                        } else if layout.slotUsable[slot].nonzeroBitCount < needed {
                            .unhealthyChips
                        } else if !bandwidthOK {
                            .bandwidthTooLow
                        } else if !hostCapable {
                            hostCause
                        } else if index.freeCount(slot: slot) < needed {
                            .full
                        } else if hostCause != nil {
                            hostCause
                        } else if reservedBlocks(slot: slot, needed: needed, avoidReserved: avoidReserved) {
                            .reserved
                        } else {
                            nil
                        }
                    }
                if let cause { counts[cause] += 1 } else { tally.available += 1 }
            }
            return tally
        }
        tally.capable = ModelStats.count(stats.anyByChips, atLeast: needed)
        if let minBandwidth = needsBandwidth, minBandwidth > stats.maxBandwidth {
            counts[.bandwidthTooLow] += stats.total
            return tally
        }
        tally.capableWithBandwidth = tally.capable
        counts[.draining] += stats.draining
        counts[.down] += stats.down
        let readyWithChips = ModelStats.count(stats.readyByChips, atLeast: needed)
        let readyWithUsable = ModelStats.count(stats.readyByUsable, atLeast: needed)
        let withRoom = index.readyNodeCount(model: model, atLeast: needed)
        counts[.tooFewChips] += stats.ready - readyWithChips
        counts[.unhealthyChips] += readyWithChips - readyWithUsable
        counts[.full] += readyWithUsable - withRoom
        var blocked = 0
        if avoidReserved {
            for slot in reservedChips.keys
            where layout.slotModel[slot] == model && index.nodeStates[layout.slotNode[slot]] == .ready
                && index.freeCount(slot: slot) >= needed
                && reservedBlocks(slot: slot, needed: needed, avoidReserved: true)
            {
                blocked += 1
            }
        }
        counts[.reserved] += blocked
        tally.available = withRoom - blocked
        return tally
    }

    /// Why no chip takes a share: per node of the tier's models, the first thing that stops it
    /// (its state, no chip with the memory, too few cores, no chip with room now, cores in use).
    private func diagnoseShare(
        job: Job, share: ChipShare, shape: JobShape, models: [Int], demand: HostDemand?, reason: WaitReason
    ) -> Diagnosis {
        var reason = reason
        guard shape.chipsPerNode == 1, shape.nodes == 1 else {
            reason.kind = .infeasible
            reason.detail =
                "a share of a chip is one chip on one node; this tier asks \(shape.chipsPerNode) chips on "
                + "\(shape.nodes) nodes"
            return Diagnosis(waitReason: reason, blocksTier: true)
        }
        let minimum = max(share.memoryMiB, job.minChipMemoryGiB.map { mebibytes(fromGiB: $0) } ?? 0)
        var counts = CauseCounts()
        var capable = 0
        var largest = 0
        for model in models {
            for node in layout.modelNodes[model] {
                guard let slot = layout.slot(ofNode: node, model: model) else { continue }
                guard labelsMatch(node: node, job: job) else {
                    counts[.labels] += 1
                    continue
                }
                var everFits = false
                var fitsNow = false
                var bits = layout.slotAllChips[slot]
                while bits != 0 {
                    let bit = bits.trailingZeroBitCount
                    let chip = layout.chipStart[node] + bit
                    let capacity = layout.chipMemoryMiB[chip]
                    largest = max(largest, capacity)
                    if capacity >= minimum && share.computePercent <= 100 {
                        everFits = true
                        let whole = index.slotFree[slot] & (1 << UInt64(bit)) != 0
                        let roomBeside =
                            (shareState?.holders[chip] ?? 0) > 0
                            && shareState?.fits(share, chip: chip, capacity: capacity) == true
                        if whole || roomBeside {
                            fitsNow = fitsNow || layout.slotUsable[slot] & (1 << UInt64(bit)) != 0
                        }
                    }
                    bits &= bits - 1
                }
                let hostCause = demand.flatMap { hostState?.rejection(node: node, demand: $0) }
                let hostCapable = hostCause != .tooFewCores && hostCause != .tooLittleMemory
                if everFits && hostCapable { capable += 1 }
                let cause: RejectionCause? =
                    switch index.nodeStates[node] {
                    case .draining: .draining
                    case .down: .down
                    case .ready:
                        if !everFits {
                            .chipMemoryTooSmall
                        } else if !hostCapable {
                            hostCause
                        } else if !fitsNow {
                            .full
                        } else {
                            hostCause
                        }
                    }
                if let cause { counts[cause] += 1 }
            }
        }
        reason.counts = counts.dictionary
        if capable == 0 {
            reason.kind = .infeasible
            if counts[.labels] > 0 && counts.dictionary.keys.allSatisfy({ $0 == .labels }) {
                reason.detail = "no node of this tier carries the labels \(selectorText(job))"
            } else if share.computePercent > 100 {
                reason.detail = "a chip has 100% compute; this share asks \(share.computePercent)%"
            } else if largest < minimum {
                reason.detail = "the largest such chip has \(formatMebibytes(largest)) of memory"
            } else if let phrase = demand?.phrase {
                reason.detail = "no node with such chips could ever offer \(phrase)"
            }
            return Diagnosis(waitReason: reason, blocksTier: true)
        }
        return Diagnosis(waitReason: reason, blocksTier: false)
    }

    /// A node selector as a person writes it: `zone=a, rack=r3`.
    func selectorText(_ job: Job) -> String {
        (job.nodeSelector ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    }

    private func reservedBlocks(slot: Int, needed: Int, avoidReserved: Bool) -> Bool {
        guard avoidReserved, let reserved = reservedChips[slot] else { return false }
        return (index.slotFree[slot] & ~reserved).nonzeroBitCount < needed
    }
}
