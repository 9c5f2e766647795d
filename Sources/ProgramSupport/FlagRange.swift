import ArgumentParser
import SchedCore

/// Range checks for numeric flags: a value outside (NaN and infinity included) is refused with the
/// flag's name and its range, before anything converts or sleeps on it.
public enum FlagRange {
    public static func check(_ value: Double, _ flag: String, _ range: ClosedRange<Double>, unit: String = "")
        throws
    {
        guard value.isFinite, range.contains(value) else {
            throw ValidationError(
                "\(flag) must be between \(formatNumber(range.lowerBound)) and \(formatNumber(range.upperBound))\(unit), "
                    + "got \(formatNumber(value))")
        }
    }

    public static func check(_ value: Int, _ flag: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw ValidationError("\(flag) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
    }
}
