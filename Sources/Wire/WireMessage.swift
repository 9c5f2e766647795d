import SchedCore
import SchedSpec

/// The protocol version spoken by this build; a peer with another version is refused at HELLO.
public let wireProtocolVersion = 1

/// Every message of the line protocol. One line each: `VERB` or `VERB {json}`.
public enum WireMessage: Equatable, Sendable {
    // Session opening, both roles.
    case hello(Hello)
    case challenge(Challenge)
    case auth(Auth)
    // Agent to coordinator.
    case register(Register)
    case heartbeat(Heartbeat)
    case started(AttemptRef)
    case checkpoint(CheckpointReport)
    case progress(ProgressReport)
    case exited(Exit)
    // Coordinator to agent.
    case run(RunOrder)
    case kill(KillOrder)
    case limit(LimitOrder)
    case tail(TailRequest)
    case untail(TailStop)
    // An attempt's output: agent to coordinator, and coordinator to client.
    case chunk(OutputChunk)
    // Client to coordinator.
    case submit(Submit)
    case cancel(JobRef)
    case jobs(JobsQuery)
    case status(JobRef)
    case nodes
    /// The queue tree with each queue's use and waiting jobs.
    case queues
    /// Replaces the queue tree with a queues file's text (operators).
    case queuesApply(QueuesApply)
    case health
    /// A ticket for the web page and `/metrics` (`schedctl web`).
    case webTicket(WebTicketRequest)
    case forget(NodeRef)
    case nodeState(NodeStateRequest)
    case jobAction(JobActionRequest)
    case update(JobUpdate)
    case reserve(ReservationRequest)
    case history(HistoryQuery)
    case usage(UsageQuery)
    case logs(JobRef)
    case watch(WatchRequest)
    case fallback(FallbackRequest)
    case output(OutputRequest)
    // Replies and the event stream.
    case ok(JSONText)
    case err(ErrorReply)
    case event(PlacementEvent)
    case bye
}

public enum PeerRole: String, Codable, Sendable {
    case agent
    case client
}

/// `HELLO`: who is speaking. An agent names the node it speaks for.
public struct Hello: Codable, Equatable, Sendable {
    public var version: Int
    public var role: PeerRole
    public var node: String?
    public init(version: Int = wireProtocolVersion, role: PeerRole, node: String? = nil) {
        self.version = version
        self.role = role
        self.node = node
    }
}

/// `CHALLENGE`: a fresh nonce the peer proves the token against.
public struct Challenge: Codable, Equatable, Sendable {
    public var nonce: String
    public init(nonce: String) { self.nonce = nonce }
}

/// `AUTH`: the peer's proof over the session's transcript (`TokenProof.peerProof`), or (a client of a
/// coordinator that knows its users by MUNGE) a MUNGE credential whose payload is the same; and the
/// peer's own nonce, part of that transcript, which the coordinator's proof in the `OK` answers.
public struct Auth: Codable, Equatable, Sendable {
    public var hmac: String?
    public var nonce: String?
    public var munge: String?
    /// An agent's node key (base64 DER) and its signature over the session (`NodeKey`).
    public var nodeKey: String?
    public var nodeProof: String?
    public init(
        hmac: String?, nonce: String? = nil, munge: String? = nil, nodeKey: String? = nil, nodeProof: String? = nil
    ) {
        self.hmac = hmac
        self.nonce = nonce
        self.munge = munge
        self.nodeKey = nodeKey
        self.nodeProof = nodeProof
    }
}

/// The `OK` that opens a session: the role, and the coordinator's proof over the peer's nonce.
public struct SessionOpened: Codable, Equatable, Sendable {
    public var role: PeerRole
    public var proof: String?
    public init(role: PeerRole, proof: String?) {
        self.role = role
        self.proof = proof
    }
}

/// `REGISTER`: an agent's node inventory, and the attempts it still runs (after a restart of either side).
public struct Register: Codable, Equatable, Sendable {
    public var node: Node
    public var running: [AttemptRef]
    /// The address other nodes reach this host at (gang rendezvous); nil: the one the coordinator
    /// sees the agent connect from.
    public var address: String?
    /// Chips' own network addresses, where the host has them (Ascend's `/etc/hccn.conf`).
    public var chipAddresses: [ChipAddress]?
    /// The agent stops its attempts when it has heard nothing from the coordinator for the terms
    /// the registration's reply sets (`Registered`); nil or false: it does not, and the attempts of
    /// a silent node are requeued as soon as the node is declared lost.
    public var stopsWhenUnseen: Bool?

