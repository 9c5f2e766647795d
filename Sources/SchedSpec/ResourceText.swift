import Foundation
import SchedCore

/// Sizes and shares as people write them, for files, traces and flags alike.
public enum ResourceText {
    /// Memory as `10GiB`, `512MiB`, `1.5TiB`, `64G`, `512M` (binary units; a bare number is GiB),
    /// in whole MiB. The error says what was expected.
    public static func mebibytes(_ raw: String) -> Result<Int, ResourceTextError> {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let units: [(suffix: String, mib: Double)] = [
            ("KiB", 1.0 / 1024), ("MiB", 1), ("GiB", 1024), ("TiB", 1024 * 1024), ("K", 1.0 / 1024), ("M", 1),
            ("G", 1024), ("T", 1024 * 1024), ("KB", 1.0 / 1024), ("MB", 1), ("GB", 1024), ("TB", 1024 * 1024),
        ]
        var number = Substring(text)
        var scale = 1024.0
        // Longest suffix first: "GiB" before "G" would otherwise leave "Gi".
        for unit in units.sorted(by: { $0.suffix.count > $1.suffix.count })
        where text.uppercased().hasSuffix(unit.suffix.uppercased()) {
            number = text.dropLast(unit.suffix.count)
            scale = unit.mib
            break
        }
        guard let value = Double(number.trimmingCharacters(in: .whitespaces)), value.isFinite, value >= 0 else {
            return .failure(
                ResourceTextError(
                    "expected a size such as 512MiB, 10GiB or 1.5TiB (a bare number is GiB), got '\(raw)'"))
        }
        let mib = value * scale
        guard mib <= Double(SpecLimits.memoryMiB) else {
            return .failure(
                ResourceTextError("a size is at most \(SpecLimits.memoryMiB / 1_048_576) TiB, got '\(raw)'"))
        }
        return .success(Int(mib.rounded(.up)))
    }

    /// Compute as `30%` or `30`: a whole percent, 1 to 100.
    public static func percent(_ raw: String) -> Result<Int, ResourceTextError> {
        var text = raw.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix("%") { text.removeLast() }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), (1...100).contains(value) else {
            return .failure(ResourceTextError("compute is a whole percent of one chip, 1% to 100%, got '\(raw)'"))
        }
        return .success(value)
    }
}

/// Why a size or share could not be read.
public struct ResourceTextError: Error, CustomStringConvertible, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
}
