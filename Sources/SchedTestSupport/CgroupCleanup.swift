import AttemptContainment
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The cgroups that the agents of a test or a benchmark made under one parent (relative to each
/// hierarchy's root), in every hierarchy this host mounts: whether there are any, and their removal
/// once those agents have stopped.
public enum CgroupCleanup {
    /// Whether `parent` is there in some hierarchy.
    public static func exists(_ parent: String) -> Bool {
        CgroupHierarchy.Version.allCases.contains { version in
            CgroupHierarchy.detect(version: version)?.directories(parent).contains {
                FileManager.default.fileExists(atPath: $0)
            } ?? false
        }
    }

    /// Removes `parent` and every cgroup below it in each hierarchy, waiting up to `seconds` for
    /// supervisors still ending (a cgroup with a process in it cannot go).
    public static func remove(_ parent: String, waiting seconds: Double = 3) {
        for version in CgroupHierarchy.Version.allCases {
            guard let hierarchy = CgroupHierarchy.detect(version: version) else { continue }
            for directory in hierarchy.directories(parent) where FileManager.default.fileExists(atPath: directory) {
                let deadline = Date().addingTimeInterval(seconds)
                while Date() < deadline {
                    if removeTree(directory) { break }
                    usleep(50_000)
                }
            }
        }
    }

    /// Removes a cgroup and those below it, deepest first (cgroupfs removes a cgroup's control
    /// files with it; rmdir leaves them alone as they are not directories). True when it is gone.
    static func removeTree(_ path: String) -> Bool {
        let children = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for child in children { _ = removeTree(path + "/" + child) }
        return rmdir(path) == 0 || errno == ENOENT
    }
}