    public init(
        node: Node, running: [AttemptRef] = [], address: String? = nil, chipAddresses: [ChipAddress]? = nil,
        stopsWhenUnseen: Bool? = nil
    ) {
        self.node = node
        self.running = running
        self.address = address
        self.chipAddresses = chipAddresses
        self.stopsWhenUnseen = stopsWhenUnseen
    }
}

/// The reply to `REGISTER`: the node registered, and how long the agent may go without a word from
/// the coordinator before it stops its attempts (SIGTERM, SIGKILL `disconnectGrace` seconds later):
/// the coordinator requeues a silent node's attempts only once that has surely happened.
public struct Registered: Codable, Equatable, Sendable {
    public var registered: String
    /// Seconds without an acknowledged heartbeat after which attempts that chose to stop are stopped;
    /// nil or 0: they are not.
    public var disconnectStop: Double?
    /// Seconds between that SIGTERM and the SIGKILL.
    public var disconnectGrace: Double?
    public init(registered: String, disconnectStop: Double? = nil, disconnectGrace: Double? = nil) {
        self.registered = registered
        self.disconnectStop = disconnectStop
        self.disconnectGrace = disconnectGrace
    }
}

/// The coordinator's answer to a numbered `HEARTBEAT`: the agent's lease on its attempts runs from
/// the moment it sent that heartbeat.
public struct HeartbeatAcknowledgement: Codable, Equatable, Sendable {
    public var heartbeat: Int
    public init(heartbeat: Int) { self.heartbeat = heartbeat }

    /// Its JSON, as `WireCodec.json` writes it, without an encoder: a coordinator sends thousands a
    /// second.
    public var json: String { "{\"heartbeat\":\(heartbeat)}" }
}

/// `HEARTBEAT`: liveness, chip health and link state.
public struct Heartbeat: Codable, Equatable, Sendable {
    public var unhealthyChips: [Int]
    public var interNodeBandwidthGBps: Double?
    /// Set: the coordinator answers `OK {"heartbeat":seq}` while the node's session is the current
    /// one (the agent's lease runs from when it sent it), and `OK {}` otherwise.
    public var seq: Int?
    public init(unhealthyChips: [Int] = [], interNodeBandwidthGBps: Double? = nil, seq: Int? = nil) {
        self.unhealthyChips = unhealthyChips
        self.interNodeBandwidthGBps = interNodeBandwidthGBps
        self.seq = seq
    }
}

/// One attempt of one job.
public struct AttemptRef: Codable, Equatable, Hashable, Sendable {
    public var job: String
    public var attempt: Int
    public init(job: String, attempt: Int) {
        self.job = job
        self.attempt = attempt
    }
}

/// `CHECKPOINT`: an attempt saved a checkpoint after `step`; a restart resumes from it.
public struct CheckpointReport: Codable, Equatable, Sendable {
    public var job: String
    public var attempt: Int
    public var step: Int
    public init(job: String, attempt: Int, step: Int) {
        self.job = job
        self.attempt = attempt
        self.step = step
    }
}

/// `PROGRESS`: the step an attempt's job last wrote to its progress file, and when the file was
/// written (this agent's clock, seconds since 1970), so that the pace measured is the job's own and
/// not that of the reports, which an agent sends at most once a heartbeat interval.
public struct ProgressReport: Codable, Equatable, Sendable {
    public var job: String
    public var attempt: Int
    public var step: Int
    public var writtenAt: Double
    public init(job: String, attempt: Int, step: Int, writtenAt: Double) {
        self.job = job
        self.attempt = attempt
        self.step = step
        self.writtenAt = writtenAt
    }
}

/// `EXITED`: how an attempt ended.
public struct Exit: Codable, Equatable, Sendable {
    public enum Outcome: String, Codable, Sendable {
        case completed
        /// The job's own failure (non-zero exit): not the tier's fault.
        case failed
        /// A chip, node or link fault: counts against the tier.
        case fault
        /// Stopped on the coordinator's order (cancel, preemption, fallback).
        case killed
        /// Ran past its time limit.
        case timedOut = "timed-out"
    }
    public var job: String
    public var attempt: Int
    public var outcome: Outcome
    public var exitStatus: Int?
    public var signal: Int?
    public var message: String?
    /// Simulated training: steps done in this attempt's run and the last checkpointed step.
    public var step: Int?
    public var checkpointStep: Int?
    /// For faults: the chip that failed, if one did.
    public var faultChip: Int?
    /// What the attempt used on this node: CPU time of all its processes, and the most memory it
    /// held at once (its cgroup's figures where the agent contains jobs).
    public var cpuSeconds: Double?
    public var peakMemoryBytes: Int?

