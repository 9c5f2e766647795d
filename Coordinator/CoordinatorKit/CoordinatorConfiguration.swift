import CoreMetrics
import NIOSSL
import SchedCore
import Wire

/// How a coordinator runs; the executable fills it from flags.
public struct CoordinatorConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var dataDirectory: String
    public var token: String
    public var policy: SchedulingPolicy
    public var catalog: ChipCatalog
    public var maximumLineLength: Int
    /// An agent silent this long is lost, and its jobs go back to the queue.
    public var heartbeatTimeout: Double
    /// Seconds beyond the heartbeat timeout that the agents of the stored fleet have, after a start
    /// or a take-over, to register again before their nodes are lost and their jobs requeued.
    public var returnGrace: Double = 30
    /// Agents stop attempts (SIGTERM) when they have heard nothing from the coordinator this long
    /// (wall seconds; 0: they never do, and a silent node's attempts are requeued as soon as it is
    /// lost), and SIGKILL them `disconnectGrace` seconds later. Told to each agent at registration;
    /// a lost node's attempts are requeued only once that has surely happened.
    public var disconnectStop: Double = 20
    public var disconnectGrace: Double = 10
    /// How often the scheduling loop looks at the queue when nothing wakes it.
    public var scheduleInterval: Duration
    public var seed: UInt64
    /// Simulated seconds per wall second (1: real time). Scenarios play in scaled time: the
    /// coordinator's clock, wait limits and log times then run that much faster.
    public var timeScale: Double
    /// How long after start agents have to register before a job no tier could ever hold fails.
    public var registrationGrace: Double
    /// How long (on the coordinator's clock) a chip whose fault ended an attempt takes no work.
    public var chipRecovery: Double
    /// Faults per chip-hour the fleet is known for, by chip model (`--fault-rate`): where the
    /// expected-finish rule's estimates start before this coordinator has seen any.
    public var faultRatePrior: [ChipModelID: Double] = [:]
    /// How fast what earlier attempts taught of fault rates is forgotten (coordinator-clock seconds;
    /// `--fault-rate-half-life`): the rates learned from the accounting at a start weigh each attempt
    /// half for every half-life since it ended.
    public var faultRateHalfLife: Double = 7 * 86_400
    /// Set: clients prove who they are with a credential (MUNGE) instead of the token, and their
    /// jobs belong to that user; agents keep the token.
    public var clientVerifier: (any CredentialVerifier)?
    /// Set: agents prove they run as the agents' service user (MUNGE) instead of holding the token.
    public var agentVerifier: (any CredentialVerifier)?
    /// What a proved user may do: their own jobs; operators anything.
    public var permissions = Permissions()
    /// Set: the jobs, events and fleet are kept in this PostgreSQL database (`--store postgres://…`)
    /// instead of DATA-DIR/coordinator.sqlite.
    public var storeURL: String?
    /// With a PostgreSQL store: the leader lease coordinators sharing it take turns by.
    public var leadership = LeadershipConfiguration()
    /// Where the coordinator's counters and histograms go (`--http`: a Prometheus registry); nil: nowhere.
    public var metricsFactory: (any MetricsFactory)?
    /// Set: every connection is TLS with this certificate (`--tls-cert`, `--tls-key`).
    public var tls: NIOSSLContext?
    /// The channel the session proofs name (`ChannelBinding`): the certificate served, or plain.
    public var channelBinding = ChannelBinding.plain
    /// The queue tree (`--queues FILE`) and its file, re-read on SIGHUP; nil: one flat queue.
    public var queues: QueueTree?
    public var queuesFile: String?
    /// The operator's list of nodes and their keys (`--node-keys FILE`), re-read on SIGHUP; nil:
    /// each node is bound to the key it first registers with.
    public var nodeKeys: NodeKeyList?
    public var nodeKeysFile: String?
    /// How fast a queue's past use is forgotten (coordinator-clock seconds; `--usage-half-life`).
    public var usageHalfLife: Double = 7 * 86_400
    /// A job younger than this (coordinator-clock seconds) is not stopped to give its chips back to
    /// a queue under its guarantee (`--reclaim-min-run`).
    public var reclaimMinimumRun: Double = 600
    /// How long (on the coordinator's clock) a finished job and its events are kept; 0 keeps all.
    public var keepFinished: Double
    /// How long an ended attempt's accounting is kept (`--keep-accounting`); 0 keeps all.
    public var keepAccounting: Double = 400 * 86_400
    /// Seconds a new connection has to finish its handshake.
    public var handshakeTimeout: Double
    /// Handshakes that may be under way at once; more connections are refused until some finish.
    /// 1,024 by default: with 256, 10,000 agents coming back over TLS after a take-over were mostly
    /// refused and took twice as long (`sched-bench sessions`).
    public var maximumUnauthenticated: Int
    /// Seconds a client session may send nothing before it is closed (not while it watches or
    /// follows output). An agent's session is closed after twice the heartbeat timeout.
    public var clientIdleTimeout: Double
    /// Most waiting jobs one scheduling pass searches; the rest of what is due waits for the next pass.
    public var passLimit: Int
    /// The first waiting jobs in scheduling order that every pass searches, changed or not.
    public var passHead: Int
    /// Ports handed to multi-node attempts for their rendezvous on rank 0's node (`MASTER_PORT`):
    /// none two attempts with rank 0 on one node hold at once.
    public var rendezvousPorts: ClosedRange<Int>

    public init(
        host: String = "127.0.0.1", port: Int = 7070, dataDirectory: String, token: String,
        policy: SchedulingPolicy = .binPack, catalog: ChipCatalog,
        maximumLineLength: Int = LineFraming.defaultMaximumLineLength, heartbeatTimeout: Double = 15,
        scheduleInterval: Duration = .milliseconds(200), seed: UInt64 = 0, timeScale: Double = 1,
        registrationGrace: Double = 30, handshakeTimeout: Double = 10, maximumUnauthenticated: Int = 1_024,
        clientIdleTimeout: Double = 300, chipRecovery: Double = 300, keepFinished: Double = 30 * 86400,
        passLimit: Int = 1_000, passHead: Int = 100, rendezvousPorts: ClosedRange<Int> = 29500...29999
    ) {
        self.rendezvousPorts = rendezvousPorts
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.token = token
        self.policy = policy
        self.catalog = catalog
        self.maximumLineLength = maximumLineLength
        self.heartbeatTimeout = heartbeatTimeout
        self.scheduleInterval = scheduleInterval
        self.seed = seed
        self.timeScale = timeScale
        self.registrationGrace = registrationGrace
        self.handshakeTimeout = handshakeTimeout
        self.maximumUnauthenticated = maximumUnauthenticated
        self.clientIdleTimeout = clientIdleTimeout
        self.chipRecovery = chipRecovery
        self.keepFinished = keepFinished
        self.passLimit = passLimit
        self.passHead = passHead
    }
}
