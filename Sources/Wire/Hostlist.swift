/// Node lists as Slurm writes them (`SLURM_JOB_NODELIST`, `squeue`'s and `sinfo`'s NODELIST).
public enum Hostlist {
    /// Node names as Slurm writes a node list: runs of names that differ only in a trailing number
    /// folded into brackets (`nv-[0-3,7],login`), in the order given otherwise.
    public static func folded(_ names: [String]) -> String {
        var groups: [(prefix: String, width: Int, numbers: [Int])] = []
        var order: [String] = []
        for name in names {
            let digits = name.reversed().prefix { $0.isASCII && $0.isNumber }.count
            guard digits > 0, digits <= 9, let number = Int(name.suffix(digits)) else {
                order.append(name)
                continue
            }
            let prefix = String(name.dropLast(digits))
            // Zero-padded numbers keep their width (`nv-[08-10]`); others fold whatever their length
            // (`h800-[9-10]`), or into a padded run of their length.
            let padded = digits > 1 && name.suffix(digits).first == "0"
            let index =
                groups.firstIndex { $0.prefix == prefix && $0.width == digits }
                ?? (padded ? nil : groups.firstIndex { $0.prefix == prefix && $0.width == 0 })
            if let index {
                groups[index].numbers.append(number)
            } else {
                groups.append((prefix, padded ? digits : 0, [number]))
                order.append("\u{0}\(groups.count - 1)")
            }
        }
        return order.map { item -> String in
            guard item.hasPrefix("\u{0}"), let index = Int(item.dropFirst()) else { return item }
            let group = groups[index]
            func padded(_ number: Int) -> String {
                let text = String(number)
                return String(repeating: "0", count: max(group.width - text.count, 0)) + text
            }
            if group.numbers.count == 1 { return group.prefix + padded(group.numbers[0]) }
            var ranges: [String] = []
            let sorted = Array(Set(group.numbers)).sorted()
            var start = sorted[0]
            var last = sorted[0]
            for number in sorted.dropFirst() + [Int.min] {
                if number == last + 1 {
                    last = number
                    continue
                }
                ranges.append(start == last ? padded(start) : "\(padded(start))-\(padded(last))")
                start = number
                last = number
            }
            return group.prefix + "[" + ranges.joined(separator: ",") + "]"
        }.joined(separator: ",")
    }
}
