/// A `Duration` in the units that system calls, locks and clocks take. The whole-unit forms round
/// toward zero and saturate at `Int64`'s bounds instead of trapping.
extension Duration {
    /// In seconds, fractions included.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    public var milliseconds: Int64 { whole(perSecond: 1_000) }
    public var microseconds: Int64 { whole(perSecond: 1_000_000) }
    public var nanoseconds: Int64 { whole(perSecond: 1_000_000_000) }

    private func whole(perSecond units: Int64) -> Int64 {
        let (scaled, overflow) = components.seconds.multipliedReportingOverflow(by: units)
        guard !overflow else { return components.seconds < 0 ? .min : .max }
        let (sum, over) = scaled.addingReportingOverflow(components.attoseconds / (1_000_000_000_000_000_000 / units))
        return over ? (scaled < 0 ? .min : .max) : sum
    }
}
