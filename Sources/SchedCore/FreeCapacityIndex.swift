/// The fixed shape of a fleet for one decision: nodes, slots, NUMA groups and domains, numbered.
/// A class, so that copies of the index (backfill replays the future on one) share it.
final class FleetLayout: Sendable {

    // Nodes.
    let nodeIDs: [NodeID]
    let nodeStates: [NodeState]
    let nodeDomains: [Int]
    let nodeBandwidth: [Double]
    /// Each node's labels, for jobs with a node selector.
    let nodeLabels: [[String: String]]
    /// Slots of node `n` are `slotStart[n] ..< slotStart[n + 1]`.
    let slotStart: [Int]
    // Slots.
    let slotNode: [Int]
    let slotModel: [Int]
    /// Healthy chips of the slot.
    let slotUsable: [UInt64]
    /// All chips of the slot, healthy or not (what the node could offer once repaired).
    let slotAllChips: [UInt64]
    let slotMinMemory: [Double]
    /// NUMA groups of slot `s` are `groupStart[s] ..< groupStart[s + 1]`; NUMA id -1 means unknown.
    let groupStart: [Int]
    let groupNUMA: [Int]
    let groupMask: [UInt64]
    /// Bit `b` of a slot mask is chip `chipIndex[chipStart[node] + b]` of the node.
    let chipStart: [Int]
    let chipIndex: [Int]
    /// Bit of chip index `i` of node `n` in its slot mask: `chipBitByIndex[chipBitStart[n] + i]`, -1 if none.
    let chipBitStart: [Int]
    let chipBitByIndex: [Int8]
    /// Per chip of the fleet (`chipStart[node] + bit`): its slot, memory in MiB and NUMA node (-1: unknown).
    let chipSlot: [Int]
    let chipMemoryMiB: [Int]
    let chipNUMA: [Int]
    // Chip models present in the fleet.
    let modelIDs: [ChipModelID]
    let modelCatalogEntry: [ChipModel?]
    let modelFamilies: [ChipFamily?]
    let modelPosition: [ChipModelID: Int]
    let modelNodes: [[Int]]
    let modelMaxChips: [Int]
    let modelStats: [ModelStats]
    // Topology domains.
    let domains: [TopologyDomain?]
    let domainMembers: [[Int]]
    /// The domains holding nodes with chips of each model, ascending: a gang of one model weighs
    /// only these, not every domain of the fleet.
    let modelDomains: [[Int]]

