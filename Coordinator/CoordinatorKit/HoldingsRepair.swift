import SchedCore
import Wire

/// Repairs what holds chips in the coordinator's live view before the engine is told, so that it
/// never refuses it: holdings on nodes that are not in the fleet (known only by name, before their
/// agent returns) or on chips the node no longer reports are left out, and a chip (or CPU, or
/// memory) claimed twice is given to its first holder. Each such repair is named in `repairs` for
/// the log. Costs what is held, not the fleet. Pure.
struct HoldingsRepair {
    /// The fleet's nodes with chips, by id.
    var nodes: [NodeID: Node]
    var holdings: [RunningJob]

    func repaired() -> (running: [RunningJob], repairs: [String]) {
        var ledger = HoldingsLedger(nodes: nodes)
        var running: [RunningJob] = []
        var repairs: [String] = []
        var seen: Set<JobID> = []
        for holding in holdings where seen.insert(holding.id).inserted {
            var assignments: [NodeAssignment] = []
            for assignment in holding.assignments {
                guard let node = nodes[assignment.node] else { continue }
                var known = assignment
                known.chips = assignment.chips.filter { chip in
                    guard node.chips.contains(where: { $0.index == chip }) else {
                        repairs.append(
                            "\(holding.id) holds chip \(chip) of \(assignment.node), which it no longer reports")
                        return false
                    }
                    return true
                }
                if known.chips.count != assignment.chips.count { known.numaNodes = [] }
                // An assignment of cores and memory only (a job that asks no chip) is kept as it is.
                guard !known.chips.isEmpty || (assignment.chips.isEmpty && assignment.host != nil) else { continue }
                // A chip, CPU or memory claimed twice goes to its first holder.
                let (kept, conflicts) = ledger.take(known, for: holding.id)
                repairs += conflicts
                if let kept { assignments.append(kept) }
            }
            guard !assignments.isEmpty else { continue }
            var kept = holding
            kept.assignments = assignments
            running.append(kept)
        }
        return (running, repairs)
    }
}