    public init(
        job: String, attempt: Int, outcome: Outcome, exitStatus: Int? = nil, signal: Int? = nil,
        message: String? = nil, step: Int? = nil, checkpointStep: Int? = nil, faultChip: Int? = nil,
        cpuSeconds: Double? = nil, peakMemoryBytes: Int? = nil
    ) {
        self.cpuSeconds = cpuSeconds
        self.peakMemoryBytes = peakMemoryBytes
        self.job = job
        self.attempt = attempt
        self.outcome = outcome
        self.exitStatus = exitStatus
        self.signal = signal
        self.message = message
        self.step = step
        self.checkpointStep = checkpointStep
        self.faultChip = faultChip
    }
}

/// `RUN`: start an attempt on these chips.
public struct RunOrder: Codable, Equatable, Sendable {
    public var job: String
    public var attempt: Int
    public var kind: JobKind
    public var tier: Int
    public var tierName: String
    public var chipModel: String
    public var chips: [Int]
    public var numaNodes: [Int]
    public var command: [String]
    public var env: [String: String]
    public var workingDirectory: String?
    public var checkpointDirectory: String?
    public var timeLimitSeconds: Double?
    /// Simulated agents: run time on the reference chip (H100), and the training schedule.
    public var simulation: SimulatedRun?
    /// The step to resume from (the last checkpoint of an earlier attempt).
    public var resumeStep: Int
    /// This node's place in the attempt (0 for a single node), and the attempt's node count.
    public var rank: Int
    public var nodes: Int
    /// Host CPUs (the process's affinity) and memory booked for it here; nil = none.
    public var host: HostBooking?
    /// A share of its one chip, for the agent to enforce where the vendor can; nil = whole chips.
    public var share: ChipShare?
    /// The container image to run the command in; nil: a plain process.
    public var image: String?
    /// Options for the container runtime's `run`, after the agent's own.
    public var containerOptions: [String]?
    /// Which spec the attempt runs with, as `schedctl status` says it (`tier nvidia's command and image`).
    public var spec: String?
    /// A multi-node attempt's nodes, rank 0's address and port.
    public var gang: GangRendezvous?
    /// The user the job runs as (its owner, when the coordinator knows its users by MUNGE); nil:
    /// as the agent runs.
    public var user: String?
    /// Set: the job chose `onDisconnect: keep`: it runs on unseen for this many seconds (instead of
    /// the registration's `disconnectStop`) before its agent stops it.
    public var maxDisconnect: Double?
    /// A batch script: the agent writes it beside the attempt and runs it, `command` its arguments.
    public var script: String?
    /// Where the job's output and errors go besides `schedctl logs` (patterns: %j %A %a %u %x %N %t),
    /// relative to its working directory; and its name (`%x`).
    public var output: String?
    public var error: String?
    public var name: String?

    public init(
        job: String, attempt: Int, kind: JobKind, tier: Int, tierName: String, chipModel: String, chips: [Int],
        numaNodes: [Int], command: [String], env: [String: String], checkpointDirectory: String?,
        timeLimitSeconds: Double?, simulation: SimulatedRun?, resumeStep: Int, rank: Int = 0, nodes: Int = 1,
        workingDirectory: String? = nil, host: HostBooking? = nil, share: ChipShare? = nil, image: String? = nil,
        containerOptions: [String]? = nil, spec: String? = nil, gang: GangRendezvous? = nil, user: String? = nil,
        maxDisconnect: Double? = nil, script: String? = nil, output: String? = nil, error: String? = nil,
        name: String? = nil
    ) {
        self.script = script
        self.output = output
        self.error = error
        self.name = name
        self.user = user
        self.maxDisconnect = maxDisconnect
        self.image = image
        self.containerOptions = containerOptions
        self.spec = spec
        self.gang = gang
        self.host = host
        self.share = share
        self.job = job
        self.attempt = attempt
        self.kind = kind
        self.tier = tier
        self.tierName = tierName
        self.chipModel = chipModel
        self.chips = chips
        self.numaNodes = numaNodes
        self.command = command
        self.env = env
        self.checkpointDirectory = checkpointDirectory
        self.timeLimitSeconds = timeLimitSeconds
        self.simulation = simulation
        self.resumeStep = resumeStep
        self.rank = rank
        self.nodes = nodes
        self.workingDirectory = workingDirectory
    }

