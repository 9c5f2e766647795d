import SchedCore

/// The baseline: for every job, look at every node and keep the best fit (bin-pack), as a scheduler
/// without a free-capacity index does. No NUMA, no tiers, no explanations: it does strictly less
/// work per node than SchedCore, so the comparison flatters it.
struct NaiveScanScheduler {
    var free: [Int]
    let nodeModels: [ChipModelID]

    init(nodes: [Node]) {
        free = nodes.map { $0.chips.filter { $0.health == .healthy }.count }
        nodeModels = nodes.map { $0.chips.first?.model ?? "" }
    }

    /// Places one-node jobs; returns how many were placed.
    mutating func place(_ jobs: [Job]) -> Int {
        var placed = 0
        for job in jobs {
            var best = -1
            for node in free.indices where free[node] >= job.chipsPerNode {
                if best < 0 || free[node] < free[best] { best = node }
            }
            if best >= 0 {
                free[best] -= job.chipsPerNode
                placed += 1
            }
        }
        return placed
    }
}
