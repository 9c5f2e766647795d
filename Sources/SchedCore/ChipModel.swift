/// The name of a chip model in the catalog, e.g. `h100` or `ascend-910c`.
public struct ChipModelID: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let name: String
    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }
    public var description: String { name }
    public static func < (lhs: ChipModelID, rhs: ChipModelID) -> Bool { lhs.name < rhs.name }
}

/// Which side of a mixed fleet a chip model belongs to.
public enum ChipFamily: String, Hashable, Sendable, CaseIterable {
    case nvidia
    case domestic
}

/// One chip model: the figures the scheduler weighs, and what the runner needs to expose it.
public struct ChipModel: Hashable, Sendable {
    public var id: ChipModelID
    public var displayName: String
    public var vendor: String
    public var family: ChipFamily
    public var memoryGiB: Double
    public var bf16DenseTFLOPS: Double?
    public var intraNodeLinkGBps: Double?
    /// Training throughput per chip relative to an H100 (1.0).
    public var relativeTraining: Double
    /// Inference throughput per chip relative to an H100 (1.0).
    public var relativeInference: Double
    /// Environment variables the runner sets to the placed chip indices.
    public var visibleDevicesVariables: [String]
    /// What the vendor tool calls this model (`910B`, `A100`): matched inside the tool's name with
    /// case and punctuation ignored, the longest match of the vendor's models winning.
    public var toolNames: [String]

    public init(
        id: ChipModelID, displayName: String? = nil, vendor: String, family: ChipFamily, memoryGiB: Double,
        bf16DenseTFLOPS: Double? = nil, intraNodeLinkGBps: Double? = nil,
        relativeTraining: Double, relativeInference: Double, visibleDevicesVariables: [String] = [],
        toolNames: [String] = []
    ) {
        self.id = id
        self.displayName = displayName ?? id.name
        self.vendor = vendor
        self.family = family
        self.memoryGiB = memoryGiB
        self.bf16DenseTFLOPS = bf16DenseTFLOPS
        self.intraNodeLinkGBps = intraNodeLinkGBps
        self.relativeTraining = relativeTraining
        self.relativeInference = relativeInference
        self.visibleDevicesVariables = visibleDevicesVariables
        self.toolNames = toolNames
    }

    /// Relative throughput of a job of `kind` on this chip; batch work is weighed like training.
    public func relativeThroughput(for kind: JobKind) -> Double {
        switch kind {
        case .training, .batch: relativeTraining
        case .inference: relativeInference
        }
    }
}
