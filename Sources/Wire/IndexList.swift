/// Chip or NUMA indices as people write them: `0-7` for a run of three or more, else `0,2,5`.
public func indexList(_ values: [Int]) -> String {
    let sorted = values.sorted()
    if let first = sorted.first, let last = sorted.last, last - first + 1 == sorted.count, sorted.count > 2 {
        return "\(first)-\(last)"
    }
    return sorted.map(String.init).joined(separator: ",")
}
