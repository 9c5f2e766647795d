import Synchronization

/// The fixed CPUs and memory of every node of one decision, numbered: a node's NUMA nodes are
/// *entries*, an entry's CPUs are *positions* (bits of `HostCapacity.cpuFree`).
final class HostLayout: Sendable {
    /// Entries of node `n` are `entryStart[n] ..< entryStart[n + 1]`.
    let entryStart: [Int]
    let entryNUMA: [Int]
    let entryMemoryMiB: [Int]
    /// CPU positions of entry `e` are `cpuStart[e] ..< cpuStart[e + 1]`; `cpuID` is the logical CPU.
    let cpuStart: [Int]
    let cpuID: [Int]
    /// Node `n`'s positions again, sorted by CPU id (same range as its positions): ids to positions.
    let sortedID: [Int]
    let sortedPosition: [Int]
    let nodeCPUs: [Int]
    let nodeMemoryMiB: [Int]

    init(nodes: [Node]) {
        var entryStart = [0]
        var entryNUMA: [Int] = []
        var entryMemory: [Int] = []
        var cpuStart = [0]
        var cpuID: [Int] = []
        var sortedID: [Int] = []
        var sortedPosition: [Int] = []
        var nodeCPUs: [Int] = []
        var nodeMemory: [Int] = []
        for node in nodes {
            let first = cpuID.count
            var memory = 0
            for numa in node.numaNodes {
                entryNUMA.append(numa.id)
                entryMemory.append(numa.memoryMiB)
                memory = saturatingSum(memory, numa.memoryMiB)
                cpuID += numa.cpus
                cpuStart.append(cpuID.count)
            }
            entryStart.append(entryNUMA.count)
            // Hosts list their CPUs in ascending order almost always: sort only when they do not.
            var ascending = true
            var position = first + 1
            while ascending && position < cpuID.count {
                ascending = cpuID[position - 1] < cpuID[position]
                position += 1
            }
            if ascending {
                sortedID += cpuID[first...]
                sortedPosition += first..<cpuID.count
            } else {
                let sorted = (first..<cpuID.count).sorted { (cpuID[$0], $0) < (cpuID[$1], $1) }
                sortedID += sorted.map { cpuID[$0] }
                sortedPosition += sorted
            }
            nodeCPUs.append(cpuID.count - first)
            nodeMemory.append(memory)
        }
        self.entryStart = entryStart
        self.entryNUMA = entryNUMA
        self.entryMemoryMiB = entryMemory
        self.cpuStart = cpuStart
        self.cpuID = cpuID
        self.sortedID = sortedID
        self.sortedPosition = sortedPosition
        self.nodeCPUs = nodeCPUs
        self.nodeMemoryMiB = nodeMemory
    }

    func cpuRange(node: Int) -> Range<Int> { cpuStart[entryStart[node]]..<cpuStart[entryStart[node + 1]] }

    /// The position of CPU `id` on `node`, or nil when the node has no such CPU.
    func position(node: Int, cpu id: Int) -> Int? {
        let range = cpuRange(node: node)
        let found = sortedID[range].partitioningIndex(where: { $0 >= id })
        guard found < range.upperBound, sortedID[found] == id else { return nil }
        return sortedPosition[found]
    }

    /// The entry of NUMA node `numa` on `node`, or nil.
    func entry(node: Int, numa: Int) -> Int? {
        (entryStart[node]..<entryStart[node + 1]).first { entryNUMA[$0] == numa }
    }
}

/// A snapshot's host layout, built on first need and shared by every copy of a decision's state
/// (backfill's replays, an engine's plans), whichever thread plans.
final class HostLayoutCache: Sendable {
    private let nodes: [Node]
    private let built = Mutex<HostLayout?>(nil)

    init(nodes: [Node]) { self.nodes = nodes }

    func layout() -> HostLayout {
        built.withLock { cached in
            if let cached { return cached }
            let layout = HostLayout(nodes: nodes)
            cached = layout
            return layout
        }
    }
}

/// Host resources held by one job on one node, by position: what `HostCapacity` books and frees.
struct HostHold: Sendable {
    var node: Int
    var cpuPositions: [Int]
    var memory: [(entry: Int, mebibytes: Int)]
}

/// What is free of every node's CPUs and memory during one decision. A value: backfill's copies
/// replay the future on their own.
struct HostCapacity: Sendable {
    let layout: HostLayout
    private(set) var cpuFree: [UInt64]
    private(set) var entryFreeCPUs: [Int]
    private(set) var entryFreeMemory: [Int]
    private(set) var nodeFreeCPUs: [Int]
    private(set) var nodeFreeMemory: [Int]