    init(snapshot: ClusterSnapshot) throws(SnapshotError) {
        var nodeIDs: [NodeID] = []
        var nodeStates: [NodeState] = []
        var nodeDomains: [Int] = []
        var nodeBandwidth: [Double] = []
        var nodeLabels: [[String: String]] = []
        var slotStart: [Int] = [0]
        var slotNode: [Int] = []
        var slotModel: [Int] = []
        var slotUsable: [UInt64] = []
        var slotAllChips: [UInt64] = []
        var slotMinMemory: [Double] = []
        var groupStart: [Int] = [0]
        var groupNUMA: [Int] = []
        var groupMask: [UInt64] = []
        var chipStart: [Int] = []
        var chipIndex: [Int] = []
        var chipBitStart: [Int] = [0]
        var chipBitByIndex: [Int8] = []
        var chipSlot: [Int] = []
        var chipMemoryMiB: [Int] = []
        var chipNUMA: [Int] = []
        var modelIDs: [ChipModelID] = []
        var modelPosition: [ChipModelID: Int] = [:]
        var modelNodes: [[Int]] = []
        var modelMaxChips: [Int] = []
        var domains: [TopologyDomain?] = []
        var domainPosition: [TopologyDomain?: Int] = [:]
        var domainMembers: [[Int]] = []
        var seenNodes: Set<NodeID> = []
        seenNodes.reserveCapacity(snapshot.nodes.count)
        // Per-node scratch, reused: slots in order of first appearance of each model on the node, and
        // NUMA groups as (slot-local model, NUMA id, chips).
        var nodeModels: [Int] = []
        var usable: [UInt64] = []
        var all: [UInt64] = []
        var memory: [Double] = []
        var groups: [(local: Int, numa: Int, mask: UInt64)] = []
        // Fleets list chips of one model and nodes of one domain together: check the last one first.
        var lastModel: (id: ChipModelID, position: Int)?
        var lastDomain: (domain: TopologyDomain?, position: Int)?

        for node in snapshot.nodes {
            guard seenNodes.insert(node.id).inserted else { throw .duplicateNode(node.id) }
            guard node.chips.count <= 64 else { throw .tooManyChips(node.id, node.chips.count) }
            let position = nodeIDs.count
            nodeIDs.append(node.id)
            nodeStates.append(node.state)
            nodeBandwidth.append(node.interNodeBandwidthGBps ?? .infinity)
            nodeLabels.append(node.labels)
            let domain: Int
            if let last = lastDomain, last.domain == node.domain {
                domain = last.position
            } else if let known = domainPosition[node.domain] {
                domain = known
            } else {
                domain = domains.count
                domainPosition[node.domain] = domain
                domains.append(node.domain)
                domainMembers.append([])
            }
            lastDomain = (node.domain, domain)
            nodeDomains.append(domain)
            domainMembers[domain].append(position)

            chipStart.append(chipIndex.count)
            let highestIndex = node.chips.reduce(-1) { max($0, $1.index) }
            guard highestIndex < 65536, node.chips.allSatisfy({ $0.index >= 0 }) else {
                throw .badChipIndex(node.id, node.chips.first { !(0..<65536).contains($0.index) }?.index ?? -1)
            }
            let bitBase = chipBitByIndex.count
            chipBitByIndex.append(contentsOf: repeatElement(-1, count: highestIndex + 1))
            chipBitStart.append(chipBitByIndex.count)
            nodeModels.removeAll(keepingCapacity: true)
            usable.removeAll(keepingCapacity: true)
            all.removeAll(keepingCapacity: true)
            memory.removeAll(keepingCapacity: true)
            groups.removeAll(keepingCapacity: true)
            var bit = 0
            for chip in node.chips {
                guard chipBitByIndex[bitBase + chip.index] < 0 else { throw .duplicateChip(node.id, chip.index) }
                chipBitByIndex[bitBase + chip.index] = Int8(bit)
                chipIndex.append(chip.index)
                let model: Int
                if let last = lastModel, last.id == chip.model {
                    model = last.position
                } else if let known = modelPosition[chip.model] {
                    model = known
                } else {
                    model = modelIDs.count
                    modelPosition[chip.model] = model
                    modelIDs.append(chip.model)
                    modelNodes.append([])
                    modelMaxChips.append(0)
                }
                lastModel = (chip.model, model)
                let local: Int
                if let found = nodeModels.firstIndex(of: model) {
                    local = found
                } else {
                    local = nodeModels.count
                    nodeModels.append(model)
                    usable.append(0)
                    all.append(0)
                    memory.append(.infinity)
                }
                let mask: UInt64 = 1 << UInt64(bit)
                chipSlot.append(slotNode.count + local)  // the node's slots are appended below, in local order
                chipMemoryMiB.append(chip.memoryMiB)
                chipNUMA.append(chip.numaNode ?? -1)
                all[local] |= mask
                if chip.health == .healthy { usable[local] |= mask }
                memory[local] = min(memory[local], chip.memoryGiB)
                let numa = chip.numaNode ?? -1
                if let group = groups.firstIndex(where: { $0.local == local && $0.numa == numa }) {
                    groups[group].mask |= mask
                } else {
                    groups.append((local, numa, mask))
                }
                bit += 1
            }
            groups.sort { ($0.local, $0.numa) < ($1.local, $1.numa) }
            for (local, model) in nodeModels.enumerated() {
                slotNode.append(position)
                slotModel.append(model)
                slotUsable.append(usable[local])
                slotAllChips.append(all[local])
                slotMinMemory.append(memory[local])
                for group in groups where group.local == local {
                    groupNUMA.append(group.numa)
                    groupMask.append(group.mask)
                }
                groupStart.append(groupNUMA.count)
                modelNodes[model].append(position)
                modelMaxChips[model] = max(modelMaxChips[model], all[local].nonzeroBitCount)
            }
            slotStart.append(slotNode.count)
        }

        self.nodeIDs = nodeIDs
        self.nodeStates = nodeStates
        self.nodeDomains = nodeDomains
        self.nodeBandwidth = nodeBandwidth
        self.nodeLabels = nodeLabels
        self.slotStart = slotStart
        self.slotNode = slotNode
        self.slotModel = slotModel
        self.slotUsable = slotUsable
        self.slotAllChips = slotAllChips
        self.slotMinMemory = slotMinMemory
        self.groupStart = groupStart
        self.groupNUMA = groupNUMA
        self.groupMask = groupMask
        self.chipStart = chipStart
        self.chipIndex = chipIndex
        self.chipBitStart = chipBitStart
        self.chipBitByIndex = chipBitByIndex
        self.chipSlot = chipSlot
        self.chipMemoryMiB = chipMemoryMiB
        self.chipNUMA = chipNUMA
        self.modelIDs = modelIDs
        self.modelCatalogEntry = modelIDs.map { snapshot.catalog[$0] }
        self.modelFamilies = modelCatalogEntry.map { $0?.family }
        self.modelPosition = modelPosition
        self.modelNodes = modelNodes
        self.modelMaxChips = modelMaxChips
        self.domains = domains
        self.domainMembers = domainMembers
        // Domains in order, so each model's list comes out ascending and without repeats.
        var modelDomains = [[Int]](repeating: [], count: modelIDs.count)
        for (domain, members) in domainMembers.enumerated() {
            for node in members {
                for slot in slotStart[node]..<slotStart[node + 1] where modelDomains[slotModel[slot]].last != domain {
                    modelDomains[slotModel[slot]].append(domain)
                }
            }
        }
        self.modelDomains = modelDomains
        var stats = modelMaxChips.map { ModelStats(maxChips: $0) }
        for slot in 0..<slotNode.count {
            let node = slotNode[slot]
            stats[slotModel[slot]].add(
                state: nodeStates[node], chips: slotAllChips[slot].nonzeroBitCount,
                usable: slotUsable[slot].nonzeroBitCount, memory: slotMinMemory[slot], bandwidth: nodeBandwidth[node])
        }
        self.modelStats = stats
    }

