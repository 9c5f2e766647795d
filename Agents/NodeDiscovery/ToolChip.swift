import SchedCore

/// One chip as a vendor tool lists it.
public struct ToolChip: Equatable, Sendable, Codable {
    /// The index the vendor's visible-devices variable uses.
    public var index: Int
    /// The model name as the tool prints it (`910B3`, `NVIDIA A100-SXM4-40GB`, `P800 OAM`).
    public var name: String
    public var memoryMiB: Double?
    /// Canonical PCI address (`PCIAddress`), where the tool prints one.
    public var pciBusID: String?
    /// Nil where the tool says nothing about health.
    public var health: ChipHealth?

    public init(
        index: Int, name: String, memoryMiB: Double? = nil, pciBusID: String? = nil, health: ChipHealth? = nil
    ) {
        self.index = index
        self.name = name
        self.memoryMiB = memoryMiB
        self.pciBusID = pciBusID
        self.health = health
    }
}

/// Output a parser cannot trust: which tool, which line of its output, and what is wrong.
public struct ToolOutputError: Error, Equatable, CustomStringConvertible {
    public var tool: String
    /// 1-based line of the output; nil for the output as a whole.
    public var line: Int?
    public var message: String

    public init(tool: String, line: Int? = nil, _ message: String) {
        self.tool = tool
        self.line = line
        self.message = message
    }

    public var description: String { "\(tool) output" + (line.map { ", line \($0)" } ?? "") + ": " + message }
}

/// `1234MiB`, `1234 MiB`, `32768MB`, `64 GB`, `[N/A]`: mebibytes, or nil.
func mebibytes(_ text: some StringProtocol, defaultUnit: String = "MiB") -> Double? {
    let cleaned = text.trimmed
    let digits = cleaned.prefix { $0.isNumber || $0 == "." }
    guard !digits.isEmpty, let value = Double(digits) else { return nil }
    let unit = cleaned.dropFirst(digits.count).trimmed.lowercased()
    switch unit.isEmpty ? defaultUnit.lowercased() : unit {
    case "mib", "mb", "m": return value
    case "gib", "gb", "g": return value * 1024
    case "kib", "kb": return value / 1024
    default: return nil
    }
}
