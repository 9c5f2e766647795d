import SchedCore
import SchedSpec

/// A job as the coordinator keeps it: spec, state, attempts, placement and tier history. `STATUS`
/// returns it, the store persists it.
public struct JobRecord: Codable, Equatable, Sendable {
    public enum State: String, Codable, Sendable, CaseIterable {
        case queued
        /// `RUN` sent, `STARTED` not yet seen.
        case placed
        case running
        case completed
        case failed
        case cancelled

        public var isFinal: Bool { self == .completed || self == .failed || self == .cancelled }
    }

    public var job: Job
    public var run: RunSpec
    public var state: State
    public var ladder: FallbackLadder
    /// Attempts started so far; the current one is this number.
    public var attempt: Int
    public var placement: PlacementRecord?
    public var startedAt: Double?
    public var endedAt: Double?
    /// Simulated training: the last checkpointed step, from which the next attempt resumes.
    public var checkpointStep: Int
    public var stepsLost: Int
    /// Why it waits (while queued), or why it ended (when final).
    public var reason: String?
    public var tierHistory: [TierVisit]
    /// What the agent said when the last attempt ended.
    public var lastExit: String?
    /// The first node of each attempt, by attempt number: where its output is kept.
    public var attemptNodes: [String: String]?
    /// Every node of each multi-node attempt, by rank, by attempt number (`schedctl logs --rank`).
    public var attemptRanks: [String: [String]]?
    /// What each attempt used, by attempt number (what `sacct` shows): CPU time over its nodes,
    /// and the largest peak of memory on one of them.
    public var attemptUsage: [String: AttemptUsage]?
    /// Who submitted it, as their client said.
    public var user: String?
    /// The groups a MUNGE credential proved for them when they submitted (a reservation for groups
    /// admits the job by these).
    public var groups: [String]?
    /// The reservation it named (`--reservation`): it runs inside it only, from its start.
    public var reservation: String?
    /// Where it waits in its queue: filled in by `STATUS` while it waits, never stored.
    public var queuePosition: QueuePosition?
    /// Seconds its attempt has run, on the coordinator's clock: filled in by `JOBS` and `STATUS`
    /// while it runs, never stored (`schedctl queue`'s TIME).
    public var elapsed: Double?
    /// Jobs that must end first, and how; while `held`, the job is not searched.
    public var dependencies: [JobDependency]?
    public var held: Bool?
    /// Held by a user or an operator (`schedctl hold`) until released: not searched either.
    public var userHold: JobHold?
    /// Who cancelled it (set when the cancel is asked; it ends once its agents confirm).
    public var cancelledBy: String?
    /// The last attempt's exit status and signal, as its agent reported them (with `lastExit`).
    public var lastExitStatus: Int?
    public var lastSignal: Int?
    /// An array's own record: its indices and how many tasks it has let into the queue. It never
    /// runs itself; it ends when its last task has.
    public var array: JobArrayProgress?
    /// A task of an array: the array's id and this task's index.
    public var arrayParent: String?
    public var arrayTask: Int?
    /// Each attempt's measured pace, from the steps its job reported (`schedctl progress`): the
    /// last attempts', oldest first, at most `JobRecord.pacesKept`.
    public var paces: [MeasuredPace]?

    /// What the current attempt's pace should be by the catalog, from an earlier attempt's: filled
    /// in by `STATUS` while it runs, never stored.
    public var paceExpectation: PaceExpectation?

    public static let pacesKept = 16

    /// The current attempt's measured pace, if its job has reported its steps.
    public var currentPace: MeasuredPace? { paces?.last.flatMap { $0.attempt == attempt ? $0 : nil } }

    public init(job: Job, run: RunSpec) {
        self.job = job
        self.run = run
        self.state = .queued
        self.ladder = FallbackLadder(for: job)
        self.attempt = 0
        self.checkpointStep = 0
        self.stepsLost = 0
        self.tierHistory = [
            TierVisit(tier: 0, name: job.tier(at: 0).name, enteredAt: job.submittedAt, reason: "submitted")
        ]
    }

    public var id: String { job.id.name }

    /// Kept out of the queue while it waits: on its dependencies, or by a hold.
    public var isHeld: Bool { held == true || userHold != nil }

    /// Its current attempt holds chips: placed (its agent told to start it) or running.
    public var holdsChips: Bool { state == .placed || state == .running }
}

/// Where the current attempt runs.
public struct PlacementRecord: Codable, Equatable, Sendable {
    public var tier: Int
    public var tierName: String
    public var chipModel: String
    public var assignments: [NodeAssignment]
    public var reason: String
    public var placedAt: Double
    /// Which spec the attempt runs with: `tier nvidia's command and image; in image …`.
    public var spec: String?
    /// A multi-node attempt's rendezvous port on rank 0's node (`MASTER_PORT`).
    public var rendezvousPort: Int?

    public init(
        tier: Int, tierName: String, chipModel: String, assignments: [NodeAssignment], reason: String, placedAt: Double,
        spec: String? = nil, rendezvousPort: Int? = nil
    ) {
        self.spec = spec
        self.rendezvousPort = rendezvousPort
        self.tier = tier
        self.tierName = tierName
        self.chipModel = chipModel
        self.assignments = assignments
        self.reason = reason
        self.placedAt = placedAt
    }
}

