/// Free chips of a cluster, indexed by chip model and free count, so that finding a node for a
/// job looks at a handful of buckets instead of every node.
///
/// Positions, not names: nodes, chip models and topology domains are numbered once when the index
/// is built from a snapshot, and every hot-path structure is an array over those numbers. A node's
/// chips of one model form a *slot*; a slot's chips are bits of a 64-bit mask.
struct FreeCapacityIndex: Sendable {
    // Nodes.
    let nodeIDs: [NodeID]
    let nodeStates: [NodeState]
    let nodeDomains: [Int]
    let nodeBandwidth: [Double]
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
    /// `(node << 16 | chip index)` -> bit of the chip in its slot masks.
    let chipBit: [Int: Int]
    // Chip models present in the fleet.
    let modelIDs: [ChipModelID]
    let modelCatalogEntry: [ChipModel?]
    let modelPosition: [ChipModelID: Int]
    let modelNodes: [[Int]]
    let modelMaxChips: [Int]
    let modelStats: [ModelStats]
    // Topology domains.
    let domains: [TopologyDomain?]
    let domainMembers: [[Int]]

    // Mutable state.
    private(set) var slotFree: [UInt64]
    /// `buckets[model][k]`: ready nodes with exactly k free chips of that model (k >= 1).
    private var buckets: [[NodeBitset]]
    /// `domainCounts[model][domain * (maxChips + 1) + k]`: the same counts per topology domain.
    private var domainCounts: [[Int32]]

