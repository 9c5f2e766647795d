import Glibc

/// Each queue's past use, decayed with a half-life (as Slurm's PriorityDecayHalfLife): an
/// exponential average that moves toward present use as time passes, so that a queue that used
/// much lately stands behind one that did not, and forgets it in time. What a driver keeps between
/// plans and hands to each `QueueLedger`.
public struct QueueUsageHistory: Sendable {
    /// Seconds on the driver's clock; 0 or less: no memory of the past.
    public let halfLife: Double
    public private(set) var amounts: [String: QuotaAmounts] = [:]
    private var last: Double?

    public init(halfLife: Double) { self.halfLife = halfLife }

    /// Moves the past toward `present` (each queue's use now) for the time since the last call.
    public mutating func advance(to now: Double, queues: [String], present: (String) -> QuotaAmounts) {
        defer { last = now }
        guard let last, now > last, halfLife > 0 else { return }
        let kept = Glibc.exp2(-(now - last) / halfLife)
        var next: [String: QuotaAmounts] = [:]
        for name in queues {
            let current = present(name)
            let past = amounts[name] ?? [:]
            var blended: QuotaAmounts = [:]
            for resource in Set(current.keys).union(past.keys) {
                let value = (past[resource] ?? 0) * kept + (current[resource] ?? 0) * (1 - kept)
                if value > 1e-9 { blended[resource] = value }
            }
            if !blended.isEmpty { next[name] = blended }
        }
        amounts = next
    }

    /// Forgets the queues `keep` does not name (a tree that dropped them).
    public mutating func keep(only names: Set<String>) { amounts = amounts.filter { names.contains($0.key) } }
}