    var nodeCount: Int { nodeIDs.count }
    var modelCount: Int { modelIDs.count }
    var domainCount: Int { domains.count }
    var chipCount: Int { chipSlot.count }

    func modelMaxMemory(_ model: Int) -> Double { modelStats[model].maxMemory }

    func slot(ofNode node: Int, model: Int) -> Int? {
        var slot = slotStart[node]
        while slot < slotStart[node + 1] {
            if slotModel[slot] == model { return slot }
            slot += 1
        }
        return nil
    }

    /// The fewest NUMA nodes that `chips` chips of `slot` can sit on, on an empty node: no placement
    /// can do better, so a search may stop at the first node that does this well.
    func fewestNUMANodes(slot: Int, chips: Int) -> Int {
        let groups = groupStart[slot]..<groupStart[slot + 1]
        var taken: UInt64 = 0
        var covered = 0
        var count = 0
        while covered < chips {
            var largest = -1
            var largestSize = 0
            for group in groups where taken & (1 << UInt64(group - groups.lowerBound)) == 0 {
                let size = groupMask[group].nonzeroBitCount
                if size > largestSize {
                    largest = group
                    largestSize = size
                }
            }
            guard largest >= 0 else { break }
            taken |= 1 << UInt64(largest - groups.lowerBound)
            covered += largestSize
            count += 1
        }
        return count
    }

