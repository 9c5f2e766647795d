import SchedCore

/// Chip, NUMA or CPU indices as people (and `taskset -c`) write them: runs of three or more as
/// `0-7`, the rest one by one: `0-7,9,12-15`.
public func indexList(_ values: [Int]) -> String {
    let sorted = Array(Set(values)).sorted()
    var parts: [String] = []
    var start = 0
    while start < sorted.count {
        var end = start
        while end + 1 < sorted.count && sorted[end + 1] == sorted[end] + 1 { end += 1 }
        if end - start >= 2 {
            parts.append("\(sorted[start])-\(sorted[end])")
        } else {
            parts += sorted[start...end].map(String.init)
        }
        start = end + 1
    }
    return parts.joined(separator: ",")
}

extension NodeAssignment {
    /// Where one node's part of a placement is, for the placement log and `schedctl status`:
    /// `h100-0 chips 0-7 NUMA 0, cores 0-15, 64 GiB memory`, or for a share
    /// `h100-0 chip 3 (30% compute and 10 GiB of chip memory) NUMA 0`.
    public var summary: String {
        var text = "\(node) chip\(chips.count == 1 ? "" : "s") \(indexList(chips))"
        if let share { text += " (\(share))" }
        if !numaNodes.isEmpty { text += " NUMA \(indexList(numaNodes))" }
        if let host, !host.cpus.isEmpty { text += ", cores \(indexList(host.cpus))" }
        if let host, host.memoryMiB > 0 { text += ", \(formatMebibytes(host.memoryMiB)) memory" }
        return text
    }
}
