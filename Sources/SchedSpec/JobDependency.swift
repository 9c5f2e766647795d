/// A job that starts only once another has ended a given way, as Slurm's `--dependency`:
/// `afterok` (it completed), `afternotok` (it failed or was cancelled), `afterany` (it ended).
public struct JobDependency: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case afterok, afterany, afternotok
    }

    public var kind: Kind
    public var job: String

    public init(_ kind: Kind, _ job: String) {
        self.kind = kind
        self.job = job
    }

    public var description: String { "\(kind.rawValue):\(job)" }

    /// The most dependencies one job may name.
    public static let limit = 1_000

    /// `afterok:train-1,afterany:prep` (Slurm's `afterok:a:b` names several jobs after one kind).
    /// Fails with what to write instead.
    public static func parse(_ text: String) -> Result<[JobDependency], SpecProblem> {
        var result: [JobDependency] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, let kind = Kind(rawValue: parts[0]) else {
                return .failure(
                    SpecProblem(
                        "'\(item)' is not a dependency; write afterok:JOB, afterany:JOB or afternotok:JOB, "
                            + "comma-separated"))
            }
            for job in parts.dropFirst() {
                guard !job.isEmpty, job.utf8.count <= 256, !job.contains(where: { $0.isWhitespace || $0.isNewline })
                else {
                    return .failure(SpecProblem("'\(item)' names no job id (afterok:train-1)"))
                }
                let dependency = JobDependency(kind, job)
                if !result.contains(dependency) { result.append(dependency) }
            }
        }
        guard result.count <= limit else { return .failure(SpecProblem("at most \(limit) dependencies")) }
        return .success(result)
    }
}

/// A problem with a value, said as a sentence (the caller adds where it came from).
public struct SpecProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