    /// The chips with these indices on `node`, grouped by slot; nil if one is not on the node.
    func slotMasks(node: Int, chipIndices: [Int]) -> [(slot: Int, mask: UInt64)]? {
        var result: [(slot: Int, mask: UInt64)] = []
        for index in chipIndices {
            let offset = chipBitStart[node] + index
            guard index >= 0, offset < chipBitStart[node + 1], chipBitByIndex[offset] >= 0 else { return nil }
            let bit = Int(chipBitByIndex[offset])
            let chip: UInt64 = 1 << UInt64(bit)
            var found: Int?
            for slot in slotStart[node]..<slotStart[node + 1] where slotAllChips[slot] & chip != 0 { found = slot }
            guard let slot = found else { return nil }
            if let existing = result.firstIndex(where: { $0.slot == slot }) {
                result[existing].mask |= chip
            } else {
                result.append((slot, chip))
            }
        }
        return result
    }

    func chipIndices(node: Int, mask: UInt64) -> [Int] {
        var indices: [Int] = []
        indices.reserveCapacity(mask.nonzeroBitCount)
        var bits = mask
        let base = chipStart[node]
        while bits != 0 {
            indices.append(chipIndex[base + bits.trailingZeroBitCount])
            bits &= bits - 1
        }
        return indices
    }
}

/// Free chips of a cluster, indexed by chip model and free count, so that finding a node for a
/// job looks at a handful of buckets instead of every node.
///
/// Positions, not names: nodes, chip models and topology domains are numbered once per decision
/// (`FleetLayout`), and every hot-path structure is an array over those numbers. A node's chips of
/// one model form a *slot*; a slot's chips are bits of a 64-bit mask.
struct FreeCapacityIndex: Sendable {
    let layout: FleetLayout
    /// Node states as they are now (a node may go down and come back between decisions).
    private(set) var nodeStates: [NodeState]
    /// Per chip model: nodes by state and chip counts, for explaining waits; kept as states change.
    private(set) var modelStats: [ModelStats]
    // Mutable state.
    private(set) var slotFree: [UInt64]
    /// `buckets[model][k]`: ready nodes with exactly k free chips of that model (k >= 1).
    private var buckets: [[NodeBitset]]
    /// Per model, bit k - 1 set when `buckets[model][k]` has a node: the first bucket that can hold
    /// a job is one bit scan away, however many buckets sit empty below it.
    private var filledBuckets: [UInt64]
    /// `domainCounts[model][domain * (maxChips + 1) + k]`: the same counts per topology domain.
    private var domainCounts: [[Int32]]

    init(snapshot: ClusterSnapshot) throws(SnapshotError) {
        let layout = try FleetLayout(snapshot: snapshot)
        self.layout = layout
        nodeStates = layout.nodeStates
        modelStats = layout.modelStats
        slotFree = layout.slotUsable
        buckets = layout.modelMaxChips.map { maxChips in
            (0...maxChips).map { _ in NodeBitset(capacity: layout.nodeCount) }
        }
        domainCounts = layout.modelMaxChips.map { maxChips in
            [Int32](repeating: 0, count: layout.domainCount * (maxChips + 1))
        }
        filledBuckets = [UInt64](repeating: 0, count: layout.modelCount)
        for slot in 0..<layout.slotNode.count where nodeStates[layout.slotNode[slot]] == .ready {
            enter(slot: slot, freeCount: layout.slotUsable[slot].nonzeroBitCount)
        }
    }

    // MARK: Booking

    func freeCount(slot: Int) -> Int { slotFree[slot].nonzeroBitCount }

    /// Marks chips of `slot` as used. Chips that are not free are ignored.
    mutating func book(slot: Int, chips: UInt64) {
        let before = slotFree[slot]
        let after = before & ~chips
        guard after != before else { return }
        move(slot: slot, from: before, to: after)
    }

    /// Marks chips of `slot` as free again; unhealthy chips stay unavailable.
    mutating func release(slot: Int, chips: UInt64) {
        let before = slotFree[slot]
        let after = before | (chips & layout.slotUsable[slot])
        guard after != before else { return }
        move(slot: slot, from: before, to: after)
    }

    private mutating func move(slot: Int, from before: UInt64, to after: UInt64) {
        let ready = nodeStates[layout.slotNode[slot]] == .ready
        if ready { leave(slot: slot, freeCount: before.nonzeroBitCount) }
        slotFree[slot] = after
        if ready { enter(slot: slot, freeCount: after.nonzeroBitCount) }
    }