/// A waiting job's place in its queue: 1 is the next a pass takes there.
public struct QueuePosition: Codable, Equatable, Sendable {
    public var queue: String
    public var position: Int
    public var waiting: Int

    public init(queue: String, position: Int, waiting: Int) {
        self.queue = queue
        self.position = position
        self.waiting = waiting
    }
}

/// What one attempt used, summed over the nodes that reported its end.
public struct AttemptUsage: Codable, Equatable, Sendable {
    public var cpuSeconds: Double
    /// The largest peak on one node, in bytes (nil when no node could measure it).
    public var peakMemoryBytes: Int?
    /// Nodes whose figures are in.
    public var nodes: Int

    public init(cpuSeconds: Double = 0, peakMemoryBytes: Int? = nil, nodes: Int = 0) {
        self.cpuSeconds = cpuSeconds
        self.peakMemoryBytes = peakMemoryBytes
        self.nodes = nodes
    }

    /// Adds one node's figures, as an agent sent them: a CPU time that is not a finite, non-negative
    /// number of seconds under a century, or a negative peak, is left out.
    public mutating func add(cpuSeconds seconds: Double?, peakMemoryBytes peak: Int?) {
        if let seconds, seconds.isFinite, seconds >= 0, seconds < 3.2e9 { cpuSeconds += seconds }
        if let peak, peak >= 0 { peakMemoryBytes = max(peakMemoryBytes ?? 0, peak) }
        nodes += 1
    }

    /// "12.3s CPU, peak 512 MiB memory"
    public var description: String {
        var text = "\(formatSeconds(cpuSeconds)) CPU"
        if let peak = peakMemoryBytes { text += ", peak \(formatMebibytes(peak / 1_048_576)) memory" }
        if nodes > 1 { text += " over \(nodes) nodes" }
        return text
    }
}

/// One stay on a tier: when the job entered it and why.
public struct TierVisit: Codable, Equatable, Sendable {
    public var tier: Int
    public var name: String
    public var enteredAt: Double
    public var reason: String
    public var failures: Int

    public init(tier: Int, name: String, enteredAt: Double, reason: String, failures: Int = 0) {
        self.tier = tier
        self.name = name
        self.enteredAt = enteredAt
        self.reason = reason
        self.failures = failures
    }
}

/// A node as `NODES` reports it.
public struct NodeStatus: Codable, Equatable, Sendable {
    public var node: Node
    public var connected: Bool
    public var lastHeartbeat: Double?
    /// Chip index -> the job holding it (jobs sharing it: their ids, comma-separated).
    public var usedBy: [String: String]
    /// Host CPUs and MiB of memory booked by the jobs running there.
    public var cpusUsed: Int?
    public var memoryUsedMiB: Int?
    /// Silent past the heartbeat timeout: its attempts were requeued, and it stays known (down) until
    /// its agent registers again.
    public var lost: Bool?
    /// The fingerprint of the node key its name is bound to (nil until it first registers with one).
    public var nodeKey: String?
    /// Chips resting after a fault (no work until their rest ends) and chips whose attempt is being
    /// stopped (fenced until its end is confirmed): neither is free, though no job holds them.
    public var restingChips: [Int]?
    public var stoppingChips: [Int]?
    /// What an operator set (cordon, drain), and the seconds left to a drain's deadline.
    public var administration: NodeAdministration?
    public var deadlineIn: Double?
    /// What an operator reads: `ready`, `cordoned`, `draining`, `drained` (draining, nothing left on
    /// it), `disconnected` or `lost`.
    public var displayState: String?

    public init(
        node: Node, connected: Bool, lastHeartbeat: Double?, usedBy: [String: String], lost: Bool = false,
        cpusUsed: Int? = nil, memoryUsedMiB: Int? = nil, nodeKey: String? = nil
    ) {
        self.nodeKey = nodeKey
        self.cpusUsed = cpusUsed
        self.memoryUsedMiB = memoryUsedMiB
        self.node = node
        self.connected = connected
        self.lastHeartbeat = lastHeartbeat
        self.usedBy = usedBy
        self.lost = lost
    }
}

/// The reply to `SUBMIT`: the job's id, acknowledged once durable.
public struct SubmitReply: Codable, Equatable, Sendable {
    public var job: String
    public var state: JobRecord.State
    public init(job: String, state: JobRecord.State) {
        self.job = job
        self.state = state
    }
}

/// How far an array has come: its spec, and how many of its tasks (in index order) it has released.
public struct JobArrayProgress: Codable, Equatable, Sendable {
    public var spec: JobArraySpec
    public var released: Int
    public init(spec: JobArraySpec, released: Int = 0) {
        self.spec = spec
        self.released = released
    }

    /// A task's id: the array's, `_`, the index (as Slurm writes `1234_7`).
    public static func taskID(array: String, index: Int) -> String { "\(array)_\(index)" }
}
