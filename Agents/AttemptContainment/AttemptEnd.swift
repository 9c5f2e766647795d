/// How an attempt ended, as its supervisor (`sched-attempt`) writes it to the exit file and the
/// agent reads it: the job's exit status or signal, and what it used.
public struct AttemptEnd: Codable, Equatable, Sendable {
    public var exitStatus: Int?
    public var signal: Int?
    /// Why it could not start or run (a command not found, a cgroup that could not be made).
    public var message: String?
    /// CPU time of all the job's processes (its cgroup's, or the first process and what it waited for).
    public var cpuSeconds: Double?
    /// The most memory it held at once (its cgroup's peak, or the largest process's resident set).
    public var peakMemoryBytes: Int?
    /// Processes the kernel killed at the cgroup's memory limit, and that limit.
    public var oomKills: Int?
    public var memoryLimitMiB: Int?
    /// Processes the job left behind when its first process ended, which the supervisor killed.
    public var leftBehind: Int?
    /// Set: the supervisor stopped the job itself because its agent had not heard from the
    /// coordinator for the job's limit; says for how long.
    public var unseenFor: Double?

    public init(
        exitStatus: Int? = nil, signal: Int? = nil, message: String? = nil, cpuSeconds: Double? = nil,
        peakMemoryBytes: Int? = nil, oomKills: Int? = nil, memoryLimitMiB: Int? = nil, leftBehind: Int? = nil
    ) {
        self.exitStatus = exitStatus
        self.signal = signal
        self.message = message
        self.cpuSeconds = cpuSeconds
        self.peakMemoryBytes = peakMemoryBytes
        self.oomKills = oomKills
        self.memoryLimitMiB = memoryLimitMiB
        self.leftBehind = leftBehind
    }

    /// Killed by the kernel at its memory limit: a process of it was, and the job did not succeed.
    public var endedAtMemoryLimit: Bool { (oomKills ?? 0) > 0 && exitStatus != 0 }
}