    /// A node goes down, starts draining, or comes back: it leaves or rejoins the buckets.
    mutating func setState(node: Int, _ state: NodeState) {
        let old = nodeStates[node]
        guard old != state else { return }
        for slot in layout.slotStart[node]..<layout.slotStart[node + 1] {
            let model = layout.slotModel[slot]
            let chips = layout.slotAllChips[slot].nonzeroBitCount
            let usable = layout.slotUsable[slot].nonzeroBitCount
            if old == .ready { leave(slot: slot, freeCount: slotFree[slot].nonzeroBitCount) }
            modelStats[model].remove(state: old, chips: chips, usable: usable)
            modelStats[model].count(state: state, chips: chips, usable: usable)
        }
        nodeStates[node] = state
        if state == .ready {
            for slot in layout.slotStart[node]..<layout.slotStart[node + 1] {
                enter(slot: slot, freeCount: slotFree[slot].nonzeroBitCount)
            }
        }
    }

    private mutating func enter(slot: Int, freeCount: Int) {
        let model = layout.slotModel[slot]
        let node = layout.slotNode[slot]
        buckets[model][freeCount].insert(node)
        if freeCount > 0 { filledBuckets[model] |= 1 << UInt64(freeCount - 1) }
        domainCounts[model][layout.nodeDomains[node] * (layout.modelMaxChips[model] + 1) + freeCount] += 1
    }

    private mutating func leave(slot: Int, freeCount: Int) {
        let model = layout.slotModel[slot]
        let node = layout.slotNode[slot]
        buckets[model][freeCount].remove(node)
        if freeCount > 0 && buckets[model][freeCount].count == 0 {
            filledBuckets[model] &= ~(1 << UInt64(freeCount - 1))
        }
        domainCounts[model][layout.nodeDomains[node] * (layout.modelMaxChips[model] + 1) + freeCount] -= 1
    }

    // MARK: Counts

    /// Ready nodes with at least `chips` free chips of `model`.
    func readyNodeCount(model: Int, atLeast chips: Int) -> Int {
        let maxChips = layout.modelMaxChips[model]
        guard chips <= maxChips else { return 0 }
        var total = 0
        for k in max(chips, 1)...maxChips { total += buckets[model][k].count }
        return total
    }

    /// Ready nodes of `domain` with at least `chips` free chips of `model`.
    func readyNodeCount(model: Int, domain: Int, atLeast chips: Int) -> Int {
        let width = layout.modelMaxChips[model] + 1
        guard chips < width else { return 0 }
        var total: Int32 = 0
        let base = domain * width
        for k in max(chips, 1)..<width { total += domainCounts[model][base + k] }
        return Int(total)
    }

    /// Where the best node of `model` for `chips` sits in `order`, from the buckets alone, so that the
    /// models of one score group can be ranked before any node is visited. Smaller is better; nil = no node.
    func rank(model: Int, atLeast chips: Int, order: NodeOrder) -> Int? {
        let maxChips = layout.modelMaxChips[model]
        guard chips <= maxChips else { return nil }
        let filled = bucketsWithRoom(model: model, atLeast: chips)
        switch order {
        case .fewestFreeFirst:
            if filled != 0 { return filled.trailingZeroBitCount + 1 }
        case .mostFreeFirst:
            if filled != 0 { return filled.leadingZeroBitCount }  // 64 - the fullest bucket
        case .lowestPositionFirst:
            var first: Int?
            for k in max(chips, 1)...maxChips {
                if let node = buckets[model][k].first(from: 0), node < first ?? Int.max { first = node }
            }
            return first
        }
        return nil
    }

    /// The bits of `filledBuckets[model]` for buckets of at least `chips` free chips.
    private func bucketsWithRoom(model: Int, atLeast chips: Int) -> UInt64 {
        filledBuckets[model] & (UInt64.max << UInt64(max(chips, 1) - 1))
    }

    // MARK: Candidates

