/// Who holds what on each node, checked one holding at a time: a whole chip by one job; shares of
/// a chip beside shares only, within its memory and 100% compute; each CPU by one job; each NUMA
/// node's memory within its size. A driver uses it to repair a live view before planning and to
/// re-check a plan's placements against what changed meanwhile. Pure.
public struct HoldingsLedger: Sendable {
    private struct ChipUse {
        var whole: JobID?
        var sharers: [JobID] = []
        var compute = 0
        var memory = 0
    }

    private struct NodeUse {
        var chipMemory: [Int: Int] = [:]
        var numaMemory: [Int: Int] = [:]
        var chips: [Int: ChipUse] = [:]
        var cpus: [Int: JobID] = [:]
        var memoryUsed: [Int: Int] = [:]
    }

    /// The nodes by id; each one's use is set up when a holding first touches it, so that a ledger
    /// over a large fleet costs what is held, not the fleet.
    private let known: [NodeID: Node]
    private var nodes: [NodeID: NodeUse] = [:]

    public init(nodes: [Node]) {
        self.init(nodes: Dictionary(nodes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }))
    }

    public init(nodes: [NodeID: Node]) {
        known = nodes
    }

    private func use(of node: NodeID) -> NodeUse? {
        if let use = nodes[node] { return use }
        guard let node = known[node] else { return nil }
        var use = NodeUse()
        for chip in node.chips { use.chipMemory[chip.index] = chip.memoryMiB }
        for numa in node.numaNodes { use.numaMemory[numa.id] = numa.memoryMiB }
        return use
    }

    /// Books what of `assignment` is free for `job` and says what was not, one sentence each; the
    /// assignment kept is nil when none of its chips were free. Chips a node does not list are kept
    /// as they are (the caller checks presence); CPUs and memory in conflict are left out.
    public mutating func take(_ assignment: NodeAssignment, for job: JobID) -> (
        kept: NodeAssignment?, conflicts: [String]
    ) {
        guard var use = use(of: assignment.node) else { return (assignment, []) }
        var conflicts: [String] = []
        var chips: [Int] = []
        for chip in assignment.chips {
            if let problem = Self.problem(chip: chip, share: assignment.share, in: use, node: assignment.node) {
                conflicts.append(problem + " (\(job) too)")
                continue
            }
            var chipUse = use.chips[chip] ?? ChipUse()
            if let share = assignment.share?.clamped {
                chipUse.sharers.append(job)
                chipUse.compute += share.computePercent
                chipUse.memory = saturatingSum(chipUse.memory, share.memoryMiB)
            } else {
                chipUse.whole = job
            }
            use.chips[chip] = chipUse
            chips.append(chip)
        }
        guard !chips.isEmpty || assignment.chips.isEmpty else {
            nodes[assignment.node] = use
            return (nil, conflicts)
        }
        var kept = assignment
        kept.chips = chips
        if chips.count != assignment.chips.count { kept.numaNodes = [] }
        if let booking = assignment.host {
            var cpus: [Int] = []
            for cpu in booking.cpus {
                if let other = use.cpus[cpu] {
                    conflicts.append("CPU \(cpu) of \(assignment.node) is claimed by \(other) and \(job)")
                } else {
                    use.cpus[cpu] = job
                    cpus.append(cpu)
                }
            }
            var memory: [NUMAMemory] = []
            for part in booking.memory where part.mebibytes > 0 {
                let used = use.memoryUsed[part.numaNode] ?? 0
                if let size = use.numaMemory[part.numaNode], saturatingSum(used, part.mebibytes) > size {
                    conflicts.append(
                        "NUMA node \(part.numaNode) of \(assignment.node) has \(formatMebibytes(size)) of memory; "
                            + "\(job) would bring what is held to \(formatMebibytes(saturatingSum(used, part.mebibytes)))"
                    )
                } else {
                    use.memoryUsed[part.numaNode] = saturatingSum(used, part.mebibytes)
                    memory.append(part)
                }
            }
            kept.host = HostBooking(cpus: cpus, memory: memory)
        }
        nodes[assignment.node] = use
        return (kept, conflicts)
    }

    /// What stops `assignment` from being booked now, in one sentence; nil when all of it is free.
    public func conflict(in assignment: NodeAssignment, for job: JobID) -> String? {
        var probe = self
        let (kept, conflicts) = probe.take(assignment, for: job)
        if let first = conflicts.first { return first }
        return kept == nil && !assignment.chips.isEmpty ? "nothing of it is free" : nil
    }

    private static func problem(chip: Int, share: ChipShare?, in use: NodeUse, node: NodeID) -> String? {
        guard let chipUse = use.chips[chip] else { return nil }
        if let whole = chipUse.whole { return "chip \(chip) of \(node) is held whole by \(whole)" }
        guard let share = share?.clamped else {
            return "chip \(chip) of \(node) holds shares of \(chipUse.sharers.map(\.name).joined(separator: ", "))"
        }
        let capacity = use.chipMemory[chip] ?? Int.max
        if chipUse.compute + share.computePercent > 100 || saturatingSum(chipUse.memory, share.memoryMiB) > capacity {
            return "chip \(chip) of \(node) has no room for \(share) beside "
                + chipUse.sharers.map(\.name).joined(separator: ", ")
        }
        return nil
    }
}
