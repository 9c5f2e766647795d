#if canImport(Glibc)
    import Glibc
#endif

/// What an attempt's cgroup holds it to. Nil or empty: no limit of that kind.
public struct CgroupLimits: Equatable, Sendable {
    /// Logical CPUs (`0-7,16`), as the coordinator booked them.
    public var cpus: String?
    /// NUMA nodes its memory comes from (`0,1`).
    public var mems: String?
    public var memoryMiB: Int?
    public var pids: Int?

    public init(cpus: String? = nil, mems: String? = nil, memoryMiB: Int? = nil, pids: Int? = nil) {
        self.cpus = cpus
        self.mems = mems
        self.memoryMiB = memoryMiB
        self.pids = pids
    }
}

/// What `AttemptCgroup.create` did: the limits it applied ("cores 0-3", "512 MiB of memory") and
/// why it could not apply the others.
public struct CgroupCreation: Equatable, Sendable {
    public var applied: [String] = []
    public var problems: [String] = []

    public init(applied: [String] = [], problems: [String] = []) {
        self.applied = applied
        self.problems = problems
    }

    static func += (left: inout CgroupCreation, right: CgroupCreation) {
        left.applied += right.applied
        left.problems += right.problems
    }
}

/// What an attempt used, read from its cgroup when it ends (what `sacct` reports as TotalCPU and MaxRSS).
public struct CgroupUsage: Equatable, Sendable {
    public var cpuSeconds: Double?
    /// The most memory the attempt held at once (v2 `memory.peak`, v1 `memory.max_usage_in_bytes`).
    public var peakMemoryBytes: Int?
    /// Processes the kernel killed because the cgroup reached its memory limit.
    public var oomKills: Int
    /// Whether its memory ever reached the limit (v2 `memory.events` max, v1 `memory.failcnt`), below
    /// it included: v1 counts a kill only in the cgroup the process was in, and a container runtime's
    /// own cgroup under this one is gone by the time it is read.
    public var reachedMemoryLimit = false

    public init(cpuSeconds: Double? = nil, peakMemoryBytes: Int? = nil, oomKills: Int = 0) {
        self.cpuSeconds = cpuSeconds
        self.peakMemoryBytes = peakMemoryBytes
        self.oomKills = oomKills
    }
}

/// One attempt's cgroup: made with its limits before the job starts, entered by the job's first
/// process (so that all it forks, daemons included, stay in), killed whole when the attempt stops,
/// read for what it used, and removed.
public struct AttemptCgroup: Sendable {
    public let hierarchy: CgroupHierarchy
    /// Relative to the hierarchy's root: `heterosched/train-7.2`.
    public let path: String

    public init(hierarchy: CgroupHierarchy, path: String) {
        self.hierarchy = hierarchy
        self.path = path
    }

    public var directories: [String] { hierarchy.directories(path) }

    /// Makes the cgroup (and its parents) and applies `limits`: returns the limits applied and a
    /// sentence for each this host could not apply (the job then runs without it). Throws when the
    /// cgroup cannot be made.
    public func create(_ limits: CgroupLimits) throws(CgroupError) -> CgroupCreation {
        var creation = CgroupCreation()
        // Where each controller's files are for this cgroup; nil where the controller is not there.
        let directory: (String) -> String?
        switch hierarchy.version {
        case .v2:
            let leaf = try makeUnified(&creation)
            let available = controllerNames(readText(leaf + "/cgroup.controllers"))
            directory = { available.contains($0) ? leaf : nil }
        case .v1:
            try makeLegacy()
            directory = { hierarchy.directory(path, controller: $0) }
        }
        if let cpus = limits.cpus, !cpus.isEmpty {
            creation += apply(directory("cpuset"), "cpuset.cpus", cpus, "cores \(cpus)", "cpuset")
        }
        if let mems = limits.mems, !mems.isEmpty {
            creation += apply(directory("cpuset"), "cpuset.mems", mems, "memory of NUMA nodes \(mems)", "cpuset")
        }
        if let memory = limits.memoryMiB, memory > 0 {
            let bytes = String(memory * 1_048_576)
            let limitFile = hierarchy.version == .v2 ? "memory.max" : "memory.limit_in_bytes"
            creation += apply(directory("memory"), limitFile, bytes, "\(memory) MiB of memory", "memory")
            if let memoryDirectory = directory("memory") {
                switch hierarchy.version {
                case .v2:
                    // The limit is the job's memory, not memory plus swap; and an out-of-memory kill
                    // takes the whole job, not one of its processes.
                    try? writeControl(memoryDirectory + "/memory.swap.max", "0")
                    try? writeControl(memoryDirectory + "/memory.oom.group", "1")
                case .v1:
                    // Memory plus swap at the same figure: no swapping past the limit (where swap accounting is on).
                    try? writeControl(memoryDirectory + "/memory.memsw.limit_in_bytes", bytes)
                }
            }
        }
        if let pids = limits.pids, pids > 0 {
            creation += apply(directory("pids"), "pids.max", String(pids), "\(pids) processes", "pids")
        }
        return creation
    }