    /// Starts a walk over ready nodes with at least `chips` free chips of `model`, in `order`.
    /// `rotation` shifts where equal nodes start (spread only), so equal nodes share the load.
    func cursor(model: Int, atLeast chips: Int, order: NodeOrder, rotation: Int = 0) -> CandidateCursor {
        let maxChips = layout.modelMaxChips[model]
        let lowest = max(chips, 1)
        var cursor = CandidateCursor(
            model: model, lowest: lowest, maxChips: maxChips, order: order,
            start: layout.nodeCount > 0 ? rotation % layout.nodeCount : 0)
        guard lowest <= maxChips else {
            cursor.done = true
            return cursor
        }
        switch order {
        case .fewestFreeFirst:
            let filled = bucketsWithRoom(model: model, atLeast: lowest)
            cursor.bucket = filled == 0 ? maxChips + 1 : filled.trailingZeroBitCount + 1
        case .mostFreeFirst:
            cursor.bucket = maxChips
            cursor.position = cursor.start
        case .lowestPositionFirst:
            cursor.heads = (lowest...maxChips).map { buckets[model][$0].first(from: 0) ?? Int.max }
        }
        return cursor
    }

    /// The next node of a walk, or nil when there is none.
    func next(_ cursor: inout CandidateCursor) -> Int? {
        guard !cursor.done else { return nil }
        let model = cursor.model
        switch cursor.order {
        case .fewestFreeFirst:
            while cursor.bucket <= cursor.maxChips {
                if let node = buckets[model][cursor.bucket].first(from: cursor.position) {
                    cursor.position = node + 1
                    return node
                }
                // On to the next bucket with a node in it.
                let above = bucketsWithRoom(model: model, atLeast: cursor.bucket + 1)
                cursor.bucket = above == 0 ? cursor.maxChips + 1 : above.trailingZeroBitCount + 1
                cursor.position = 0
            }
        case .mostFreeFirst:
            // Each bucket from `start` to the end, then from 0 up to `start`.
            while cursor.bucket >= cursor.lowest {
                let bucket = buckets[model][cursor.bucket]
                if let node = bucket.first(from: cursor.position), !cursor.wrapped || node < cursor.start {
                    cursor.position = node + 1
                    return node
                }
                if !cursor.wrapped && cursor.start > 0 {
                    cursor.wrapped = true
                    cursor.position = 0
                    continue
                }
                cursor.bucket -= 1
                cursor.wrapped = false
                cursor.position = cursor.start
            }
        case .lowestPositionFirst:
            var best = -1
            var bestNode = Int.max
            for offset in cursor.heads.indices where cursor.heads[offset] < bestNode {
                bestNode = cursor.heads[offset]
                best = offset
            }
            if best >= 0 {
                cursor.heads[best] = buckets[model][cursor.lowest + best].first(from: bestNode + 1) ?? Int.max
                return bestNode
            }
        }
        cursor.done = true
        return nil
    }

    /// Picks `chips` free chips of `slot`, all on one NUMA node when one has room (the fullest
    /// such node, keeping emptier ones whole), otherwise on as few NUMA nodes as possible.
    func pickChips(slot: Int, count chips: Int, excluding blocked: UInt64 = 0) -> ChipPick? {
        let free = slotFree[slot] & ~blocked
        guard chips > 0, free.nonzeroBitCount >= chips else { return nil }
        let groups = layout.groupStart[slot]..<layout.groupStart[slot + 1]
        var bestGroup = -1
        var bestFree = Int.max
        for group in groups {
            let available = (layout.groupMask[group] & free).nonzeroBitCount
            if available >= chips && available < bestFree {
                bestGroup = group
                bestFree = available
            }
        }
        if bestGroup >= 0 {
            let numa = layout.groupNUMA[bestGroup]
            return ChipPick(
                mask: lowestBits(layout.groupMask[bestGroup] & free, chips), numaNodes: numa >= 0 ? [numa] : [])
        }
        // Fewest NUMA nodes: take the group with the most free chips left, until enough.
        var mask: UInt64 = 0
        var numaNodes: [Int] = []
        var needed = chips
        while needed > 0 {
            var fullest = -1
            var fullestFree = 0
            for group in groups {
                let available = (layout.groupMask[group] & free & ~mask).nonzeroBitCount
                if available > fullestFree {
                    fullest = group
                    fullestFree = available
                }
            }
            guard fullest >= 0 else { break }
            let take = lowestBits(layout.groupMask[fullest] & free & ~mask, needed)
            mask |= take
            needed -= take.nonzeroBitCount
            if layout.groupNUMA[fullest] >= 0 { numaNodes.append(layout.groupNUMA[fullest]) }
        }
        return ChipPick(mask: mask, numaNodes: numaNodes)
    }
}

