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
    /// What the tool said of the chip's use right now, where it says it (the agent's `/metrics`).
    public var telemetry: ChipTelemetry?

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

/// A chip's use as its vendor tool reports it; nil where the tool does not print a figure.
public struct ChipTelemetry: Equatable, Sendable, Codable {
    /// Busy fraction, 0 to 1 (GPU-Util, AICore, XPU-Util).
    public var utilization: Double?
    public var memoryUsedMiB: Double?
    public var temperatureCelsius: Double?
    public var powerWatts: Double?

    public init(
        utilization: Double? = nil, memoryUsedMiB: Double? = nil, temperatureCelsius: Double? = nil,
        powerWatts: Double? = nil
    ) {
        self.utilization = utilization.map { min(max($0, 0), 1) }
        self.memoryUsedMiB = memoryUsedMiB
        self.temperatureCelsius = temperatureCelsius
        self.powerWatts = powerWatts
    }

    /// Nil when it holds no figure.
    var orNil: ChipTelemetry? { self == ChipTelemetry() ? nil : self }

    /// From the cells of one device's rows of an nvidia-smi-style box table: the first `NNC` is the
    /// temperature, the first `NNW` the power draw (before its cap), the first `used / total` with
    /// MiB the memory used, and the first `NN%` outside the first column the utilization (the first
    /// column's is the fan).
    static func fromBox(_ rows: [[String]]) -> ChipTelemetry? {
        var telemetry = ChipTelemetry()
        for row in rows {
            for (column, cell) in row.enumerated() {
                for word in cell.words {
                    if telemetry.temperatureCelsius == nil, word.hasSuffix("C"), let value = Double(word.dropLast()) {
                        telemetry.temperatureCelsius = value
                    } else if telemetry.powerWatts == nil, word.hasSuffix("W"), let value = Double(word.dropLast()) {
                        telemetry.powerWatts = value
                    } else if telemetry.utilization == nil, column > 0, word.hasSuffix("%"),
                        let value = Double(word.dropLast()), (0...100).contains(value)
                    {
                        telemetry.utilization = value / 100
                    }
                }
                if telemetry.memoryUsedMiB == nil, cell.contains("MiB"), let slash = cell.firstIndex(of: "/"),
                    let used = cell[..<slash].words.last.flatMap({ mebibytes($0) })
                {
                    telemetry.memoryUsedMiB = used
                }
            }
        }
        return telemetry.orNil
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
