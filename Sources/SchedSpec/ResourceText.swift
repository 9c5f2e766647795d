import Foundation
import SchedCore

/// Sizes and shares as people write them, for files, traces and flags alike.
public enum ResourceText {
    /// Binary units, upper case, the longest first: "GIB" must be tried before "G" (which would leave "Gi").
    static let units: [(suffix: String, mib: Double)] = [
        ("KIB", 1.0 / 1024), ("MIB", 1), ("GIB", 1024), ("TIB", 1024 * 1024), ("KB", 1.0 / 1024), ("MB", 1),
        ("GB", 1024), ("TB", 1024 * 1024), ("K", 1.0 / 1024), ("M", 1), ("G", 1024), ("T", 1024 * 1024),
    ]

    /// Memory as `10GiB`, `512MiB`, `1.5TiB`, `64G`, `512M` (binary units; a bare number is GiB),
    /// in whole MiB. The error says what was expected.
    public static func mebibytes(_ raw: String) -> Result<Int, ResourceTextError> {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let upper = text.uppercased()
        var number = Substring(text)
        var scale = 1024.0
        for unit in units where upper.hasSuffix(unit.suffix) {
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

extension ResourceText {
    /// A duration as files and flags write it: seconds (`90`), or a number with `s`, `m`, `h` or `d`
    /// (`30m`, `12h`, `365d`); nil for anything else, or a value that is negative or not finite.
    public static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        let scale = text.last.flatMap { units[$0] }
        guard let value = Double(scale == nil ? Substring(text) : text.dropLast()), value.isFinite, value >= 0 else {
            return nil
        }
        return value * (scale ?? 1)
    }
}