/// A walk over candidate nodes, advanced by `FreeCapacityIndex.next(_:)`.
struct CandidateCursor: Sendable {
    let model: Int
    let lowest: Int
    let maxChips: Int
    let order: NodeOrder
    let start: Int
    var bucket = 0
    var position = 0
    var wrapped = false
    var heads: [Int] = []
    var done = false

    init(model: Int, lowest: Int, maxChips: Int, order: NodeOrder, start: Int) {
        self.model = model
        self.lowest = lowest
        self.maxChips = maxChips
        self.order = order
        self.start = start
    }
}

/// Chips chosen on one node, and the NUMA nodes they sit on (most chips first).
struct ChipPick: Sendable {
    var mask: UInt64
    var numaNodes: [Int]
    /// Host CPUs and memory taken beside the chips, when the job asks for some.
    var host: HostHold?
}

/// The order in which equally acceptable nodes are tried.
public enum NodeOrder: String, Hashable, Sendable {
    /// Lowest node position (fleet order) first.
    case lowestPositionFirst
    /// Nodes with the fewest free chips that still fit first, keeping empty nodes for big jobs.
    case fewestFreeFirst
    /// Nodes with the most free chips first, spreading load.
    case mostFreeFirst
}

func lowestBits(_ mask: UInt64, _ count: Int) -> UInt64 {
    var result: UInt64 = 0
    var bits = mask
    var remaining = count
    while remaining > 0 && bits != 0 {
        let lowest = bits & (~bits &+ 1)
        result |= lowest
        bits &= bits - 1
        remaining -= 1
    }
    return result
}

/// Fixed facts about the nodes of one chip model, for explaining waits without visiting nodes.
struct ModelStats: Sendable {
    var ready = 0
    var draining = 0
    var down = 0
    /// Ready nodes by how many chips of the model they have (healthy or not).
    var readyByChips: [Int]
    /// Ready nodes by how many healthy chips of the model they have.
    var readyByUsable: [Int]
    /// Nodes in any state by how many chips of the model they have.
    var anyByChips: [Int]
    var minMemory = Double.infinity
    var maxMemory = -Double.infinity
    var minBandwidth = Double.infinity
    var maxBandwidth = -Double.infinity

    init(maxChips: Int) {
        readyByChips = [Int](repeating: 0, count: maxChips + 1)
        readyByUsable = readyByChips
        anyByChips = readyByChips
    }

    mutating func add(state: NodeState, chips: Int, usable: Int, memory: Double, bandwidth: Double) {
        count(state: state, chips: chips, usable: usable)
        anyByChips[chips] += 1
        minMemory = min(minMemory, memory)
        maxMemory = max(maxMemory, memory)
        minBandwidth = min(minBandwidth, bandwidth)
        maxBandwidth = max(maxBandwidth, bandwidth)
    }

    mutating func count(state: NodeState, chips: Int, usable: Int) {
        adjust(state: state, chips: chips, usable: usable, by: 1)
    }

    mutating func remove(state: NodeState, chips: Int, usable: Int) {
        adjust(state: state, chips: chips, usable: usable, by: -1)
    }

    private mutating func adjust(state: NodeState, chips: Int, usable: Int, by delta: Int) {
        switch state {
        case .ready:
            ready += delta
            readyByChips[chips] += delta
            readyByUsable[usable] += delta
        case .draining: draining += delta
        case .down: down += delta
        }
    }

    var total: Int { ready + draining + down }

    static func count(_ histogram: [Int], atLeast chips: Int) -> Int {
        guard chips < histogram.count else { return 0 }
        return histogram[max(chips, 0)...].reduce(0, +)
    }
}
