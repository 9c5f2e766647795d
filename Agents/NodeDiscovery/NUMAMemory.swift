import SchedCore

/// Reconciles the memory sysfs puts on NUMA nodes with the host's total (`/proc/meminfo`). Some
/// VMs attribute only their boot memory to NUMA nodes: one seen here listed 4.5 GiB on its only
/// node of 126 GiB, and every job asking for 8 GiB was refused as too big. Where the nodes hold
/// less than 90% of the total, the rest is spread over the nodes by their CPUs (one node gets it
/// all), with a warning that says so. Pure.
public enum NUMAMemoryReconciler {
    public static func reconcile(_ nodes: [NUMANode], hostMemoryGiB: Double?) -> (nodes: [NUMANode], warning: String?) {
        guard let host = hostMemoryGiB, host.isFinite, host > 0, !nodes.isEmpty else { return (nodes, nil) }
        let listed = nodes.reduce(0) { $0 + max($1.memoryGiB, 0) }
        guard listed < host * 0.9 else { return (nodes, nil) }
        let missing = host - listed
        let cpus = nodes.reduce(0) { $0 + $1.cpus.count }
        var result = nodes
        for index in result.indices {
            let part = cpus > 0 ? Double(result[index].cpus.count) / Double(cpus) : 1 / Double(result.count)
            result[index].memoryGiB = ((max(result[index].memoryGiB, 0) + missing * part) * 10).rounded(.down) / 10
        }
        let warning =
            "NUMA nodes list \(formatNumber(listed)) GiB of the host's \(formatNumber(host)) GiB (a VM that does not "
            + "place its memory on NUMA nodes?): the rest is counted on the NUMA nodes by their CPUs"
        return (result, warning)
    }

    /// `MemTotal:       131981020 kB` from `/proc/meminfo` text, in GiB.
    public static func memTotalGiB(meminfo: String) -> Double? {
        guard let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
            let kib = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap({ Double($0) })
        else { return nil }
        return kib / 1_048_576
    }
}
