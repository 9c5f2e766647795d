import AttemptContainment
import Wire

#if canImport(Glibc)
    import Glibc
#endif

/// How this agent contains the attempts it runs (`sched-agent --cgroups`): the host's cgroup
/// hierarchy, the cgroup its attempts go under (`<parent>/<job>.<attempt>`), and the process
/// limit each attempt gets beside its cores and memory.
public struct JobContainment: Sendable {
    public enum Mode: String, CaseIterable, Sendable {
        /// v2 where the host has the memory controller there, else v1; off where neither can be made.
        case auto
        case v1, v2
        case off
    }

    public var hierarchy: CgroupHierarchy
    public var parent: String
    /// Processes (threads count) an attempt may have at once; 0: no limit.
    public var pidsLimit: Int

    public init(hierarchy: CgroupHierarchy, parent: String, pidsLimit: Int) {
        self.hierarchy = hierarchy
        self.parent = parent
        self.pidsLimit = pidsLimit
    }

    /// The cgroup of one attempt.
    public func cgroup(for attempt: AttemptRef) -> AttemptCgroup {
        AttemptCgroup(hierarchy: hierarchy, path: parent + "/\(attempt.job).\(attempt.attempt)")
    }

    /// The containment `mode` asks for on this host, with the parent cgroup made; nil when off.
    /// The sentence says what was chosen or why none was. `auto` falls back to off (saying why);
    /// `v1` and `v2` throw when they cannot be had.
    public static func prepare(
        mode: Mode, parent: String, pidsLimit: Int, mountinfo: String? = nil
    ) throws(CgroupError) -> (JobContainment?, String) {
        let trimmed = String(parent.drop { $0 == "/" }.reversed().drop { $0 == "/" }.reversed())
        guard !trimmed.isEmpty, !trimmed.split(separator: "/").contains(".."),
            !trimmed.split(separator: "/").contains(".")
        else {
            throw CgroupError(
                "--cgroup-parent '\(parent)' is not a path inside the cgroup hierarchy: give one like heterosched")
        }
        guard pidsLimit >= 0 else { throw CgroupError("--job-pids-limit is a number of processes, 0 or more") }
        let version: CgroupHierarchy.Version?
        switch mode {
        case .off: return (nil, "jobs are not contained in cgroups (--cgroups off)")
        case .auto: version = nil
        case .v1: version = .v1
        case .v2: version = .v2
        }
        let problem: String
        if let hierarchy = CgroupHierarchy.detect(version: version, mountinfo: mountinfo) {
            do {
                let creation = try AttemptCgroup(hierarchy: hierarchy, path: trimmed).create(CgroupLimits())
                let containment = JobContainment(hierarchy: hierarchy, parent: trimmed, pidsLimit: pidsLimit)
                let notes = creation.problems.isEmpty ? "" : "; " + creation.problems.joined(separator: "; ")
                return (containment, "each job in its own cgroup under \(trimmed) in \(hierarchy.description)\(notes)")
            } catch {
                problem =
                    "cannot make the cgroup \(trimmed) (\(error)); run the agent as root, or give it a "
                    + "delegated cgroup with --cgroup-parent"
            }
        } else {
            problem = "this host has no \(version.map { "cgroup \($0.rawValue)" } ?? "cgroup") hierarchy mounted"
        }
        guard mode == .auto else { throw CgroupError(problem) }
        return (nil, "jobs are not contained in cgroups: \(problem)")
    }
}