    /// v2: makes each level of the path, each level above the attempt handing the controllers down
    /// (v2 puts no process there); returns the attempt's directory.
    private func makeUnified(_ creation: inout CgroupCreation) throws(CgroupError) -> String {
        guard let root = hierarchy.mounts[""] else { throw CgroupError("no cgroup v2 mount") }
        let wanted = ["cpuset", "memory", "pids"].filter { hierarchy.controllers.contains($0) }
        var current = root
        for level in path.split(separator: "/") {
            let offered = controllerNames(readText(current + "/cgroup.controllers"))
            let enabling = wanted.filter { offered.contains($0) }.map { "+" + $0 }
            if !enabling.isEmpty {
                let enabled = controllerNames(readText(current + "/cgroup.subtree_control"))
                let missing = enabling.filter { !enabled.contains(String($0.dropFirst())) }
                if !missing.isEmpty {
                    do {
                        try writeControl(current + "/cgroup.subtree_control", missing.joined(separator: " "))
                    } catch {
                        creation.problems.append(
                            "cannot hand down \(missing.joined(separator: " ")) below \(current): \(error)")
                    }
                }
            }
            current += "/" + level
            try makeDirectory(current)
        }
        return current
    }

    /// v1: makes each level of the path in every controller's mount.
    private func makeLegacy() throws(CgroupError) {
        for controller in CgroupHierarchy.legacyControllers {
            guard let mount = hierarchy.mounts[controller] else { continue }
            var current = mount
            for level in path.split(separator: "/") {
                let parent = current
                current += "/" + level
                try makeDirectory(current)
                // A new v1 cpuset has no CPUs and no memory nodes until given its parent's, and no
                // process may enter it before (ENOSPC). Filled whoever made it: another agent, or
                // another attempt starting beside this one, may have made it a moment ago and not
                // filled it yet.
                if controller == "cpuset" {
                    for file in ["cpuset.cpus", "cpuset.mems"]
                    where (readText(current + "/" + file) ?? "").trimmingCharacters().isEmpty {
                        let inherited = (readText(parent + "/" + file) ?? "").trimmingCharacters()
                        if !inherited.isEmpty { try? writeControl(current + "/" + file, inherited) }
                    }
                }
            }
        }
    }

    /// Writes one limit into `directory` (nil: the controller is not there), or says why it is not applied.
    private func apply(_ directory: String?, _ file: String, _ value: String, _ what: String, _ controller: String)
        -> CgroupCreation
    {
        guard let directory else {
            return CgroupCreation(
                problems: [
                    "\(what) not applied: the \(controller) controller is not available to cgroup \(path) "
                        + "(\(hierarchy.description))"
                ])
        }
        do {
            try writeControl(directory + "/" + file, value)
            return CgroupCreation(applied: [what])
        } catch {
            return CgroupCreation(problems: ["\(what) not applied: \(error)"])
        }
    }

    /// Moves process `pid` (the job's first, before it starts the job) into the cgroup.
    public func enter(_ pid: pid_t) throws(CgroupError) {
        for directory in directories {
            try writeControl(directory + "/cgroup.procs", String(pid))
        }
    }

    /// The processes in the cgroup now.
    public func processes() -> [pid_t] {
        var found = Set<pid_t>()
        for directory in directories {
            for line in (readText(directory + "/cgroup.procs") ?? "").split(separator: "\n") {
                if let pid = pid_t(line.trimmingCharacters()), pid > 0 { found.insert(pid) }
            }
        }
        return found.sorted()
    }

