/// A number as a person reads it in a sentence: whole numbers without a fraction, others to a
/// tenth. Total: any Double, including huge, negative, infinite and NaN values that bad input
/// carries into an error message, gives text (converting those to `Int` would trap).
public func formatNumber(_ value: Double) -> String {
    guard value.isFinite else { return String(value) }
    let tenths = (value * 10).rounded() / 10
    guard abs(tenths) < 1e15 else { return String(value) }
    return tenths == tenths.rounded() ? String(Int(tenths)) : String(tenths)
}
