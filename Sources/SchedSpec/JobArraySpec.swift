/// A job array, as Slurm's `--array`: task indices (`0-999`, `1,3,5-7`, `0-99:10`) and at most how
/// many tasks run at once (`%50`). One submission; the tasks join the queue as the throttle allows.
public struct JobArraySpec: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Inclusive ranges with a step, in the order written.
    public struct Part: Codable, Equatable, Sendable {
        public var first: Int
        public var last: Int
        public var step: Int
        var count: Int { (last - first) / step + 1 }
    }

    public var parts: [Part]
    /// At most this many tasks not yet ended at once; nil: no limit.
    public var throttle: Int?

    /// The most tasks one array may have, and the largest index.
    public static let taskLimit = 1_000_000
    public static let indexLimit = 1_000_000_000

    public var count: Int { parts.reduce(0) { $0 + $1.count } }

    /// What makes a spec built elsewhere (a stored record) unusable: a part out of range or a step of
    /// 0, which `count` would trap on; nil when it is sound.
    public var problem: String? {
        guard parts.count <= Self.taskLimit else { return "more than \(Self.taskLimit) parts" }
        var total = 0
        for part in parts {
            guard (0...Self.indexLimit).contains(part.first), (part.first...Self.indexLimit).contains(part.last),
                (1...Self.indexLimit).contains(part.step)
            else { return "a part out of range (\(part.first)-\(part.last):\(part.step))" }
            total += part.count
            if total > Self.taskLimit { return "more than \(Self.taskLimit) tasks" }
        }
        if let throttle, !(1...Self.taskLimit).contains(throttle) { return "a throttle out of range" }
        return nil
    }

    /// The `position`th index (0-based) in the order written.
    public func index(at position: Int) -> Int? {
        var rest = position
        for part in parts {
            if rest < part.count { return part.first + rest * part.step }
            rest -= part.count
        }
        return nil
    }

    public var description: String {
        parts.map { part in
            part.first == part.last
                ? "\(part.first)" : "\(part.first)-\(part.last)" + (part.step == 1 ? "" : ":\(part.step)")
        }.joined(separator: ",") + (throttle.map { "%\($0)" } ?? "")
    }

    /// `0-999%50`, `1,3,5-7`, `0-99:10%4`; fails with what to write instead.
    public static func parse(_ text: String) -> Result<JobArraySpec, SpecProblem> {
        let usage = "write indices like 0-999, 1,3,5-7 or 0-99:10, and %N to run at most N at once"
        var body = Substring(text)
        var throttle: Int?
        if let percent = text.firstIndex(of: "%") {
            guard let limit = Int(text[text.index(after: percent)...]), (1...taskLimit).contains(limit) else {
                return .failure(SpecProblem("'\(text)': the throttle after % is 1 to \(taskLimit); \(usage)"))
            }
            throttle = limit
            body = text[..<percent]
        }
        var parts: [Part] = []
        var seen = Set<Int>()
        var total = 0
        for item in body.split(separator: ",", omittingEmptySubsequences: false) {
            let stepped = item.split(separator: ":", omittingEmptySubsequences: false)
            let bounds = stepped[0].split(separator: "-", omittingEmptySubsequences: false)
            guard stepped.count <= 2, (1...2).contains(bounds.count), let first = Int(bounds[0]),
                let last = bounds.count == 2 ? Int(bounds[1]) : first,
                let step = stepped.count == 2 ? Int(stepped[1]) : 1,
                (0...indexLimit).contains(first), (first...indexLimit).contains(last), (1...indexLimit).contains(step)
            else {
                return .failure(SpecProblem("'\(item)' is not an index or a range of 0 to \(indexLimit); \(usage)"))
            }
            let part = Part(first: first, last: first + (last - first) / step * step, step: step)
            total += part.count
            guard total <= taskLimit else {
                return .failure(SpecProblem("'\(text)' has more than \(taskLimit) tasks"))
            }
            // Small overlaps are caught; a huge range is trusted not to repeat another.
            if part.count <= 10_000 {
                for offset in 0..<part.count where !seen.insert(part.first + offset * part.step).inserted {
                    return .failure(SpecProblem("'\(text)' names index \(part.first + offset * part.step) twice"))
                }
            }
            parts.append(part)
        }
        return .success(JobArraySpec(parts: parts, throttle: throttle))
    }
}