    /// Sends `signal` to every process in the cgroup (SIGTERM to ask the whole job, daemons included, to stop).
    public func signalAll(_ signal: Int32) {
        for pid in processes() { _ = kill(pid, signal) }
    }

    /// Kills every process in the cgroup, forks in flight included (v2's `cgroup.kill`; v1 freezes
    /// the cgroup first so that nothing forks between the listing and the kill). True when the
    /// cgroup is empty within `seconds`.
    @discardableResult
    public func killAll(within seconds: Double = 5) -> Bool {
        let deadline = monotonicSeconds() + seconds
        let killFile = hierarchy.version == .v2 ? hierarchy.mounts[""].map { $0 + "/" + path + "/cgroup.kill" } : nil
        let freezer = hierarchy.directory(path, controller: "freezer").map { $0 + "/freezer.state" }
        while true {
            if processes().isEmpty { return true }
            if let killFile, (try? writeControl(killFile, "1")) != nil {
                // The kernel kills them all; wait for them to go.
            } else if hierarchy.version == .v1, let freezer {
                try? writeControl(freezer, "FROZEN")
                signalAll(SIGKILL)
                try? writeControl(freezer, "THAWED")
            } else {
                signalAll(SIGKILL)
            }
            if monotonicSeconds() >= deadline { return processes().isEmpty }
            usleep(10_000)
        }
    }

    /// What the attempt used so far (read it after the last process has gone for the whole run).
    public func usage() -> CgroupUsage {
        var usage = CgroupUsage()
        switch hierarchy.version {
        case .v2:
            guard let directory = hierarchy.mounts[""].map({ $0 + "/" + path }) else { return usage }
            if let micro = keyed(readText(directory + "/cpu.stat"), "usage_usec") {
                usage.cpuSeconds = Double(micro) / 1_000_000
            }
            usage.peakMemoryBytes = number(readText(directory + "/memory.peak"))
            usage.oomKills = keyed(readText(directory + "/memory.events"), "oom_kill") ?? 0
            usage.reachedMemoryLimit = (keyed(readText(directory + "/memory.events"), "max") ?? 0) > 0
        case .v1:
            if let directory = hierarchy.directory(path, controller: "cpuacct"),
                let nanos = number(readText(directory + "/cpuacct.usage"))
            {
                usage.cpuSeconds = Double(nanos) / 1_000_000_000
            }
            if let directory = hierarchy.directory(path, controller: "memory") {
                usage.peakMemoryBytes = number(readText(directory + "/memory.max_usage_in_bytes"))
                usage.oomKills = keyed(readText(directory + "/memory.oom_control"), "oom_kill") ?? 0
                usage.reachedMemoryLimit = (number(readText(directory + "/memory.failcnt")) ?? 0) > 0
            }
        }
        return usage
    }

    /// Removes the cgroup once empty (a dying process may hold it a moment).
    public func remove() {
        for directory in directories {
            for _ in 0..<50 {
                if rmdir(directory) == 0 || errno == ENOENT { break }
                usleep(10_000)
            }
        }
    }

    /// Makes a directory; false if it was there already.
    @discardableResult
    private func makeDirectory(_ path: String) throws(CgroupError) -> Bool {
        if mkdir(path, 0o755) == 0 { return true }
        if errno == EEXIST { return false }
        throw CgroupError("cannot make the cgroup \(path): \(String(cString: strerror(errno)))")
    }

    /// `key value` lines (cpu.stat, memory.events, memory.oom_control): the value of `key`.
    private func keyed(_ text: String?, _ key: String) -> Int? {
        for line in (text ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == key { return Int(fields[1]) }
        }
        return nil
    }

    private func number(_ text: String?) -> Int? { text.flatMap { Int($0.trimmingCharacters()) } }
}

/// The controller names in a `cgroup.controllers` or `cgroup.subtree_control` file's text
/// ("cpuset memory pids\n"), without the line's end.
public func controllerNames(_ text: String?) -> Set<String> {
    Set((text ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

extension StringProtocol {
    /// Without leading and trailing spaces and newlines (no Foundation here).
    /// (Over the bytes: what it trims is ASCII, and it runs on every control file the supervisor reads.)
    public func trimmingCharacters() -> String {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        let text = String(self)
        let bytes = text.utf8
        guard let first = bytes.firstIndex(where: { !isSpace($0) }),
            let last = bytes.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