    enum CodingKeys: String, CodingKey {
        case job, attempt, kind, tier, tierName, chipModel, chips, numaNodes, command, env, workingDirectory
        case checkpointDirectory
        case timeLimitSeconds, simulation, resumeStep, rank, nodes, host, share, image, containerOptions, spec, gang
        case user, maxDisconnect, script, output, error, name
    }

    /// `rank`, `nodes`, `workingDirectory`, `host`, `share` and the container and gang fields may be absent.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        job = try container.decode(String.self, forKey: .job)
        attempt = try container.decode(Int.self, forKey: .attempt)
        kind = try container.decode(JobKind.self, forKey: .kind)
        tier = try container.decode(Int.self, forKey: .tier)
        tierName = try container.decode(String.self, forKey: .tierName)
        chipModel = try container.decode(String.self, forKey: .chipModel)
        chips = try container.decode([Int].self, forKey: .chips)
        numaNodes = try container.decode([Int].self, forKey: .numaNodes)
        command = try container.decode([String].self, forKey: .command)
        env = try container.decode([String: String].self, forKey: .env)
        workingDirectory = try container.decodeIfPresent(String.self, forKey: .workingDirectory)
        checkpointDirectory = try container.decodeIfPresent(String.self, forKey: .checkpointDirectory)
        timeLimitSeconds = try container.decodeIfPresent(Double.self, forKey: .timeLimitSeconds)
        simulation = try container.decodeIfPresent(SimulatedRun.self, forKey: .simulation)
        resumeStep = try container.decode(Int.self, forKey: .resumeStep)
        rank = try container.decodeIfPresent(Int.self, forKey: .rank) ?? 0
        nodes = try container.decodeIfPresent(Int.self, forKey: .nodes) ?? 1
        host = try container.decodeIfPresent(HostBooking.self, forKey: .host)
        share = try container.decodeIfPresent(ChipShare.self, forKey: .share)
        image = try container.decodeIfPresent(String.self, forKey: .image)
        containerOptions = try container.decodeIfPresent([String].self, forKey: .containerOptions)
        spec = try container.decodeIfPresent(String.self, forKey: .spec)
        gang = try container.decodeIfPresent(GangRendezvous.self, forKey: .gang)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        maxDisconnect = try container.decodeIfPresent(Double.self, forKey: .maxDisconnect)
        script = try container.decodeIfPresent(String.self, forKey: .script)
        output = try container.decodeIfPresent(String.self, forKey: .output)
        error = try container.decodeIfPresent(String.self, forKey: .error)
        name = try container.decodeIfPresent(String.self, forKey: .name)
    }
}

/// `KILL`: stop an attempt.
public struct KillOrder: Codable, Equatable, Sendable {
    public var job: String
    public var attempt: Int
    public var reason: String
    /// Before it is stopped, the job is asked to save a checkpoint this way (a reclaim or a
    /// preemption of a job that said how); nil: it is stopped at once.
    public var checkpoint: CheckpointRequest?
    public init(job: String, attempt: Int, reason: String, checkpoint: CheckpointRequest? = nil) {
        self.job = job
        self.attempt = attempt
        self.reason = reason
        self.checkpoint = checkpoint
    }
}

/// `LIMIT`: an attempt's time limit changed while it runs (`schedctl update --time-limit`): counted
/// from the attempt's start, as the one its `RUN` carried.
public struct LimitOrder: Codable, Equatable, Sendable {
    public var job: String
    public var attempt: Int
    public var timeLimitSeconds: Double
    public init(job: String, attempt: Int, timeLimitSeconds: Double) {
        self.job = job
        self.attempt = attempt
        self.timeLimitSeconds = timeLimitSeconds
    }
}

/// `OUTPUT`: a client asks for an attempt's stdout and stderr (the latest attempt when none is named).
public struct OutputRequest: Codable, Equatable, Sendable {
    public var job: String
    public var attempt: Int?
    /// Which node of a multi-node attempt, by rank (nil: rank 0).
    public var rank: Int?
    /// Keep streaming what the attempt writes until it ends.
    public var follow: Bool
    public init(job: String, attempt: Int? = nil, rank: Int? = nil, follow: Bool = false) {
        self.job = job
        self.attempt = attempt
        self.rank = rank
        self.follow = follow
    }
}

