/// Host CPUs and memory a job asks of each node it runs on, beside its chips: per node, and per chip
/// placed there (Slurm's `--cpus-per-task`/`--mem` and `--cpus-per-gpu`/`--mem-per-gpu`). Nothing
/// asked is nothing reserved.
public struct HostAsk: Hashable, Sendable, Codable {
    public var cpus: Int
    public var cpusPerChip: Int
    /// Memory in MiB: whole numbers, so that booking and freeing never drift.
    public var memoryMiB: Int
    public var memoryMiBPerChip: Int

    public init(cpus: Int = 0, cpusPerChip: Int = 0, memoryMiB: Int = 0, memoryMiBPerChip: Int = 0) {
        self.cpus = cpus
        self.cpusPerChip = cpusPerChip
        self.memoryMiB = memoryMiB
        self.memoryMiBPerChip = memoryMiBPerChip
    }

    public var isEmpty: Bool { cpus == 0 && cpusPerChip == 0 && memoryMiB == 0 && memoryMiBPerChip == 0 }

    /// What one node holding `chips` chips of the job must offer. Saturates rather than trap: the
    /// readers bound every field, and a demand past any node is refused as too big, not as a crash.
    public func onNode(chips: Int) -> HostDemand {
        HostDemand(
            cpus: saturatingSum(cpus, saturatingProduct(cpusPerChip, chips)),
            memoryMiB: saturatingSum(memoryMiB, saturatingProduct(memoryMiBPerChip, chips)))
    }
}

/// CPUs and MiB of memory one node must offer a job.
public struct HostDemand: Hashable, Sendable, Codable {
    public var cpus: Int
    public var memoryMiB: Int

    public init(cpus: Int = 0, memoryMiB: Int = 0) {
        self.cpus = cpus
        self.memoryMiB = memoryMiB
    }

    /// "96 free cores and 512 GiB of free memory", or nil when nothing is asked.
    public var phrase: String? {
        var parts: [String] = []
        if cpus > 0 { parts.append("\(cpus) free core\(cpus == 1 ? "" : "s")") }
        if memoryMiB > 0 { parts.append("\(formatMebibytes(memoryMiB)) of free memory") }
        return parts.isEmpty ? nil : parts.joined(separator: " and ")
    }
}

/// A share of one chip instead of the whole chip (HAMi's `gpumem`/`gpucores`, KAI's fractions): chip
/// memory in MiB and compute in percent, either of which may be 0 (not asked, not limited). The
/// shares on one chip never exceed its memory or 100% compute, and a chip holding shares takes no
/// whole-chip job.
public struct ChipShare: Hashable, Sendable, Codable, CustomStringConvertible {
    public var memoryMiB: Int
    public var computePercent: Int

    public init(memoryMiB: Int = 0, computePercent: Int = 0) {
        self.memoryMiB = memoryMiB
        self.computePercent = computePercent
    }

    /// "30% compute and 10 GiB of chip memory".
    public var description: String {
        var parts: [String] = []
        if computePercent > 0 { parts.append("\(computePercent)% compute") }
        if memoryMiB > 0 { parts.append("\(formatMebibytes(memoryMiB)) of chip memory") }
        return parts.isEmpty ? "an empty share" : parts.joined(separator: " and ")
    }

    /// The part of a chip it takes, for utilization: its compute, or its memory where it asks none.
    public func fraction(ofChipMemoryMiB chipMemory: Int) -> Double {
        if computePercent > 0 { return Double(min(computePercent, 100)) / 100 }
        guard chipMemory > 0 else { return 1 }
        return min(Double(memoryMiB) / Double(chipMemory), 1)
    }
}

/// Host CPUs and memory held by one job on one node: the logical CPUs it is pinned to and the MiB
/// taken from each NUMA node.
public struct HostBooking: Hashable, Sendable, Codable {
    /// Logical CPU ids (as `taskset` and sysfs count them), ascending.
    public var cpus: [Int]
    public var memory: [NUMAMemory]

    public init(cpus: [Int] = [], memory: [NUMAMemory] = []) {
        self.cpus = cpus
        self.memory = memory
    }

    public var memoryMiB: Int { memory.reduce(0) { saturatingSum($0, $1.mebibytes) } }
}

/// MiB of host memory taken from one NUMA node.
public struct NUMAMemory: Hashable, Sendable, Codable {
    public var numaNode: Int
    public var mebibytes: Int

    public init(numaNode: Int, mebibytes: Int) {
        self.numaNode = numaNode
        self.mebibytes = mebibytes
    }
}

extension NUMANode {
    /// Its memory in whole MiB (0 for a value that is not a finite, positive size).
    public var memoryMiB: Int { mebibytes(fromGiB: memoryGiB) }
}

extension Chip {
    /// Its memory in whole MiB.
    public var memoryMiB: Int { mebibytes(fromGiB: memoryGiB) }
}

/// GiB to whole MiB, rounded down; 0 for what is not finite and positive, capped far past any chip
/// or host (2^50 MiB) so that sums of a node's figures stay in range.
public func mebibytes(fromGiB gib: Double) -> Int {
    guard gib.isFinite, gib > 0 else { return 0 }
    return Int(min(gib * 1024, 1_125_899_906_842_624).rounded(.down))
}

/// "10 GiB", "1.5 GiB" (to a tenth), "512 MiB".
public func formatMebibytes(_ mib: Int) -> String {
    if mib >= 1024 {
        return formatNumber(Double(mib) / 1024) + " GiB"
    }
    return "\(mib) MiB"
}

func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? (b > 0 ? Int.max : Int.min) : sum
}

func saturatingProduct(_ a: Int, _ b: Int) -> Int {
    let (product, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? ((a < 0) != (b < 0) ? Int.min : Int.max) : product
}
