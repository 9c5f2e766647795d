import SchedCore
import Wire

/// Builds the snapshot a cycle plans on from the coordinator's live view, so that the engine never
/// refuses it: holdings on nodes that are not in it (known only by name, before their agent
/// returns) or on chips the node no longer reports are left out, and a chip claimed twice is given
/// to its first holder. Each such repair is named in `repairs` for the log. Pure.
struct SnapshotBuilder {
    var nodes: [Node]
    var holdings: [RunningJob]
    var catalog: ChipCatalog

    func build() -> (snapshot: ClusterSnapshot, repairs: [String]) {
        let nodes = nodes.filter { !$0.chips.isEmpty }.sorted { $0.id < $1.id }
        var chipsOf: [NodeID: Set<Int>] = [:]
        for node in nodes { chipsOf[node.id] = Set(node.chips.map(\.index)) }
        var holder: [NodeID: [Int: JobID]] = [:]
        var running: [RunningJob] = []
        var repairs: [String] = []
        var seen: Set<JobID> = []
        for holding in holdings where seen.insert(holding.id).inserted {
            var assignments: [NodeAssignment] = []
            for assignment in holding.assignments {
                guard let present = chipsOf[assignment.node] else { continue }
                var chips: [Int] = []
                for chip in assignment.chips {
                    if !present.contains(chip) {
                        repairs.append(
                            "\(holding.id) holds chip \(chip) of \(assignment.node), which it no longer reports")
                    } else if let other = holder[assignment.node]?[chip] {
                        repairs.append("chip \(chip) of \(assignment.node) is claimed by \(other) and \(holding.id)")
                    } else {
                        holder[assignment.node, default: [:]][chip] = holding.id
                        chips.append(chip)
                    }
                }
                if !chips.isEmpty {
                    let numa = chips.count == assignment.chips.count ? assignment.numaNodes : []
                    assignments.append(NodeAssignment(node: assignment.node, chips: chips, numaNodes: numa))
                }
            }
            guard !assignments.isEmpty else { continue }
            var kept = holding
            kept.assignments = assignments
            running.append(kept)
        }
        return (ClusterSnapshot(nodes: nodes, running: running, catalog: catalog), repairs)
    }
}
