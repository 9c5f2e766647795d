#if canImport(Glibc)
    import Glibc
#endif

/// The cgroup file system of this host as jobs are contained in it: the unified hierarchy (v2),
/// or the legacy one with a mount per controller (v1). Read from `/proc/self/mountinfo`.
public struct CgroupHierarchy: Equatable, Sendable {
    public enum Version: String, Sendable, CaseIterable {
        case v1, v2
    }

    public var version: Version
    /// v2: the one mount point, under the key "". v1: controller name -> its mount point (one
    /// mount may carry several controllers: `cpu,cpuacct`).
    public var mounts: [String: String]
    /// The controllers jobs can be limited with: v2, those the hierarchy's root offers; v1, those mounted.
    public var controllers: Set<String>

    public init(version: Version, mounts: [String: String], controllers: Set<String>) {
        self.version = version
        self.mounts = mounts
        self.controllers = controllers
    }

    /// The v1 controllers an attempt is put in: its limits, its accounting and its freezer.
    public static let legacyControllers = ["cpuset", "memory", "pids", "cpuacct", "freezer"]

    /// This host's hierarchy of `version`, or the one that can limit memory (v2 first) when nil;
    /// nil when the host has none mounted.
    public static func detect(
        version: Version? = nil, mountinfo: String? = nil, readFile: (String) -> String? = readText
    ) -> CgroupHierarchy? {
        let table = mountinfo ?? readFile("/proc/self/mountinfo") ?? ""
        var unified: String?
        var legacy: [String: String] = [:]
        for line in table.split(separator: "\n") {
            // The optional fields end at a lone "-"; the file system's own fields follow.
            guard let dash = line.firstRange(of: " - ") else { continue }
            let left = line[..<dash.lowerBound].split(separator: " ")
            let right = line[dash.upperBound...].split(separator: " ")
            guard left.count >= 5, right.count >= 3 else { continue }
            let point = unescape(String(left[4]))
            if right[0] == "cgroup2" {
                if unified == nil { unified = point }
            } else if right[0] == "cgroup" {
                for option in right[2].split(separator: ",") where legacyControllers.contains(String(option)) {
                    if legacy[String(option)] == nil { legacy[String(option)] = point }
                }
            }
        }
        let v2 = unified.map { point in
            CgroupHierarchy(
                version: .v2, mounts: ["": point], controllers: controllerNames(readFile(point + "/cgroup.controllers"))
            )
        }
        let v1 =
            legacy.isEmpty ? nil : CgroupHierarchy(version: .v1, mounts: legacy, controllers: Set(legacy.keys))
        switch version {
        case .v2: return v2
        case .v1: return v1
        case nil:
            // A hybrid host (a v2 mount beside the v1 controllers) limits memory through v1.
            if let v2, v2.controllers.contains("memory") { return v2 }
            return v1 ?? v2
        }
    }

    /// The directories an attempt at `path` (relative to the hierarchy's root) has: one for v2,
    /// one per distinct v1 mount.
    public func directories(_ path: String) -> [String] {
        let points = Set(mounts.values).sorted()
        return points.map { $0 + "/" + path }
    }

    /// The directory of `controller` (v2: the one directory), if that controller is mounted.
    public func directory(_ path: String, controller: String) -> String? {
        switch version {
        case .v2: return mounts[""].map { $0 + "/" + path }
        case .v1: return mounts[controller].map { $0 + "/" + path }
        }
    }

    /// "cgroup v2 at /sys/fs/cgroup (controllers cpuset memory pids)"
    public var description: String {
        switch version {
        case .v2:
            let offered = controllers.sorted().joined(separator: " ")
            return "cgroup v2 at \(mounts[""] ?? "?") (controllers: \(offered.isEmpty ? "none" : offered))"
        case .v1:
            let listed = mounts.keys.sorted().map { "\($0) at \(mounts[$0]!)" }.joined(separator: ", ")
            return "cgroup v1 (\(listed))"
        }
    }

    /// mountinfo escapes spaces, tabs, newlines and backslashes as octal.
    static func unescape(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var bytes: [UInt8] = []
        let source = Array(text.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
                let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The text of a file (a cgroup or proc file), or nil.
public func readText(_ path: String) -> String? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    // Bounded: no cgroup file an attempt reads is this long.
    return readAll(descriptor, atMost: 1 << 22)
}

/// What `descriptor` gives until its end (a file, or a pipe whose writers closed it), as text;
/// reading stops past `limit` bytes.
public func readAll(_ descriptor: Int32, atMost limit: Int) -> String {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while bytes.count <= limit {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, 4096) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes `text` to an existing file (a cgroup control file) in one write; throws with errno's words.
public func writeControl(_ path: String, _ text: String) throws(CgroupError) {
    let descriptor = open(path, O_WRONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw CgroupError("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    let written = text.withCString { write(descriptor, $0, strlen($0)) }
    guard written >= 0 else {
        throw CgroupError("cannot write '\(text)' to \(path): \(String(cString: strerror(errno)))")
    }
}

public struct CgroupError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