/// `TAIL`: the coordinator asks the agent that ran an attempt for its output, under a request number.
public struct TailRequest: Codable, Equatable, Sendable {
    public var request: Int
    public var job: String
    public var attempt: Int
    public var follow: Bool
    public init(request: Int, job: String, attempt: Int, follow: Bool) {
        self.request = request
        self.job = job
        self.attempt = attempt
        self.follow = follow
    }
}

/// `UNTAIL`: the client went away; stop sending that request's output.
public struct TailStop: Codable, Equatable, Sendable {
    public var request: Int
    public init(request: Int) { self.request = request }
}

/// `CHUNK`: a piece of an attempt's output (UTF-8, invalid bytes replaced). The last one has `end`;
/// `error` says why the output could not be read.
public struct OutputChunk: Codable, Equatable, Sendable {
    public var request: Int?
    public var data: String
    public var end: Bool
    public var error: String?
    public init(request: Int? = nil, data: String, end: Bool = false, error: String? = nil) {
        self.request = request
        self.data = data
        self.end = end
        self.error = error
    }
}

/// `SUBMIT`: a job file's text (YAML, or JSON, which is YAML too) and the name to report errors
/// against; or, in its batch form, several such texts, admitted together in one commit or not at all.
public struct Submit: Codable, Equatable, Sendable {
    public var spec: String
    public var file: String
    /// Who submits, as the client says (its login name): shown and filtered on, not yet verified.
    public var user: String?
    /// The batch form: these jobs instead of `spec` (the reply is a `SubmitBatchReply`).
    public var batch: [JobText]?
    /// Where the client was (an absolute path): the jobs' working directory where their files do
    /// not name one, and what a relative one is taken from.
    public var directory: String?

    public init(spec: String, file: String = "submission", user: String? = nil, directory: String? = nil) {
        self.spec = spec
        self.file = file
        self.user = user
        self.directory = directory
    }

    public init(batch: [JobText], user: String? = nil, directory: String? = nil) {
        self.spec = ""
        self.file = "batch"
        self.user = user
        self.batch = batch
        self.directory = directory
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        batch = try container.decodeIfPresent([JobText].self, forKey: .batch)
        spec = try batch == nil ? container.decode(String.self, forKey: .spec) : ""
        file = try container.decodeIfPresent(String.self, forKey: .file) ?? "submission"
        user = try container.decodeIfPresent(String.self, forKey: .user)
        directory = try container.decodeIfPresent(String.self, forKey: .directory)
        if let directory, !Self.isDirectory(directory) {
            throw DecodingError.dataCorruptedError(
                forKey: .directory, in: container,
                debugDescription: "directory must be an absolute path of at most 4096 bytes without control characters")
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        path.hasPrefix("/") && path.utf8.count <= 4096
            && !path.unicodeScalars.contains { $0.value < 0x20 || $0 == "\u{7f}" }
    }

    /// The most jobs one batch line carries (the line length bounds it first for most files).
    public static let batchLimit = 10_000
}

/// One job file of a batch: its text and its name, for errors.
public struct JobText: Codable, Equatable, Sendable {
    public var spec: String
    public var file: String
    public init(spec: String, file: String) {
        self.spec = spec
        self.file = file
    }
}

/// The reply to a batch `SUBMIT`: every job, in the batch's order, acknowledged once durable.
public struct SubmitBatchReply: Codable, Equatable, Sendable {
    public var jobs: [SubmitReply]
    public init(jobs: [SubmitReply]) { self.jobs = jobs }
}

/// `FORGET`: remove a node that is not connected from the fleet the coordinator keeps.
public struct NodeRef: Codable, Equatable, Sendable {
    public var node: String
    public init(node: String) { self.node = node }
}

public struct JobRef: Codable, Equatable, Sendable {
    public var job: String
    /// `CANCEL`: who asks, as the client names them (a MUNGE identity wins): the log says who.
    public var user: String?
    public init(job: String, user: String? = nil) {
        self.job = job
        self.user = user
    }
}

/// `JOBS`: one page of the jobs, in submission order. A page holds at most `JobsQuery.maximumLimit`
/// jobs; a shorter page is the last.
public struct JobsQuery: Codable, Equatable, Sendable {
    public static let maximumLimit = 1000
    /// Only jobs in these states; empty = all.
    public var states: [String]
    /// Jobs (of those states) to skip.
    public var offset: Int?
    /// At most this many (default and ceiling: `maximumLimit`).
    public var limit: Int?
    /// Only jobs of this queue, of this user.
    public var queue: String?
    public var user: String?
    /// Only jobs submitted after this one (the last of the previous page): pages that stay cheap
    /// however deep the list, and stay right while jobs come and go.
    public var after: String?
    public init(
        states: [String] = [], offset: Int? = nil, limit: Int? = nil, queue: String? = nil, user: String? = nil,
        after: String? = nil
    ) {
        self.states = states
        self.offset = offset
        self.limit = limit
        self.queue = queue
        self.user = user
        self.after = after
    }

