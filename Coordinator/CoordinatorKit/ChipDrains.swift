import SchedCore

/// Chips drained after a fault ended an attempt on them: each takes no work until its recovery
/// time has passed (`--chip-recovery`), as SchedSim drains them from the fleet's `chipRecoveryTime`.
struct ChipDrains {
    private var until: [NodeID: [Int: Double]] = [:]

    mutating func drain(chip: Int, of node: NodeID, until end: Double) {
        until[node, default: [:]][chip] = max(until[node]?[chip] ?? end, end)
    }

    /// The drains still in force, in a stable order; expired ones are forgotten.
    mutating func active(at now: Double) -> [(node: NodeID, chip: Int, until: Double)] {
        var result: [(node: NodeID, chip: Int, until: Double)] = []
        for node in until.keys.sorted() {
            until[node] = until[node]?.filter { $0.value > now }
            for (chip, end) in (until[node] ?? [:]).sorted(by: { $0.key < $1.key }) { result.append((node, chip, end)) }
            if until[node]?.isEmpty == true { until[node] = nil }
        }
        return result
    }
}