    init(snapshot: ClusterSnapshot) throws(SnapshotError) {
        var nodeIDs: [NodeID] = []
        var nodeStates: [NodeState] = []
        var nodeDomains: [Int] = []
        var nodeBandwidth: [Double] = []
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
        var chipBit: [Int: Int] = [:]
        var modelIDs: [ChipModelID] = []
        var modelPosition: [ChipModelID: Int] = [:]
        var modelNodes: [[Int]] = []
        var modelMaxChips: [Int] = []
        var domains: [TopologyDomain?] = []
        var domainPosition: [TopologyDomain?: Int] = [:]
        var domainMembers: [[Int]] = []
        var seenNodes: Set<NodeID> = []

        for node in snapshot.nodes {
            guard seenNodes.insert(node.id).inserted else { throw .duplicateNode(node.id) }
            guard node.chips.count <= 64 else { throw .tooManyChips(node.id, node.chips.count) }
            let position = nodeIDs.count
            nodeIDs.append(node.id)
            nodeStates.append(node.state)
            nodeBandwidth.append(node.interNodeBandwidthGBps ?? .infinity)
            let domain: Int
            if let known = domainPosition[node.domain] {
                domain = known
            } else {
                domain = domains.count
                domainPosition[node.domain] = domain
                domains.append(node.domain)
                domainMembers.append([])
            }
            nodeDomains.append(domain)
            domainMembers[domain].append(position)

            chipStart.append(chipIndex.count)
            var seenChips: Set<Int> = []
            // Slots in order of first appearance of each model on the node.
            var nodeModels: [Int] = []
            var usable: [UInt64] = []
            var all: [UInt64] = []
            var memory: [Double] = []
            var numaByModel: [[Int: UInt64]] = []
            for (bit, chip) in node.chips.enumerated() {
                guard (0..<65536).contains(chip.index) else { throw .badChipIndex(node.id, chip.index) }
                guard seenChips.insert(chip.index).inserted else { throw .duplicateChip(node.id, chip.index) }
                chipIndex.append(chip.index)
                chipBit[position << 16 | chip.index] = bit
                let model: Int
                if let known = modelPosition[chip.model] {
                    model = known
                } else {
                    model = modelIDs.count
                    modelPosition[chip.model] = model
                    modelIDs.append(chip.model)
                    modelNodes.append([])
                    modelMaxChips.append(0)
                }
                let local: Int
                if let found = nodeModels.firstIndex(of: model) {
                    local = found
                } else {
                    local = nodeModels.count
                    nodeModels.append(model)
                    usable.append(0)
                    all.append(0)
                    memory.append(.infinity)
                    numaByModel.append([:])
                }
                let mask: UInt64 = 1 << UInt64(bit)
                all[local] |= mask
                if chip.health == .healthy { usable[local] |= mask }
                memory[local] = min(memory[local], chip.memoryGiB)
                numaByModel[local][chip.numaNode ?? -1, default: 0] |= mask
            }
            for (local, model) in nodeModels.enumerated() {
                slotNode.append(position)
                slotModel.append(model)
                slotUsable.append(usable[local])
                slotAllChips.append(all[local])
                slotMinMemory.append(memory[local])
                for numa in numaByModel[local].keys.sorted() {
                    groupNUMA.append(numa)
                    groupMask.append(numaByModel[local][numa]!)
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
        self.chipBit = chipBit
        self.modelIDs = modelIDs
        self.modelCatalogEntry = modelIDs.map { snapshot.catalog[$0] }
        self.modelPosition = modelPosition
        self.modelNodes = modelNodes
        self.modelMaxChips = modelMaxChips
        self.domains = domains
        self.domainMembers = domainMembers
        var stats = modelMaxChips.map { ModelStats(maxChips: $0) }
        for slot in 0..<slotNode.count {
            let node = slotNode[slot]
            stats[slotModel[slot]].add(
                state: nodeStates[node], chips: slotAllChips[slot].nonzeroBitCount,
                usable: slotUsable[slot].nonzeroBitCount, memory: slotMinMemory[slot], bandwidth: nodeBandwidth[node])
        }
        self.modelStats = stats
        self.slotFree = slotUsable
        self.buckets = modelMaxChips.map { maxChips in
            (0...maxChips).map { _ in NodeBitset(capacity: nodeIDs.count) }
        }
        self.domainCounts = modelMaxChips.map { maxChips in
            [Int32](repeating: 0, count: domains.count * (maxChips + 1))
        }
        for slot in 0..<slotNode.count where nodeStates[slotNode[slot]] == .ready {
            enter(slot: slot, freeCount: slotUsable[slot].nonzeroBitCount)
        }
    }

    var nodeCount: Int { nodeIDs.count }
    var domainCount: Int { domains.count }

    func modelMaxMemory(_ model: Int) -> Double { modelStats[model].maxMemory }
    var modelCount: Int { modelIDs.count }

    // MARK: Slots

    func slot(ofNode node: Int, model: Int) -> Int? {
        var slot = slotStart[node]
        while slot < slotStart[node + 1] {
            if slotModel[slot] == model { return slot }
            slot += 1
        }
        return nil
    }

    func freeCount(slot: Int) -> Int { slotFree[slot].nonzeroBitCount }

    /// The chips with these indices on `node`, grouped by slot; nil if one is not on the node.
    func slotMasks(node: Int, chipIndices: [Int]) -> [(slot: Int, mask: UInt64)]? {
        var result: [(slot: Int, mask: UInt64)] = []
        for index in chipIndices {
            guard let bit = chipBit[node << 16 | index] else { return nil }
            let chip: UInt64 = 1 << UInt64(bit)
            guard let slot = (slotStart[node]..<slotStart[node + 1]).first(where: { slotAllChips[$0] & chip != 0 })
            else { return nil }
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

    // MARK: Booking

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
        let after = before | (chips & slotUsable[slot])
        guard after != before else { return }
        move(slot: slot, from: before, to: after)
    }

    private mutating func move(slot: Int, from before: UInt64, to after: UInt64) {
        let ready = nodeStates[slotNode[slot]] == .ready
        if ready { leave(slot: slot, freeCount: before.nonzeroBitCount) }
        slotFree[slot] = after
        if ready { enter(slot: slot, freeCount: after.nonzeroBitCount) }
    }

    private mutating func enter(slot: Int, freeCount: Int) {
        let model = slotModel[slot]
        let node = slotNode[slot]
        buckets[model][freeCount].insert(node)
        domainCounts[model][nodeDomains[node] * (modelMaxChips[model] + 1) + freeCount] += 1
    }

    private mutating func leave(slot: Int, freeCount: Int) {
        let model = slotModel[slot]
        let node = slotNode[slot]
        buckets[model][freeCount].remove(node)
        domainCounts[model][nodeDomains[node] * (modelMaxChips[model] + 1) + freeCount] -= 1
    }

    // MARK: Queries

    /// Ready nodes with at least `chips` free chips of `model`.
    func readyNodeCount(model: Int, atLeast chips: Int) -> Int {
        guard chips <= modelMaxChips[model] else { return 0 }
        var total = 0
        for k in max(chips, 0)...modelMaxChips[model] { total += buckets[model][k].count }
        return total
    }

    /// Ready nodes of `domain` with at least `chips` free chips of `model`.
    func readyNodeCount(model: Int, domain: Int, atLeast chips: Int) -> Int {
        let width = modelMaxChips[model] + 1
        guard chips < width else { return 0 }
        var total: Int32 = 0
        let base = domain * width
        for k in max(chips, 0)..<width { total += domainCounts[model][base + k] }
        return Int(total)
    }

    /// Visits ready nodes with at least `chips` free chips of `model`, in the order `order` prefers,
    /// until `visit` returns false. `rotation` shifts where equal nodes start (spread only).
    func forEachCandidate(
        model: Int, atLeast chips: Int, order: NodeOrder, rotation: Int = 0, _ visit: (Int) -> Bool
    ) {
        let maxChips = modelMaxChips[model]
        guard chips <= maxChips else { return }
        let lowest = max(chips, 1)
        switch order {
        case .fewestFreeFirst:
            for k in lowest...maxChips where !visitBucket(model: model, k: k, from: 0, visit) { return }
        case .mostFreeFirst:
            for k in stride(from: maxChips, through: lowest, by: -1) {
                let bucket = buckets[model][k]
                guard bucket.count > 0 else { continue }
                let start = bucket.count > 1 && nodeCount > 0 ? rotation % nodeCount : 0
                if !visitBucket(model: model, k: k, from: start, visit) { return }
                if start > 0 {
                    var position = bucket.first(from: 0)
                    while let node = position, node < start {
                        if !visit(node) { return }
                        position = bucket.first(from: node + 1)
                    }
                }
            }
        case .lowestPositionFirst:
            // Merge the buckets in node order.
            var next = (lowest...maxChips).map { buckets[model][$0].first(from: 0) }
            while true {
                var best = -1
                var bestNode = Int.max
                for (offset, candidate) in next.enumerated() {
                    if let node = candidate, node < bestNode {
                        bestNode = node
                        best = offset
                    }
                }
                guard best >= 0 else { return }
                if !visit(bestNode) { return }
                next[best] = buckets[model][lowest + best].first(from: bestNode + 1)
            }
        }
    }

    private func visitBucket(model: Int, k: Int, from start: Int, _ visit: (Int) -> Bool) -> Bool {
        let bucket = buckets[model][k]
        var position = bucket.first(from: start)
        while let node = position {
            if !visit(node) { return false }
            position = bucket.first(from: node + 1)
        }
        return true
    }

    /// Picks `chips` free chips of `slot`, all on one NUMA node when one has room (the fullest
    /// such node, keeping emptier ones whole), otherwise on as few NUMA nodes as possible.
    func pickChips(slot: Int, count chips: Int, excluding blocked: UInt64 = 0) -> ChipPick? {
        let free = slotFree[slot] & ~blocked
        guard free.nonzeroBitCount >= chips else { return nil }
        var bestGroup = -1
        var bestFree = Int.max
        for group in groupStart[slot]..<groupStart[slot + 1] {
            let available = (groupMask[group] & free).nonzeroBitCount
            if available >= chips && available < bestFree {
                bestGroup = group
                bestFree = available
            }
        }
        if bestGroup >= 0 {
            let mask = lowestBits(groupMask[bestGroup] & free, chips)
            let numa = groupNUMA[bestGroup]
            return ChipPick(mask: mask, numaNodes: numa >= 0 ? [numa] : [])
        }
        // Fewest NUMA nodes: take the groups with the most free chips first.
        let groups = (groupStart[slot]..<groupStart[slot + 1]).sorted {
            let a = (groupMask[$0] & free).nonzeroBitCount
            let b = (groupMask[$1] & free).nonzeroBitCount
            return a != b ? a > b : groupNUMA[$0] < groupNUMA[$1]
        }
        var mask: UInt64 = 0
        var numaNodes: [Int] = []
        var needed = chips
        for group in groups where needed > 0 {
            let take = lowestBits(groupMask[group] & free, needed)
            guard take != 0 else { continue }
            mask |= take
            needed -= take.nonzeroBitCount
            if groupNUMA[group] >= 0 { numaNodes.append(groupNUMA[group]) }
        }
        return ChipPick(mask: mask, numaNodes: numaNodes)
    }
}

/// Chips chosen on one node, and the NUMA nodes they sit on (most chips first).
struct ChipPick: Sendable {
    var mask: UInt64
    var numaNodes: [Int]
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
        switch state {
        case .ready:
            ready += 1
            readyByChips[chips] += 1
            readyByUsable[usable] += 1
        case .draining: draining += 1
        case .down: down += 1
        }
        anyByChips[chips] += 1
        minMemory = min(minMemory, memory)
        maxMemory = max(maxMemory, memory)
        minBandwidth = min(minBandwidth, bandwidth)
        maxBandwidth = max(maxBandwidth, bandwidth)
    }

    var total: Int { ready + draining + down }

    static func count(_ histogram: [Int], atLeast chips: Int) -> Int {
        guard chips < histogram.count else { return 0 }
        return histogram[max(chips, 0)...].reduce(0, +)
    }
}