    enum CodingKeys: String, CodingKey { case states, offset, limit, queue, user, after }

    /// Every field may be left out (`JOBS {}`, `JOBS {"limit":1000}`): no states means all.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        states = try container.decodeIfPresent([String].self, forKey: .states) ?? []
        offset = try container.decodeIfPresent(Int.self, forKey: .offset)
        limit = try container.decodeIfPresent(Int.self, forKey: .limit)
        queue = try container.decodeIfPresent(String.self, forKey: .queue)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        after = try container.decodeIfPresent(String.self, forKey: .after)
    }
}

public struct WatchRequest: Codable, Equatable, Sendable {
    /// Replay events after this sequence number first (0: all kept events); nil: only new ones.
    public var after: Int?
    public var job: String?
    public init(after: Int? = nil, job: String? = nil) {
        self.after = after
        self.job = job
    }
}

/// `FALLBACK`: an operator moves a job to its next tier now.
public struct FallbackRequest: Codable, Equatable, Sendable {
    public var job: String
    public var reason: String
    public init(job: String, reason: String) {
        self.job = job
        self.reason = reason
    }
}

/// The JSON body of an `OK` reply, kept as text: its shape depends on the request.
public struct JSONText: Equatable, Sendable {
    public var text: String
    public init(_ text: String) { self.text = text }
}

/// One entry of the placement log.
public struct PlacementEvent: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case submitted, placed, started, completed, failed, cancelled, preempted, requeued
        case fellBack = "fell-back"
        /// Back to the first tier at a checkpoint, once that tier was healthy for the job's window.
        case returned
        /// A held job's dependencies are met: it joins the queue.
        case released
        case gaveUp = "gave-up"
        case faulted
        /// An attempt stopped by a reclaim or a preemption saved the checkpoint it was asked for
        /// (details: checkpointStep): the job's next attempt resumes from it.
        case checkpointed
        case nodeRegistered = "node-registered"
        case nodeLost = "node-lost"
        /// An operator removed a node from the fleet (`schedctl forget-node`).
        case nodeForgotten = "node-forgotten"
        /// A chip's health changed, as its agent reported (details: chip, health).
        case chipHealth = "chip-health"
        /// An operator cordoned, drained or resumed a node (details: by, reason, deadline).
        case nodeCordoned = "node-cordoned"
        case nodeDraining = "node-draining"
        case nodeResumed = "node-resumed"
        /// A waiting job held, or one of its fields changed, by a user or an operator (details: by).
        case held
        case updated
        /// An operator made, changed or deleted a reservation, or it ended (details: by, reservation).
        case reservationMade = "reservation-made"
        case reservationChanged = "reservation-changed"
        case reservationDeleted = "reservation-deleted"
    }
    public var seq: Int
    public var time: Double
    public var kind: Kind
    public var job: String?
    public var node: String?
    public var attempt: Int?
    /// The sentence a person reads in `schedctl watch`.
    public var message: String
    /// Structured details (chips, NUMA node, tier, reason), for `--json`.
    public var details: [String: String]

    public init(
        seq: Int, time: Double, kind: Kind, job: String? = nil, node: String? = nil, attempt: Int? = nil,
        message: String, details: [String: String] = [:]
    ) {
        self.seq = seq
        self.time = time
        self.kind = kind
        self.job = job
        self.node = node
        self.attempt = attempt
        self.message = message
        self.details = details
    }
}

/// The coordinator's `OK` to an agent's `EXITED`, once the exit is durable (or known to be stale):
/// the agent may forget it. Until then, an agent sends the exit again on its next session.
public struct ExitAcknowledgement: Codable, Equatable, Sendable {
    public var delivered: AttemptRef
    public init(delivered: AttemptRef) { self.delivered = delivered }
}