    init(layout: HostLayout) {
        self.layout = layout
        let total = layout.cpuID.count
        var words = [UInt64](repeating: ~0, count: (total + 63) / 64)
        if total % 64 != 0 { words[words.count - 1] = (1 << UInt64(total % 64)) - 1 }
        cpuFree = words
        entryFreeCPUs = (0..<layout.entryNUMA.count).map { layout.cpuStart[$0 + 1] - layout.cpuStart[$0] }
        entryFreeMemory = layout.entryMemoryMiB
        nodeFreeCPUs = layout.nodeCPUs
        nodeFreeMemory = layout.nodeMemoryMiB
    }

    func isFree(_ position: Int) -> Bool { cpuFree[position >> 6] & (1 << UInt64(position & 63)) != 0 }

    /// Why `node` cannot offer `demand`: never (too few cores or too little memory in all), or not
    /// now (in use); nil when it can.
    func rejection(node: Int, demand: HostDemand) -> RejectionCause? {
        if demand.cpus > layout.nodeCPUs[node] { return .tooFewCores }
        if demand.memoryMiB > layout.nodeMemoryMiB[node] { return .tooLittleMemory }
        if demand.cpus > nodeFreeCPUs[node] { return .coresInUse }
        if demand.memoryMiB > nodeFreeMemory[node] { return .memoryInUse }
        return nil
    }

    /// Cores and memory for `demand` on `node`: from the NUMA nodes in `near` first (the chips'
    /// own, in order), then the others; within a NUMA node the lowest free CPUs. Nil when it does not fit.
    func pick(node: Int, demand: HostDemand, near: [Int]) -> HostHold? {
        guard rejection(node: node, demand: demand) == nil else { return nil }
        var order: [Int] = []
        for numa in near {
            if let entry = layout.entry(node: node, numa: numa), !order.contains(entry) { order.append(entry) }
        }
        for entry in layout.entryStart[node]..<layout.entryStart[node + 1] where !order.contains(entry) {
            order.append(entry)
        }
        var hold = HostHold(node: node, cpuPositions: [], memory: [])
        var cpusLeft = max(demand.cpus, 0)
        var memoryLeft = max(demand.memoryMiB, 0)
        for entry in order {
            if cpusLeft > 0 && entryFreeCPUs[entry] > 0 {
                for position in layout.cpuStart[entry]..<layout.cpuStart[entry + 1] where isFree(position) {
                    hold.cpuPositions.append(position)
                    cpusLeft -= 1
                    if cpusLeft == 0 { break }
                }
            }
            if memoryLeft > 0 && entryFreeMemory[entry] > 0 {
                let take = min(memoryLeft, entryFreeMemory[entry])
                hold.memory.append((entry, take))
                memoryLeft -= take
            }
        }
        guard cpusLeft == 0, memoryLeft == 0 else { return nil }
        return hold
    }

    /// What of `booking` (CPU ids, MiB per NUMA node) `node` has free, by position: a CPU or memory
    /// another holder already has is left out, so that freeing it later frees only what was taken.
    func hold(node: Int, booking: HostBooking) -> HostHold {
        var hold = HostHold(node: node, cpuPositions: [], memory: [])
        var taken = Set<Int>()
        for cpu in booking.cpus {
            if let position = layout.position(node: node, cpu: cpu), isFree(position), taken.insert(position).inserted {
                hold.cpuPositions.append(position)
            }
        }
        var free: [Int: Int] = [:]
        for part in booking.memory where part.mebibytes > 0 {
            guard let entry = layout.entry(node: node, numa: part.numaNode) else { continue }
            let available = free[entry] ?? entryFreeMemory[entry]
            let take = min(part.mebibytes, available)
            if take > 0 {
                hold.memory.append((entry, take))
                free[entry] = available - take
            }
        }
        return hold
    }

    /// The booking a hold stands for, in CPU ids and NUMA ids.
    func booking(_ hold: HostHold) -> HostBooking {
        HostBooking(
            cpus: hold.cpuPositions.map { layout.cpuID[$0] }.sorted(),
            memory: hold.memory.map { NUMAMemory(numaNode: layout.entryNUMA[$0.entry], mebibytes: $0.mebibytes) })
    }

    mutating func book(_ hold: HostHold) { adjust(hold, taking: true) }

    mutating func release(_ hold: HostHold) { adjust(hold, taking: false) }

    private mutating func adjust(_ hold: HostHold, taking: Bool) {
        let sign = taking ? -1 : 1
        for position in hold.cpuPositions {
            let bit: UInt64 = 1 << UInt64(position & 63)
            guard (cpuFree[position >> 6] & bit != 0) == taking else { continue }
            cpuFree[position >> 6] ^= bit
            let entry = entry(ofPosition: position, node: hold.node)
            entryFreeCPUs[entry] += sign
            nodeFreeCPUs[hold.node] += sign
        }
        for (entry, mebibytes) in hold.memory {
            entryFreeMemory[entry] += sign * mebibytes
            nodeFreeMemory[hold.node] += sign * mebibytes
        }
    }

    func entry(ofPosition position: Int, node: Int) -> Int {
        var entry = layout.entryStart[node]
        while layout.cpuStart[entry + 1] <= position { entry += 1 }
        return entry
    }
}
