/// When each chip model last failed an attempt (a chip fault, a lost node, a link fault): what "a
/// tier has been healthy" is measured against when a job may return to its first tier.
public struct FaultHistory: Hashable, Sendable {
    public private(set) var lastFaultByModel: [ChipModelID: Seconds] = [:]

    public init() {}

    public mutating func record(_ model: ChipModelID, at time: Seconds) {
        lastFaultByModel[model] = max(lastFaultByModel[model] ?? time, time)
    }

    /// The last fault on any chip model the tier accepts; nil if none has failed.
    public func lastFault(on tier: ChipTier, catalog: ChipCatalog) -> Seconds? {
        lastFaultByModel.filter { model, _ in catalog[model].map(tier.accepts) ?? false }.values.max()
    }
}
